"""The gateway's Ed25519 export signing key: created once (0600), its public half shown on
the notice page so anyone can check who signed a package (gateway.holds.package)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ..errors import ConfigError
from ..fsutil import fsync_dir

KEY_FILE = "export-signing.key"


def signing_key(storage_path: Path) -> Ed25519PrivateKey:
    """The gateway's export signing key, generated (PEM, 0600) at STORAGE/export-signing.key."""
    path = Path(storage_path) / KEY_FILE
    if not path.exists():
        _create_key(path)
    st = path.stat()
    if st.st_mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {st.st_mode & 0o777:o}); "
                          f"chmod 600 {path}")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key")
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process created meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    fsync_dir(path.parent)  # the key is published on the notice page: it must survive


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SHA-256 of the DER public key (what ``openssl pkey -pubin -outform DER | sha256sum`` prints)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_key_pem(storage_path: Path) -> str:
    """The public half, for the notice page (creates the key on first use)."""
    return public_pem(signing_key(storage_path))
