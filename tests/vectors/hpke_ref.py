"""An independent RFC 9180 base-mode implementation, written from the RFC for the tests.

Only DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305 (suite
0x0020/0x0001/0x0003), single shot (sequence number 0). It uses X25519, HMAC and
ChaCha20-Poly1305 as primitives and nothing of ``cryptography.hazmat.primitives.hpke``,
so the gateway's wraps are checked against a second reading of the RFC. Its
sender takes the ephemeral private key as input, which makes the vectors in
tests/vectors/sealed-wrap.json deterministic.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEM_ID, KDF_ID, AEAD_ID = 0x0020, 0x0001, 0x0003
KEM_SUITE = b"KEM" + KEM_ID.to_bytes(2, "big")
HPKE_SUITE = b"HPKE" + KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + AEAD_ID.to_bytes(2, "big")
MODE_BASE = 0x00


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def labeled_extract(salt: bytes, suite: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(prk: bytes, suite: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def _raw(pub: X25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _shared_secret(dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
    eae_prk = labeled_extract(b"", KEM_SUITE, b"eae_prk", dh)
    return labeled_expand(eae_prk, KEM_SUITE, b"shared_secret", enc + pk_r, 32)


def _key_schedule(shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
    psk_id_hash = labeled_extract(b"", HPKE_SUITE, b"psk_id_hash", b"")
    info_hash = labeled_extract(b"", HPKE_SUITE, b"info_hash", info)
    context = bytes([MODE_BASE]) + psk_id_hash + info_hash
    secret = labeled_extract(shared_secret, HPKE_SUITE, b"secret", b"")
    return (labeled_expand(secret, HPKE_SUITE, b"key", context, 32),
            labeled_expand(secret, HPKE_SUITE, b"base_nonce", context, 12))


def seal(pk_r: bytes, info: bytes, aad: bytes, pt: bytes, sk_e: bytes) -> bytes:
    """enc || ct, with the given ephemeral private key."""
    eph = X25519PrivateKey.from_private_bytes(sk_e)
    enc = _raw(eph.public_key())
    dh = eph.exchange(X25519PublicKey.from_public_bytes(pk_r))
    key, nonce = _key_schedule(_shared_secret(dh, enc, pk_r), info)
    return enc + ChaCha20Poly1305(key).encrypt(nonce, pt, aad)


def open_(sk_r: bytes, info: bytes, aad: bytes, enc_ct: bytes) -> bytes:
    """Inverse of :func:`seal` (raises cryptography's InvalidTag on any mismatch)."""
    enc, ct = enc_ct[:32], enc_ct[32:]
    rkey = X25519PrivateKey.from_private_bytes(sk_r)
    dh = rkey.exchange(X25519PublicKey.from_public_bytes(enc))
    key, nonce = _key_schedule(_shared_secret(dh, enc, _raw(rkey.public_key())), info)
    return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)


def public_of(sk: bytes) -> bytes:
    return _raw(X25519PrivateKey.from_private_bytes(sk).public_key())
