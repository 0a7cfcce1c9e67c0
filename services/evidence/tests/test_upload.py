"""Uploading and downloading evidence on both storage backends, and every way an upload is refused
without leaving anything behind."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from starlette.requests import ClientDisconnect

from guardian_common.auth import Role, mint_key
from guardian_evidence import outbox
from guardian_evidence.intake import detect_media_type, sanitise_filename
from guardian_evidence.storage import LocalStorage, S3Storage

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + b"0" * 20000 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
SECRET = "evidence-tests-secret-" + "x" * 20


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def _overwrite(path: Path, data: bytes) -> None:
    path.chmod(0o640)  # stored objects are read-only: whoever corrupts them had to force it
    path.write_bytes(data)


async def corrupt(h: Any, key: str, data: bytes) -> None:
    storage = h.storage
    if isinstance(storage, LocalStorage):
        await asyncio.to_thread(_overwrite, storage.path_of(key), data)
    else:
        assert isinstance(storage, S3Storage)
        await storage.client.put_object(Bucket=storage.bucket, Key=storage.full_key(key), Body=data)


async def test_upload_records_an_immutable_version_and_download_verifies_it(harness: Any) -> None:
    response = await harness.create(PDF, filename="Security Policy.pdf", content_type="application/octet-stream")
    assert response.status_code == 201, response.text
    item = response.json()
    version = item["versions"][0]
    assert item["status"] == "pending_review"
    assert item["counts"] is False
    assert version["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert version["size_bytes"] == len(PDF)
    # The media type comes from the content, not from the client's header.
    assert version["media_type"] == "application/pdf"
    assert version["backend"] == harness.settings.storage_backend
    assert version["uploaded_at"] == harness.clock.now().isoformat().replace("+00:00", "Z")
    keys = await harness.storage.keys()
    assert len(keys) == 1
    assert "tmp" not in keys[0]

    download = await harness.client.get(
        f"/api/v1/evidence/{item['item_id']}/versions/1/content", headers=harness.key(Role.AUDITOR, "carol")
    )
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-evidence-sha256"] == version["sha256"]
    assert "Security%20Policy.pdf" in download.headers["content-disposition"]


async def test_corrupted_stored_object_is_refused_on_download(harness: Any) -> None:
    item = (await harness.create(PDF)).json()
    key = f"{item['item_id']}/v0001-{item['versions'][0]['sha256']}"
    await corrupt(harness, key, PDF[:-5] + b"XXXXX")

    with structlog.testing.capture_logs() as logs:
        response = await harness.client.get(
            f"/api/v1/evidence/{item['item_id']}/versions/1/content", headers=harness.key(Role.AUDITOR, "carol")
        )
    assert response.status_code == 409
    assert response.json()["error"] == "evidence_corrupted"
    assert PDF[:100] not in response.content
    # The audit-style line operators alert on names the item, version and both hashes.
    [line] = [entry for entry in logs if entry["event"] == "evidence_corrupted"]
    assert line["audit"] is True
    assert line["log_level"] == "error"
    assert line["item_id"] == item["item_id"]
    assert line["expected_sha256"] == item["versions"][0]["sha256"]
    assert line["actual_sha256"] == hashlib.sha256(PDF[:-5] + b"XXXXX").hexdigest()


async def test_missing_stored_object_is_reported_as_corrupted(local: Any) -> None:
    item = (await local.create(PDF)).json()
    await local.storage.delete(f"{item['item_id']}/v0001-{item['versions'][0]['sha256']}")
    response = await local.client.get(
        f"/api/v1/evidence/{item['item_id']}/versions/1/content", headers=local.key(Role.AUDITOR, "carol")
    )
    assert response.status_code == 409
    assert response.json()["error"] == "evidence_corrupted"


async def test_new_version_gets_the_next_number_and_keeps_the_first(harness: Any) -> None:
    item = (await harness.create(PDF)).json()
    second = PDF.replace(b"Catalog", b"Catalo2")
    response = await harness.add_version(item["item_id"], second)
    assert response.status_code == 201, response.text
    versions = response.json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["sha256"] == hashlib.sha256(second).hexdigest()
    assert len(await harness.storage.keys()) == 2


async def test_large_upload_goes_through_in_parts(make_harness: Any) -> None:
    h = await make_harness("s3", s3_part_bytes=5 * 1024 * 1024)
    big = b"%PDF-1.4\n" + b"A" * (6 * 1024 * 1024)
    response = await h.create(big)
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["versions"][0]["size_bytes"] == len(big)
    download = await h.client.get(
        f"/api/v1/evidence/{item['item_id']}/versions/1/content", headers=h.key(Role.AUDITOR, "carol")
    )
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(big).hexdigest()
    assert await h.storage.keys() == [f"objects/{item['item_id']}/v0001-{hashlib.sha256(big).hexdigest()}"]


# ---------------------------------------------------------------- refused uploads store nothing


async def test_too_large_upload_is_refused_while_streaming(make_harness: Any) -> None:
    for backend in ("local", "s3"):
        h = await make_harness(backend, max_upload_bytes=64 * 1024)
        response = await h.create(b"%PDF-1.7\n" + b"B" * (100 * 1024))
        assert response.status_code == 413
        assert response.json()["error"] == "evidence_too_large"
        await h.nothing_stored()


async def test_too_large_declared_length_is_refused_before_reading(make_harness: Any) -> None:
    h = await make_harness("local", max_upload_bytes=1024)
    response = await h.create(b"%PDF-1.7\n" + b"C" * (3 * 1024 * 1024))
    assert response.status_code == 413
    await h.nothing_stored()


async def test_empty_file_is_refused(harness: Any) -> None:
    response = await harness.create(b"")
    assert response.status_code == 422
    assert response.json()["error"] == "evidence_empty"
    await harness.nothing_stored()


async def test_media_type_not_allowed_is_refused_whatever_the_client_claims(harness: Any) -> None:
    refused = {
        "gif": b"GIF89a" + b"\x00" * 400,
        "executable": b"MZ\x90\x00" + b"\x00" * 400,
        "zip": b"PK\x03\x04" + b"\x00" * 400,
        "binary": bytes(range(256)) * 40,
    }
    for kind, content in refused.items():
        response = await harness.create(content, filename="scan.pdf", content_type="application/pdf")
        assert response.status_code == 415, kind
        assert response.json()["error"] == "media_type_not_allowed"
        await harness.nothing_stored()


async def test_allowlist_is_configurable(make_harness: Any) -> None:
    h = await make_harness("local", allowed_media_types=["application/pdf"])
    response = await h.create(PNG, filename="shot.png", content_type="image/png")
    assert response.status_code == 415
    await h.nothing_stored()


async def test_truncated_body_stores_nothing(harness: Any) -> None:
    boundary = "xyzBOUNDARY"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nPolicy\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + PDF  # no closing boundary: the client stopped half-way
    response = await harness.client.post(
        "/api/v1/evidence",
        content=body,
        headers={**harness.key(), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_upload"
    await harness.nothing_stored()


async def test_client_disconnecting_mid_upload_stores_nothing(harness: Any) -> None:
    boundary = "xyzBOUNDARY"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.pdf"\r\n\r\n').encode()
    # Over 5 MiB: a pending file (local) or a started multipart upload (S3) exists when the connection drops.
    chunks = [head, PDF * 150, PDF * 150]
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    token = mint_key(SECRET, Role.EDITOR, "alice")[1]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/evidence",
        "raw_path": b"/api/v1/evidence",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"evidence"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("evidence", 80),
    }
    with pytest.raises(ClientDisconnect):
        await harness.app(scope, receive, send)
    await harness.nothing_stored()


async def test_failure_while_recording_the_version_leaves_no_object(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_emit(*_: Any, **__: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(outbox, "emit", broken_emit)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app, raise_app_exceptions=False), base_url="http://evidence"
    )
    async with client:
        harness.client = client
        response = await harness.create(PDF)
    assert response.status_code == 500
    await harness.nothing_stored()


async def test_metadata_errors_store_nothing(local: Any) -> None:
    no_controls = await local.create(PDF, control=None)
    assert no_controls.status_code == 422
    assert no_controls.json()["error"] == "invalid_evidence"
    blank_control = await local.create(PDF, control=[" "])
    assert blank_control.status_code == 422
    bad_type = await local.create(PDF, type="napkin")
    assert bad_type.status_code == 422
    no_file = await local.client.post(
        "/api/v1/evidence", data={"title": "x", "type": "policy", "owner": "o", "control": "C-1"}, headers=local.key()
    )
    assert no_file.status_code == 422
    assert no_file.json()["error"] == "invalid_upload"
    not_multipart = await local.client.post("/api/v1/evidence", json={"title": "x"}, headers=local.key())
    assert not_multipart.status_code == 422
    await local.nothing_stored()


async def test_unknown_control_is_404_when_the_catalogue_is_configured(make_harness: Any) -> None:
    h = await make_harness("local", known_controls=["GRD-GOV-04", "GRD-ACC-01"])
    response = await h.create(PDF, control=["GRD-GOV-04", "GRD-NOPE-99"])
    assert response.status_code == 404
    assert response.json()["error"] == "control_not_found"
    await h.nothing_stored()
    assert (await h.create(PDF, control=["GRD-GOV-04"])).status_code == 201


async def test_unknown_item_is_404_everywhere(local: Any) -> None:
    missing = "ev-0000000000000000"
    assert (await local.add_version(missing, PDF)).status_code == 404
    assert (await local.review(missing, 1)).status_code == 404
    for path in (f"/api/v1/evidence/{missing}", f"/api/v1/evidence/{missing}/versions/1/content"):
        response = await local.client.get(path, headers=local.key())
        assert response.status_code == 404
        assert response.json()["error"] == "evidence_not_found"
    await local.nothing_stored()


async def test_roles_are_enforced(local: Any) -> None:
    response = await local.client.post(
        "/api/v1/evidence",
        data={"title": "x", "type": "policy", "owner": "o", "control": "C-1", "frequency": "annual"},
        files={"file": ("p.pdf", PDF, "application/pdf")},
        headers=local.key(Role.AUDITOR, "carol"),
    )
    assert response.status_code == 403
    assert (await local.client.get("/api/v1/evidence")).status_code == 401
    await local.nothing_stored()


# ---------------------------------------------------------------- content inspection


def test_file_names_lose_path_parts_and_control_characters() -> None:
    assert sanitise_filename("../../etc/passwd") == "passwd"
    assert sanitise_filename("C:\\Users\\me\\Q3 review.pdf") == "Q3 review.pdf"
    assert sanitise_filename("re\x07port\x00\n.pdf") == "report.pdf"
    assert sanitise_filename("..hidden") == "hidden"
    assert sanitise_filename("/") == "upload"
    assert sanitise_filename(None) == "upload"
    assert len(sanitise_filename("a" * 500 + ".pdf")) == 200


async def test_sanitised_name_is_what_is_recorded(local: Any) -> None:
    response = await local.create(PDF, filename="../../secret/\x1bminutes.pdf")
    assert response.json()["versions"][0]["filename"] == "minutes.pdf"


def test_media_types_are_detected_from_content() -> None:
    assert detect_media_type(PDF[:8192]) == "application/pdf"
    assert detect_media_type(PNG) == "image/png"
    assert detect_media_type(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64) == "image/jpeg"
    assert detect_media_type(docx_bytes()) == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert detect_media_type(b"user,role,reviewed\nann,admin,yes\nbob,viewer,no\n") == "text/csv"
    assert detect_media_type("Minutes of the board, 3 March.\nAll présent.\n".encode()) == "text/plain"
    assert detect_media_type(b"\x00\x01\x02binary") == "application/octet-stream"


async def test_docx_and_csv_are_accepted(local: Any) -> None:
    docx = await local.create(docx_bytes(), filename="procedure.docx", content_type="text/plain")
    assert docx.status_code == 201, docx.text
    assert docx.json()["versions"][0]["media_type"].endswith("wordprocessingml.document")
    csv_file = await local.create(b"user,reviewed\nann,yes\nbob,no\n", filename="review.csv", type="access_review")
    assert csv_file.json()["versions"][0]["media_type"] == "text/csv"


async def test_migrations_apply_to_a_fresh_database(make_harness: Any, fresh_database: str) -> None:
    h = await make_harness("local", database_url=fresh_database)
    assert (await h.create(PDF)).status_code == 201
    assert await h.count("versions") == 1
