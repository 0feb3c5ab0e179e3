"""Holds through the pages: request from the timeline, decide, court order, export; bad input."""

from __future__ import annotations

import io
import zipfile

import pytest

from gateway.app import create_app
from gateway.catalog import holds as holds_sql
from gateway.clock import US
from gateway.segments.purge import purge_once
from gateway.web.pages.site import EXPORT_TASKS

from uienv import RETENTION_S, Browserless, add_people, new_clock, write_settings


@pytest.fixture
async def people(aiohttp_client, tmp_path):
    """(clients by user name, clock): each person signed in in their own browser."""
    clock = new_clock()
    app = create_app(write_settings(tmp_path), clock=clock, run_loops=False)
    first = await aiohttp_client(app)
    await add_people(Browserless(first, app, clock).svc)
    out = {}
    for name in ("dana", "dee", "sam", "sue", "aud"):
        b = Browserless(first if not out else await aiohttp_client(first.server), app, clock)
        await b.sign_in_as(name)
        out[name] = b
    return out, clock


async def _holds(b):
    return await b.svc.catalog.read(holds_sql.list_holds)


def _form(**over):
    # 05:50 to 05:59 in Chicago on 1 Dec 2025 = 11:50 to 11:59 UTC; now is 12:00 UTC.
    base = {"cameras": "reading", "start": "2025-12-01T05:50", "end": "2025-12-01T05:59",
            "incident": "INC-2025-114", "reason": "bag stolen at the desk"}
    return base | over


async def test_staff_requests_a_hold_in_local_time_and_the_director_decides(people):
    p, clock = people
    sam, dana = p["sam"], p["dana"]
    for i in range(3):
        await sam.ingest("reading", clock.now_us() - (9 * 60 - i) * US, seed=i)
    tl = await sam.get("/cameras/reading")
    text = await tl.text()
    assert "Stored: 3 segments" in text and "destroyed" in text.lower()
    assert "in 2 days 23 h" in text  # 3 days after the footage ends
    resp = await sam.post("/holds", _form())
    assert resp.status == 303
    [h] = await _holds(sam)
    assert (h.start_us, h.end_us) == (clock.now_us() - 600 * US, clock.now_us() - 60 * US)
    page = await (await sam.get(resp.headers["Location"])).text()
    assert "Your request was recorded" in page and "3 segments" in page
    assert "Approve" not in page  # the requester (and staff) never sees the button
    queue = await (await dana.get("/holds")).text()
    assert "Approve hold #1" in queue and "lapses in 2 h" in queue
    ok = await dana.post("/holds/1/action", {"action": "approve", "note": "seen"})
    assert ok.status == 303
    [h] = await _holds(sam)
    assert h.state == "active" and h.decided_by == "dana"


async def test_the_requester_cannot_approve_and_a_form_field_cannot_escalate(people):
    p, clock = people
    dana, sam = p["dana"], p["sam"]
    await dana.ingest("reading", clock.now_us() - 300 * US)
    assert (await dana.post("/holds", _form())).status == 303
    mine = await (await dana.get("/holds/1")).text()
    assert "Approve" not in mine and "You requested this hold" in mine
    refused = await dana.post("/holds/1/action", {"action": "approve"})
    assert refused.status == 403 and "requester of a hold cannot approve it" in await refused.text()
    # Staff adding role/actor fields to the form is still staff.
    escalate = await sam.post("/holds/1/action", {"action": "approve", "role": "director",
                                                  "actor": "dee", "requested_by": "x"})
    assert escalate.status == 403
    [h] = await _holds(dana)
    assert h.state == "requested"


async def test_court_order_export_and_download_from_the_pages(people):
    p, clock = people
    sam, dana = p["sam"], p["dana"]
    for i in range(2):
        await sam.ingest("reading", clock.now_us() - (5 * 60 - i) * US, seed=i)
    await sam.post("/holds", _form())
    await dana.post("/holds/1/action", {"action": "approve"})
    co = await dana.post("/holds/1/action", {"action": "court_order", "reference": "CR-77"})
    assert co.status == 303
    page = await (await dana.get("/holds/1")).text()
    assert "CR-77" in page and "Build the export" in page and "Record the court order" not in page
    resp = await dana.post("/holds/1/export", {"recipient": "law_enforcement", "ground":
                                               "court_order", "recipient_name": "County PD",
                                               "reason": "court order served", "reference": ""})
    assert resp.status == 303 and resp.headers["Location"] == "/holds/1?done=export"
    for task in list(dana.app[EXPORT_TASKS]):  # the build the page started
        await task
    page = await (await dana.get("/holds/1")).text()
    assert "Download export #1" in page and "2 clips" in page
    z = await dana.get("/api/v1/exports/1.zip")
    assert z.status == 200
    names = zipfile.ZipFile(io.BytesIO(await z.read())).namelist()
    assert sum(n.endswith(".mp4") for n in names) == 2 and any("SHA256SUMS" in n for n in names)


async def test_export_refusals_are_shown_on_the_page_and_nothing_is_built(people):
    p, clock = people
    sam, dana = p["sam"], p["dana"]
    await sam.ingest("reading", clock.now_us() - 300 * US)
    await sam.post("/holds", _form())
    await dana.post("/holds/1/action", {"action": "approve"})
    resp = await dana.post("/holds/1/export", {"recipient": "law_enforcement",
                                               "ground": "court_order", "reason": "asked"})
    assert resp.status == 409
    assert "has no court order recorded" in await resp.text()
    assert not await dana.svc.catalog.run(holds_sql.get_hold, 1) is None
    from gateway.catalog import exports as exp_sql
    assert await dana.svc.catalog.run(exp_sql.exports_of_hold, 1) == []


@pytest.mark.parametrize("over, status, message", [
    ({"reason": "   "}, 400, "The reason is required"),
    ({"incident": ""}, 400, "The incident reference is required"),
    ({"cameras": ""}, 400, "Choose at least one camera"),
    ({"start": "2025-12-01T05:59", "end": "2025-12-01T05:50"}, 400,
     "end must be after its start"),
    ({"end": "2025-12-01T07:30"}, 400, "must not be in the future"),
    ({"start": "yesterday"}, 400, "is not a date and time"),
    ({"cameras": "attic"}, 400, "There is no camera attic"),
])
async def test_bad_hold_requests_say_why_and_store_nothing(people, over, status, message):
    p, _ = people
    resp = await p["sam"].post("/holds", _form(**over))
    assert resp.status == status
    text = await resp.text()
    assert message in text
    assert 'value="INC-2025-114"' in text or over.get("incident") == ""  # input kept
    assert await _holds(p["sam"]) == []


async def test_a_window_over_destroyed_footage_says_so(people):
    p, clock = people
    sam = p["sam"]
    await sam.ingest("reading", clock.now_us() - 300 * US)
    clock.advance(RETENTION_S + 600)
    await purge_once(sam.svc)
    assert (await sam.get("/holds")).status == 303  # three days later the session has ended
    await sam.sign_in_as("sam")
    resp = await sam.post("/holds", _form(start="2025-12-01T05:50", end="2025-12-01T05:59"))
    assert resp.status == 409
    assert "already destroyed at its retention deadline" in await resp.text()
    tl = await (await sam.get("/cameras/reading?from=2025-12-01T05:50&to=2025-12-01T06:00")).text()
    assert "Already destroyed at its retention deadline (1 segment)" in tl
    assert await _holds(sam) == []


async def test_html_in_every_text_field_is_escaped(people):
    p, clock = people
    sam, dana = p["sam"], p["dana"]
    await sam.ingest("reading", clock.now_us() - 300 * US)
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    assert (await sam.post("/holds", _form(incident=evil, reason=evil))).status == 303
    await dana.post("/holds/1/action", {"action": "approve", "note": evil})
    await dana.post("/holds/1/action", {"action": "court_order", "reference": evil})
    for who, path in ((dana, "/holds"), (dana, "/holds/1"), (sam, "/cameras/reading"),
                      (dana, "/audit"), (p["aud"], "/audit")):
        text = await (await who.get(path)).text()
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
    # A user name is checked, not echoed raw, on the users page's error.
    bad = await sam.get(f"/cameras/{evil}")
    assert "<script>" not in await bad.text()


async def test_auditor_reads_but_never_sees_footage(people):
    p, clock = people
    aud = p["aud"]
    seg = await aud.ingest("reading", clock.now_us() - 300 * US)
    assert (await aud.get("/audit")).status == 200
    compliance = await aud.get("/compliance")
    assert compliance.status == 200
    assert "kept on this gateway's disk" in await compliance.text()
    video = await aud.client.get(f"/api/v1/segments/{seg.uid}/video?reason=curious")
    assert video.status == 403
    assert (await aud.get("/cameras/reading/play")).status == 403
    assert (await aud.get("/cameras/reading/frame.jpg?reason=x")).status == 403
    cams = await (await aud.get("/cameras")).text()
    assert "Show a stored frame" not in cams and "frame.jpg" not in cams


async def test_audit_page_shows_a_broken_chain_and_filters(people):
    p, clock = people
    aud, sam = p["aud"], p["sam"]
    await sam.ingest("reading", clock.now_us() - 300 * US)
    await sam.post("/holds", _form())
    page = await (await aud.get("/audit?action=hold")).text()
    assert "The chain is intact" in page and "Requested a hold" in page
    assert "Signed in" not in page.split("<tbody>")[1]  # filtered to holds
    by_sam = await (await aud.get("/audit?actor=sam")).text()
    assert "Requested a hold" in by_sam and "dana" not in by_sam.split("<tbody>")[1]

    def edit(db):  # an insider with write access to the catalog file
        with db.tx() as c:
            c.execute("DROP TRIGGER audit_no_update")
            c.execute("UPDATE audit SET reason = 'nothing happened' WHERE action = 'hold.request'")
    await aud.svc.catalog.run(edit)
    broken = await (await aud.get("/audit?full=1")).text()
    assert "The chain is broken at entry" in broken and "was edited" in broken
