"""The offline consistency check behind ``footage-gateway check``.

Every kept row has its file (size and SHA-256 match) and its data key, and that
key's KEK is in the key ring; every file has its row; no temp files or
half-finished purges remain; the audit chain verifies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..audit import verify as verify_chain
from ..catalog import Catalog, audit_log
from ..catalog import segments as seg_sql
from ..catalog import store as store_sql
from ..vault.keyring import KeyRing
from ..vault.storage import Storage


@dataclass
class CheckReport:
    segments: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    #: Not failures: work the running gateway still owes (deletions the store has not
    #: confirmed).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_check(db: Catalog, storage: Storage, keyring: KeyRing, *, deep: bool = True,
              audit_key: bytes | None = None) -> CheckReport:
    """Check invariants 1-4 (docs/storage.md) and the audit chain (MACs under ``audit_key``)."""
    rep = CheckReport()
    files = set(storage.uids())
    owed = store_sql.owed_uids(db)
    if owed:
        rep.notes.append(f"{len(owed)} destroyed segment(s) (keys erased) whose ciphertext the "
                         "store has not yet deleted; the gateway retries "
                         "(footage_storage_deletes_pending)")

    rep.files = len(files)
    for tmp in storage.temp_files():
        rep.problems.append(f"temp file {tmp} left by an interrupted write (start the gateway to clean up)")
    for stray in storage.strays():
        rep.problems.append(f"unexpected file {stray} in the segment store (not written by the "
                            "gateway; move it out)")
    version_problems = getattr(storage, "version_problems", None)
    if version_problems is not None:
        rep.problems += [f"object {p}" for p in version_problems()]
    ring_ids = set(keyring.ids())
    rows: set[str] = set()
    for uid, state, size, sha in seg_sql.all_uids(db):
        rep.segments += 1
        rows.add(uid)
        if state == "shredded":
            rep.problems.append(f"segment {uid}: purge interrupted (key erased, receipt missing); "
                                "start the gateway to finish it")
            continue
        if state == "corrupt":
            rep.problems.append(f"segment {uid}: marked corrupt (failed integrity check or file lost)")
            continue
        if uid not in files:
            rep.problems.append(f"segment {uid}: catalogued but its file is missing")
            continue
        actual = storage.size(uid)
        if actual != size:
            rep.problems.append(f"segment {uid}: file is {actual} bytes, catalog says {size}")
        elif deep and storage.sha256(uid) != sha:
            rep.problems.append(f"segment {uid}: file SHA-256 differs from the catalog (tampered?)")
    for uid in files - rows - owed:
        rep.problems.append(f"file {uid}: no catalog row (unacknowledged write; start the gateway "
                            "to remove it)")
    for uid in seg_sql.stored_without_key(db):
        rep.problems.append(f"segment {uid}: no data key in the catalog")
    for kek in seg_sql.kek_ids_in_use(db) - ring_ids:
        rep.problems.append(f"key ring has no KEK {kek!r} that data keys are wrapped with")
    chain = verify_chain(audit_log.entries(db), key=audit_key)
    if not chain.ok:
        rep.problems.append(f"audit chain broken at entry {chain.first_bad_seq}: {chain.problem}")
    elif chain.keyed and audit_key is None:
        rep.problems.append("audit chain carries MACs but the audit key beside the key ring "
                            "is missing: its entries cannot be authenticated")
    return rep

