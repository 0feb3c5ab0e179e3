"""The public notice: GET /notice and the printable signage at GET /notice/signage.

Generated from the camera list and the cameras' policies, so the notice
cannot drift from what the gateway does: which areas are recorded and why,
how long footage is kept, who can see it, how disclosure works and whom to
contact. Plain HTML with inline CSS, no external assets, readable on a phone.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import jinja2
from aiohttp import web

from .config import CameraSettings, Settings
from .policy import RECIPIENTS, Policy, retention_seconds
from .web.keys import POLICIES, SETTINGS

#: Set by the export engine when a signing key exists; shown so anyone can check packages.
SIGNING_PUBLIC_KEY: web.AppKey[str] = web.AppKey("signing_public_key", str)

GROUND_TEXT = {
    "court_order": "a court order",
    "search_warrant": "a search warrant",
    "subpoena": "a subpoena",
    "statute": "a statute that requires or allows it (listed below)",
    "exigent_circumstances": "an emergency that threatens someone's safety (exigent circumstances)",
    "voluntary_no_materials": "the director's decision, with legal counsel, when the images show "
                              "no one's use of library materials",
    "consent": "the request or consent of the person concerned",
}
RECIPIENT_TEXT = {
    "law_enforcement": "Police and prosecutors",
    "civil_litigant": "Parties to a lawsuit",
    "public": "The public and the press",
    "subject": "People who were recorded",
}
ROLE_TEXT = {"director": "the library director", "staff": "library staff",
             "auditor": "the privacy auditor", "admin": "the system administrator"}
MASK_TEXT = {"shelves": "shelves", "screen": "screens", "reading": "reading material",
             "desk": "desk surfaces", "display": "displays", "other": "other areas"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    """The template environment for the notice, signage and report pages."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway", "web/templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["human"] = human_duration
    return env


def human_duration(seconds: int) -> str:
    """72h -> '72 hours', 7d -> '7 days', 60 -> '1 minute' (exact, for people)."""
    def plural(n: int, unit: str) -> str:
        return f"{n} {unit}" + ("" if n == 1 else "s")
    if seconds % 86400 == 0 and seconds >= 4 * 86400:
        return plural(seconds // 86400, "day")
    if seconds % 3600 == 0 and seconds > 0:
        return plural(seconds // 3600, "hour")
    if seconds % 60 == 0 and seconds > 0:
        return plural(seconds // 60, "minute")
    return plural(seconds, "second")


def _join(words: Iterable[str]) -> str:
    w = list(words)
    return w[0] if len(w) == 1 else ", ".join(w[:-1]) + " and " + w[-1] if w else ""


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return human_duration(lo) if lo == hi else f"{human_duration(lo)} to {human_duration(hi)}"


def notice_url(settings: Settings) -> str:
    base = (settings.server.public_url or "").rstrip("/")
    return f"{base}/notice" if base else "/notice"


def _camera(cam: CameraSettings, pol: Policy) -> dict:
    zone = pol.zone(cam.zone)
    return {
        "name": cam.name,
        "area": zone.label if zone else cam.zone,
        "purpose": cam.purpose,
        "retention": human_duration(retention_seconds(cam, pol)),
        "masked": _join(sorted({MASK_TEXT[m.zone] for m in cam.masks})),
    }


def _disclosure(pol: Policy) -> list[dict]:
    out = []
    for r in RECIPIENTS:
        rule = getattr(pol.disclosure, r)
        out.append({
            "recipient": RECIPIENT_TEXT[r],
            "grounds": [GROUND_TEXT[g] for g in rule.grounds],
            "statutes": [{"citation": s.citation, "condition": s.condition} for s in rule.statutes],
            "note": rule.note,
        })
    return out


def _paragraphs(text: str, fields: dict) -> list[str]:
    return [p.strip() for p in text.format_map(fields).split("\n\n") if p.strip()]


def notice_context(settings: Settings, policies: dict[str, Policy],
                   signing_public_key: str | None = None) -> dict:
    """Everything the notice and signage templates show, from config and policies only."""
    groups: dict[str, dict] = {}
    for cam in settings.cameras:
        pol = policies.get(cam.id)
        if pol is None:
            continue  # serve refuses such a config; the notice never invents a policy
        g = groups.setdefault(pol.id, {"policy": pol, "cams": []})
        g["cams"].append(cam)
    contact = settings.library.contact
    out = []
    for g in groups.values():
        pol: Policy = g["policy"]
        retention = _span([retention_seconds(c, pol) for c in g["cams"]])
        fields = {"library": settings.library.name, "contact": contact,
                  "retention": retention, "notice_url": notice_url(settings)}
        out.append({
            "id": pol.id,
            "title": pol.title,
            "demonstration": pol.is_demonstration,
            "summary": pol.summary,
            "cameras": [_camera(c, pol) for c in g["cams"]],
            "retention": retention,
            "forbidden": [z.label for z in pol.zones.values() if z.rule == "forbidden"],
            "masked_zones": [z.label for z in pol.zones.values() if z.rule == "mask_required"],
            "audio": pol.audio.allowed,
            "viewers": _join(ROLE_TEXT[r] for r in pol.access.view_roles),
            "approvers": _join(ROLE_TEXT[r] for r in pol.approvers.disclosures),
            "hold_approvers": _join(ROLE_TEXT[r] for r in pol.approvers.holds),
            "counsel": pol.approvers.counsel_before_disclosure,
            "grace": human_duration(pol.retention.hold_request_grace_s),
            "review": human_duration(pol.retention.hold_review_s),
            "disclosure": _disclosure(pol),
            "short": pol.signage.short.format_map(fields),
            "full": _paragraphs(pol.signage.full, fields),
            "placement": pol.signage.placement,
        })
    return {
        "library": settings.library.name,
        "contact": contact,
        "notice_url": notice_url(settings),
        "camera_count": sum(len(g["cameras"]) for g in out),
        "groups": out,
        "signing_public_key": signing_public_key,
        "signing_key_fingerprint": _fingerprint(signing_public_key),
    }


def render_notice(ctx: dict) -> str:
    return templates().get_template("notice.html").render(**ctx)


def render_signage(ctx: dict) -> str:
    return templates().get_template("signage.html").render(**ctx)


def _page(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": CSP,
                                 "X-Content-Type-Options": "nosniff"})


async def notice_handler(request: web.Request) -> web.Response:
    app = request.app
    ctx = notice_context(app[SETTINGS], app[POLICIES], app.get(SIGNING_PUBLIC_KEY))
    return _page(render_notice(ctx))


async def signage_handler(request: web.Request) -> web.Response:
    app = request.app
    ctx = notice_context(app[SETTINGS], app[POLICIES], app.get(SIGNING_PUBLIC_KEY))
    return _page(render_signage(ctx))


def setup_notice(app: web.Application) -> None:
    """Add GET /notice and GET /notice/signage (public: no authentication)."""
    app.router.add_get("/notice", notice_handler)
    app.router.add_get("/notice/signage", signage_handler)


def _fingerprint(pem: str | None) -> str | None:
    if not pem:
        return None
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from .export import fingerprint
    try:
        return fingerprint(load_pem_public_key(pem.encode()))
    except ValueError:  # not a PEM key: show the text only
        return None
