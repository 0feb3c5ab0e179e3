"""A seekable, write-only file that seals in memory what a muxer writes, chunk by chunk.

The MP4 muxer writes its output front to back and then seeks back once, to
patch the ``mdat`` box's size near the start of the file, before it writes
the ``moov`` box at the end. ``SealedBuffer`` takes exactly that: chunk 0 of
the plaintext (the first ``ChunkSize`` bytes, where every MP4 header lives)
stays writable until ``finish``; every later chunk is sealed as soon as more
output shows it is not the last, and only its ciphertext is kept. So besides
the sealed segment, at most two chunks of plaintext exist (chunk 0 and the
one being filled): the plaintext MP4 never exists whole in memory, and
nothing is ever written to a disk (invariant 1).

The result is byte for byte what ``format.seal`` makes of the same plaintext
(docs/segment-format.md): header, then chunk 0 sealed last of all (its nonce
counter is 0 whenever it is sealed), then chunks 1..n in place.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .format import (HEADER_SIZE, KEY_ID_SIZE, SALT_SIZE, TAG_SIZE, VERSION, ChunkSize, Header,
                     nonce_for_chunk, payload_key)

_SEALED_CHUNK = ChunkSize + TAG_SIZE


@dataclass(frozen=True)
class Sealed:
    """A sealed segment produced in memory, with the key it was sealed under."""

    blob: bytearray  # header || sealed chunks (a bytearray: never copied into bytes)
    sha256: str  # of ``blob``
    data_key: bytes
    key_id: bytes
    plaintext_size: int


class SealedBuffer:
    """Write (and seek back into chunk 0, or into the chunk being filled), then ``finish``.

    A write into a chunk already sealed raises ``io.UnsupportedOperation``:
    the output would be wrong, so the muxer fails instead (nothing is kept).
    """

    def __init__(self, data_key: bytes, key_id: bytes, *, _salt: bytes | None = None) -> None:
        if len(key_id) != KEY_ID_SIZE:
            raise ValueError(f"key id must be {KEY_ID_SIZE} bytes, got {len(key_id)}")
        salt = secrets.token_bytes(SALT_SIZE) if _salt is None else _salt
        self._data_key, self._key_id = data_key, bytes(key_id)
        self._header = Header(VERSION, self._key_id, salt).encode()
        self._aead = ChaCha20Poly1305(payload_key(data_key, salt))
        # The header, then room for chunk 0 (sealed at the end), then chunks 1..n.
        self._blob = bytearray(self._header) + bytearray(_SEALED_CHUNK)
        self._first = bytearray()  # plaintext [0, ChunkSize)
        self._tail = bytearray()  # plaintext [self._tail_at, self._size), not yet sealed
        self._tail_at = ChunkSize  # where the next chunk to seal starts
        self._counter = 1  # the next chunk's number
        self._pos = 0
        self._size = 0
        self._done: Sealed | None = None

    # -- the file interface PyAV uses
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def write(self, data) -> int:
        if self._done is not None:
            raise ValueError("write to a finished SealedBuffer")
        view = memoryview(data).cast("B")
        if self._pos > self._size:  # a seek past the end: the gap reads as zeros
            gap, self._pos = self._pos - self._size, self._size
            self._write(memoryview(bytes(gap)))
        self._write(view)
        return len(view)

    def _write(self, view: memoryview) -> None:
        while view:
            if self._pos < ChunkSize:
                n = min(len(view), ChunkSize - self._pos)
                self._first[self._pos:self._pos + n] = view[:n]
            elif self._pos >= self._tail_at:
                n = len(view)
                at = self._pos - self._tail_at
                self._tail[at:at + n] = view
            else:
                raise io.UnsupportedOperation(
                    f"write at byte {self._pos}, in a chunk already sealed")
            self._pos += n
            self._size = max(self._size, self._pos)
            view = view[n:]
        # Seal every full chunk that more output shows is not the last one.
        while len(self._tail) > ChunkSize:
            self._seal_into_blob(bytes(self._tail[:ChunkSize]), last=False)
            del self._tail[:ChunkSize]
            self._tail_at += ChunkSize

    def _seal_into_blob(self, chunk: bytes, *, last: bool) -> None:
        self._blob += self._aead.encrypt(nonce_for_chunk(self._counter, last), chunk,
                                         self._header)
        self._counter += 1

    def finish(self) -> Sealed:
        """Seal what is left and chunk 0; the plaintext buffers are emptied."""
        if self._done is not None:
            return self._done
        if self._size > ChunkSize:
            self._seal_into_blob(bytes(self._tail), last=True)
        only = self._size <= ChunkSize
        sealed0 = self._aead.encrypt(nonce_for_chunk(0, only), bytes(self._first), self._header)
        self._blob[HEADER_SIZE:HEADER_SIZE + _SEALED_CHUNK] = sealed0  # shorter when it is all
        self._first[:] = b""
        self._tail[:] = b""
        self._done = Sealed(self._blob, hashlib.sha256(self._blob).hexdigest(), self._data_key,
                            self._key_id, self._size)
        return self._done

    @property
    def size(self) -> int:
        """Plaintext bytes written so far."""
        return self._size
