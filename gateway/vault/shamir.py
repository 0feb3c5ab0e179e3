"""Shamir's secret sharing over GF(2^8), byte by byte (normative: docs/segment-format.md).

Sealed mode splits each epoch private key into one share per director, any
``keys.unlock_quorum`` of which rebuild it. Pure functions, no I/O.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Iterable

# GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11b); 3 generates it.
_EXP = [0] * 510
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x ^= (_x << 1) ^ (0x11B if _x & 0x80 else 0)  # multiply by 3
    _x &= 0xFF
for _i in range(255, 510):
    _EXP[_i] = _EXP[_i - 255]


def _mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    return 0 if a == 0 else _EXP[(_LOG[a] - _LOG[b]) % 255]


@dataclass(frozen=True)
class Share:
    """One Shamir share: x in 1..255 and the polynomial's value at x, byte by byte."""

    x: int
    y: bytes = field(repr=False)


def split_secret(secret: bytes, n: int, threshold: int,
                 _coefficients: list[bytes] | None = None) -> list[Share]:
    """Cut ``secret`` into ``n`` shares, any ``threshold`` of which rebuild it.

    Each byte is the constant term of its own random polynomial of degree
    threshold-1; share i is the value at x = i (1-based). With threshold 1
    every share equals the secret. ``_coefficients`` is for test vectors only.
    """
    if not 1 <= threshold <= n <= 255:
        raise ValueError(f"need 1 <= threshold ({threshold}) <= shares ({n}) <= 255")
    coeffs = _coefficients if _coefficients is not None else [
        secrets.token_bytes(len(secret)) for _ in range(threshold - 1)]
    shares = []
    for x in range(1, n + 1):
        y = bytearray()
        for j, s in enumerate(secret):
            acc = 0
            for c in reversed([row[j] for row in coeffs]):  # Horner, highest degree first
                acc = _mul(acc, x) ^ c
            y.append(_mul(acc, x) ^ s)
        shares.append(Share(x, bytes(y)))
    return shares


def combine_shares(shares: Iterable[Share]) -> bytes:
    """Lagrange interpolation at 0 over the given shares (distinct x; threshold of them)."""
    shares = list(shares)
    xs = [s.x for s in shares]
    if not shares or len(set(xs)) != len(xs) or not all(1 <= x <= 255 for x in xs):
        raise ValueError("shares must be non-empty with distinct x in 1..255")
    if len({len(s.y) for s in shares}) != 1:
        raise ValueError("shares have different lengths")
    out = bytearray(len(shares[0].y))
    for i, si in enumerate(shares):
        basis = 1
        for j, sj in enumerate(shares):
            if i != j:
                basis = _mul(basis, _div(sj.x, sj.x ^ si.x))
        for k, b in enumerate(si.y):
            out[k] ^= _mul(b, basis)
    return bytes(out)
