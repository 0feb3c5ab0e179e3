"""The encrypted segment format, version 1 (normative spec: docs/segment-format.md).

A sealed segment is a fixed 41-byte header followed by the payload: the
plaintext cut into ``ChunkSize`` (64 KiB) chunks, each sealed with
ChaCha20-Poly1305 under a payload key derived from the segment's data key.
This is age's STREAM construction: the chunk nonce is an 11-byte big-endian
counter followed by a last-chunk flag, so dropping, reordering, truncating or
extending chunks makes authentication fail. The header is the AAD of every
chunk, so it cannot be altered either.

Names follow the spec: ``ChunkSize``, ``nonce_for_chunk``, ``payload_key``.
Every failure to open raises :class:`gateway.errors.IntegrityError` and
releases no unauthenticated plaintext.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import IntegrityError

#: First 8 bytes of every sealed segment. The high byte and CR LF / ^Z / LF
#: catch files mangled by text-mode transfers (the PNG trick).
MAGIC = b"\x89FGSEG\r\n"
VERSION = 1
ChunkSize = 64 * 1024
CHUNK_SIZE = ChunkSize
TAG_SIZE = 16
DATA_KEY_SIZE = 32
KEY_ID_SIZE = 16
SALT_SIZE = 16
HEADER_SIZE = len(MAGIC) + 1 + KEY_ID_SIZE + SALT_SIZE  # 41
#: HKDF info string: names the format and version, so a v1 payload key is
#: never the same as any other key derived from the same data key.
PAYLOAD_INFO = b"footage-gateway segment v1 payload"
#: An 11-byte counter: 2**88 chunks, more than any file could hold.
MAX_CHUNKS = 1 << 88
_SEALED_CHUNK = ChunkSize + TAG_SIZE


@dataclass(frozen=True)
class Header:
    """The plaintext header of a sealed segment (readable without the key)."""

    version: int
    key_id: bytes
    salt: bytes

    def encode(self) -> bytes:
        """The exact header bytes, which are also the AAD of every chunk."""
        return MAGIC + bytes([self.version]) + self.key_id + self.salt


def new_data_key() -> bytes:
    """A fresh random 32-byte data key (one per segment, never reused)."""
    return secrets.token_bytes(DATA_KEY_SIZE)


def new_key_id() -> bytes:
    """A fresh random 16-byte key id naming a data key in the header and catalog."""
    return secrets.token_bytes(KEY_ID_SIZE)


def payload_key(data_key: bytes, salt: bytes) -> bytes:
    """HKDF-SHA256(ikm=data_key, salt=salt, info=PAYLOAD_INFO, L=32)."""
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes, got {len(data_key)}")
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes, got {len(salt)}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=PAYLOAD_INFO)
    return hkdf.derive(data_key)


def nonce_for_chunk(counter: int, last: bool) -> bytes:
    """The 12-byte chunk nonce: 11-byte big-endian counter || 0x01 if last else 0x00."""
    if not 0 <= counter < MAX_CHUNKS:
        raise ValueError("chunk counter out of range")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def sealed_size(plaintext_size: int) -> int:
    """The size of the sealed segment for a plaintext of this many bytes."""
    chunks = max(1, -(-plaintext_size // ChunkSize))
    return HEADER_SIZE + plaintext_size + chunks * TAG_SIZE


def read_header(blob_or_prefix: bytes) -> Header:
    """Parse the header from the first HEADER_SIZE bytes; no key needed.

    Raises IntegrityError if the bytes are not a segment or the version is unknown.
    """
    if len(blob_or_prefix) < HEADER_SIZE:
        raise IntegrityError(
            f"not a sealed segment: {len(blob_or_prefix)} bytes, header needs {HEADER_SIZE}"
        )
    if blob_or_prefix[: len(MAGIC)] != MAGIC:
        raise IntegrityError("not a sealed segment: bad magic")
    version = blob_or_prefix[len(MAGIC)]
    if version != VERSION:
        raise IntegrityError(f"unsupported segment format version {version} (known: {VERSION})")
    key_id_at = len(MAGIC) + 1
    salt_at = key_id_at + KEY_ID_SIZE
    return Header(
        version=version,
        key_id=bytes(blob_or_prefix[key_id_at:salt_at]),
        salt=bytes(blob_or_prefix[salt_at:HEADER_SIZE]),
    )


def seal(plaintext: bytes, data_key: bytes, key_id: bytes, *, _salt: bytes | None = None) -> bytes:
    """Encrypt a whole segment in memory; returns header || sealed chunks.

    ``_salt`` exists for test vectors only: production salts MUST be random.
    """
    return b"".join(iter_seal([plaintext], data_key, key_id, _salt=_salt))


def iter_seal(
    pieces: Iterable[bytes], data_key: bytes, key_id: bytes, *, _salt: bytes | None = None
) -> Iterator[bytes]:
    """Streaming seal: yields the header, then each sealed chunk.

    ``pieces`` may be cut anywhere; they are re-chunked to ChunkSize. The last
    chunk is only sealed once the input is exhausted, so besides the current
    piece at most one chunk of plaintext is held.
    """
    if len(key_id) != KEY_ID_SIZE:
        raise ValueError(f"key id must be {KEY_ID_SIZE} bytes, got {len(key_id)}")
    salt = secrets.token_bytes(SALT_SIZE) if _salt is None else _salt
    header = Header(VERSION, bytes(key_id), salt).encode()
    aead = ChaCha20Poly1305(payload_key(data_key, salt))
    yield header
    for counter, (chunk, last) in enumerate(_rechunk(pieces)):
        yield aead.encrypt(nonce_for_chunk(counter, last), chunk, header)


class SealWriter:
    """A write-only file object that seals what is written, in this format, as it comes.

    For output too big to hold (an export package: zipfile writes into it).
    At most one chunk of plaintext is buffered. ``finish()`` seals the final
    chunk; without it the output fails to open (truncated), never shortened.
    """

    def __init__(self, fh: BinaryIO, data_key: bytes, key_id: bytes) -> None:
        if len(key_id) != KEY_ID_SIZE:
            raise ValueError(f"key id must be {KEY_ID_SIZE} bytes, got {len(key_id)}")
        salt = secrets.token_bytes(SALT_SIZE)
        self._header = Header(VERSION, bytes(key_id), salt).encode()
        self._aead = ChaCha20Poly1305(payload_key(data_key, salt))
        self._fh, self._buf, self._counter = fh, bytearray(), 0
        fh.write(self._header)

    def write(self, data: bytes) -> int:
        self._buf += data
        # Hold back a full chunk until more input shows it is not the last one.
        while len(self._buf) > ChunkSize:
            chunk = bytes(self._buf[:ChunkSize])
            del self._buf[:ChunkSize]
            self._seal(chunk, last=False)
        return len(data)

    def flush(self) -> None:
        self._fh.flush()

    def finish(self) -> None:
        self._seal(bytes(self._buf), last=True)
        self._buf = bytearray()
        self._fh.flush()

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        self._fh.write(self._aead.encrypt(nonce_for_chunk(self._counter, last), chunk,
                                          self._header))
        self._counter += 1


def _rechunk(pieces: Iterable[bytes]) -> Iterator[tuple[bytes | memoryview, bool]]:
    """Cut arbitrary pieces into (chunk, last) pairs following the chunk rules.

    A full chunk is held back until more input shows it is not the last one.
    Full chunks inside an immutable ``bytes`` piece are sliced without copying
    (segments are hundreds of MB, and copies dominate the cost of sealing).
    """
    pending: bytes | memoryview | None = None
    buf = bytearray()
    for piece in pieces:
        view, pos = memoryview(piece), 0
        while pos < len(view):
            if pending is not None:
                yield pending, False  # more input exists, so it was not the last
                pending = None
            take = min(ChunkSize - len(buf), len(view) - pos)
            if not buf and take == ChunkSize:
                full = view[pos : pos + take]
                pending = full if isinstance(piece, bytes) else bytes(full)
            else:
                buf += view[pos : pos + take]
                if len(buf) == ChunkSize:
                    pending, buf = bytes(buf), bytearray()
            pos += take
    if buf:  # a partial final chunk (pending was flushed when buf started filling)
        yield bytes(buf), True
    else:  # a full final chunk, or the single empty chunk of an empty plaintext
        yield (b"" if pending is None else pending), True


def open_sealed(blob: bytes, data_key: bytes, *, expected_key_id: bytes | None = None) -> bytes:
    """Decrypt and authenticate a whole sealed segment held in memory.

    Raises IntegrityError on a bad header, wrong key, tampering, truncation,
    reordering or trailing data. ``expected_key_id``, when given, must match
    the header (catches a catalog row paired with the wrong file).
    """
    header = read_header(blob)
    _check_key_id(header, expected_key_id)
    aead = ChaCha20Poly1305(payload_key(data_key, header.salt))
    aad = header.encode()
    view = memoryview(blob)
    out = []
    pos = HEADER_SIZE
    counter = 0
    while True:
        remaining = len(blob) - pos
        last = remaining <= _SEALED_CHUNK
        end = len(blob) if last else pos + _SEALED_CHUNK
        out.append(_open_chunk(aead, view[pos:end], counter, last, aad))
        if last:
            return b"".join(out)
        pos = end
        counter += 1


def iter_open(
    fileobj: BinaryIO, data_key: bytes, *, expected_key_id: bytes | None = None
) -> Iterator[bytes]:
    """Streaming open: yields each plaintext chunk only after it authenticates.

    A file truncated on a chunk boundary is only detected when the final chunk
    fails, i.e. at the end: callers MUST treat the output as untrusted until
    the iterator is exhausted without raising IntegrityError.
    """
    header = read_header(_read_exactly(fileobj, HEADER_SIZE))
    _check_key_id(header, expected_key_id)
    aead = ChaCha20Poly1305(payload_key(data_key, header.salt))
    aad = header.encode()
    counter = 0
    current = _read_exactly(fileobj, _SEALED_CHUNK)
    while True:
        # Read ahead one chunk: a chunk is last exactly when nothing follows it.
        following = _read_exactly(fileobj, _SEALED_CHUNK) if len(current) == _SEALED_CHUNK else b""
        last = not following
        yield _open_chunk(aead, current, counter, last, aad)
        if last:
            return
        current = following
        counter += 1


def _open_chunk(
    aead: ChaCha20Poly1305, sealed: bytes | memoryview, counter: int, last: bool, aad: bytes
) -> bytes:
    """Authenticate and decrypt one chunk, enforcing the chunk-size rules."""
    if len(sealed) < TAG_SIZE:
        raise IntegrityError(f"segment truncated: chunk {counter} is shorter than its tag")
    if last and len(sealed) == TAG_SIZE and counter > 0:
        # Only an empty plaintext has an empty final chunk; a sealer never
        # writes one after a full chunk, so accepting it would allow two
        # ciphertexts for one plaintext.
        raise IntegrityError("segment malformed: empty final chunk after a full chunk")
    try:
        return aead.decrypt(nonce_for_chunk(counter, last), sealed, aad)
    except InvalidTag:
        where = "final chunk" if last else "chunk"
        raise IntegrityError(
            f"segment failed authentication at {where} {counter}: "
            "wrong key, tampered, truncated, reordered or extended"
        ) from None


def _check_key_id(header: Header, expected: bytes | None) -> None:
    if expected is not None and header.key_id != expected:
        raise IntegrityError(
            f"segment key id {header.key_id.hex()} does not match the catalog's {expected.hex()}"
        )


def _read_exactly(fileobj: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads; fewer only at EOF."""
    parts = []
    need = size
    while need:
        part = fileobj.read(need)
        if not part:
            break
        parts.append(part)
        need -= len(part)
    return b"".join(parts)
