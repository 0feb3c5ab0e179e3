"""The public notice page and the printable signage, rendered from a config."""

from __future__ import annotations

import re

import pytest
from aiohttp import web

from gateway.config import parse_settings
from gateway.policy.notice import (
    area_title, human_duration, notice_context, qr_svg, render_notice, render_signage, sentence,
)
from gateway.web import routes
from gateway.policy.loading import camera_policies
from gateway.web.appkeys import POLICIES, SETTINGS, SIGNING_PUBLIC_KEY

NOTICE_ROUTES = tuple(r for r in routes.ROUTES if r.path.startswith("/notice"))
SHELVES = {"zone": "shelves", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9]]}
SCREEN = {"zone": "screen", "polygon": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.5]]}

CAMERAS = [
    {"id": "lobby", "name": "Main entrance", "zone": "entrance",
     "purpose": "physical security of the entrance"},
    {"id": "stacks", "name": "Non-fiction stacks", "zone": "stacks", "masks": [SHELVES],
     "purpose": "physical security of the collection", "retention": "7d",
     "retention_reason": "weekend thefts are found on Mondays"},
    {"id": "lab", "name": "Computer lab", "zone": "public_computers", "masks": [SCREEN],
     "policy": "wisconsin-library", "purpose": "physical security of the computer lab"},
]


def make_settings(cameras=CAMERAS, **extra):
    return parse_settings({"storage": {"path": "/nonexistent"},
                           "library": {"name": "Springfield Public Library",
                                       "contact": "privacy@springfield.example"},
                           "server": {"public_url": "https://cams.springfield.example/"},
                           "cameras": cameras} | extra)


def page(settings, key=None, base_url=None) -> str:
    return render_notice(notice_context(settings, camera_policies(settings), key, base_url))


def sign(settings, base_url=None) -> str:
    return render_signage(notice_context(settings, camera_policies(settings), base_url=base_url))


ROW = re.compile(r"<tr>" + r'<td data-label="[^"]+">(.*?)</td>' * 5 + r"</tr>")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_notice_lists_every_camera_with_area_purpose_and_retention():
    html = page(make_settings())
    assert ROW.findall(html) == [
        ("Main entrance", "Entrances and exits", "physical security of the entrance", "72 hours", "nothing"),
        ("Non-fiction stacks", "Book stacks", "physical security of the collection", "7 days",
         "shelves blacked out"),
        ("Computer lab", "Public computers", "physical security of the computer lab", "72 hours",
         "screens blacked out"),
    ]
    assert "3 cameras listed" in text_of(html)


def test_notice_says_how_long_who_sees_how_disclosure_works_and_whom_to_contact():
    t = text_of(page(make_settings()))
    assert "destroyed automatically after 72 hours to 7 days" in t  # ALA group: two retentions
    assert "Only the library director may view recordings" in t
    assert "Police and prosecutors a court order; or a search warrant" in t
    assert "The public and the press never" in t
    assert "Wis. Stat. 43.30(5)(a)" in t  # the Wisconsin camera's policy compels disclosure
    assert "privacy@springfield.example" in t
    assert "No camera may record: restrooms, staff break rooms, lactation rooms" in t
    assert "No sound is recorded" in t


def test_notice_has_no_external_assets_and_fits_a_phone():
    html = page(make_settings())
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r'src=', html)
    assert all(h.startswith("/") for h in re.findall(r'href="([^"]*)"', html))
    assert "@import" not in html and "url(" not in html


def test_notice_escapes_config_text():
    cams = [CAMERAS[0] | {"name": "<script>alert(1)</script>"}]
    html = page(make_settings(cams))
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_signing_key_is_shown_only_when_present():
    assert "ssh-ed25519 AAAAC3Nz" in page(make_settings(), "ssh-ed25519 AAAAC3Nz")
    assert "Checking an exported package" not in page(make_settings())


def test_demonstration_policy_is_labelled():
    cams = [CAMERAS[0] | {"policy": "demo"}]
    html = page(make_settings(cams))
    assert "Demonstration only" in html and "30 seconds" in html


def test_signage_has_one_sign_per_policy_with_the_short_notice_and_url():
    s = make_settings()
    html = sign(s)
    assert html.count('<div class="sign">') == 2
    t = text_of(html)
    assert "Footage is destroyed automatically after 72 hours to 7 days" in t
    assert "https://cams.springfield.example/notice" in t
    assert "Areas recorded: Entrances and exits, Book stacks." in t


@pytest.mark.parametrize("seconds,text", [
    (60, "1 minute"), (72 * 3600, "72 hours"), (86400, "24 hours"), (7 * 86400, "7 days"),
    (365 * 86400, "365 days"), (5, "5 seconds"), (90, "90 seconds")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


async def test_get_notice_and_signage_over_http(aiohttp_client):
    s = make_settings()
    app = web.Application()
    app[SETTINGS] = s
    app[POLICIES] = camera_policies(s)
    app[SIGNING_PUBLIC_KEY] = "ssh-ed25519 AAAAtestkey"
    routes.setup(app, NOTICE_ROUTES)
    client = await aiohttp_client(app)
    r = await client.get("/notice")
    assert r.status == 200 and r.content_type == "text/html"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    body = await r.text()
    for c in CAMERAS:
        assert c["name"] in body
    assert "ssh-ed25519 AAAAtestkey" in body
    r = await client.get("/notice/signage")
    assert r.status == 200 and "Video recording" in await r.text()


async def test_full_app_notice_is_public_and_shows_the_real_signing_key(gateway_client, tmp_path):
    from gateway.holds.package import fingerprint, signing_key

    client, app = await gateway_client()
    r = await client.get("/notice")  # no Authorization header
    assert r.status == 200
    body = await r.text()
    key = signing_key(tmp_path / "data")
    assert fingerprint(key) in body
    assert "-----BEGIN PUBLIC KEY-----" in body


# --- findings of the new-user trial ---


def test_printed_url_is_absolute_public_url_first_then_the_request_origin():
    with_public = make_settings()
    assert "https://cams.springfield.example/notice" in text_of(sign(with_public, "http://10.0.0.5:8080"))
    bare = make_settings(server={})
    t = text_of(sign(bare, "http://10.0.0.5:8080"))
    assert "Full notice: http://10.0.0.5:8080/notice" in t
    assert not re.search(r"(?<![\w/:.])/notice\b", t)  # no bare relative path left on paper
    assert "http://10.0.0.5:8080/notice/signage" in text_of(page(bare, base_url="http://10.0.0.5:8080"))


async def test_signage_over_http_prints_the_origin_it_was_reached_by(aiohttp_client):
    s = make_settings(server={})
    app = web.Application()
    app[SETTINGS], app[POLICIES] = s, camera_policies(s)
    routes.setup(app, NOTICE_ROUTES)
    client = await aiohttp_client(app)
    origin = str(client.make_url("/").origin())
    t = text_of(await (await client.get("/notice/signage")).text())
    assert f"{origin}/notice" in t and origin.startswith("http://")


def test_areas_use_the_policy_zone_label_or_a_readable_id():
    s = make_settings()
    pol = camera_policies(s)["lobby"]
    assert area_title(pol, "stacks") == "Book stacks"
    assert area_title(pol, "reading_room") == "reading room"  # a kind the policy does not define
    assert "reading_room" not in text_of(sign(s)) and "public_computers" not in text_of(page(s))


def test_sentence_never_doubles_its_punctuation():
    assert sentence("an interior area.") == "an interior area."
    assert sentence("an interior area") == "an interior area."
    assert sentence("Is it? ") == "Is it?"


def test_no_double_full_stops_on_the_sign_or_notice():
    s = make_settings()
    placement = camera_policies(s)["lobby"].signage.placement
    assert placement.endswith(".")  # the case the trial hit: the policy's text ends in a stop
    t = text_of(sign(s))
    assert ".." not in t and ". ." not in t
    assert "before the recorded area, and where a camera covers an interior area. " in t
    assert ".." not in text_of(page(s, "-----BEGIN PUBLIC KEY-----"))


def test_masks_are_described_by_their_actual_mode():
    lab = CAMERAS[2] | {"masks": [SCREEN | {"mode": "pixelate"}, SHELVES]}
    desk = CAMERAS[1] | {"masks": [SHELVES | {"mode": "blur"}]}
    rows = ROW.findall(page(make_settings([lab, desk])))
    masked = {r[0]: r[4] for r in rows}
    assert masked == {"Computer lab": "shelves blacked out; screens pixelated so text cannot be read",
                      "Non-fiction stacks": "shelves blurred"}


def test_no_sound_is_said_once_when_every_policy_agrees():
    t = text_of(page(make_settings()))  # two policies (ALA, Wisconsin), neither records sound
    assert t.count("No sound") == 1 and "Sound may be recorded" not in t


def test_sound_is_said_per_policy_when_policies_differ():
    s = make_settings()
    pols = camera_policies(s)
    lab = pols["lab"]
    full = lab.signage.full.replace("No sound is recorded.", "Sound may be recorded.")
    pols["lab"] = lab.model_copy(update={"audio": lab.audio.model_copy(update={"allowed": True}),
                                         "signage": lab.signage.model_copy(update={"full": full})})
    html = render_notice(notice_context(s, pols))
    sections = re.findall(r'<section id="policy-([^"]+)">(.*?)</section>', html, re.S)
    said = {pid: (body.count("Sound may be recorded."), body.count("No sound is recorded."))
            for pid, body in sections}
    assert said == {"ala-baseline": (0, 1), "wisconsin-library": (1, 0)}
    assert "No sound" not in html.split("<section")[0]  # nothing said page-wide


def _style(html: str) -> str:
    return re.sub(r"\s+", "", re.search(r"<style>(.*?)</style>", html, re.S).group(1))


def test_phone_layout_wraps_code_and_stacks_tables_instead_of_hiding_columns():
    html = page(make_settings(), "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA" + "A" * 200)
    css = _style(html)
    # Long keys and commands wrap inside their box, so a phone never scrolls sideways.
    assert "pre,code{" in css
    rule = re.search(r"pre,code\{([^}]*)\}", css).group(1)
    assert "white-space:pre-wrap" in rule and "overflow-wrap:anywhere" in rule
    assert "display:none" not in css  # no column (Purpose!) is hidden on small screens
    assert "td::before{content:attr(data-label)" in css
    # Every cell carries the header of its column, so a stacked row still says what each value is.
    for table in re.findall(r"<table.*?</table>", html, re.S):
        heads = re.findall(r"<th>(.*?)</th>", table)
        for row in re.findall(r"<tr><td.*?</tr>", table, re.S):
            assert re.findall(r'<td data-label="([^"]*)"', row) == heads


def test_sign_qr_code_decodes_to_the_notice_url():
    import cv2
    import numpy as np

    url = "https://cams.springfield.example/notice"
    svg = str(qr_svg(url))
    n = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    img = np.full((n, n), 255, np.uint8)
    for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", svg):
        img[int(y), int(x)] = 0
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.resize(img, None, fx=8, fy=8,
                                                                     interpolation=cv2.INTER_NEAREST))
    assert decoded == url
    assert svg in sign(make_settings())  # and the sign shows it, inline (CSP allows no images)
