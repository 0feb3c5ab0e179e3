"""SealedBuffer: what a muxer writes is sealed chunk by chunk, byte for byte as ``seal``."""

from __future__ import annotations

import io
import os
import random

import pytest

from gateway.vault.format import CHUNK_SIZE, HEADER_SIZE, TAG_SIZE, open_sealed, seal
from gateway.vault.sealbuf import SealedBuffer

KEY, KEY_ID, SALT = bytes(range(32)), bytes(range(16)), bytes(range(16, 32))
C = CHUNK_SIZE


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 5 * C + 17])
def test_same_bytes_as_seal_whatever_the_write_sizes(size):
    plain = os.urandom(size)
    rng = random.Random(size)
    buf = SealedBuffer(KEY, KEY_ID, _salt=SALT)
    pos = 0
    while pos < size:
        n = rng.choice([1, 7, 4096, 32768, C, C + 3])
        assert buf.write(plain[pos:pos + n]) == len(plain[pos:pos + n])
        pos += n
    sealed = buf.finish()
    assert bytes(sealed.blob) == seal(plain, KEY, KEY_ID, _salt=SALT)
    assert open_sealed(bytes(sealed.blob), KEY, expected_key_id=KEY_ID) == plain
    assert sealed.plaintext_size == size and sealed.data_key == KEY and sealed.key_id == KEY_ID


def test_seeking_back_into_chunk_zero_at_the_end_patches_it():
    # What the MP4 muxer does: write everything, then patch the mdat size near the start.
    plain = bytearray(os.urandom(3 * C + 5))
    buf = SealedBuffer(KEY, KEY_ID, _salt=SALT)
    buf.write(bytes(40))
    buf.write(plain[40:])
    end = buf.tell()
    buf.seek(0)
    buf.write(plain[:40])
    assert buf.seek(0, io.SEEK_END) == end == len(plain)
    assert open_sealed(bytes(buf.finish().blob), KEY) == bytes(plain)


def test_holds_at_most_two_chunks_of_plaintext():
    buf = SealedBuffer(KEY, KEY_ID, _salt=SALT)
    for _ in range(40):
        buf.write(os.urandom(C // 2))
        assert len(buf._first) + len(buf._tail) <= 2 * C + 1
        # Everything past chunk 0 and the chunk being filled is ciphertext already.
        assert len(buf._blob) >= HEADER_SIZE + (C + TAG_SIZE) * (buf.size // C - 1)


def test_a_write_into_a_sealed_chunk_fails_instead_of_being_lost():
    buf = SealedBuffer(KEY, KEY_ID)
    buf.write(os.urandom(4 * C))
    buf.seek(C + 10)
    with pytest.raises(io.UnsupportedOperation):
        buf.write(b"late")


def test_a_seek_past_the_end_reads_back_as_zeros():
    buf = SealedBuffer(KEY, KEY_ID)
    buf.write(b"ab")
    buf.seek(C + 3)
    buf.write(b"cd")
    assert open_sealed(bytes(buf.finish().blob), KEY) == b"ab" + bytes(C + 1) + b"cd"


def test_finish_is_final():
    buf = SealedBuffer(KEY, KEY_ID)
    buf.write(b"x")
    first = buf.finish()
    assert buf.finish() is first
    with pytest.raises(ValueError):
        buf.write(b"more")
