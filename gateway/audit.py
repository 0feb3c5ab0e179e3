"""The tamper-evident audit log: each entry commits to the one before it.

``hash = SHA-256(prev_hash || "\\n" || canonical_json(entry))`` where the entry
holds seq, at_us, actor, role, action, object, reason and detail. The first
entry's ``prev_hash`` is 64 zeros. Editing, deleting or reordering any entry
breaks every hash after it; deleting the newest entries is caught by comparing
the head against an anchor kept outside (printed in the privacy-audit report).

The hash alone can be recomputed by anyone with the database file, so each
entry also carries ``mac = HMAC-SHA256(audit key, MAC_LABEL || seq || ":" ||
hash)`` (hex), under a key kept beside the key ring, never in the catalog
(gateway.vault.auditkey). Entries written before the key existed carry none;
the first keyed entry commits to them through its ``prev_hash``. Once one
entry carries a MAC, every later one must. A restore without the old key
(``footage-gateway restore``) appends an ``audit.rekeyed`` entry under a new
key: its valid MAC vouches for every entry before it, whose MACs were made
with the lost key and are not checked.

Checkpoints (docs/holds.md, "Checkpoints"): once the gateway has verified the
chain up to entry ``v``, it may append an ``audit.checkpoint`` entry whose
detail names ``v`` and its hash. The checkpoint is an ordinary keyed entry, so
its MAC (under the audit key, never in the catalog) is what makes it
trustworthy: a row inserted by someone who can write the catalog but lacks the
key fails ``read_checkpoint``. The start-up and hourly checks resume from the
newest checkpoint and read only the entries after ``v``; ``audit verify``
still walks from the first entry, which is what finds an edit made before it.

Pure: the catalog stores rows, this module computes and checks hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Iterable, Mapping

GENESIS = "0" * 64
#: Names the MAC's construction and version; part of every MAC input.
MAC_LABEL = b"footage-gateway audit mac v1\n"
#: The action of the entry a restore appends under a new audit key.
REKEYED = "audit.rekeyed"
#: The action of a checkpoint entry: "the chain verified up to entry verified_seq".
CHECKPOINT = "audit.checkpoint"


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
    mac: str | None = None  # HMAC under the audit key; None for entries before the key


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


def entry_mac(key: bytes, seq: int, hash_: str) -> str:
    """The entry's MAC under the audit key (hex)."""
    return hmac.new(key, MAC_LABEL + f"{seq}:{hash_}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None
    #: Some entry up to the head carries a MAC (so every later one must).
    keyed: bool = False
    #: MACs were checked (an audit key was given).
    macs_checked: bool = False


def verify(entries: Iterable[Entry], *, after: tuple[int, str] = (0, GENESIS),
           key: bytes | None = None, keyed: bool = False) -> VerifyResult:
    """Walk the chain in seq order; report the first entry that does not fit.

    ``after=(seq, hash)`` resumes from an entry already verified (``keyed``:
    a keyed entry was among them), so a running gateway checks only what was
    appended since. With ``key``, every MAC is checked, and a chain that has
    entries but no MAC at all fails: the key exists, so the chain was keyed
    when it was created (gateway.vault.auditkey) and a rewrite dropped the MACs.
    """
    prev, expected_seq, n = after[1], after[0] + 1, 0
    checked = key is not None
    # The first entry whose MAC failed (and n, prev there), unless a later rekey vouches.
    unverified: tuple[int, int, str] | None = None

    def bad(seq: int, problem: str) -> VerifyResult:
        return VerifyResult(False, n, prev, seq, problem, keyed, checked)
    for e in entries:
        if e.seq != expected_seq:
            return bad(e.seq, f"entry {expected_seq} is missing (next entry is {e.seq})")
        if e.prev_hash != prev:
            return bad(e.seq, f"entry {e.seq} does not follow entry {e.seq - 1} (reordered or edited)")
        if entry_hash(e.prev_hash, e.seq, e.at_us, e.actor, e.role, e.action, e.object,
                      e.reason, e.detail) != e.hash:
            return bad(e.seq, f"entry {e.seq} was edited (hash mismatch)")
        if e.mac is None and keyed:
            return bad(e.seq, f"entry {e.seq} carries no MAC though earlier entries do "
                              "(written or rewritten without the audit key)")
        if e.mac is not None:
            if key is not None and not hmac.compare_digest(e.mac, entry_mac(key, e.seq, e.hash)):
                if e.action == REKEYED:
                    return bad(e.seq, f"entry {e.seq} ({REKEYED}) fails its MAC")
                unverified = unverified or (e.seq, n, prev)
            elif e.action == REKEYED:
                unverified = None  # its MAC commits to every entry before it
            keyed = True
        prev, expected_seq, n = e.hash, expected_seq + 1, n + 1
    if unverified is not None:
        seq, n, prev = unverified
        return bad(seq, f"entry {seq} fails its MAC (rewritten without the audit key, or a "
                        "different key)")
    if key is not None and not keyed and after[0] + n > 0:
        return bad(1, "no entry carries a MAC from the audit key: the chain was rewritten "
                      "without it (the key exists, so the chain was keyed when it was made)")
    return VerifyResult(True, n, prev, keyed=keyed, macs_checked=checked)


def checkpoint_detail(verified_seq: int, verified_hash: str, full: bool) -> dict:
    """The detail of a checkpoint entry (``full``: the walk began at the first entry)."""
    return {"verified_seq": verified_seq, "verified_hash": verified_hash, "full_walk": full}


def read_checkpoint(e: Entry, key: bytes) -> tuple[int, str] | str:
    """``(seq, hash)`` a checkpoint entry vouches for, or why it must not be trusted.

    Its own hash must fit its content and its MAC must verify under ``key``:
    whoever wrote it held the audit key, so it was the gateway after a walk
    that passed. A checkpoint that fails is tampering, not a reason to skip.
    """
    name = f"entry {e.seq} ({CHECKPOINT})"
    if entry_hash(e.prev_hash, e.seq, e.at_us, e.actor, e.role, e.action, e.object, e.reason,
                  e.detail) != e.hash:
        return f"{name} was edited (hash mismatch)"
    if e.mac is None or not hmac.compare_digest(e.mac, entry_mac(key, e.seq, e.hash)):
        return (f"{name} fails its MAC: a checkpoint forged, or written without the audit "
                "key, is never trusted")
    try:
        d = json.loads(e.detail)
        seq, h = d["verified_seq"], d["verified_hash"]
    except (ValueError, KeyError, TypeError):
        return f"{name} has no verified_seq/verified_hash"
    if not isinstance(seq, int) or not 0 < seq < e.seq or not isinstance(h, str) or len(h) != 64:
        return f"{name} names an impossible entry ({seq!r})"
    return seq, h
