"""Export packages: build (a zip), sign (Ed25519), verify (directory or zip).

A package is one folder ``export-<id>/``::

    clips/<camera>_<start>_<segment>.mp4   masked MP4 clips, exactly as stored (decrypted)
    custody.json                           the hold, the segments' provenance, the audit entries
    README.txt                             how to check the package with standard tools
    signing-key.pem                        the gateway's Ed25519 public key (compare: notice page)
    manifest.json                          SHA-256 of every file above, and what was disclosed
    manifest.sig                           raw 64-byte Ed25519 signature over manifest.json
    SHA256SUMS                             ``sha256sum -c SHA256SUMS`` checks every file

Check with standard tools (OpenSSL 3)::

    sha256sum -c SHA256SUMS
    openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in manifest.json -sigfile manifest.sig

The signature covers the manifest, and the manifest the hash of every file, so
changing any byte of any file is caught. ``verify_package`` does all of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ..audit import entry_hash
from ..fsutil import fsync_dir
from ..vault.format import SealWriter
from ..vault.signing import fingerprint, public_key_pem, public_pem, signing_key  # noqa: F401

FORMAT = "footage-gateway-export/1"
#: Files every package has besides its clips; the last three are not in the manifest.
MANIFEST, SIGNATURE, SUMS = "manifest.json", "manifest.sig", "SHA256SUMS"

VERIFY_COMMANDS = (
    "sha256sum -c SHA256SUMS",
    "openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in manifest.json "
    "-sigfile manifest.sig",
    "openssl pkey -pubin -in signing-key.pem -outform DER | sha256sum"
    "   # compare with the fingerprint on the gateway's notice page",
)


# ------------------------------------------------------------------ building

def package_json(obj) -> bytes:
    """How every JSON file of a package is written (stable, so hashes are reproducible)."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


class PackageWriter:
    """Writes one package zip to ``path`` (0600) through a temp file; nothing half-built remains.

    With ``sealing=(data_key, key_id)`` (as the gateway always builds them) the
    zip is sealed as it is written (``vault.format.SealWriter``, the segment
    format): the package's plaintext footage never reaches the disk; whoever
    holds the key decrypts it while streaming it out. Without, a plain zip.
    """

    def __init__(self, path: Path, export_id: int,
                 sealing: tuple[bytes, bytes] | None = None) -> None:
        self.path = Path(path)
        self.root = f"export-{export_id}"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.tmp.unlink(missing_ok=True)  # a leftover of a crashed build; never follow a link
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self._fh = os.fdopen(fd, "wb")
        self._sealer = SealWriter(self._fh, *sealing) if sealing else None
        self._zip = zipfile.ZipFile(self._sealer or self._fh, "w", compression=zipfile.ZIP_STORED)
        self.hashes: dict[str, str] = {}
        self.bytes = 0

    def add(self, name: str, data: bytes) -> str:
        """Add one file; returns its SHA-256 (hex)."""
        digest = hashlib.sha256(data).hexdigest()
        self._zip.writestr(f"{self.root}/{name}", data)
        self.hashes[name] = digest
        self.bytes += len(data)
        return digest

    def finish(self, manifest: dict, key: Ed25519PrivateKey) -> str:
        """Add the manifest (with every file's hash), its signature and SHA256SUMS; commit."""
        manifest = {**manifest, "format": FORMAT, "files": dict(sorted(self.hashes.items())),
                    "signing_key_sha256": fingerprint(key)}
        body = package_json(manifest)
        manifest_sha = self.add(MANIFEST, body)
        self.add(SIGNATURE, key.sign(body))
        sums = "".join(f"{h}  {n}\n" for n, h in sorted(self.hashes.items()))
        self._zip.writestr(f"{self.root}/{SUMS}", sums)
        self._zip.close()
        if self._sealer is not None:
            self._sealer.finish()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)
        return manifest_sha

    def abort(self) -> None:
        for closer in (self._zip.close, self._fh.close):
            try:
                closer()
            except Exception:  # already closed or broken: the temp file goes anyway
                pass
        self.tmp.unlink(missing_ok=True)


def readme(export_id: int, key_fp: str) -> bytes:
    """The package's README: what it is and how to check it without our software."""
    lines = [
        f"footage-gateway export {export_id}",
        "",
        "Masked CCTV clips disclosed by the library under a preservation hold.",
        "custody.json says who requested, approved and exported them, and why.",
        "",
        "Check this package (in this folder) with standard tools:",
        "",
        *(f"    {c}" for c in VERIFY_COMMANDS),
        "",
        f"The signing key's SHA-256 fingerprint is {key_fp}.",
        "It must match the one on the library's public CCTV notice page.",
        "",
        "Or, with footage-gateway installed:  footage-gateway export verify .",
        "",
    ]
    return "\n".join(lines).encode()


# ------------------------------------------------------------------ verifying

@dataclass
class PackageReport:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    clips: int = 0
    key_sha256: str | None = None

    def fail(self, msg: str) -> None:
        self.ok = False
        self.problems.append(msg)


#: A package larger than this (unpacked) is refused by ``verify``: a zip bomb
#: must not exhaust the checker's memory. Exports are a handful of clips.
MAX_PACKAGE_BYTES = 8 * 1024**3


class PackageTooLarge(OSError):
    pass


def _read_files(path: Path) -> dict[str, bytes]:
    """name -> bytes of every file in a package directory or zip (names relative to its root).

    Symlinks are refused (a package is plain files), and so is anything that
    unpacks to more than MAX_PACKAGE_BYTES.
    """
    if path.is_dir():
        entries = sorted(path.rglob("*"))
        links = [p for p in entries if p.is_symlink()]
        if links:
            raise OSError(f"package contains a symlink: {links[0].relative_to(path)}")
        files = [p for p in entries if p.is_file()]
        if sum(p.stat().st_size for p in files) > MAX_PACKAGE_BYTES:
            raise PackageTooLarge(f"package is larger than {MAX_PACKAGE_BYTES} bytes")
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in files}
    with zipfile.ZipFile(path) as z:
        if sum(i.file_size for i in z.infolist()) > MAX_PACKAGE_BYTES:
            raise PackageTooLarge(f"package unpacks to more than {MAX_PACKAGE_BYTES} bytes")
        names = [n for n in z.namelist() if not n.endswith("/")]
        roots = {PurePosixPath(n).parts[0] for n in names}
        strip = len(next(iter(roots))) + 1 if len(roots) == 1 and all(
            len(PurePosixPath(n).parts) > 1 for n in names) else 0
        return {n[strip:]: z.read(n) for n in names}


def verify_package(path: Path | str, public_key: str | bytes | None = None) -> PackageReport:
    """Check a package: signature, every file's hash, SHA256SUMS, no extra files, custody chain.

    ``public_key`` (PEM) is the key published by the gateway; without it the
    key in the package is used and its fingerprint reported for comparison.
    """
    rep = PackageReport()
    try:
        files = _read_files(Path(path))
    except (OSError, zipfile.BadZipFile) as err:
        rep.fail(f"cannot read package {path}: {err}")
        return rep
    body, sig = files.get(MANIFEST), files.get(SIGNATURE)
    if body is None or sig is None:
        rep.fail(f"{MANIFEST} or {SIGNATURE} is missing")
        return rep
    pub = _public_key(public_key if public_key is not None else files.get("signing-key.pem"), rep)
    if pub is None:
        return rep
    rep.key_sha256 = fingerprint(pub)
    try:
        pub.verify(sig, body)
    except InvalidSignature:
        rep.fail(f"{SIGNATURE}: the signature does not match {MANIFEST} (manifest altered, or "
                 "signed by another key)")
    try:
        manifest = json.loads(body)
        listed: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError):
        rep.fail(f"{MANIFEST} is not a valid manifest")
        return rep
    _check_files(files, listed, rep)
    _check_sums(files, rep)
    if manifest.get("signing_key_sha256") != rep.key_sha256:
        rep.fail("the manifest names another signing key than the one used to verify")
    _check_custody(files.get("custody.json"), rep)
    rep.clips = len(manifest.get("clips", []))
    return rep


def _public_key(pem: str | bytes | None, rep: PackageReport) -> Ed25519PublicKey | None:
    if pem is None:
        rep.fail("no public key: signing-key.pem is missing and none was given")
        return None
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError:
        rep.fail("the public key is not a PEM public key")
        return None
    if not isinstance(key, Ed25519PublicKey):
        rep.fail("the public key is not an Ed25519 key")
        return None
    return key


def _check_files(files: dict[str, bytes], listed: dict[str, str], rep: PackageReport) -> None:
    for name, want in sorted(listed.items()):
        data = files.get(name)
        if data is None:
            rep.fail(f"{name}: listed in the manifest but missing")
        elif hashlib.sha256(data).hexdigest() != want:
            rep.fail(f"{name}: SHA-256 differs from the manifest (file altered)")
    extra = sorted(set(files) - set(listed) - {MANIFEST, SIGNATURE, SUMS})
    for name in extra:
        rep.fail(f"{name}: not listed in the manifest (file added)")


def _check_sums(files: dict[str, bytes], rep: PackageReport) -> None:
    sums = files.get(SUMS)
    if sums is None:
        rep.fail(f"{SUMS} is missing")
        return
    seen = set()
    for line in sums.decode(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        name = name.lstrip("*")
        seen.add(name)
        data = files.get(name)
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            rep.fail(f"{SUMS}: {name or line!r} does not match")
    for name in sorted(set(files) - seen - {SUMS}):
        rep.fail(f"{SUMS}: {name} is not listed")


def _check_custody(raw: bytes | None, rep: PackageReport) -> None:
    """Each audit entry in custody.json must hash to what it claims (as in the gateway's log)."""
    if raw is None:
        return  # already reported as a missing listed file
    try:
        entries = json.loads(raw)["audit"]
        for e in entries:
            h = entry_hash(e["prev_hash"], e["seq"], e["at_us"], e["actor"], e["role"],
                           e["action"], e["object"], e["reason"], e["detail"])
            if h != e["hash"]:
                rep.fail(f"custody.json: audit entry {e['seq']} does not match its hash")
    except (ValueError, KeyError, TypeError):
        rep.fail("custody.json: not a valid custody record")
