"""The tamper-evident audit log: each entry commits to the one before it.

``hash = SHA-256(prev_hash || "\\n" || canonical_json(entry))`` where the entry
holds seq, at_us, actor, role, action, object, reason and detail. The first
entry's ``prev_hash`` is 64 zeros. Editing, deleting or reordering any entry
breaks every hash after it; deleting the newest entries is caught by comparing
the head against an anchor kept outside (printed in the privacy-audit report).
Pure: the catalog stores rows, this module computes and checks hashes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable, Mapping

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    seq: int
    at_us: int
    actor: str
    role: str
    action: str
    object: str
    reason: str
    detail: str  # canonical JSON text
    prev_hash: str
    hash: str


def canonical_detail(detail: Mapping | None) -> str:
    return json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, seq: int, at_us: int, actor: str, role: str, action: str,
               obj: str, reason: str, detail: str) -> str:
    body = json.dumps(
        [seq, at_us, actor, role, action, obj, reason, detail],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(entries: Iterable[Entry], *, after: tuple[int, str] = (0, GENESIS)) -> VerifyResult:
    """Walk the chain in seq order; report the first entry that does not fit.

    ``after=(seq, hash)`` resumes from an entry already verified, so a running
    gateway checks only what was appended since.
    """
    prev, expected_seq, n = after[1], after[0] + 1, 0
    for e in entries:
        if e.seq != expected_seq:
            return VerifyResult(False, n, prev, e.seq,
                                f"entry {expected_seq} is missing (next entry is {e.seq})")
        if e.prev_hash != prev:
            return VerifyResult(False, n, prev, e.seq,
                                f"entry {e.seq} does not follow entry {e.seq - 1} (reordered or edited)")
        if entry_hash(e.prev_hash, e.seq, e.at_us, e.actor, e.role, e.action, e.object,
                      e.reason, e.detail) != e.hash:
            return VerifyResult(False, n, prev, e.seq, f"entry {e.seq} was edited (hash mismatch)")
        prev, expected_seq, n = e.hash, expected_seq + 1, n + 1
    return VerifyResult(True, n, prev)
