"""The JSON shapes of holds, exports and segments, each built in one place.

The API, the CLI, the package's custody file and manifest use these; the
export's own fields come from ``ExportRequest.record`` (gateway.holds.rules).
"""

from __future__ import annotations

from ..catalog.exports import ExportRow
from ..clock import iso
from ..models import Hold, Segment
from .rules import ExportRequest


def hold_json(h: Hold) -> dict:
    """The API shape of a hold (times as RFC 3339)."""
    t = lambda us: iso(us) if us is not None else None  # noqa: E731
    return {"id": h.id, "state": h.state, "cameras": list(h.cameras), "start": t(h.start_us),
            "end": t(h.end_us), "incident": h.incident, "reason": h.reason,
            "requested_by": h.requested_by, "requested_at": t(h.requested_us),
            "grace_until": t(h.grace_until_us), "decided_by": h.decided_by,
            "decided_at": t(h.decided_us), "review_at": t(h.review_us),
            "court_order": h.court_order_ref, "ended_at": t(h.ended_us), "note": h.note,
            "preserves_until": t(h.preserves_until())}


def export_request(e: ExportRow) -> ExportRequest:
    """The request an export row was built from."""
    return ExportRequest(tuple(e.cameras), e.start_us, e.end_us, e.ground, e.reference,
                         e.recipient, e.reason, e.recipient_name, e.counsel)


def export_json(e: ExportRow) -> dict:
    """The API shape of an export (times as RFC 3339)."""
    return {"id": e.id, "hold": e.hold_id, "state": e.state,
            **export_request(e).record(iso_times=True),
            "decided_by": e.decided_by, "created_at": iso(e.created_us),
            "expires_at": iso(e.expires_us), "clips": e.clips, "bytes": e.bytes,
            "manifest_sha256": e.manifest_sha256,
            "download": f"/api/v1/exports/{e.id}.zip" if e.state == "ready" else None}


def segment_json(s: Segment) -> dict:
    return {"segment": s.uid, "camera": s.camera, "start": iso(s.start_us), "end": iso(s.end_us),
            "ingested_at": iso(s.created_us), "masked": s.masked, "policy": s.policy,
            "stored_sha256": s.sha256,
            "camera_start": None if s.claimed_start_us is None else iso(s.claimed_start_us)}
