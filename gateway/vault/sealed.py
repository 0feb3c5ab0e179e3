"""Sealed mode: the gateway wraps data keys to a public key it cannot open.

Normative spec: docs/segment-format.md, "Sealed wrap" (byte layouts, info
strings, file formats, KDF parameters) -- the names below follow it.

Three layers, each a small construction on standard parts:

1. **Data-key wrap** (per segment): HPKE (RFC 9180) base mode, single shot,
   suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, to the
   current *epoch* public key; ``info`` binds the wrap to the epoch id and the
   segment's key id (RFC 9180 section 8.1: single-shot callers put their
   context in ``info``). Ingest needs only the public key.
2. **Epoch file** (per key epoch): the epoch's X25519 public key, and its
   private key cut into Shamir shares (threshold = ``keys.unlock_quorum``),
   each share HPKE-wrapped to one enrolled director's own public key. So a new
   epoch can be made while the gateway is locked: it needs only the
   directors' public keys.
3. **Director key file** (per director): the director's X25519 private key,
   encrypted with ChaCha20-Poly1305 under argon2id(passphrase). The KDF
   parameters are written in the file.

Unlock = passphrase -> director private key -> that director's shares of every
epoch; with ``quorum`` distinct directors' shares -> the epoch private keys,
which then live only in memory (``gateway.vault.sealed_store.Session``) until
locked. Shamir's scheme is ``gateway.vault.shamir``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import argon2.low_level as argon2_ll
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import ConfigError, Forbidden, IntegrityError
from .shamir import Share, combine_shares, split_secret

#: RFC 9180 suite: KEM 0x0020, KDF 0x0001, AEAD 0x0003.
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
SUITE_NAME = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305"
ENC_SIZE = 32  # Nenc of DHKEM(X25519)
TAG_SIZE = 16
#: First byte of a sealed wrap (a key-ring wrap starts with 0x01).
SEALED_WRAP_VERSION = 2
SEALED_WRAPPED_SIZE = 1 + ENC_SIZE + 32 + TAG_SIZE  # 81
WRAP_INFO_LABEL = b"footage-gateway sealed wrap v1"
SHARE_INFO_LABEL = b"footage-gateway sealed share v1"
DIRECTOR_AAD_LABEL = b"footage-gateway director key v1"
EPOCH_FORMAT = "footage-gateway sealed epoch v1"
DIRECTOR_FORMAT = "footage-gateway sealed director v1"
EPOCH_PREFIX = "seal-"
EPOCH_ID = re.compile(r"^seal-[0-9a-f]{16}$")
DIRECTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # = gateway.users.USER_NAME
MIN_PASSPHRASE = 12
MAX_PASSPHRASE = 1024


# ---------------------------------------------------------------- 1. data-key wrap (pure)


def _lv(raw: bytes) -> bytes:
    """u8(len) || raw: every variable-length field of an info string."""
    if len(raw) > 255:
        raise ValueError("field longer than 255 bytes")
    return bytes([len(raw)]) + raw


def wrap_info(epoch_id: str, key_id: bytes) -> bytes:
    """info = WRAP_INFO_LABEL || u8(len(epoch_id)) || epoch_id (ASCII) || key_id (16 bytes)."""
    return WRAP_INFO_LABEL + _lv(epoch_id.encode("ascii")) + key_id


def seal_data_key(public_key: X25519PublicKey, epoch_id: str, data_key: bytes,
                  key_id: bytes) -> bytes:
    """0x02 || enc (32) || ChaCha20-Poly1305 ciphertext of the 32-byte data key (48)."""
    if len(data_key) != 32:
        raise ValueError(f"data key must be 32 bytes, got {len(data_key)}")
    return bytes([SEALED_WRAP_VERSION]) + SUITE.encrypt(data_key, public_key,
                                                        info=wrap_info(epoch_id, key_id))


def open_data_key(private_key: X25519PrivateKey, epoch_id: str, wrapped: bytes,
                  key_id: bytes) -> bytes:
    """Inverse of :func:`seal_data_key`; IntegrityError if anything does not authenticate."""
    if len(wrapped) != SEALED_WRAPPED_SIZE or wrapped[0] != SEALED_WRAP_VERSION:
        raise IntegrityError(f"sealed wrapped key is malformed ({len(wrapped)} bytes, want "
                             f"{SEALED_WRAPPED_SIZE} starting with version {SEALED_WRAP_VERSION})")
    try:
        return SUITE.decrypt(wrapped[1:], private_key, info=wrap_info(epoch_id, key_id))
    except InvalidTag:
        raise IntegrityError(f"sealed wrapped key failed authentication under epoch {epoch_id} "
                             "(tampered, or bound to another key id)") from None


# ---------------------------------------------------------------- 3. passphrase KDF (pure)


@dataclass(frozen=True)
class KdfParams:
    """argon2id (RFC 9106) parameters; written in every director key file."""

    salt: bytes = field(repr=False)
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    #: Bounds a file must respect to be accepted (a weaker file is refused, not used).
    MIN_MEMORY_KIB = 8 * 1024
    MAX_MEMORY_KIB = 4 * 1024 * 1024

    def check(self) -> None:
        if len(self.salt) != 16:
            raise ValueError("argon2id salt must be 16 bytes")
        if not 1 <= self.time_cost <= 16:
            raise ValueError("argon2id time_cost must be 1..16")
        if not self.MIN_MEMORY_KIB <= self.memory_kib <= self.MAX_MEMORY_KIB:
            raise ValueError(f"argon2id memory_kib must be {self.MIN_MEMORY_KIB}.."
                             f"{self.MAX_MEMORY_KIB}")
        if not 1 <= self.parallelism <= 16:
            raise ValueError("argon2id parallelism must be 1..16")

    def to_json(self) -> dict:
        return {"name": "argon2id", "version": 19, "salt": _b64(self.salt),
                "time_cost": self.time_cost, "memory_kib": self.memory_kib,
                "parallelism": self.parallelism}

    @classmethod
    def from_json(cls, doc: Mapping) -> KdfParams:
        if doc.get("name") != "argon2id" or doc.get("version") != 19:
            raise ValueError("kdf must be argon2id version 19 (0x13)")
        params = cls(_unb64(doc["salt"]), _int(doc["time_cost"]), _int(doc["memory_kib"]),
                     _int(doc["parallelism"]))
        params.check()
        return params


def derive_passphrase_key(passphrase: str, params: KdfParams) -> bytes:
    """argon2id(password = UTF-8 passphrase, salt, t, m, p, tag length 32)."""
    params.check()
    return argon2_ll.hash_secret_raw(passphrase.encode("utf-8"), params.salt,
                                     time_cost=params.time_cost, memory_cost=params.memory_kib,
                                     parallelism=params.parallelism, hash_len=32,
                                     type=argon2_ll.Type.ID, version=19)


def check_passphrase(passphrase: str) -> None:
    """A director's passphrase: at least 12 characters (it guards every kept segment)."""
    if not MIN_PASSPHRASE <= len(passphrase) <= MAX_PASSPHRASE:
        raise ValueError(f"a passphrase must be {MIN_PASSPHRASE}..{MAX_PASSPHRASE} characters")


# ---------------------------------------------------------------- key encodings


def public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def private_bytes(key: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected a base64 string")
    return base64.b64decode(text, validate=True)


def _int(v) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"expected an integer, got {v!r}")
    return v


# ---------------------------------------------------------------- director key file


def director_aad(name: str, public_key: bytes) -> bytes:
    """AAD = DIRECTOR_AAD_LABEL || u8(len(name)) || name || public key (32)."""
    return DIRECTOR_AAD_LABEL + _lv(name.encode("ascii")) + public_key


@dataclass(frozen=True)
class DirectorKey:
    """A director key file's contents: public key, KDF parameters, the sealed private key."""

    name: str
    public_key: bytes
    kdf: KdfParams
    sealed: bytes = field(repr=False)  # nonce (12) || ciphertext (32) || tag (16)

    def encode(self) -> bytes:
        doc = {"format": DIRECTOR_FORMAT, "director": self.name,
               "public_key": _b64(self.public_key), "kdf": self.kdf.to_json(),
               "sealed_private_key": _b64(self.sealed)}
        return (json.dumps(doc, indent=1) + "\n").encode()

    @classmethod
    def decode(cls, raw: bytes, where: str) -> DirectorKey:
        try:
            doc = json.loads(raw)
            if doc.get("format") != DIRECTOR_FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, want {DIRECTOR_FORMAT!r}")
            name = doc["director"]
            if not isinstance(name, str) or not DIRECTOR_NAME.match(name):
                raise ValueError("bad director name")
            key = cls(name, _unb64(doc["public_key"]), KdfParams.from_json(doc["kdf"]),
                      _unb64(doc["sealed_private_key"]))
            if len(key.public_key) != 32 or len(key.sealed) != 12 + 32 + TAG_SIZE:
                raise ValueError("bad key sizes")
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
            raise ConfigError(f"director key file {where} is malformed: {e}") from None
        return key


def new_director_key(name: str, passphrase: str, *, time_cost: int = 3,
                     memory_kib: int = 64 * 1024, parallelism: int = 4,
                     _private: bytes | None = None, _salt: bytes | None = None,
                     _nonce: bytes | None = None) -> DirectorKey:
    """A fresh director key pair, the private half sealed under the passphrase.

    The underscored arguments are for test vectors only.
    """
    if not DIRECTOR_NAME.match(name):
        raise ValueError(f"director name {name!r} must match [a-z0-9][a-z0-9._-]{{0,63}}")
    check_passphrase(passphrase)
    sk = X25519PrivateKey.from_private_bytes(_private) if _private else X25519PrivateKey.generate()
    pk = public_bytes(sk.public_key())
    params = KdfParams(_salt or secrets.token_bytes(16), time_cost, memory_kib, parallelism)
    kek = derive_passphrase_key(passphrase, params)
    nonce = _nonce or secrets.token_bytes(12)
    sealed = nonce + ChaCha20Poly1305(kek).encrypt(nonce, private_bytes(sk), director_aad(name, pk))
    return DirectorKey(name, pk, params, sealed)


class WrongPassphrase(Forbidden):
    code = "bad_passphrase"


def open_director_key(key: DirectorKey, passphrase: str) -> X25519PrivateKey:
    """The director's private key; WrongPassphrase if the passphrase does not open it."""
    kek = derive_passphrase_key(passphrase, key.kdf)
    nonce, ct = key.sealed[:12], key.sealed[12:]
    try:
        raw = ChaCha20Poly1305(kek).decrypt(nonce, ct, director_aad(key.name, key.public_key))
    except InvalidTag:
        raise WrongPassphrase(f"wrong passphrase for director {key.name}") from None
    sk = X25519PrivateKey.from_private_bytes(raw)
    if public_bytes(sk.public_key()) != key.public_key:
        raise IntegrityError(f"director key file of {key.name}: private and public keys differ")
    return sk


# ---------------------------------------------------------------- epoch file


def share_info(epoch_id: str, director: str, x: int) -> bytes:
    """info = SHARE_INFO_LABEL || u8(len(epoch_id)) || epoch_id || u8(len(name)) || name || u8(x)."""
    return (SHARE_INFO_LABEL + _lv(epoch_id.encode("ascii")) + _lv(director.encode("ascii"))
            + bytes([x]))


@dataclass(frozen=True)
class Slot:
    director: str
    director_public_key: bytes
    x: int
    wrapped_share: bytes = field(repr=False)  # enc (32) || ciphertext (32) || tag (16)


@dataclass(frozen=True)
class Epoch:
    """An epoch file: what wraps data keys now (public key) and who can open it (slots)."""

    id: str
    created_us: int
    public_key: bytes
    quorum: int
    slots: tuple[Slot, ...]

    @property
    def public(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self.public_key)

    def slot(self, director: str) -> Slot | None:
        return next((s for s in self.slots if s.director == director), None)

    def encode(self) -> bytes:
        doc = {"format": EPOCH_FORMAT, "id": self.id, "created_us": self.created_us,
               "suite": SUITE_NAME, "public_key": _b64(self.public_key), "quorum": self.quorum,
               "slots": [{"director": s.director,
                          "director_public_key": _b64(s.director_public_key), "x": s.x,
                          "wrapped_share": _b64(s.wrapped_share)} for s in self.slots]}
        return (json.dumps(doc, indent=1) + "\n").encode()

    @classmethod
    def decode(cls, raw: bytes, where: str) -> Epoch:
        try:
            doc = json.loads(raw)
            if doc.get("format") != EPOCH_FORMAT or doc.get("suite") != SUITE_NAME:
                raise ValueError(f"format/suite is {doc.get('format')!r}/{doc.get('suite')!r}")
            if not isinstance(doc["id"], str) or not EPOCH_ID.match(doc["id"]):
                raise ValueError(f"bad epoch id {doc.get('id')!r}")
            slots = tuple(Slot(s["director"], _unb64(s["director_public_key"]), _int(s["x"]),
                               _unb64(s["wrapped_share"])) for s in doc["slots"])
            epoch = cls(doc["id"], _int(doc["created_us"]), _unb64(doc["public_key"]),
                        _int(doc["quorum"]), slots)
            if len(epoch.public_key) != 32 or not 1 <= epoch.quorum <= max(1, len(slots)):
                raise ValueError("bad public key or quorum")
            if len({s.x for s in slots}) != len(slots) or len({s.director for s in slots}) != len(slots):
                raise ValueError("duplicate slots")
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
            raise ConfigError(f"epoch file {where} is malformed: {e}") from None
        return epoch


def new_epoch(directors: list[tuple[str, bytes]], quorum: int, now_us: int
              ) -> tuple[Epoch, X25519PrivateKey]:
    """A fresh epoch key pair; its private key split to ``directors`` (name, public key).

    Returns the epoch (to write) and the private key (to keep only in an
    unlocked session, or to drop at once).
    """
    if len(directors) < quorum:
        raise ConfigError(f"sealed mode needs at least keys.unlock_quorum = {quorum} enrolled "
                          f"director(s); {len(directors)} enrolled (footage-gateway keys enroll)")
    sk = X25519PrivateKey.generate()
    epoch_id = f"{EPOCH_PREFIX}{secrets.token_hex(8)}"
    shares = split_secret(private_bytes(sk), len(directors), quorum)
    slots = tuple(
        Slot(name, dpk, share.x, SUITE.encrypt(share.y, X25519PublicKey.from_public_bytes(dpk),
                                               info=share_info(epoch_id, name, share.x)))
        for (name, dpk), share in zip(sorted(directors), shares))
    return Epoch(epoch_id, now_us, public_bytes(sk.public_key()), quorum, slots), sk


def open_share(epoch: Epoch, director: str, director_key: X25519PrivateKey) -> Share | None:
    """This director's share of the epoch (None when the epoch has no slot for them)."""
    slot = epoch.slot(director)
    if slot is None:
        return None
    try:
        y = SUITE.decrypt(slot.wrapped_share, director_key,
                          info=share_info(epoch.id, director, slot.x))
    except InvalidTag:
        raise IntegrityError(f"epoch {epoch.id}: the share of {director} does not open "
                             "(the epoch file was altered, or the director key replaced)") from None
    return Share(slot.x, y)


def rebuild_epoch_key(epoch: Epoch, shares: Iterable[Share]) -> X25519PrivateKey:
    """The epoch private key from ``quorum`` shares, checked against its public key."""
    shares = list(shares)[: epoch.quorum]
    if len(shares) < epoch.quorum:
        raise ValueError(f"epoch {epoch.id} needs {epoch.quorum} shares, got {len(shares)}")
    sk = X25519PrivateKey.from_private_bytes(combine_shares(shares))
    if public_bytes(sk.public_key()) != epoch.public_key:
        raise IntegrityError(f"epoch {epoch.id}: the shares do not rebuild its private key")
    return sk
