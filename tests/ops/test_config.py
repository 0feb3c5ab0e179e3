"""Config: unknown keys and bad values fail with the key's path; serve refuses them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.config import load_settings, parse_settings
from gateway.errors import ConfigError

GOOD = {"storage": {"path": "/tmp/fg"}, "cameras": [
    {"id": "lobby", "name": "Lobby", "zone": "entrance", "purpose": "physical security",
     "push_token": "x" * 20}]}


def errors_for(data: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_settings(data)
    return exc.value.message


def with_camera(**changes) -> dict:
    return {**GOOD, "cameras": [{**GOOD["cameras"][0], **changes}]}


def test_good_config_is_frozen():
    s = parse_settings(GOOD)
    assert s.cameras[0].retention_seconds is None
    with pytest.raises(Exception):
        s.storage.path = "/elsewhere"  # type: ignore[misc]


@pytest.mark.parametrize("data,path,fragment", [
    ({**GOOD, "storage": {"path": "/x", "max_bytes": 1}}, "storage.max_bytes", "unknown key"),
    ({**GOOD, "extra": {}}, "extra", "unknown key"),
    (with_camera(colour="red"), "cameras[0].colour", "unknown key"),
    (with_camera(id="Lobby/../x"), "cameras[0].id", "[a-z0-9-]"),
    (with_camera(retention="7 days"), "cameras[0].retention", "integer followed by"),
    (with_camera(push_token="short"), "cameras[0].push_token", "16 characters"),
    (with_camera(push_token_file="/t"), "cameras[0]", "not both"),
    (with_camera(masks=[{"zone": "shelves", "polygon": [[0, 0], [1, 0]]}]),
     "cameras[0].masks[0].polygon", "at least 3"),
    (with_camera(masks=[{"zone": "shelves", "polygon": [[0, 0], [1.5, 0], [1, 1]]}]),
     "cameras[0].masks[0].polygon", "outside 0..1"),
    (with_camera(masks=[{"zone": "shelves", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]),
     "cameras[0].masks[0].polygon", "cross"),
    (with_camera(masks=[{"zone": "shelves", "polygon": [[0, 0], [1, 0], [1, 1]], "mode": "smudge"}]),
     "cameras[0].masks[0].mode", "'fill', 'pixelate' or 'blur'"),
    (with_camera(masks=[{"zone": "kitchen", "polygon": [[0, 0], [1, 0], [1, 1]]}]),
     "cameras[0].masks[0].zone", "shelves"),
    ({**GOOD, "server": {"listen": "8080"}}, "server.listen", "host:port"),
    ({**GOOD, "storage": {"path": "/x", "max_segment_bytes": "big"}}, "storage.max_segment_bytes",
     "integer"),
    ({"cameras": []}, "storage", "required"),
])
def test_bad_values_name_the_key(data, path, fragment):
    msg = errors_for(data)
    line = next((l for l in msg.splitlines() if l.strip().startswith(path + ":")), None)
    assert line is not None, msg
    assert fragment in line, msg


def test_duplicate_camera_ids():
    msg = errors_for({**GOOD, "cameras": GOOD["cameras"] * 2})
    assert "used twice" in msg


def test_relative_paths_are_taken_from_the_config_dir(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\npath = "data"\n')
    s = load_settings(cfg)
    assert s.storage_path == tmp_path / "data"
    # Beside the storage directory, never inside it: a copy of data/ carries no keys.
    assert s.keyring_path == tmp_path / "data-keys" / "keyring"
    assert s.audit_key_path == tmp_path / "data-keys" / "keyring.audit-key"


def test_toml_syntax_error_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage\npath=")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_serve_refuses_unknown_keys_without_traceback(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\npath = "data"\nretain_forever = true\n')
    out = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()", "serve",
                          "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "storage.retain_forever: unknown key" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "data").exists()  # nothing created on a bad config


def test_serve_refuses_loose_keyring(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\npath = "data"\n')
    (tmp_path / "data-keys").mkdir()
    ring = tmp_path / "data-keys" / "keyring"
    ring.write_text("{}")
    ring.chmod(0o644)
    out = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()", "serve",
                          "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "chmod 600" in out.stderr and str(ring) in out.stderr
    assert "Traceback" not in out.stderr


def test_a_ring_inside_the_storage_dir_moves_beside_it_and_the_footage_stays_readable(
        tmp_path):
    """Releases before issue 10 kept the ring at STORAGE/keyring when keys.path was unset."""
    import asyncio

    from gateway.clock import SystemClock
    from gateway.metrics import Metrics
    from gateway.policy.loading import camera_policies
    from gateway.runtime import open_runtime
    from gateway.vault import format as fmt
    from gateway.vault.keyring import KeyRing

    cfg = tmp_path / "config.toml"
    cfg.write_text('[storage]\npath = "data"\n')
    s = load_settings(cfg)
    old = tmp_path / "data" / "keyring"
    ring = KeyRing.open(old)  # as an older release made it
    key_id = fmt.new_key_id()
    kek, wrapped = ring.wrap(b"k" * 32, key_id=key_id)

    async def start():
        async with open_runtime(s, SystemClock(), camera_policies(s), Metrics(),
                                server=True) as svc:
            return svc.keyring.unwrap(kek, wrapped, key_id=key_id)
    assert asyncio.run(start()) == b"k" * 32
    assert not old.exists() and s.keyring_path.exists()
    assert not s.keyring_path.is_relative_to(s.storage_path)
