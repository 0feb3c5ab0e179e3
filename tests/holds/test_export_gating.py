"""Exports and preservation under review: gating by review date and court order, packages
removed with their hold, re-filed requests, forged packages, private file modes, zip slip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.holds import package as pkg
from gateway.holds import exports as ex, service as hs
from gateway.users import service as users
from gateway.cli import main
from gateway.clock import US
from gateway.segments.purge import purge_once

from holds_env import active_hold, build
from holds_env import GRACE_S, REVIEW_S, T0





# ------------------------------------------------------------------ export gating

async def test_export_refused_after_the_review_date_even_before_tick(env):
    hold, _ = await active_hold(env)
    env.clock.advance(REVIEW_S + 1)          # the purge loop has not expired it yet
    status, body = await build(env, hold["id"])
    assert (status, body["error"]["code"]) == (409, "hold_not_active")


async def test_court_order_export_must_match_the_recorded_order(env):
    """Finding 4 (fixed): the export cites the order recorded on the hold and no other."""
    hold, _ = await active_hold(env, record_order=False)
    await env.post("dana", f"/api/v1/holds/{hold['id']}/court-order", {"reference": "CO-77"})
    status, body = await build(env, hold["id"], reference="CO-999")
    assert 400 <= status < 500, body


async def test_court_order_export_needs_the_order_recorded_on_the_hold(env):
    """Finding 4 (fixed): no court-order export before the order is recorded on the hold."""
    hold, _ = await active_hold(env, record_order=False)
    status, body = await build(env, hold["id"], reference="CO-5")
    if status == 201:
        r = await env.client.get(f"/api/v1/holds/{hold['id']}", headers=env.h("dana"))
        assert (await r.json())["court_order"] == "CO-5"
    else:
        assert 400 <= status < 500


async def test_release_and_purge_remove_the_holds_export_packages(env):
    hold, _ = await active_hold(env)
    _, export = await build(env, hold["id"])
    path = ex.export_path(env.svc, export["id"])
    assert path.exists()
    env.clock.advance(3600 + 1)                           # past the segments' deadline
    await env.post("dana", f"/api/v1/holds/{hold['id']}/release", {"note": "done"})
    out = await purge_once(env.svc)
    assert out.destroyed, "the released footage is destroyed"
    r = await env.client.get(export["download"], headers=env.h("dana"))
    assert r.status != 200
    assert not path.exists()


# ------------------------------------------------------------------ retention

async def test_repeated_pending_requests_do_not_extend_preservation(env):
    seg = await env.ingest("lobby", T0 - 60 * US)
    deadline = seg.deadline_us
    await env.request("sam", ["lobby"], T0 - 120 * US, T0)
    env.clock.advance(GRACE_S - 10)
    r = await env.request("sam", ["lobby"], T0 - 120 * US, T0)   # the same request again
    assert r.status == 201
    env.clock.t = deadline + (GRACE_S + 10) * US   # past deadline + grace; before 2nd grace
    assert env.clock.now_us() < T0 + (2 * GRACE_S - 10) * US
    await hs.tick(env.svc)
    await purge_once(env.svc)
    assert not await env.exists(seg.uid), "kept past deadline + grace without any decision"


# ------------------------------------------------------------------ export verify

def _forged_package(tmp_path: Path, export_id: int = 1) -> Path:
    """A structurally valid package signed by someone else's key."""
    key = Ed25519PrivateKey.generate()
    out = tmp_path / "forged.zip"
    w = pkg.PackageWriter(out, export_id)
    w.add("clips/lobby_x.mp4", b"not the library's footage")
    w.add("custody.json", b'{"audit": []}\n')
    w.add("README.txt", pkg.readme(export_id, pkg.fingerprint(key)))
    w.add("signing-key.pem", pkg.public_pem(key).encode())
    w.finish({"export": {"id": export_id}, "clips": [{"file": "clips/lobby_x.mp4"}]}, key)
    return out


async def test_forged_package_fails_against_the_gateways_key(env, tmp_path):
    forged = _forged_package(tmp_path)
    real_pem = pkg.public_key_pem(env.svc.settings.storage_path)
    rep = pkg.verify_package(forged, real_pem)
    assert not rep.ok
    (tmp_path / "real.pem").write_text(real_pem)
    res = CliRunner().invoke(main, ["export", "verify", str(forged), "--key",
                                    str(tmp_path / "real.pem")])
    assert res.exit_code == 1
    # Without --key the package's own key is used: "valid", with a foreign fingerprint that
    # the reader must compare with the notice page (see the review report).
    rep = pkg.verify_package(forged)
    real_fp = pkg.fingerprint(pkg.signing_key(env.svc.settings.storage_path))
    assert rep.ok and rep.key_sha256 != real_fp
    # ...so the CLI says the origin is unproven, and --fingerprint catches the forgery.
    res = CliRunner().invoke(main, ["export", "verify", str(forged)])
    assert res.exit_code == 0 and "UNAUTHENTICATED" in res.output
    res = CliRunner().invoke(main, ["export", "verify", str(forged), "--fingerprint", real_fp])
    assert res.exit_code == 1 and f"not by {real_fp}" in res.output


async def test_failed_login_with_unknown_name_keeps_no_plaintext_name(env):
    typed = "hunter2-my-password"  # typed into the user-name field by mistake
    with pytest.raises(Exception):
        await users.login(env.svc.catalog, env.clock, typed, "x")
    entries = (await (await env.client.get("/api/v1/audit", headers=env.h("aud"))).json())
    assert typed not in str(entries)
    assert any(e["action"] == "login.failed" for e in entries["entries"])


def test_redact_cli_output_is_private(tmp_path):
    from gateway.media import synth
    src = tmp_path / "in.mp4"
    src.write_bytes(synth.make_segment(1.0, 15, 320, 180))
    res = CliRunner().invoke(main, ["redact", str(src), str(tmp_path / "out.mp4"),
                                    "--mask", "0.1,0.1 0.5,0.1 0.5,0.5"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out.mp4").stat().st_mode & 0o777 == 0o600


def test_export_verify_never_writes_outside_for_zip_slip_names(tmp_path):
    """verify reads members into memory only: ../ names cannot write anywhere."""
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("export-1/../../escaped.txt", b"x")
        z.writestr("/abs-escaped.txt", b"x")
    before = set(tmp_path.rglob("*"))
    res = CliRunner().invoke(main, ["export", "verify", str(evil)])
    assert res.exit_code == 1
    assert set(tmp_path.rglob("*")) == before
    assert not Path("/abs-escaped.txt").exists()


def test_export_verify_refuses_symlinks_in_a_package_directory(tmp_path):
    pkg_dir = tmp_path / "export-1"
    pkg_dir.mkdir()
    (tmp_path / "secret.txt").write_text("outside the package")
    (pkg_dir / "manifest.json").symlink_to(tmp_path / "secret.txt")
    res = CliRunner().invoke(main, ["export", "verify", str(pkg_dir)])
    assert res.exit_code == 1 and "symlink" in res.output
