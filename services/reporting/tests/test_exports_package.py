"""The signed auditor package: the deployment key, the manifest, and verification that names what is wrong."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from guardian_cli.main import app as cli
from guardian_reporting.package import (
    MANIFEST,
    SIGNATURE,
    build_package,
    fingerprint,
    load_or_create_signing_key,
    load_public_key,
    public_pem,
    verify,
)

CREATED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FILES = {
    "report.pdf": b"%PDF-1.4 a report\n%%EOF\n",
    "controls.csv": b"control_id,status\r\nGRD-ENC-01,FAIL\r\n",
    "evidence/ev-0123456789abcdef/v1/policy.pdf": b"%PDF-1.7 policy " * 40,
}


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def package(key: Ed25519PrivateKey) -> bytes:
    return build_package(FILES, key, created_at=CREATED, subject={"scope": "default"})


def rewrite(package: bytes, edit: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> bytes:
    """A copy of a package with members replaced (bytes) or removed (None), and new ones added."""
    source = zipfile.ZipFile(io.BytesIO(package))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = edit.get(info.filename, source.read(info.filename))
            if content is not None:
                target.writestr(info, content)
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]


def test_the_signing_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / "signing-key.pem"
    first = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_signing_key(path)
    assert fingerprint(again) == fingerprint(first)


def test_a_file_that_is_not_an_ed25519_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing-key.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match=r"Could not deserialize|does not hold"):
        load_or_create_signing_key(path)


def test_the_manifest_lists_every_file_with_its_hash_and_size_and_is_signed(
    package: bytes, key: Ed25519PrivateKey
) -> None:
    archive = zipfile.ZipFile(io.BytesIO(package))
    assert sorted(archive.namelist()) == sorted([*FILES, MANIFEST, SIGNATURE])
    manifest_bytes = archive.read(MANIFEST)
    manifest = json.loads(manifest_bytes)
    assert {f["path"]: f["size"] for f in manifest["files"]} == {p: len(c) for p, c in FILES.items()}
    assert manifest["signature"]["public_key_sha256"] == fingerprint(key)
    key.public_key().verify(base64.b64decode(archive.read(SIGNATURE)), manifest_bytes)
    result = verify(package, key.public_key())
    assert result.ok
    assert result.checked == len(FILES)
    assert result.problems == []


def test_a_changed_byte_names_the_file(package: bytes, key: Ed25519PrivateKey) -> None:
    tampered = rewrite(package, {"controls.csv": flip(FILES["controls.csv"], 20)})
    result = verify(tampered, key.public_key())
    assert not result.ok
    assert [(p.kind, p.path) for p in result.problems] == [("changed", "controls.csv")]


def test_a_byte_changed_inside_the_archive_itself_is_caught_by_the_zip_checksum(
    package: bytes, key: Ed25519PrivateKey
) -> None:
    # Stored (not deflated) so the file's bytes sit in the archive as they are.
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", compression=zipfile.ZIP_STORED) as target:
        for info in zipfile.ZipFile(io.BytesIO(package)).infolist():
            info.compress_type = zipfile.ZIP_STORED
            target.writestr(info, zipfile.ZipFile(io.BytesIO(package)).read(info.filename))
    raw = stored.getvalue()
    at = raw.index(b"%PDF-1.7 policy") + 5
    result = verify(flip(raw, at), key.public_key())
    assert [(p.kind, p.path) for p in result.problems] == [("damaged", "evidence/ev-0123456789abcdef/v1/policy.pdf")]


def test_a_removed_file_and_an_added_file_are_named(package: bytes, key: Ed25519PrivateKey) -> None:
    tampered = rewrite(package, {"report.pdf": None}, add={"evidence/extra.txt": b"slipped in"})
    result = verify(tampered, key.public_key())
    assert sorted((p.kind, p.path) for p in result.problems) == [
        ("missing", "report.pdf"),
        ("unexpected", "evidence/extra.txt"),
    ]


def test_an_edited_manifest_fails_its_signature(package: bytes, key: Ed25519PrivateKey) -> None:
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(package)).read(MANIFEST))
    forged_content = b"control_id,status\r\nGRD-ENC-01,PASS\r\n"
    for entry in manifest["files"]:
        if entry["path"] == "controls.csv":
            entry["sha256"] = hashlib.sha256(forged_content).hexdigest()
            entry["size"] = len(forged_content)
    forged = rewrite(
        package,
        {"controls.csv": forged_content, MANIFEST: (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()},
    )
    result = verify(forged, key.public_key())
    assert [(p.kind, p.path) for p in result.problems] == [("signature", MANIFEST)]


def test_a_package_re_signed_with_another_key_fails_against_the_deployment_key(
    key: Ed25519PrivateKey,
) -> None:
    forger = Ed25519PrivateKey.generate()
    forged = build_package({**FILES, "controls.csv": b"all,PASS\r\n"}, forger, created_at=CREATED, subject={})
    result = verify(forged, key.public_key())
    [problem] = result.problems
    assert (problem.kind, problem.path) == ("signature", MANIFEST)
    assert "wrong key" in problem.detail
    assert fingerprint(forger)[:16] in problem.detail


def test_missing_manifest_or_signature_and_a_non_zip_are_reported(package: bytes, key: Ed25519PrivateKey) -> None:
    assert [p.path for p in verify(rewrite(package, {SIGNATURE: None}), key.public_key()).problems] == [SIGNATURE]
    assert [p.path for p in verify(rewrite(package, {MANIFEST: None}), key.public_key()).problems] == [MANIFEST]
    assert [p.kind for p in verify(b"not a zip", key.public_key()).problems] == ["damaged"]


def test_public_keys_load_from_pem_or_raw_base64_and_nothing_else(key: Ed25519PrivateKey) -> None:
    pem = public_pem(key)
    assert fingerprint(load_public_key(pem)) == fingerprint(key)
    raw = key.public_key().public_bytes_raw()
    assert fingerprint(load_public_key(base64.b64encode(raw))) == fingerprint(key)
    with pytest.raises(ValueError, match="neither PEM nor base64"):
        load_public_key(b"hello there")
    with pytest.raises(ValueError, match="32 bytes"):
        load_public_key(base64.b64encode(b"short"))


def test_member_names_that_escape_the_package_are_refused(key: Ed25519PrivateKey) -> None:
    for name in ("../outside.txt", "/etc/passwd", MANIFEST):
        with pytest.raises(ValueError, match="refusing"):
            build_package({name: b"x"}, key, created_at=CREATED, subject={})


def test_the_verify_command_exits_0_when_good_1_naming_the_problem_and_2_on_bad_usage(
    package: bytes, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    good, tampered, key_file = tmp_path / "good.zip", tmp_path / "tampered.zip", tmp_path / "key.pem"
    good.write_bytes(package)
    tampered.write_bytes(rewrite(package, {"report.pdf": None}))
    key_file.write_bytes(public_pem(key))
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify", str(good), "--public-key", str(key_file)])
    assert ok.exit_code == 0, ok.output
    assert f"{len(FILES)} files match" in ok.output
    bad = runner.invoke(cli, ["verify", str(tampered), "--public-key", str(key_file)])
    assert bad.exit_code == 1
    assert "missing: report.pdf" in bad.output
    assert runner.invoke(cli, ["verify", str(tmp_path / "absent.zip"), "--public-key", str(key_file)]).exit_code == 2
    assert runner.invoke(cli, ["verify", str(good), "--public-key", str(good)]).exit_code == 2
    assert runner.invoke(cli, ["verify", str(good)]).exit_code == 2  # the key is never optional
