"""Plain records shared by the catalog, the pure decision modules and the web layer."""

from __future__ import annotations

from dataclasses import dataclass, field

LIVE_HOLD_STATES = ("requested", "active")
#: The roles people have (users, API tokens, policies' approvers and viewers).
ROLES = ("director", "staff", "auditor", "admin")
#: Actors that are not people: the gateway itself, and the host's shell (the CLI).
SYSTEM_ROLE = "system"
OPERATOR_ROLE = "operator"


@dataclass(frozen=True)
class Actor:
    """Who acts: a person (name, role), the system, or an operator at the host's shell."""

    name: str
    role: str


SYSTEM = Actor("system", SYSTEM_ROLE)


@dataclass(frozen=True)
class Segment:
    id: int
    uid: str
    camera: str
    policy: str
    start_us: int
    end_us: int
    deadline_us: int
    bytes: int
    sha256: str
    frames: int
    width: int
    height: int
    masked: bool
    state: str
    shredded_us: int | None
    created_us: int
    #: What the camera said the segment's start was (display only); start/end are the receipt's.
    claimed_start_us: int | None = None


@dataclass(frozen=True)
class Hold:
    id: int
    state: str
    cameras: tuple[str, ...]
    start_us: int
    end_us: int
    incident: str
    reason: str
    requested_by: str
    requested_us: int
    grace_until_us: int
    decided_by: str | None = None
    decided_us: int | None = None
    review_us: int | None = None
    court_order_ref: str | None = None
    ended_us: int | None = None
    note: str | None = None

    def covers(self, camera: str, start_us: int, end_us: int) -> bool:
        """True when the hold names the camera and its window overlaps [start, end]."""
        return camera in self.cameras and start_us < self.end_us and end_us > self.start_us

    def preserves_until(self) -> int | None:
        """The instant until which this hold keeps covered footage, or None if it never does."""
        if self.state == "requested":
            return self.grace_until_us
        if self.state == "active":
            return self.review_us
        return None


@dataclass(frozen=True)
class PurgeReceipt:
    segment_uid: str
    camera: str
    start_us: int
    end_us: int
    deadline_us: int
    destroyed_at_us: int
    sha256: str
    reason: str
    id: int | None = field(default=None)
    released_us: int | None = None  # deadline, or later if a hold kept it

    @property
    def lag_us(self) -> int:
        """destroyed_at - the instant it became destroyable (never counts a hold as lateness)."""
        return self.destroyed_at_us - (self.released_us if self.released_us is not None
                                       else self.deadline_us)
