"""A policy change moves stored deadlines: shorter where required, never below a legal minimum."""

from __future__ import annotations

from conftest import auth, camera
from gateway.catalog import audit_log, segments as seg_sql
from gateway.clock import US, iso
from gateway.media import synth
from gateway.web.appkeys import CATALOG

DATA = synth.make_segment(1.0, 15, 320, 180, seed=5)


def legal_policy(tmp_path, id: str, minimum: str) -> None:
    (tmp_path / "policies" / f"{id}.toml").write_text(
        f'id = "{id}"\ntitle = "t"\njurisdiction = "Test"\n[retention]\nminimum = "{minimum}"\n'
        'minimum_basis = "law"\nminimum_source = "test statute"\nmaximum = "30d"\n'
        'maximum_source = "test"\nhold_request_grace = "1h"\nhold_review = "90d"\n')


async def test_shortening_and_legal_floor(gateway_client, make_settings, fake_clock, tmp_path):
    settings = make_settings([camera(retention="2h", retention_reason="incident backlog")])
    client, app = await gateway_client(settings, clock=fake_clock)
    r = await client.post("/api/v1/cameras/lobby/segments", data=DATA,
                          headers={**auth(), "X-Segment-Start": iso(fake_clock.now_us())})
    uid = (await r.json())["id"]
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    assert seg.deadline_us == seg.end_us + 2 * 3600 * US
    await client.close()

    # The library shortens the camera's retention to 10 minutes: stored footage follows.
    client, app = await gateway_client(
        make_settings([camera(retention="10m", retention_reason="board decision")]), clock=fake_clock)
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    assert seg.deadline_us == seg.end_us + 600 * US
    log = await app[CATALOG].run(lambda db: list(audit_log.entries(db)))
    entries = [e for e in log if e.action == "policy.change"]
    assert len(entries) == 1 and '"new_retention_s":600' in entries[0].detail
    # The configuration change itself is audited too (first start: camera.add).
    assert [e.action for e in log if e.action.startswith("camera.")] == [
        "camera.add", "camera.change"]
    assert '"retention_s":600' in [e for e in log if e.action == "camera.change"][0].detail
    await client.close()

    # Lengthening does not reach back into stored footage.
    client, app = await gateway_client(
        make_settings([camera(retention="1d", retention_reason="board decision")]), clock=fake_clock)
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    assert seg.deadline_us == seg.end_us + 600 * US
    await client.close()

    # A move to a policy with a legal minimum of 30 minutes: the floor lifts it.
    legal_policy(tmp_path, "statute30m", "30m")
    client, app = await gateway_client(make_settings([camera(policy="statute30m")]),
                                       clock=fake_clock)
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    assert seg.deadline_us == seg.end_us + 1800 * US
    assert seg.policy == "statute30m"
    await client.close()

    # Footage recorded under that legal minimum is never shortened below it, even
    # when the camera moves to a policy with a shorter minimum.
    client, app = await gateway_client(make_settings([camera(policy="test5s")]), clock=fake_clock)
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    assert seg.deadline_us == seg.end_us + 1800 * US
