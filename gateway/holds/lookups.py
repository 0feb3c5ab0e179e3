"""What the cameras' policies say about a hold: approvers, viewers, review and grace times."""

from __future__ import annotations

from typing import Sequence

from ..errors import BadRequest, Conflict
from ..runtime import Runtime
from .access import DEFAULT_APPROVERS


def policies_of(svc: Runtime, cameras: Sequence[str], strict: bool = True):
    """The policies of these cameras; ``strict=False`` skips cameras no longer configured
    (a hold outlives a camera's removal and must still lapse, expire or be released)."""
    unknown = [c for c in cameras if c not in svc.policies]
    if unknown and strict:
        raise BadRequest(f"unknown camera(s): {', '.join(unknown)}", code="unknown_camera")
    return [svc.policies[c] for c in cameras if c in svc.policies]


def roles_for(svc: Runtime, cameras: Sequence[str], kind: str) -> tuple[str, ...]:
    """Roles every covered camera's policy allows for ``kind``: approvers.holds,
    approvers.disclosures or access.view_roles (no configured camera: the director)."""
    sets = [set(p.access.view_roles if kind == "view" else getattr(p.approvers, kind))
            for p in policies_of(svc, cameras, strict=False)]
    return tuple(sorted(set.intersection(*sets))) if sets else DEFAULT_APPROVERS


def counsel_required(svc: Runtime, cameras: Sequence[str]) -> bool:
    return any(p.approvers.counsel_before_disclosure
               for p in policies_of(svc, cameras, strict=False))


def review_s(svc: Runtime, cameras: Sequence[str]) -> int:
    pols = policies_of(svc, cameras, strict=False)
    if not pols:
        raise Conflict("none of the hold's cameras is configured any more; it cannot be "
                       "approved or renewed", code="unknown_camera")
    return min(p.retention.hold_review_s for p in pols)


def grace_s(svc: Runtime, cameras: Sequence[str]) -> int:
    pols = policies_of(svc, cameras)
    if not pols:
        raise BadRequest("a hold names at least one camera", code="bad_cameras")
    return min(p.retention.hold_request_grace_s for p in pols)


def disclosure_allowed(svc: Runtime, camera: str, recipient: str, ground: str) -> bool:
    """The camera's policy decides; a camera no longer configured allows nothing."""
    policy = svc.policies.get(camera)
    return policy is not None and policy.disclosure_allowed(recipient, ground)
