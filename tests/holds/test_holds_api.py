"""Holds over HTTP: preservation against the purge, roles, views with reasons.

Also the shared helpers of the holds/export/audit tests (``Env``).
"""

from __future__ import annotations

import pytest

from gateway.clock import US, iso
from gateway.holds import service as hs
from gateway.segments.purge import purge_once

from holds_env import GRACE_S, RETENTION_S, REVIEW_S, T0




# ------------------------------------------------------------------ preservation

async def test_pending_hold_keeps_footage_past_deadline_then_lapse_destroys_it(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    other = await env.ingest("desk", T0 - 60 * US)
    r = await env.request("sam", ["lobby"], T0 - 120 * US, T0)
    assert r.status == 201, await r.text()
    hold = await r.json()
    assert hold["state"] == "requested" and hold["segments_kept"] == 1

    env.clock.advance(RETENTION_S + 1)           # past the segment's deadline
    out = await purge_once(env.svc)
    assert await env.exists(seg.uid), "a pending hold must preserve covered footage"
    assert not await env.exists(other.uid), "footage the hold does not cover goes on time"
    assert [s.uid for s in out.destroyed] == [other.uid]

    env.clock.advance(GRACE_S)                   # the request lapses undecided
    await hs.tick(env.svc)
    await purge_once(env.svc)
    assert not await env.exists(seg.uid), "past-deadline footage goes at once when it lapses"
    r = await env.client.get(f"/api/v1/holds/{hold['id']}", headers=env.h("dana"))
    assert (await r.json())["state"] == "lapsed"


async def test_denied_request_releases_footage_at_once(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    hold = await (await env.request("sam", ["lobby"], T0 - 120 * US, T0)).json()
    env.clock.advance(RETENTION_S + 1)
    await purge_once(env.svc)
    assert await env.exists(seg.uid)
    r = await env.post("dana", f"/api/v1/holds/{hold['id']}/deny", {"note": "no incident"})
    assert r.status == 200 and (await r.json())["state"] == "denied"
    await purge_once(env.svc)
    assert not await env.exists(seg.uid)


async def test_active_hold_preserves_until_released(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    hold = await (await env.request("sam", ["lobby"], T0 - 120 * US, T0)).json()
    r = await env.post("dana", f"/api/v1/holds/{hold['id']}/approve", {"note": "ok"})
    assert r.status == 200 and (await r.json())["state"] == "active"
    env.clock.advance(GRACE_S + RETENTION_S)     # past the grace period and the deadline
    await hs.tick(env.svc)
    await purge_once(env.svc)
    assert await env.exists(seg.uid), "an approved hold keeps footage past the grace period"
    r = await env.post("dana", f"/api/v1/holds/{hold['id']}/release", {"note": "resolved"})
    assert (await r.json())["state"] == "released"
    await purge_once(env.svc)
    assert not await env.exists(seg.uid)


async def test_active_hold_expires_at_review_date_unless_renewed(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    hold = await (await env.request("sam", ["lobby"], T0 - 120 * US, T0)).json()
    await env.post("dana", f"/api/v1/holds/{hold['id']}/approve")
    env.clock.advance(REVIEW_S - 10)
    r = await env.post("dana", f"/api/v1/holds/{hold['id']}/renew")
    assert r.status == 200
    env.clock.advance(20)                        # past the first review date: renewed, kept
    await hs.tick(env.svc)
    await purge_once(env.svc)
    assert await env.exists(seg.uid)
    env.clock.advance(REVIEW_S)
    await hs.tick(env.svc)
    await purge_once(env.svc)
    assert not await env.exists(seg.uid)
    r = await env.client.get(f"/api/v1/holds/{hold['id']}", headers=env.h("aud"))
    assert (await r.json())["state"] == "expired"


async def test_hold_over_destroyed_footage_says_so_and_brings_nothing_back(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    env.clock.advance(RETENTION_S + 1)
    await purge_once(env.svc)
    r = await env.request("sam", ["lobby"], T0 - 120 * US, T0)
    assert r.status == 409
    assert (await r.json())["error"]["code"] == "already_destroyed"
    assert not await env.exists(seg.uid)
    r = await env.client.get(f"/api/v1/segments/{seg.uid}/video?reason=check",
                             headers=env.h("dana"))
    assert r.status == 404


async def test_partly_destroyed_window_warns(env):
    old = await env.ingest("lobby", T0 - 60 * US)
    env.clock.advance(RETENTION_S + 1)
    await purge_once(env.svc)
    new = await env.ingest("lobby", env.clock.now_us() - 30 * US)
    r = await env.request("sam", ["lobby"], T0 - 120 * US, env.clock.now_us())
    body = await r.json()
    assert r.status == 201
    assert (body["segments_kept"], body["segments_already_destroyed"]) == (1, 1)
    assert "already destroyed" in body["warning"]
    assert not await env.exists(old.uid) and await env.exists(new.uid)


async def test_hold_on_a_camera_removed_from_the_config_still_lapses(env):
    hold = await (await env.request("sam", ["lobby", "desk"], T0 - 120 * US, T0)).json()
    del env.svc.policies["lobby"]                # the camera left the config (restart)
    env.clock.advance(GRACE_S)
    await hs.tick(env.svc)
    r = await env.client.get(f"/api/v1/holds/{hold['id']}", headers=env.h("dana"))
    assert (await r.json())["state"] == "lapsed"


# ------------------------------------------------------------------ roles

async def test_requester_cannot_approve_own_request(env):
    hold = await (await env.request("dana", ["lobby"], T0 - 120 * US, T0)).json()
    r = await env.post("dana", f"/api/v1/holds/{hold['id']}/approve")
    assert r.status == 403 and (await r.json())["error"]["code"] == "own_request"
    r = await env.post("dee", f"/api/v1/holds/{hold['id']}/approve")
    assert r.status == 200 and (await r.json())["decided_by"] == "dee"


@pytest.mark.parametrize("user", ["sam", "aud", "adm"])
async def test_only_directors_decide(env, user):
    hold = await (await env.request("sue", ["lobby"], T0 - 120 * US, T0)).json()
    for action in ("approve", "deny"):
        r = await env.post(user, f"/api/v1/holds/{hold['id']}/{action}")
        assert r.status == 403, (user, action)


@pytest.mark.parametrize("user", ["aud", "adm"])
async def test_auditor_and_admin_cannot_request(env, user):
    r = await env.request(user, ["lobby"], T0 - 120 * US, T0)
    assert r.status == 403


async def test_no_token_or_bad_token_is_401(env):
    r = await env.client.get("/api/v1/holds")
    assert r.status == 401
    r = await env.client.get("/api/v1/holds", headers={"Authorization": "Bearer nope"})
    assert r.status == 401


async def test_staff_see_only_their_own_holds(env):
    a = await (await env.request("sam", ["lobby"], T0 - 120 * US, T0)).json()
    b = await (await env.request("sue", ["desk"], T0 - 120 * US, T0)).json()
    r = await env.client.get("/api/v1/holds", headers=env.h("sam"))
    assert [h["id"] for h in (await r.json())["holds"]] == [a["id"]]
    r = await env.client.get(f"/api/v1/holds/{b['id']}", headers=env.h("sam"))
    assert r.status == 404
    r = await env.client.get("/api/v1/holds", headers=env.h("aud"))
    assert {h["id"] for h in (await r.json())["holds"]} == {a["id"], b["id"]}


@pytest.mark.parametrize("body,code", [
    ({"cameras": ["nowhere"]}, "unknown_camera"),
    ({"start": "yesterday"}, "bad_time"),
    ({"incident": ""}, "incident_required"),
])
async def test_bad_hold_requests_are_400(env, body, code):
    base = {"cameras": ["lobby"], "start": iso(T0 - 100 * US), "end": iso(T0),
            "incident": "INC", "reason": "why"}
    r = await env.client.post("/api/v1/holds", json=base | body, headers=env.h("sam"))
    assert r.status == 400 and (await r.json())["error"]["code"] == code
    r = await env.client.post("/api/v1/holds", data=b"{not json", headers=env.h("sam"))
    assert r.status == 400


# ------------------------------------------------------------------ viewing

@pytest.mark.parametrize("user", ["dana", "sam"])
@pytest.mark.parametrize("query", ["", "?reason=", "?reason=%20%20"])
async def test_every_view_without_a_reason_is_refused(env, user, query):
    seg = await env.ingest("lobby", T0 - 60 * US)
    await env.request("sam", ["lobby"], T0 - 120 * US, T0)
    r = await env.client.get(f"/api/v1/segments/{seg.uid}/video{query}", headers=env.h(user))
    assert r.status == 400 and (await r.json())["error"]["code"] == "reason_required"


async def test_director_views_masked_mp4_and_the_view_is_audited(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    r = await env.client.get(f"/api/v1/segments/{seg.uid}/video?reason=check%20incident",
                             headers=env.h("dana"))
    assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
    data = await r.read()
    assert data[4:8] == b"ftyp"
    r = await env.client.get("/api/v1/audit", headers=env.h("aud"))
    views = [e for e in (await r.json())["entries"] if e["action"] == "segment.view"]
    assert [(e["actor"], e["object"], e["reason"]) for e in views] == [
        ("dana", f"segment:{seg.uid}", "check incident")]


async def test_staff_view_only_under_their_own_hold(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    url = f"/api/v1/segments/{seg.uid}/video?reason=confirm"
    assert (await env.client.get(url, headers=env.h("sam"))).status == 403
    await env.request("sue", ["lobby"], T0 - 120 * US, T0)
    assert (await env.client.get(url, headers=env.h("sam"))).status == 403
    own = await (await env.request("sam", ["lobby"], T0 - 120 * US, T0)).json()
    # A pending request is not enough: no footage is seen without a director's decision.
    assert (await env.client.get(url, headers=env.h("sam"))).status == 403
    assert (await env.post("dana", f"/api/v1/holds/{own['id']}/approve")).status == 200
    assert (await env.client.get(url, headers=env.h("sam"))).status == 200


@pytest.mark.parametrize("user", ["aud", "adm"])
async def test_auditor_and_admin_never_see_footage(env, user):
    seg = await env.ingest("lobby", T0 - 60 * US)
    r = await env.client.get(f"/api/v1/segments/{seg.uid}/video?reason=curious",
                             headers=env.h(user))
    assert r.status == 403
    entries = await (await env.client.get("/api/v1/audit", headers=env.h("aud"))).json()
    assert not [e for e in entries["entries"] if e["action"] == "segment.view"]


async def test_a_request_never_reaches_forward_in_time(env):
    """Within the clock-skew allowance, an end in the future is taken as now: a request
    cannot keep footage that is yet to be recorded."""
    await env.ingest("lobby", T0 - 60 * US)
    r = await env.request("sam", ["lobby"], T0 - 120 * US, T0 + 120 * US)
    assert r.status == 201
    assert (await r.json())["end"] == iso(env.clock.now_us())


async def test_a_hold_over_no_camera_is_400_not_500(env):
    r = await env.request("sam", [], T0 - 60 * US, T0)
    assert r.status == 400
    assert (await r.json())["error"]["code"] == "bad_cameras"
