"""The privacy-audit report (ALA Privacy Q&A, Q9): one HTML file for a board.

Built only from the configuration, the policies and catalog queries: cameras
with zone, purpose, policy and masks; retention per camera against its
policy; purge compliance over the period (segments destroyed, the purge-lag
distribution as an inline SVG, anything past its deadline); holds and exports
with their grounds; and the audit chain's status. It contains no footage and
no personal data: free-text fields (hold incident and reason, export reason)
and user names are left out, since they may name people.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import __version__ as VERSION
from .. import humanize
from ..catalog import Catalog
from ..catalog.audit_log import check_chain
from ..catalog.exports import created_between
from ..catalog.holds import list_holds
from ..catalog.purge_summary import LagSummary, lag_summary
from ..catalog.segments import camera_stats
from ..clock import US, iso
from ..config import Settings
from ..models import Hold, PurgeReceipt
from ..segments.purge import due_plan
from .check import Violation, check_camera
from .loading import RECIPIENTS, Policy, retention_seconds
from .notice import MASK_TEXT, area_title, human_duration, templates

#: A purge later than this after its deadline, with no hold to explain it, is flagged.
LATE_AFTER_S = 3600
#: Purge-lag histogram buckets: (label, low seconds inclusive, high seconds exclusive).
LAG_BUCKETS = (
    ("early", None, 0.0), ("< 1 s", 0.0, 1.0), ("1-10 s", 1.0, 10.0), ("10-60 s", 10.0, 60.0),
    ("1-10 min", 60.0, 600.0), ("10-60 min", 600.0, 3600.0), ("1-24 h", 3600.0, 86400.0),
    ("> 1 day", 86400.0, None),
)


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: int
    y: int
    width: int
    height: int


def lag_histogram(lags_s: list[float]) -> list[tuple[str, int]]:
    """Count purge lags (destroyed_at - deadline, seconds) into LAG_BUCKETS."""
    out = []
    for label, lo, hi in LAG_BUCKETS:
        out.append((label, sum(1 for v in lags_s
                               if (lo is None or v >= lo) and (hi is None or v < hi))))
    return out


def svg_bars(hist: list[tuple[str, int]], width: int = 640, height: int = 180) -> list[Bar]:
    """Bar geometry for the inline SVG plot (the template draws it; no script, no assets)."""
    top = max((c for _, c in hist), default=0) or 1
    slot = width // len(hist)
    bars = []
    for i, (label, count) in enumerate(hist):
        # Headroom above the tallest bar for its count (drawn 4 px above the bar).
        h = round(count / top * (height - 46))
        bars.append(Bar(label, count, i * slot + 8, height - 20 - h, slot - 16, h))
    return bars


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def _held(holds: list[Hold], r: PurgeReceipt) -> bool:
    """True when some hold covered this footage before it was destroyed (late for a reason)."""
    return any(h.covers(r.camera, r.start_us, r.end_us) and h.requested_us <= r.destroyed_at_us
               for h in holds)


def approx(seconds: float | None) -> str:
    """A duration for people, to one decimal: '0.5 s', '2.0 h', '3.0 days' ('-' for none)."""
    if seconds is None:
        return "-"
    sign, v = ("-" if seconds < 0 else ""), abs(seconds)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if v >= 2 * size:
            return f"{sign}{v / size:.1f} {unit}"
    return f"{sign}{v:.1f} s"


def _seconds(us: int | None) -> str:
    return "-" if us is None else approx(us / US)


def _cameras(settings: Settings, policies: dict[str, Policy], stored: dict) -> list[dict]:
    out = []
    for cam in settings.cameras:
        pol = policies.get(cam.id)
        st = stored.get(cam.id)
        issues: list[Violation] = check_camera(cam, pol) if pol else []
        zone = pol.zone(cam.zone) if pol else None
        out.append({
            "id": cam.id, "name": cam.name,
            "zone": area_title(pol, cam.zone) if pol else cam.zone,  # the policy's label
            "zone_rule": zone.rule if zone else "unknown",
            "purpose": cam.purpose, "policy": cam.policy if pol is None else pol.id,
            "policy_ok": pol is not None,
            "masks": [f"{MASK_TEXT[m.zone]} ({m.mode})" for m in cam.masks],
            "audio": cam.audio,
            "retention": human_duration(retention_seconds(cam, pol)) if pol else "-",
            "configured": (humanize.duration(cam.retention_seconds) if cam.retention
                           else "(policy minimum)"),
            "reason": bool((cam.retention_reason or "").strip()),
            "minimum": humanize.duration(pol.retention.minimum_s) if pol else "-",
            "maximum": humanize.duration(pol.retention.maximum_s) if pol else "-",
            "stored_segments": st.segments if st else 0,
            "stored_bytes": st.bytes if st else 0,
            "stored_size": humanize.size(st.bytes if st else 0),
            "stored_retention": (
                "-" if not st or st.min_retention_s is None else
                approx(st.min_retention_s) if st.min_retention_s == st.max_retention_s
                else f"{approx(st.min_retention_s)} to {approx(st.max_retention_s)}"),
            "issues": [f"{v.rule}: {v.message}" for v in issues]
            + ([] if pol else [f"unknown-policy: policy {cam.policy!r} could not be loaded"]),
        })
    return out


def _purge(summary: LagSummary, holds: list[Hold], iso=iso) -> dict:
    # Lag is measured from when a segment became destroyable: its deadline, or the
    # end of a hold that kept it (receipts before migration 0004: the deadline).
    # Counted inside SQLite (gateway.catalog.purge_summary): ~10 M receipts a year.
    s = summary
    late = [r for r in s.late if r.released_us is not None or not _held(holds, r)]
    sec = lambda us: None if us is None else us / US  # noqa: E731
    return {
        "total": s.total, "held": s.held,
        "p50": approx(sec(s.p50_us)), "p95": approx(sec(s.p95_us)), "max": approx(sec(s.max_us)),
        "hist": s.hist, "bars": svg_bars(s.hist),
        "early": [_receipt_row(r, iso) for r in s.early],
        "late": [_receipt_row(r, iso) for r in late],
        "per_camera": [{"camera": c.camera, "count": c.count, "p95": approx(sec(c.p95_us)),
                        "max": approx(sec(c.max_us))} for c in s.per_camera],
    }


def _receipt_row(r: PurgeReceipt, iso=iso) -> dict:
    return {"camera": r.camera, "deadline": iso(r.deadline_us), "destroyed": iso(r.destroyed_at_us),
            "lag": _seconds(r.lag_us), "reason": r.reason}


def _holds(holds: list[Hold], since_us: int, until_us: int, exports: list, iso=iso) -> list[dict]:
    n_exports: dict[int, int] = {}
    for e in exports:
        n_exports[e.hold_id] = n_exports.get(e.hold_id, 0) + 1
    out = []
    for h in holds:
        if h.requested_us >= until_us or (h.ended_us is not None and h.ended_us < since_us):
            continue
        out.append({
            "id": h.id, "state": h.state, "cameras": ", ".join(h.cameras),
            "window": f"{iso(h.start_us)} to {iso(h.end_us)}",
            "requested": iso(h.requested_us),
            "decided": iso(h.decided_us) if h.decided_us else "-",
            "review": iso(h.review_us) if h.review_us else "-",
            "ended": iso(h.ended_us) if h.ended_us else "-",
            "court_order": h.court_order_ref or "-",
            "exports": n_exports.get(h.id, 0),
        })
    return out


def _exports(exports: list, policies: dict[str, Policy], iso=iso) -> list[dict]:
    out = []
    for e in exports:
        problems = []
        if e.recipient not in RECIPIENTS:
            problems.append("recipient is not a policy recipient category")
        for cam in e.cameras:
            pol = policies.get(cam)
            if pol is None:
                problems.append(f"camera {cam} has no loaded policy")
            elif e.recipient in RECIPIENTS and not pol.disclosure_allowed(e.recipient, e.ground):
                problems.append(f"policy {pol.id} does not allow {e.ground} for {e.recipient}")
        out.append({
            "id": e.id, "hold": e.hold_id, "state": e.state, "cameras": ", ".join(e.cameras),
            "window": f"{iso(e.start_us)} to {iso(e.end_us)}", "ground": e.ground,
            "reference": e.reference,
            "recipient": e.recipient if e.recipient in RECIPIENTS else "(named in the audit log)",
            "created": iso(e.created_us), "problems": sorted(set(problems)),
        })
    return out


def report_context(catalog: Catalog, settings: Settings, policies: dict[str, Policy],
                   since_us: int, until_us: int, now_us: int) -> dict:
    """The report's figures, from catalog queries only (see the module docstring)."""
    stored = {s.camera: s for s in camera_stats(catalog, with_retention=True)}
    holds = list_holds(catalog)
    exports = created_between(catalog, since_us, until_us)  # free text is never shown
    overdue = due_plan(catalog, now_us).destroy  # the purger's own rule, holds included
    # From the newest MACed checkpoint, as the running gateway checks (a whole walk takes
    # minutes at millions of entries; `audit verify` does it).
    chain = check_chain(catalog, getattr(catalog, "audit_key", None), since_checkpoint=True)
    used = {p.id: p for p in policies.values()}
    zone = settings.library.timezone

    def iso(us: int) -> str:  # noqa: F811  (the report reads in the library's local time)
        return humanize.local(us, zone, seconds=True)
    configured = {c.id for c in settings.cameras}
    return {
        "library": settings.library.name, "contact": settings.library.contact,
        "version": VERSION, "generated": iso(now_us),
        "since": iso(since_us), "until": iso(until_us),
        "since_date": humanize.local_date(since_us, zone),
        "until_date": humanize.local_date(until_us, zone),
        "period_days": round((until_us - since_us) / US / 86400, 1),
        "cameras": _cameras(settings, policies, stored),
        "unconfigured": [{"camera": s.camera, "segments": s.segments} for s in stored.values()
                         if s.camera not in configured],
        "policies": [used[k] for k in sorted(used)],
        "purge": _purge(lag_summary(catalog, since_us, until_us, LAG_BUCKETS,
                                    LATE_AFTER_S * US), holds, iso),
        "late_after": human_duration(LATE_AFTER_S),
        "overdue": [{"camera": s.camera, "deadline": iso(s.deadline_us),
                     "overdue": _seconds(now_us - s.deadline_us)} for s in overdue],
        "stored_total": sum(s.segments for s in stored.values()),
        "holds": _holds(holds, since_us, until_us, exports, iso),
        "hold_states": _count(h.state for h in holds),
        "exports": _exports(exports, policies, iso),
        "chain": chain.result, "chain_total": chain.verified_upto,
        "chain_from": chain.from_seq, "chain_checkpoint": chain.checkpoint_seq,
    }


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items()))


def build_report(catalog: Catalog, settings: Settings, policies: dict[str, Policy],
                 since_us: int, until_us: int, now_us: int) -> str:
    """The privacy-audit report as one self-contained HTML page."""
    ctx = report_context(catalog, settings, policies, since_us, until_us, now_us)
    return templates().get_template("report.html").render(**ctx)
