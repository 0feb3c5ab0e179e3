"""Is the wall clock to be trusted right now? Pure: no clock read, no I/O.

Destruction and hold expiry compare deadlines with the wall clock, which anyone
with root, a bad NTP server or a dead RTC battery can move. The monotonic clock
cannot be set; it only counts time passing. While the two agree (``wall -
monotonic`` stays put, up to a tolerance for NTP's slewing), the wall clock is
trusted. When the offset moves by more than the tolerance between two looks,
the wall clock jumped: destruction and expiry pause (``GuardState.paused``)
until either

* the offset comes back within the tolerance of where it was before the jump
  and stays there for the settle time (the jump was undone), or
* an operator acknowledges the new time (``footage-gateway clock ack``).

A new offset that merely stays put never resumes on its own: a clock set 2 h
ahead and left there would destroy footage 2 h early after any settle time.
The state that must survive a restart (paused, the jump, the last wall time
seen) is stored in the catalog (``gateway.catalog.clockguard``); the
reference offset is not, because the monotonic clock restarts at boot. So a
pause that spans a restart, and a wall clock found behind the last one seen
at start-up, wait for an acknowledgement (docs/storage.md, "Clock jumps").
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class GuardState:
    #: wall - monotonic (us) when they last agreed; None until the first look (or after a restart).
    ref_offset_us: int | None = None
    #: wall time (us) the pause began; None when not paused.
    paused_since_us: int | None = None
    #: how far the wall clock moved against the monotonic one (us, + = ahead), at the last look.
    jump_us: int = 0
    #: monotonic time (us) since which the offset agrees again, during a pause.
    agree_since_mono_us: int | None = None
    #: the last wall time (us) a look saw (persisted: a clock found behind it at start-up jumped).
    last_wall_us: int | None = None

    @property
    def paused(self) -> bool:
        return self.paused_since_us is not None


def look(state: GuardState, wall_us: int, mono_us: int, *, tolerance_us: int, settle_us: int,
         acked: bool = False) -> GuardState:
    """The state after one look at both clocks; ``acked``: an operator accepted the wall time."""
    offset = wall_us - mono_us
    if state.paused:
        if acked:
            return GuardState(offset, None, 0, None, wall_us)
        if state.ref_offset_us is None:  # no reference since the restart: only an ack resumes
            return replace(state, last_wall_us=max(wall_us, state.last_wall_us or wall_us))
        drift = offset - state.ref_offset_us
        if abs(drift) > tolerance_us:
            return replace(state, jump_us=drift, agree_since_mono_us=None)
        since = state.agree_since_mono_us if state.agree_since_mono_us is not None else mono_us
        if mono_us - since >= settle_us:
            return GuardState(offset, None, drift, None, wall_us)
        return replace(state, jump_us=drift, agree_since_mono_us=since)
    if state.ref_offset_us is None:
        # The first look since start: nothing to compare with but the last wall time stored.
        behind = (state.last_wall_us or wall_us) - wall_us
        if behind > tolerance_us:
            return GuardState(None, wall_us, -behind, None, state.last_wall_us)
        return GuardState(offset, None, 0, None, wall_us)
    drift = offset - state.ref_offset_us
    if abs(drift) > tolerance_us:
        return GuardState(state.ref_offset_us, wall_us, drift, None,
                          max(wall_us, state.last_wall_us or wall_us))
    # Follow NTP's slow slewing: the reference moves with every agreeing look.
    return GuardState(offset, None, drift, None, max(wall_us, state.last_wall_us or wall_us))


def receipt_time(state: GuardState | None, wall_us: int, mono_us: int) -> int:
    """The time to stamp a segment's receipt with: never earlier than either clock says.

    A deadline counts from the receipt, so the later of the wall clock and the
    last trusted reading carried forward by the monotonic clock can only keep
    footage longer, never destroy it early (a clock jumped back 2 h would
    otherwise give new footage deadlines 2 h early in real time).
    """
    if state is None or state.ref_offset_us is None:
        return wall_us
    return max(wall_us, mono_us + state.ref_offset_us)
