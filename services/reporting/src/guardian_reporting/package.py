"""The signed auditor package: one zip an auditor can check without trusting the sender.

Layout::

    report.pdf, report.json, ocsf.json, controls.csv, findings.csv, deviations.csv, populations.csv
    evidence/<item id>/v<version>/<file name>   accepted evidence current in the window
    manifest.json                               every other file with its SHA-256 and size
    manifest.sig                                Ed25519 signature of manifest.json's exact bytes

The signature covers the manifest, and the manifest covers every file by hash, so one signature
check and one hash per file prove the whole archive. :func:`verify` takes the public key from the
caller (never from the package: a forger would ship their own) and names everything wrong.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from guardian_reporting.settings import ReportingSettings

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MANIFEST_FORMAT = "guardian-auditor-package/1"
SIGNATURE_ALGORITHM = "Ed25519"
KEY_FILE = "signing-key.pem"


# Keys -------------------------------------------------------------------------------------------


def key_path(settings: ReportingSettings) -> Path:
    return settings.signing_key_path or settings.home / KEY_FILE


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The deployment's signing key, created (mode 0600, PKCS#8 PEM) on first use.

    Created with O_EXCL, so two processes starting together never overwrite each other's key: the
    loser reads the winner's.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return loaded


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: what the manifest names and the verifier compares."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """A public key given as PEM (SubjectPublicKeyInfo) or as 32 raw bytes in base64."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise ValueError("the public key is neither PEM nor base64") from exc
        if len(raw) != 32:
            raise ValueError("a raw Ed25519 public key has 32 bytes")
        key = Ed25519PublicKey.from_public_bytes(raw)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


# Building --------------------------------------------------------------------------------------


def _safe_member(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not name or name in (MANIFEST, SIGNATURE):
        raise ValueError(f"refusing package member name {name!r}")
    return str(path)


def build_package(
    files: Mapping[str, bytes],
    key: Ed25519PrivateKey,
    *,
    created_at: datetime,
    subject: Mapping[str, Any],
) -> bytes:
    """A zip of ``files`` with a signed manifest. ``subject`` says what the package is (scope, window)."""
    entries = [
        {"path": _safe_member(name), "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
        for name, content in sorted(files.items())
    ]
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": created_at.isoformat(),
        "subject": dict(subject),
        "signature": {"algorithm": SIGNATURE_ALGORITHM, "file": SIGNATURE, "public_key_sha256": fingerprint(key)},
        "files": entries,
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    signature = key.sign(manifest_bytes)
    out = io.BytesIO()
    stamp = created_at.timetuple()[:6]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo(MANIFEST, date_time=stamp), manifest_bytes)
        archive.writestr(zipfile.ZipInfo(SIGNATURE, date_time=stamp), base64.b64encode(signature) + b"\n")
    return out.getvalue()


# Verifying -------------------------------------------------------------------------------------


@dataclass
class Problem:
    kind: str  # changed, missing, unexpected, damaged, signature, manifest
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


@dataclass
class Verification:
    ok: bool
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    manifest: dict[str, Any] | None = None


def _read(archive: zipfile.ZipFile, name: str) -> bytes | None:
    """A member's bytes; None when its stored CRC does not match (a byte changed in the archive)."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError, EOFError):
        return None


def verify(package: bytes | Path, public_key: Ed25519PublicKey) -> Verification:
    """Check the manifest's signature against ``public_key``, then every file against the manifest."""
    data = package.read_bytes() if isinstance(package, Path) else package
    problems: list[Problem] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return Verification(False, 0, [Problem("damaged", "(package)", "not a readable zip archive")])
    with archive:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        for name in duplicates:
            problems.append(Problem("unexpected", name, "appears more than once in the archive"))
        if MANIFEST not in names:
            return Verification(False, 0, [*problems, Problem("missing", MANIFEST, "the manifest is missing")])
        if SIGNATURE not in names:
            return Verification(False, 0, [*problems, Problem("missing", SIGNATURE, "the signature is missing")])
        manifest_bytes = _read(archive, MANIFEST)
        signature_text = _read(archive, SIGNATURE)
        if manifest_bytes is None:
            return Verification(False, 0, [*problems, Problem("damaged", MANIFEST, "damaged in the archive (CRC)")])
        try:
            signature = base64.b64decode((signature_text or b"").strip(), validate=True)
        except ValueError:
            signature = b""
        try:
            public_key.verify(signature, manifest_bytes)
        except InvalidSignature:
            detail = "the signature does not match: the manifest was changed, or it was signed with another key"
            try:
                claimed = json.loads(manifest_bytes)["signature"]["public_key_sha256"]
            except (ValueError, KeyError, TypeError):
                claimed = None
            if isinstance(claimed, str) and claimed != fingerprint(public_key):
                detail = (
                    f"wrong key: the package says it was signed by key {claimed[:16]}..., the key given is"
                    f" {fingerprint(public_key)[:16]}... (or the manifest was changed)"
                )
            return Verification(False, 0, [*problems, Problem("signature", MANIFEST, detail)])
        try:
            manifest = json.loads(manifest_bytes)
            listed = {str(e["path"]): e for e in manifest["files"]}
        except (ValueError, KeyError, TypeError):
            return Verification(False, 0, [*problems, Problem("manifest", MANIFEST, "signed but not readable")])
        present = set(names) - {MANIFEST, SIGNATURE}
        checked = 0
        for path, entry in sorted(listed.items()):
            if path not in present:
                problems.append(Problem("missing", path, "listed in the manifest but not in the package"))
                continue
            content = _read(archive, path)
            checked += 1
            if content is None:
                problems.append(Problem("damaged", path, "damaged in the archive (CRC mismatch): its bytes changed"))
                continue
            digest = hashlib.sha256(content).hexdigest()
            if digest != entry.get("sha256") or len(content) != entry.get("size"):
                problems.append(
                    Problem(
                        "changed",
                        path,
                        f"changed: SHA-256 {digest[:16]}... ({len(content)} bytes), manifest says"
                        f" {str(entry.get('sha256'))[:16]}... ({entry.get('size')} bytes)",
                    )
                )
        for path in sorted(present - set(listed)):
            problems.append(Problem("unexpected", path, "in the package but not in the manifest"))
    return Verification(not problems, checked, problems, manifest)
