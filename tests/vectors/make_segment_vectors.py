"""Regenerate tests/vectors/segment-format.json (run only when the format changes).

    .venv/bin/python tests/vectors/make_segment_vectors.py

Every input is fixed, so the output is deterministic; tests/vault/test_segment_format.py
checks the file against the implementation and against an independent decoder
written from docs/segment-format.md. Changing this file's output is a format
change: bump the version in the spec instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from gateway.vault import format as fmt
from gateway.vault import keyring

OUT = Path(__file__).with_name("segment-format.json")
DATA_KEY = bytes(range(32))
KEY_ID = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
SALT = bytes.fromhex("5a" * 16)
#: Above this many sealed bytes a case carries a SHA-256 instead of the hex.
INLINE_LIMIT = 256


def pattern(length: int) -> bytes:
    """Plaintext for the large cases: byte i is i mod 251."""
    return bytes(i % 251 for i in range(length))


def valid_case(name: str, plaintext: bytes, described: dict | None = None) -> dict:
    sealed = fmt.seal(plaintext, DATA_KEY, KEY_ID, _salt=SALT)
    case = {"name": name, "plaintext_size": len(plaintext), "sealed_size": len(sealed)}
    case["plaintext"] = described or {"hex": plaintext.hex()}
    if len(sealed) <= INLINE_LIMIT:
        case["sealed_hex"] = sealed.hex()
    else:
        case["sealed_sha256"] = hashlib.sha256(sealed).hexdigest()
        case["sealed_tail_hex"] = sealed[-32:].hex()  # end of the last chunk and its tag
    return case


def invalid_cases() -> list[dict]:
    header = fmt.Header(fmt.VERSION, KEY_ID, SALT).encode()
    aead = ChaCha20Poly1305(fmt.payload_key(DATA_KEY, SALT))
    good = fmt.seal(b"hello", DATA_KEY, KEY_ID, _salt=SALT)
    not_last = header + aead.encrypt(fmt.nonce_for_chunk(0, False), b"hello", header)
    flipped_tag = good[:-1] + bytes([good[-1] ^ 0x01])
    return [
        {"name": "header only (no final chunk)", "sealed_hex": header.hex()},
        {"name": "single chunk without the last-chunk flag", "sealed_hex": not_last.hex()},
        {"name": "trailing byte after the final chunk", "sealed_hex": (good + b"\x00").hex()},
        {"name": "one bit flipped in the tag", "sealed_hex": flipped_tag.hex()},
        {"name": "unknown version 2", "sealed_hex": (good[:8] + b"\x02" + good[9:]).hex()},
        {"name": "bad magic", "sealed_hex": (b"\x89FGSEG\n\n" + good[8:]).hex()},
        {"name": "key id altered in header", "sealed_hex": (good[:9] + b"\xff" + good[10:]).hex()},
    ]


def wrap_case() -> dict:
    kek = bytes.fromhex("f0" * 32)
    nonce = bytes.fromhex("000102030405060708090a0b")
    kek_id = "kek-0123456789abcdef"
    wrapped = keyring.wrap_key(kek, kek_id, DATA_KEY, key_id=KEY_ID, nonce=nonce)
    return {
        "kek_hex": kek.hex(),
        "kek_id": kek_id,
        "key_id_hex": KEY_ID.hex(),
        "nonce_hex": nonce.hex(),
        "data_key_hex": DATA_KEY.hex(),
        "aad_hex": keyring.wrap_aad(kek_id, KEY_ID).hex(),
        "wrapped_hex": wrapped.hex(),
    }


def main() -> None:
    size = fmt.ChunkSize
    doc = {
        "about": "Test vectors for docs/segment-format.md, format version 1. "
        "Large plaintexts are byte i = i mod 251.",
        "chunk_size": size,
        "data_key_hex": DATA_KEY.hex(),
        "key_id_hex": KEY_ID.hex(),
        "salt_hex": SALT.hex(),
        "payload_key_hex": fmt.payload_key(DATA_KEY, SALT).hex(),
        "nonces": [
            {"counter": c, "last": last, "nonce_hex": fmt.nonce_for_chunk(c, last).hex()}
            for c, last in [(0, False), (0, True), (1, False), (258, True)]
        ],
        "valid": [
            valid_case("empty", b""),
            valid_case("one byte", b"\x00"),
            valid_case("short text", b"hello, library"),
            *[
                valid_case(name, pattern(n), {"pattern": "i mod 251", "length": n})
                for name, n in [
                    ("chunk-1", size - 1),
                    ("chunk", size),
                    ("chunk+1", size + 1),
                    ("3 chunks", 3 * size),
                ]
            ],
        ],
        "invalid": invalid_cases(),
        "key_wrap": wrap_case(),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
