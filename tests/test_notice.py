"""The public notice page and the printable signage, rendered from a config."""

from __future__ import annotations

import re

import pytest
from aiohttp import web

from gateway.config import parse_settings
from gateway.notice import (
    SIGNING_PUBLIC_KEY, human_duration, notice_context, render_notice, render_signage, setup_notice,
)
from gateway.policy import camera_policies
from gateway.web.keys import POLICIES, SETTINGS

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


def page(settings, key=None) -> str:
    return render_notice(notice_context(settings, camera_policies(settings), key))


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_notice_lists_every_camera_with_area_purpose_and_retention():
    html = page(make_settings())
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", html)
    assert rows == [
        ("Main entrance", "Entrances and exits", "physical security of the entrance", "72 hours", "nothing"),
        ("Non-fiction stacks", "Book stacks", "physical security of the collection", "7 days", "shelves"),
        ("Computer lab", "Public computers", "physical security of the computer lab", "72 hours", "screens"),
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
    html = render_signage(notice_context(s, camera_policies(s)))
    assert html.count('<div class="sign">') == 2
    t = text_of(html)
    assert "Footage is destroyed automatically after 72 hours to 7 days" in t
    assert "https://cams.springfield.example/notice" in t
    assert "Areas: Entrances and exits, Book stacks." in t


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
    setup_notice(app)
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
    from gateway.export import fingerprint, signing_key

    client, app = await gateway_client()
    r = await client.get("/notice")  # no Authorization header
    assert r.status == 200
    body = await r.text()
    key = signing_key(tmp_path / "data")
    assert fingerprint(key) in body
    assert "-----BEGIN PUBLIC KEY-----" in body
