"""Exports: refused unless every rule holds; packages verify with standard tools and
with ``export verify``, and fail after any byte of a clip or the manifest changes."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.holds import package as pkg
from gateway.vault import signing
from gateway.holds import exports as ex, service as hs
from gateway.cli import main
from gateway.clock import US, iso
from gateway.segments.read import read_plaintext

from holds_env import EXPORT, T0, Env, active_hold, build

needs_tools = pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("sha256sum")),
                                 reason="openssl and sha256sum are needed")




async def download(env: Env, export: dict, dest: Path) -> Path:
    r = await env.client.get(export["download"], headers=env.h("dana"))
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(await r.read())) as z:
        z.extractall(dest)
    (root,) = list(dest.iterdir())
    return root


# ------------------------------------------------------------------ refusals

async def test_refused_without_an_active_hold(env):
    await env.ingest("lobby", T0 - 60 * US)
    pending = await (await env.request("sam", ["lobby"], T0 - 120 * US, T0)).json()
    status, body = await build(env, pending["id"])
    assert (status, body["error"]["code"]) == (409, "hold_not_active")
    await env.post("dana", f"/api/v1/holds/{pending['id']}/approve")
    await env.post("dana", f"/api/v1/holds/{pending['id']}/release")
    status, body = await build(env, pending["id"])
    assert (status, body["error"]["code"]) == (409, "hold_not_active")
    assert (await build(env, 999))[0] == 404


@pytest.mark.parametrize("overrides", [
    {"start": iso(T0 - 600 * US)},                       # starts before the hold
    {"end": iso(T0 + 60 * US)},                          # ends after it
    {"cameras": ["lobby", "desk"]},                      # a camera the hold does not name
])
async def test_refused_outside_the_holds_cameras_or_window(env, overrides):
    hold, _ = await active_hold(env)
    status, body = await build(env, hold["id"], **overrides)
    assert (status, body["error"]["code"]) == (403, "outside_hold")


@pytest.mark.parametrize("ground,recipient", [
    ("subpoena", "law_enforcement"),      # the baseline wants an order or a warrant
    ("court_order", "public"),            # never to the public
    ("voluntary_no_materials", "subject"),
])
async def test_refused_on_a_ground_the_policy_does_not_allow(env, ground, recipient):
    hold, _ = await active_hold(env)
    status, body = await build(env, hold["id"], ground=ground, recipient=recipient)
    assert (status, body["error"]["code"]) == (403, "ground_not_allowed")


@pytest.mark.parametrize("overrides,code", [
    ({"ground": "no-such-ground"}, "bad_ground"),
    ({"recipient": "police"}, "bad_recipient"),          # a typo, not a policy refusal
    ({"start": iso(T0 - 10 * US), "end": iso(T0 - 20 * US)}, "bad_window"),
])
async def test_unknown_values_are_400_saying_what_is_allowed(env, overrides, code):
    hold, _ = await active_hold(env)
    status, body = await build(env, hold["id"], **overrides)
    assert (status, body["error"]["code"]) == (400, code)
    if code == "bad_recipient":
        assert "law_enforcement" in body["error"]["message"]


async def test_refused_without_a_reference_or_counsel(env):
    hold, _ = await active_hold(env, record_order=False)
    status, body = await build(env, hold["id"])
    assert (status, body["error"]["code"]) == (409, "court_order_missing")
    await env.post("dana", f"/api/v1/holds/{hold['id']}/court-order", {"reference": "CO-5"})
    status, body = await build(env, hold["id"], reference="CO-6")
    assert (status, body["error"]["code"]) == (400, "reference_mismatch")
    status, body = await build(env, hold["id"], counsel=" ", reference="")
    assert (status, body["error"]["code"]) == (400, "counsel_required")


async def test_court_order_recorded_on_the_hold_is_the_reference(env):
    hold, _ = await active_hold(env, record_order=False)
    r = await env.post("dana", f"/api/v1/holds/{hold['id']}/court-order",
                       {"reference": "CO-77"})
    assert r.status == 200 and (await r.json())["court_order"] == "CO-77"
    status, body = await build(env, hold["id"], reference="")
    assert status == 201 and body["reference"] == "CO-77"


@pytest.mark.parametrize("user", ["sam", "aud", "adm"])
async def test_only_the_director_exports_and_downloads(env, user):
    hold, _ = await active_hold(env)
    r = await env.post(user, f"/api/v1/holds/{hold['id']}/exports", EXPORT)
    assert r.status == 403
    status, body = await build(env, hold["id"])
    r = await env.client.get(body["download"], headers=env.h(user))
    assert r.status == 403


# ------------------------------------------------------------------ the package

async def test_package_holds_exactly_the_holds_clips(env, tmp_path):
    hold, segs = await active_hold(env)
    status, export = await build(env, hold["id"])
    assert status == 201 and export["clips"] == 2
    root = await download(env, export, tmp_path / "x")
    manifest = json.loads((root / "manifest.json").read_bytes())
    assert sorted(c["segment"] for c in manifest["clips"]) == sorted(s.uid for s in segs)
    for c in manifest["clips"]:
        _, plain = await read_plaintext(env.svc, c["segment"])
        assert (root / c["file"]).read_bytes() == plain
    assert manifest["export"]["decided_by"] == "dana"
    assert manifest["export"]["reference"] == EXPORT["reference"]
    custody = json.loads((root / "custody.json").read_bytes())
    actions = [e["action"] for e in custody["audit"]]
    assert actions[:4] == ["hold.request", "hold.approve", "hold.court_order", "export.create"]


@needs_tools
async def test_package_verifies_with_standard_tools_and_breaks_on_any_change(env, tmp_path):
    hold, _ = await active_hold(env)
    _, export = await build(env, hold["id"])
    root = await download(env, export, tmp_path / "pkg")
    assert sha256sum_ok(root) and openssl_ok(root) and cli_verify(root) == 0
    pem = pkg.public_key_pem(env.svc.settings.storage_path)
    assert pkg.verify_package(root, pem).ok

    clip = next((root / "clips").iterdir())
    flip_byte(clip, clip.stat().st_size // 2)
    assert not sha256sum_ok(root)
    assert cli_verify(root) == 1
    flip_byte(clip, clip.stat().st_size // 2)             # restored
    assert sha256sum_ok(root) and cli_verify(root) == 0

    flip_byte(root / "manifest.json", 40)
    assert not openssl_ok(root)
    assert not sha256sum_ok(root)
    assert cli_verify(root) == 1


async def test_a_repackaged_manifest_fails_even_with_new_sums(env, tmp_path):
    """Someone edits a clip and recomputes every hash: only the signature can catch it."""
    hold, _ = await active_hold(env)
    _, export = await build(env, hold["id"])
    root = await download(env, export, tmp_path / "pkg")
    clip = next((root / "clips").iterdir())
    flip_byte(clip, 100)
    manifest = json.loads((root / "manifest.json").read_bytes())
    name = clip.relative_to(root).as_posix()
    manifest["files"][name] = hashlib.sha256(clip.read_bytes()).hexdigest()
    (root / "manifest.json").write_bytes(json.dumps(manifest).encode())
    rep = pkg.verify_package(root)
    assert not rep.ok and any("signature" in p for p in rep.problems)


async def test_added_file_fails_verification(env, tmp_path):
    hold, _ = await active_hold(env)
    _, export = await build(env, hold["id"])
    root = await download(env, export, tmp_path / "pkg")
    (root / "clips" / "extra.mp4").write_bytes(b"not in the manifest")
    rep = pkg.verify_package(root)
    assert not rep.ok and any("extra.mp4" in p for p in rep.problems)


async def test_package_is_private_and_goes_after_its_time(env):
    hold, _ = await active_hold(env)
    _, export = await build(env, hold["id"])
    path = ex.export_path(env.svc, export["id"])
    assert path.stat().st_mode & 0o777 == 0o600
    env.clock.advance(ex.EXPORT_TTL_S + 1)
    await hs.tick(env.svc)
    assert not path.exists()
    r = await env.client.get(export["download"], headers=env.h("dana"))
    assert r.status == 410  # it existed; it is gone


async def test_signing_key_is_0600_and_stable(env):
    p = env.svc.settings.storage_path / signing.KEY_FILE
    first = pkg.public_key_pem(env.svc.settings.storage_path)
    assert p.stat().st_mode & 0o777 == 0o600
    assert pkg.public_key_pem(env.svc.settings.storage_path) == first


# ------------------------------------------------------------------ helpers

def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def sha256sum_ok(root: Path) -> bool:
    return subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=root,
                          capture_output=True).returncode == 0


def openssl_ok(root: Path) -> bool:
    cmd = pkg.VERIFY_COMMANDS[1].split()
    return subprocess.run(cmd, cwd=root, capture_output=True).returncode == 0


def cli_verify(root: Path) -> int:
    return CliRunner().invoke(main, ["export", "verify", str(root)]).exit_code


async def test_cli_builds_a_package_with_progress_and_it_verifies(env, tmp_path):
    import asyncio

    from gateway.clock import SystemClock

    env.clock.t = SystemClock().now_us()  # the CLI reads the real clock
    hold, segs = await active_hold(env, base=env.clock.t)
    s = env.svc.settings
    cfg = tmp_path / "config.toml"
    cams = "".join(f'[[cameras]]\nid = "{c.id}"\nname = "{c.name}"\npolicy = "{c.policy}"\n'
                   f'zone = "{c.zone}"\npurpose = "{c.purpose}"\n'
                   f'push_token = "{c.push_token.get_secret_value()}"\n' for c in s.cameras)
    cfg.write_text(f'policies_dir = "{s.policies_dir}"\n[storage]\npath = "{s.storage.path}"\n'
                   + cams)
    out = tmp_path / "delivered"
    args = ["export", "create", str(hold["id"]), "--as", "dana", "--ground", "court_order",
            "--reference", EXPORT["reference"], "--recipient", "law_enforcement", "--counsel", "J. Doe",
            "--reason", "order served", "--out", str(out), "--config", str(cfg)]
    r = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert r.exit_code == 0, r.output
    assert "building export" in r.stderr  # click draws the bar itself only on a terminal
    assert pkg.verify_package(out).ok
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["clips", "custody.json", "README.txt", "signing-key.pem", "manifest.json",
         "manifest.sig", "SHA256SUMS"])
    assert not any(ex.export_path(env.svc, i).exists() for i in (1, 2)), \
        "the CLI leaves no second copy in storage"
    r = await asyncio.to_thread(CliRunner().invoke, main, ["holds", "list", "--config", str(cfg)])
    assert r.exit_code == 0 and "active" in r.output and "lobby" in r.output
    staff = args[:4] + ["sam"] + args[5:]
    staff[staff.index("--out") + 1] = str(tmp_path / "other")
    r = await asyncio.to_thread(CliRunner().invoke, main, staff)
    assert r.exit_code == 1 and "role 'staff' may not export footage" in r.output


async def test_progress_is_reported_per_clip(env):
    hold, _ = await active_hold(env)
    seen = []
    e = await ex.create_export(env.svc, hold["id"], hs.Actor("dana", "director"),
                               ground="court_order", reference=EXPORT["reference"],
                               recipient="law_enforcement", counsel="c", reason="r",
                               progress=lambda done, total: seen.append((done, total)))
    assert e.state == "ready" and seen == [(1, 2), (2, 2)]


async def test_notice_page_shows_the_signing_key(env):
    pem = pkg.public_key_pem(env.svc.settings.storage_path)
    body_line = pem.splitlines()[1]              # the base64 of the public key
    r = await env.client.get("/notice")
    assert r.status == 200 and body_line in await r.text()


async def test_export_verify_accepts_the_downloaded_zip(env, tmp_path):
    hold, _ = await active_hold(env)
    _, export = await build(env, hold["id"])
    r = await env.client.get(export["download"], headers=env.h("dana"))
    z = tmp_path / "p.zip"
    z.write_bytes(await r.read())
    assert cli_verify(z) == 0


async def test_no_empty_packages(env):
    """A hold over a window with no footage warns, and its export is refused."""
    r = await env.request("sam", ["lobby"], T0 - 3600 * US, T0 - 3000 * US)
    assert r.status == 201
    hold = await r.json()
    assert hold["segments_kept"] == 0 and "no footage" in hold["warning"]
    await env.post("dana", f"/api/v1/holds/{hold['id']}/approve")
    await env.post("dana", f"/api/v1/holds/{hold['id']}/court-order",
                   {"reference": EXPORT["reference"]})
    status, body = await build(env, hold["id"])
    assert (status, body["error"]["code"]) == (409, "no_footage")
