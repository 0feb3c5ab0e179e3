"""The pages in a real browser (Debian's chromium driven by Playwright) against a real
gateway on a free port: each role signs in; staff request a hold by keyboard alone; the
requester cannot approve; the director approves, records a court order, exports and
downloads; the auditor reads the audit log but gets 403 on video; a form without its CSRF
token is refused; an expired session goes to sign-in; axe-core finds no serious or critical
accessibility violation on any page.

The tests run in file order and share one server and one browser (fast: < 60 s).
Set FGW_SCREENSHOTS=DIR to save the main pages as PNG (``make screenshots``).
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from gateway.catalog import holds as holds_sql
from gateway.clock import US

from uienv import PASSWORD

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE = Path(os.environ.get("FGW_AXE", Path(__file__).resolve().parents[2] / ".venv" / "js" /
                          "node_modules" / "axe-core" / "axe.min.js"))
SHOTS = os.environ.get("FGW_SCREENSHOTS")

if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (scripts/install-system-deps.sh installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) missing")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from liveserver import LiveServer
    srv = LiveServer(tmp_path_factory.mktemp("ui"))
    cam = srv.svc.settings.camera("reading")
    from uienv import RETENTION_S, clip
    from gateway.segments.ingest import ingest
    from gateway.segments.purge import purge_once
    # The entrance camera's footage from three days ago reaches its deadline and is destroyed
    # (purge receipts, the compliance chart), then the day goes on.
    lobby = srv.svc.settings.camera("lobby")
    def deliver(camera, data, start_us):
        """Store a 1 s segment as if it arrived when recorded (deadlines run from receipt)."""
        now = srv.clock.now_us()
        srv.clock.t = min(now, start_us + 1 * US)  # the wall clock only; no loop watches it
        try:
            return srv.call(ingest(srv.svc, camera, data, start_hint_us=start_us))
        finally:
            srv.clock.t = now

    for i, due_in in enumerate((10, 40, 90, 150, 240)):
        deliver(lobby, clip(20 + i), srv.clock.now_us() - (RETENTION_S + 1 - due_in) * US)
    srv.clock.advance(300)
    srv.call(purge_once(srv.svc))
    # Twelve consecutive seconds of real, masked H.264 ending a minute ago.
    srv.segments = [deliver(cam, clip(i), srv.clock.now_us() - (72 - i) * US)
                    for i in range(12)]
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class People:
    """One browser context (cookie jar) per person, signed in through the real form."""

    def __init__(self, browser, server):
        self.browser, self.server, self.pages = browser, server, {}

    def page(self, name: str, **ctx):
        if name not in self.pages:
            context = self.browser.new_context(base_url=self.server.url, accept_downloads=True,
                                               viewport={"width": 1100, "height": 900}, **ctx)
            page = context.new_page()
            sign_in(page, name)
            self.pages[name] = page
        return self.pages[name]


def sign_in(page, name: str, password: str = PASSWORD, go: bool = True):
    if go:
        page.goto("/")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def shot(page, name: str, full: bool = True):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full)


@pytest.fixture(scope="module")
def people(browser, server):
    return People(browser, server)


def test_each_role_signs_in_and_sees_its_own_menu(people, server, browser):
    anon = browser.new_context(base_url=server.url).new_page()
    anon.goto("/")
    assert anon.get_by_role("heading", name="Sign in").is_visible()
    assert anon.get_by_role("link", name=re.compile("public notice")).is_visible()
    shot(anon, "sign-in")
    sign_in(anon, "dana", "wrong password, surely")
    assert anon.get_by_role("alert").inner_text() == "Wrong user name or password."
    menus = {"dana": {"Cameras", "Holds", "Audit log", "Compliance"},
             "sam": {"Cameras", "Holds"}, "aud": {"Audit log", "Purge receipts", "Compliance"},
             "adm": {"Users", "Cameras"}}
    for name, expect in menus.items():
        page = people.page(name)
        assert f"Signed in as {name}" in page.locator(".signout").inner_text()
        nav = set(page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts())
        assert expect <= nav, (name, nav)
        if name != "adm":
            assert "Users" not in nav
        if name in ("aud", "adm"):
            assert "Holds" not in nav or name == "aud"


def test_staff_requests_a_hold_from_the_timeline_by_keyboard_alone(people, server):
    page = people.page("sam")
    page.goto("/cameras/reading")
    assert page.get_by_text("Stored: 12 segments").is_visible()
    shot(page, "timeline")
    # Tab from the top of the page to the incident field; type; submit with Enter.
    page.keyboard.press("Tab")
    for _ in range(80):
        if page.evaluate("document.activeElement.id") == "hold-incident":
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("the incident field cannot be reached with Tab")
    page.keyboard.type("INC-2025-114")
    page.keyboard.press("Tab")  # the help text between them is not focusable
    assert page.evaluate("document.activeElement.id") == "hold-reason"
    page.keyboard.type("Bag taken from the desk")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Request a hold"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/holds/1\?done=requested"))
    assert page.get_by_role("status").inner_text().startswith("Your request was recorded")
    assert "INC-2025-114" in page.get_by_role("heading", level=1).inner_text()
    [hold] = server.call(server.svc.catalog.read(holds_sql.list_holds))
    assert hold.requested_by == "sam" and hold.state == "requested"


def test_the_requester_sees_no_approve_button_and_the_server_refuses(people, server):
    page = people.page("sam")
    page.goto("/holds/1")
    assert page.get_by_role("button", name=re.compile("Approve")).count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    resp = page.request.post("/holds/1/action", form={"action": "approve", "csrf": csrf,
                                                      "role": "director"})
    assert resp.status == 403
    assert server.call(server.svc.catalog.run(holds_sql.get_hold, 1)).state == "requested"


def test_the_director_approves_records_a_court_order_exports_and_downloads(people, server,
                                                                           tmp_path):
    page = people.page("dana")
    page.goto("/holds")
    assert "lapses in 2 h" in page.get_by_role("article").first.inner_text()
    shot(page, "director-queue")
    page.get_by_label("Note (optional)").fill("Seen the report")
    page.get_by_role("button", name="Approve hold #1").click()
    page.wait_for_load_state()
    assert "Preserved (approved)" in page.content()
    page.goto("/holds/1")
    page.get_by_label("Court order number").fill("CR-2025-77")
    page.get_by_role("button", name="Record the court order").click()
    page.wait_for_url(re.compile("done=court_order"))
    page.get_by_label("Recipient", exact=True).select_option("law_enforcement")
    page.get_by_label("Recipient's name").fill("County Police Department")
    page.get_by_label("Ground for disclosure").select_option("court_order")
    page.get_by_label("Reason").fill("Court order served on the library")
    page.get_by_role("button", name="Build the export").click()
    link = page.get_by_role("link", name=re.compile(r"Download export #1"))
    link.wait_for(timeout=30_000)  # the page refreshes itself while the package builds
    shot(page, "hold-export")
    with page.expect_download() as dl:
        link.click()
    path = tmp_path / "export.zip"
    dl.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert sum(n.endswith(".mp4") for n in names) == 12
    assert any(n.endswith("SHA256SUMS") for n in names)


def test_the_director_plays_the_window_as_one(people, server):
    page = people.page("dana")
    page.goto("/cameras/reading/play")
    page.get_by_label("Why are you viewing this footage?").fill("checking the incident")
    page.get_by_role("button", name="Play").click()
    page.wait_for_load_state()
    videos = page.locator("video")
    assert videos.count() == 12
    # Only the current segment is shown; the script moves on at its end.
    assert page.locator("figure.current video").count() == 1
    first = page.locator("figure.current video")
    first.evaluate("v => { v.muted = true; return v.play(); }")
    # The first segment plays to its end, then the second is shown and plays.
    sync_api.expect(page.locator("figure").nth(1)).to_have_class(re.compile("current"),
                                                                  timeout=15_000)
    assert page.locator("video").first.evaluate("v => v.ended")
    shot(page, "playback", full=False)
    from gateway.catalog import audit_log
    views = [e for e in server.call(server.svc.catalog.read(lambda db: list(
        audit_log.entries(db)))) if e.action == "segment.view"]
    assert views and all(e.reason == "checking the incident" for e in views)


def test_the_auditor_reads_the_audit_log_but_gets_403_on_video(people, server):
    page = people.page("aud")
    page.goto("/audit")
    assert page.get_by_role("status").inner_text().startswith("The chain is intact")
    table = page.get_by_role("table").inner_text()
    assert "Approved a hold" in table and "Recorded a court order" in table
    page.get_by_label("Show").select_option("hold")
    page.get_by_role("button", name="Filter").click()
    assert "Viewed footage" not in page.get_by_role("table").inner_text()
    shot(page, "audit-log")
    uid = server.segments[0].uid
    resp = page.goto(f"/api/v1/segments/{uid}/video?reason=curious")
    assert resp.status == 403
    page.goto("/compliance")
    assert page.locator("svg[role=img] rect").count() >= 8
    shot(page, "compliance")
    page.goto("/receipts")
    shot(page, "receipts")


def test_a_form_without_its_csrf_token_is_refused(people, server):
    page = people.page("sam")
    page.goto("/cameras/reading")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_label("Incident reference").fill("INC-9")
    page.get_by_label("Why this footage must be kept").fill("forged")
    page.get_by_role("button", name="Request a hold").click()
    assert "CSRF" in page.locator("main").inner_text()
    assert len(server.call(server.svc.catalog.read(holds_sql.list_holds))) == 1


def test_cameras_page_draws_masks_over_a_stored_frame_only_for_viewers(people):
    page = people.page("dana")
    page.goto("/cameras")
    page.get_by_label("Reason to show a stored frame").first.fill("check the masks")
    with page.expect_response(lambda r: "/frame.jpg" in r.url) as frame:
        page.get_by_role("button", name="Show a stored frame").first.click()
    assert frame.value.status == 200 and frame.value.headers["content-type"] == "image/jpeg"
    assert page.locator("svg image").count() == 1
    shot(page, "cameras")
    admin = people.page("adm")
    admin.goto("/cameras")
    assert admin.locator("svg image").count() == 0 and admin.locator("svg polygon").count() == 4
    assert admin.get_by_role("button", name="Show a stored frame").count() == 0
    admin.goto("/users")
    shot(admin, "users")


@pytest.mark.skipif(not AXE.exists(), reason=f"axe-core missing at {AXE} "
                    "(scripts/install-js.sh installs it from npm)")
def test_no_serious_or_critical_accessibility_violation_on_any_page(browser, server, people):
    axe = AXE.read_text()
    pages = {"dana": ["/", "/cameras", "/cameras/reading", "/cameras/reading/play",
                     "/cameras/reading/play?from=2025-12-01T05:58&to=2025-12-01T06:00"
                     "&reason=axe&submitted=1", "/holds", "/holds/1", "/audit", "/receipts",
                     "/compliance"],
             "sam": ["/holds/1"], "adm": ["/users"], "anonymous": ["/", "/notice"]}
    found = []
    run = ("axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag', values: "
           "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
    # The check can fail: a picture without a text alternative is a critical violation.
    probe = browser.new_context(bypass_csp=True).new_page()
    probe.set_content('<html lang="en"><title>t</title><main><img src="x.png"></main></html>')
    probe.add_script_tag(content=axe)
    assert "image-alt" in {v["id"] for v in probe.evaluate(run)["violations"]}
    probe.context.close()
    for name, paths in pages.items():
        # axe is injected as a script: this context alone ignores the CSP to allow it.
        # The person's cookies come along: no second sign-in (argon2 is slow by design).
        state = people.page(name).context.storage_state() if name != "anonymous" else None
        ctx = browser.new_context(base_url=server.url, bypass_csp=True, storage_state=state)
        page = ctx.new_page()
        ctx.add_init_script(script=axe)  # into every page loaded from here on
        for path in paths:
            page.goto(path)
            result = page.evaluate(run)
            for v in result["violations"]:
                if v["impact"] in ("serious", "critical"):
                    found.append((name, path, v["id"], v["help"],
                                  [n["target"] for n in v["nodes"]][:3]))
        ctx.close()
    assert not found, found


def test_phone_width_has_no_horizontal_scroll(browser, server, people):
    ctx = browser.new_context(base_url=server.url, viewport={"width": 375, "height": 740},
                              storage_state=people.page("dana").context.storage_state())
    page = ctx.new_page()
    for path in ("/holds/1", "/cameras/reading", "/audit", "/cameras"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    ctx.close()


def test_an_expired_session_is_sent_to_sign_in(people, server):
    page = people.page("sam")
    server.clock.advance(13 * 3600)  # past the 12 h absolute timeout
    page.goto("/holds")
    assert re.search(r"/login\?next=/holds&expired=1$", page.url)
    assert page.get_by_role("status").inner_text() == "Your session ended. Please sign in again."
    sign_in(page, "sam", go=False)  # on the sign-in page it was sent to
    assert page.url.endswith("/holds")
