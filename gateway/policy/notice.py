"""The public notice: GET /notice and the printable signage at GET /notice/signage.

Generated from the camera list and the cameras' policies, so the notice
cannot drift from what the gateway does: which areas are recorded and why,
how masks hide what people read, how long footage is kept, who can see it,
how disclosure works and whom to contact. Plain HTML with inline CSS (and an
inline SVG QR code on the sign), no external assets, readable on a phone.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

import jinja2
from markupsafe import Markup

from .. import humanize
from ..config import CameraSettings, Settings
from .loading import RECIPIENTS, Policy, retention_seconds

#: Set by the export engine when a signing key exists; shown so anyone can check packages.

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
#: What each MaskSettings.mode does to the picture, said plainly (never "blacked out" for a blur).
MASK_MODE_TEXT = {"fill": "blacked out", "pixelate": "pixelated so text cannot be read",
                  "blur": "blurred"}
NO_SOUND = "No sound is recorded."
SOUND = "Sound may be recorded."
QR_QUIET_ZONE = 4  # modules of white margin the QR specification requires around the symbol


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
    env.filters["duration"] = humanize.duration  # as configured: "3 days" (the report)
    env.filters["sentence"] = sentence
    env.filters["lcfirst"] = lambda s: s[:1].lower() + s[1:]
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


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (or its own ! or ?): 'area.' and 'area' -> 'area.'."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _join(words: Iterable[str]) -> str:
    w = list(words)
    return w[0] if len(w) == 1 else ", ".join(w[:-1]) + " and " + w[-1] if w else ""


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return human_duration(lo) if lo == hi else f"{human_duration(lo)} to {human_duration(hi)}"


def notice_url(settings: Settings, base_url: str | None = None) -> str:
    """The notice's absolute URL: ``[server] public_url`` if set, else ``base_url`` (the request's origin).

    Printed on paper, so it must be absolute; a relative '/notice' is the last resort
    when neither is known (rendering outside a request).
    """
    base = (settings.server.public_url or base_url or "").rstrip("/")
    return f"{base}/notice"


def area_title(pol: Policy, zone_id: str) -> str:
    """The policy's human label for a zone kind; the id, underscores as spaces, if it has none."""
    zone = pol.zone(zone_id)
    return zone.label if zone else zone_id.replace("_", " ")


def describe_masks(cam: CameraSettings) -> str:
    """What the masks do, by their actual mode: 'shelves blacked out; screens pixelated so ...'."""
    by_mode: dict[str, set[str]] = {}
    for m in cam.masks:
        by_mode.setdefault(m.mode, set()).add(MASK_TEXT[m.zone])
    return "; ".join(f"{_join(sorted(zones))} {MASK_MODE_TEXT[mode]}"
                     for mode, zones in sorted(by_mode.items()))


def _camera(cam: CameraSettings, pol: Policy) -> dict:
    return {
        "name": cam.name,
        "area": area_title(pol, cam.zone),
        "purpose": cam.purpose,
        "retention": human_duration(retention_seconds(cam, pol)),
        "masked": describe_masks(cam),
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


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _paragraphs(text: str, fields: dict, already_said: frozenset[str] = frozenset()) -> list[str]:
    """The policy's full text as paragraphs, minus sentences the page already says once for all."""
    out = []
    for p in text.format_map(fields).split("\n\n"):
        kept = [s for s in _SENTENCE_END.split(p.strip()) if s and s not in already_said]
        if kept:
            out.append(" ".join(kept))
    return out


def _groups(settings: Settings, policies: dict[str, Policy]) -> list[tuple[Policy, list[CameraSettings]]]:
    """Cameras grouped by policy, in config order."""
    groups: dict[str, tuple[Policy, list[CameraSettings]]] = {}
    for cam in settings.cameras:
        pol = policies.get(cam.id)
        if pol is None:
            continue  # serve refuses such a config; the notice never invents a policy
        groups.setdefault(pol.id, (pol, []))[1].append(cam)
    return list(groups.values())


def notice_context(settings: Settings, policies: dict[str, Policy],
                   signing_public_key: str | None = None, base_url: str | None = None) -> dict:
    """Everything the notice and signage templates show, from config and policies only.

    ``base_url`` (scheme://host of the request) makes the printed notice URL absolute
    when ``[server] public_url`` is not set.
    """
    url = notice_url(settings, base_url)
    contact = settings.library.contact
    groups = _groups(settings, policies)
    audio_rules = {pol.audio.allowed for pol, _ in groups}
    # Said once for the whole page when every policy agrees; per policy only when they differ.
    audio = None if len(audio_rules) != 1 else (SOUND if audio_rules.pop() else NO_SOUND)
    out = []
    for pol, cams in groups:
        own_audio = None if audio else (SOUND if pol.audio.allowed else NO_SOUND)
        said = frozenset({audio or own_audio})  # the policy's prose need not repeat it
        retention = _span([retention_seconds(c, pol) for c in cams])
        fields = {"library": settings.library.name, "contact": contact,
                  "retention": retention, "notice_url": url}
        out.append({
            "id": pol.id,
            "title": pol.title,
            "demonstration": pol.is_demonstration,
            "summary": pol.summary,
            "cameras": [_camera(c, pol) for c in cams],
            "areas": list(dict.fromkeys(area_title(pol, c.zone) for c in cams)),
            "retention": retention,
            "forbidden": [z.label for z in pol.zones.values() if z.rule == "forbidden"],
            "masked_zones": [z.label for z in pol.zones.values() if z.rule == "mask_required"],
            "audio": own_audio,
            "viewers": _join(ROLE_TEXT[r] for r in pol.access.view_roles),
            "approvers": _join(ROLE_TEXT[r] for r in pol.approvers.disclosures),
            "hold_approvers": _join(ROLE_TEXT[r] for r in pol.approvers.holds),
            "counsel": pol.approvers.counsel_before_disclosure,
            "grace": human_duration(pol.retention.hold_request_grace_s),
            "review": human_duration(pol.retention.hold_review_s),
            "disclosure": _disclosure(pol),
            "short": pol.signage.short.format_map(fields),
            "full": _paragraphs(pol.signage.full, fields, said),
            "placement": pol.signage.placement,
        })
    return {
        "library": settings.library.name,
        "contact": contact,
        "notice_url": url,
        "notice_qr": qr_svg(url) if url.startswith(("http://", "https://")) else None,
        "audio": audio,
        "camera_count": sum(len(g["cameras"]) for g in out),
        "groups": out,
        "signing_public_key": signing_public_key,
        "signing_key_fingerprint": _fingerprint(signing_public_key),
    }


@lru_cache(maxsize=16)  # one per host name the page is reached by; the encoder is not free
def qr_svg(text: str, module_px: int = 4) -> Markup | None:
    """``text`` as an inline SVG QR code (OpenCV's encoder: no extra dependency), or None.

    Inline SVG needs no image source, so the page's strict CSP stays as it is.
    """
    import cv2  # already a dependency (masking); imported here to keep page startup light

    matrix = cv2.QRCodeEncoder.create().encode(text)
    if matrix is None or matrix.size == 0:
        return None
    n = matrix.shape[0] + 2 * QR_QUIET_ZONE
    dark = "".join(f"M{x + QR_QUIET_ZONE} {y + QR_QUIET_ZONE}h1v1h-1z"
                   for y, row in enumerate(matrix) for x, v in enumerate(row) if v == 0)
    return Markup(
        f'<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'width="{n * module_px}" height="{n * module_px}" shape-rendering="crispEdges" '
        f'role="img" aria-label="QR code for {Markup.escape(text)}">'
        f'<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{dark}"/></svg>')


def render_notice(ctx: dict) -> str:
    """The notice page's HTML."""
    return templates().get_template("notice.html").render(**ctx)


def render_signage(ctx: dict) -> str:
    """The printable signs' HTML."""
    return templates().get_template("signage.html").render(**ctx)


def _fingerprint(pem: str | None) -> str | None:
    if not pem:
        return None
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from ..vault.signing import fingerprint
    try:
        return fingerprint(load_pem_public_key(pem.encode()))
    except ValueError:  # not a PEM key: show the text only
        return None
