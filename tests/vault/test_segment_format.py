"""The encrypted segment format: round trips, failing closed, and test vectors.

The vectors are checked twice: against gateway.vault.format, and against a
small decoder written from docs/segment-format.md alone (``reference_open``),
so a change that breaks the documented format cannot pass by changing both.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.errors import IntegrityError
from gateway.vault import keyring
from gateway.vault.format import (
    CHUNK_SIZE,
    HEADER_SIZE,
    Header,
    iter_open,
    iter_seal,
    new_data_key,
    new_key_id,
    nonce_for_chunk,
    open_sealed,
    payload_key,
    read_header,
    seal,
    sealed_size,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "segment-format.json").read_text())
SEALED_CHUNK = CHUNK_SIZE + 16
SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE]
KEY = bytes(range(32))
KEY_ID = bytes(range(100, 116))


def plaintext(n: int) -> bytes:
    """Non-repeating-per-chunk content, so swapped chunks differ."""
    return bytes((i * 7 + i // CHUNK_SIZE) % 256 for i in range(n))


def chunks_of(blob: bytes) -> list[bytes]:
    body = blob[HEADER_SIZE:]
    return [body[i : i + SEALED_CHUNK] for i in range(0, len(body), SEALED_CHUNK)]


def reference_open(blob: bytes, data_key: bytes) -> bytes:
    """Decoder written from docs/segment-format.md only (no gateway imports)."""
    if len(blob) < 41 or blob[:8] != bytes.fromhex("894647534547" "0d0a") or blob[8] != 1:
        raise ValueError("bad header")
    header, salt = blob[:41], blob[25:41]
    hkdf = HKDF(hashes.SHA256(), 32, salt, b"footage-gateway segment v1 payload")
    aead = ChaCha20Poly1305(hkdf.derive(data_key))
    rest, i, out = blob[41:], 0, b""
    while len(rest) > 65552:
        out += aead.decrypt(i.to_bytes(11, "big") + b"\x00", rest[:65552], header)
        rest, i = rest[65552:], i + 1
    if len(rest) < 16 or (len(rest) == 16 and i > 0):
        raise ValueError("truncated")
    return out + aead.decrypt(i.to_bytes(11, "big") + b"\x01", rest, header)


THREE = plaintext(3 * CHUNK_SIZE + 5)
THREE_SEALED = seal(THREE, KEY, KEY_ID)

# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_at_chunk_edges(size):
    data = plaintext(size)
    blob = seal(data, KEY, KEY_ID)
    assert len(blob) == sealed_size(size)
    assert open_sealed(blob, KEY) == data
    assert b"".join(iter_open(io.BytesIO(blob), KEY)) == data
    assert reference_open(blob, KEY) == data


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cut", [1000, CHUNK_SIZE, CHUNK_SIZE + 3])
def test_streaming_seal_matches_whole_seal_for_any_input_cuts(size, cut):
    data = plaintext(size)
    salt = b"\x07" * 16
    pieces = [b""] + [data[i : i + cut] for i in range(0, len(data), cut)]
    streamed = b"".join(iter_seal(pieces, KEY, KEY_ID, _salt=salt))
    assert streamed == seal(data, KEY, KEY_ID, _salt=salt)


def test_streaming_seal_copes_with_a_reused_read_buffer():
    # Readers often fill one bytearray again and again (readinto).
    data, source, buf = THREE, io.BytesIO(THREE), bytearray(CHUNK_SIZE)

    def pieces():
        while n := source.readinto(buf):
            yield memoryview(buf)[:n]

    assert open_sealed(b"".join(iter_seal(pieces(), KEY, KEY_ID)), KEY) == data


def test_chunk_count_follows_the_spec():
    # A full final chunk is not followed by an empty one; empty input is one empty chunk.
    assert len(chunks_of(seal(b"", KEY, KEY_ID))) == 1
    assert [len(c) for c in chunks_of(seal(plaintext(CHUNK_SIZE), KEY, KEY_ID))] == [SEALED_CHUNK]
    sizes = [len(c) for c in chunks_of(seal(plaintext(CHUNK_SIZE + 1), KEY, KEY_ID))]
    assert sizes == [SEALED_CHUNK, 17]


def test_header_names_the_key_without_needing_it():
    key_id = new_key_id()
    blob = seal(b"frame", new_data_key(), key_id)
    header = read_header(blob[:HEADER_SIZE])
    assert (header.version, header.key_id) == (1, key_id)


def test_each_seal_uses_a_fresh_salt():
    a, b = seal(b"same", KEY, KEY_ID), seal(b"same", KEY, KEY_ID)
    assert read_header(a).salt != read_header(b).salt
    assert a[HEADER_SIZE:] != b[HEADER_SIZE:]


def test_fresh_keys_have_the_spec_sizes_and_differ():
    assert len(new_data_key()) == 32 and len(new_key_id()) == 16
    assert new_data_key() != new_data_key()


# ---------------------------------------------------------------- failing closed

def _rejects(blob: bytes, key: bytes = KEY) -> None:
    with pytest.raises(IntegrityError):
        open_sealed(blob, key)
    with pytest.raises(IntegrityError):
        b"".join(iter_open(io.BytesIO(blob), key))
    with pytest.raises((ValueError, InvalidTag)):
        reference_open(blob, key)


@pytest.mark.parametrize("boundary", range(4))
def test_truncation_at_every_chunk_boundary_fails(boundary):
    _rejects(THREE_SEALED[: HEADER_SIZE + boundary * SEALED_CHUNK])


@pytest.mark.parametrize("cut", [1, 5, HEADER_SIZE - 1, HEADER_SIZE + 7,
                                 HEADER_SIZE + SEALED_CHUNK + 100, len(THREE_SEALED) - 1])
def test_truncation_mid_header_or_mid_chunk_fails(cut):
    _rejects(THREE_SEALED[:cut])


@pytest.mark.parametrize("size", [2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 10])
def test_dropping_the_final_chunk_fails(size):
    # The prefix ends exactly on a chunk boundary, with a full chunk last.
    blob = seal(plaintext(size), KEY, KEY_ID)
    prefix = b"".join([blob[:HEADER_SIZE], *chunks_of(blob)[:-1]])
    assert (len(prefix) - HEADER_SIZE) % SEALED_CHUNK == 0
    _rejects(prefix)


@pytest.mark.parametrize("i,j", [(0, 1), (1, 2)])
def test_swapping_two_chunks_fails(i, j):
    chunks = chunks_of(THREE_SEALED)
    chunks[i], chunks[j] = chunks[j], chunks[i]
    _rejects(THREE_SEALED[:HEADER_SIZE] + b"".join(chunks))


def test_duplicating_a_chunk_fails():
    chunks = chunks_of(THREE_SEALED)
    _rejects(THREE_SEALED[:HEADER_SIZE] + chunks[0] + b"".join(chunks))


@pytest.mark.parametrize("size", [0, 5, CHUNK_SIZE, 3 * CHUNK_SIZE + 5])
@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 16, b"\xaa" * SEALED_CHUNK])
def test_trailing_data_fails(size, extra):
    _rejects(seal(plaintext(size), KEY, KEY_ID) + extra)


@pytest.mark.parametrize(
    "offset",
    [0, 7, 8, 9, 24, 25, 40,  # magic, version, key id, salt
     HEADER_SIZE, HEADER_SIZE + SEALED_CHUNK + 1000,  # body of chunks 0 and 1
     HEADER_SIZE + SEALED_CHUNK - 1, -1],  # tag of chunk 0 and of the final chunk
)
def test_flipping_one_byte_anywhere_fails(offset):
    blob = bytearray(THREE_SEALED)
    blob[offset] ^= 0x40
    _rejects(bytes(blob))


def test_wrong_key_fails():
    _rejects(THREE_SEALED, key=new_data_key())


def test_unknown_version_is_refused_before_decrypting():
    blob = bytearray(seal(b"x", KEY, KEY_ID))
    blob[8] = 2
    with pytest.raises(IntegrityError, match="unsupported segment format version 2"):
        open_sealed(bytes(blob), KEY)
    with pytest.raises(IntegrityError, match="version 2"):
        read_header(bytes(blob))


def test_empty_final_chunk_after_a_full_chunk_is_rejected():
    # Forged with the right key: a non-canonical encoding of CHUNK_SIZE bytes.
    data = plaintext(CHUNK_SIZE)
    header = Header(1, KEY_ID, b"\x01" * 16).encode()
    aead = ChaCha20Poly1305(payload_key(KEY, b"\x01" * 16))
    forged = (header + aead.encrypt(nonce_for_chunk(0, False), data, header)
              + aead.encrypt(nonce_for_chunk(1, True), b"", header))
    _rejects(forged)


def test_key_id_mismatch_with_catalog_is_reported():
    blob = seal(b"x", KEY, KEY_ID)
    assert open_sealed(blob, KEY, expected_key_id=KEY_ID) == b"x"
    with pytest.raises(IntegrityError, match="does not match the catalog"):
        open_sealed(blob, KEY, expected_key_id=b"\x00" * 16)


def test_streaming_open_releases_only_authenticated_chunks():
    blob = bytearray(THREE_SEALED)
    blob[HEADER_SIZE + SEALED_CHUNK + 5] ^= 1  # damage chunk 1
    released = []
    with pytest.raises(IntegrityError, match="chunk 1"):
        for piece in iter_open(io.BytesIO(bytes(blob)), KEY):
            released.append(piece)
    assert released == [THREE[:CHUNK_SIZE]]


def test_streaming_open_reports_boundary_truncation_at_the_end():
    cut = THREE_SEALED[: HEADER_SIZE + 2 * SEALED_CHUNK]
    it = iter_open(io.BytesIO(cut), KEY)
    assert next(it) == THREE[:CHUNK_SIZE]
    with pytest.raises(IntegrityError, match="final chunk 1"):
        next(it)


class _Trickle(io.RawIOBase):
    """A file that returns at most 1000 bytes per read, like a socket or pipe."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(min(n, 1000) if n >= 0 else 1000)


def test_streaming_open_handles_short_reads():
    assert b"".join(iter_open(_Trickle(THREE_SEALED), KEY)) == THREE


# ---------------------------------------------------------------- test vectors


def _vector_plaintext(case: dict) -> bytes:
    spec = case["plaintext"]
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return bytes(i % 251 for i in range(spec["length"]))


def test_vector_payload_key_and_nonces():
    salt = bytes.fromhex(VECTORS["salt_hex"])
    assert payload_key(bytes.fromhex(VECTORS["data_key_hex"]), salt).hex() == VECTORS["payload_key_hex"]
    for n in VECTORS["nonces"]:
        assert nonce_for_chunk(n["counter"], n["last"]).hex() == n["nonce_hex"]


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid_vectors_seal_and_open(case):
    key = bytes.fromhex(VECTORS["data_key_hex"])
    data = _vector_plaintext(case)
    sealed = seal(data, key, bytes.fromhex(VECTORS["key_id_hex"]),
                  _salt=bytes.fromhex(VECTORS["salt_hex"]))
    assert len(sealed) == case["sealed_size"]
    if "sealed_hex" in case:
        assert sealed.hex() == case["sealed_hex"]
    else:
        assert hashlib.sha256(sealed).hexdigest() == case["sealed_sha256"]
        assert sealed[-32:].hex() == case["sealed_tail_hex"]
    assert open_sealed(sealed, key) == data
    assert reference_open(sealed, key) == data


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_vectors_are_rejected(case):
    _rejects(bytes.fromhex(case["sealed_hex"]), key=bytes.fromhex(VECTORS["data_key_hex"]))


def test_key_wrap_vector():
    v = VECTORS["key_wrap"]
    kek, key_id = bytes.fromhex(v["kek_hex"]), bytes.fromhex(v["key_id_hex"])
    data_key = bytes.fromhex(v["data_key_hex"])
    assert keyring.wrap_aad(v["kek_id"], key_id).hex() == v["aad_hex"]
    wrapped = keyring.wrap_key(kek, v["kek_id"], data_key, key_id=key_id,
                               nonce=bytes.fromhex(v["nonce_hex"]))
    assert wrapped.hex() == v["wrapped_hex"]
    assert keyring.unwrap_key(kek, v["kek_id"], wrapped, key_id=key_id) == data_key
    # From the doc alone: 0x01 || nonce || ChaCha20-Poly1305(KEK, nonce, data_key, aad).
    raw = bytes.fromhex(v["wrapped_hex"])
    assert raw[0] == 1 and len(raw) == 61
    assert ChaCha20Poly1305(kek).decrypt(raw[1:13], raw[13:], bytes.fromhex(v["aad_hex"])) == data_key
