"""Reading a kept segment back: unwrap its data key, open the sealed file, fail closed.

Who may read, and the audit entry for it, are decided in ``gateway.holds.service``
(``view_segment``); this module is the mechanism only.
"""

from __future__ import annotations

import logging

from ..catalog import segments as seg_sql
from ..errors import IntegrityError, NotFound
from ..models import Segment
from ..runtime import Runtime
from ..vault import format as fmt

log = logging.getLogger(__name__)


async def read_plaintext(svc: Runtime, uid: str) -> tuple[Segment, bytes]:
    """Decrypt a kept segment (the masked MP4). Fails closed; marks tampered files corrupt."""
    seg = await svc.catalog.run(seg_sql.get_segment, uid)
    if seg is None or seg.state == "shredded":
        raise NotFound(f"no segment {uid!r} (it may have been destroyed)")
    key = await svc.catalog.run(seg_sql.get_data_key, seg.id)
    if key is None:
        raise NotFound(f"segment {uid!r} has no data key (destroyed)")
    # Off the loop (sealed mode: an X25519 exchange); Locked (423) while sealed and locked.
    data_key = await svc.cpu(lambda: svc.keyring.unwrap(key.kek_id, key.wrapped,
                                                         key_id=key.key_id))
    try:
        blob = await svc.io(svc.storage.get, uid)  # StoreUnavailable (503) is not corruption
        plain = await svc.cpu(_open, blob, data_key, key.key_id)
    except (IntegrityError, FileNotFoundError) as err:
        await svc.catalog.run(seg_sql.mark_corrupt, uid)
        log.error("segment %s failed to open and is marked corrupt: %s", uid, err)
        raise IntegrityError(f"segment {uid} failed integrity checks and is marked corrupt")
    return seg, plain


def _open(blob: bytes, data_key: bytes, key_id: bytes) -> bytes:
    return fmt.open_sealed(blob, data_key, expected_key_id=key_id)
