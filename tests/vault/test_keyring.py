"""The key ring: a private file, key wrapping, and key epochs (rotate, re-wrap, retire)."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from gateway.clock import US, FakeClock
from gateway.errors import ConfigError, IntegrityError
from gateway.vault.format import new_data_key, new_key_id
from gateway.vault.keyring import (
    KeyRing,
    KekInfo,
    UnknownKek,
    plan_retire,
    rewrap,
    rotation_due,
)

DAY = 86_400 * US


@pytest.fixture
def ring_path(tmp_path):
    return tmp_path / "state" / "keyring"


@pytest.fixture
def clock():
    return FakeClock()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


# ---------------------------------------------------------------- the file


def test_first_start_creates_a_private_ring_even_with_a_permissive_umask(ring_path, clock):
    old = os.umask(0)
    try:
        ring = KeyRing.open(ring_path, clock=clock)
    finally:
        os.umask(old)
    assert _mode(ring_path) == 0o600
    assert ring.entries() == [KekInfo(ring.current_id, clock.now_us())]
    assert _leftovers(ring_path.parent) == []


def test_reopening_keeps_the_keys(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    key_id, data_key = new_key_id(), new_data_key()
    kek_id, wrapped = ring.wrap(data_key, key_id=key_id)
    again = KeyRing.open(ring_path, create=False)
    assert again.ids() == ring.ids()
    assert again.unwrap(kek_id, wrapped, key_id=key_id) == data_key


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_loose_permissions_refuse_to_start_and_say_how_to_fix(ring_path, clock, mode):
    KeyRing.open(ring_path, clock=clock)
    os.chmod(ring_path, mode)
    with pytest.raises(ConfigError) as err:
        KeyRing.open(ring_path)
    message = str(err.value)
    assert str(ring_path) in message
    assert f"{mode:04o}" in message
    assert f"chmod 600 {ring_path}" in message


def test_stricter_than_0600_is_accepted(ring_path, clock):
    KeyRing.open(ring_path, clock=clock)
    os.chmod(ring_path, 0o400)
    assert len(KeyRing.open(ring_path).ids()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_ring_owned_by_another_user_is_refused(ring_path, clock):
    KeyRing.open(ring_path, clock=clock)
    os.chown(ring_path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534"):
        KeyRing.open(ring_path)


def test_missing_ring_without_create_is_a_config_error(ring_path):
    with pytest.raises(ConfigError, match="does not exist"):
        KeyRing.open(ring_path, create=False)
    assert not ring_path.exists()


def test_symlinked_ring_is_refused(ring_path, clock):
    KeyRing.open(ring_path, clock=clock)
    link = ring_path.with_name("link")
    link.symlink_to(ring_path)
    with pytest.raises(ConfigError, match="symlink"):
        KeyRing.open(link)


@pytest.mark.parametrize(
    "content", [b"not json", b"{}", b'{"format": "footage-gateway keyring v1", "current": "x", "keks": []}']
)
def test_malformed_ring_names_the_path(ring_path, content):
    ring_path.parent.mkdir()
    fd = os.open(ring_path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(ConfigError, match=f"key ring {ring_path} is malformed"):
        KeyRing.open(ring_path)


def test_a_crash_during_save_leaves_the_old_ring_intact(ring_path, clock, monkeypatch):
    ring = KeyRing.open(ring_path, clock=clock)
    before = ring_path.read_bytes()

    def crash(*args):
        raise OSError("simulated power loss")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power loss"):
        ring.rotate(clock.now_us())
    monkeypatch.undo()
    assert ring_path.read_bytes() == before
    assert KeyRing.open(ring_path).ids() == [json.loads(before)["current"]]
    assert _leftovers(ring_path.parent) == []


def test_save_replaces_the_file_instead_of_rewriting_it(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    inode = os.stat(ring_path).st_ino
    ring.rotate(clock.now_us())
    assert os.stat(ring_path).st_ino != inode
    assert _mode(ring_path) == 0o600


def test_a_second_starter_does_not_clobber_a_ring_created_meanwhile(ring_path, clock, monkeypatch):
    first = KeyRing.open(ring_path, clock=clock)
    # Make the second opener believe the file is missing, as in a race.
    monkeypatch.setattr(os.path, "lexists", lambda p: False if p == ring_path else os.path.exists(p))
    second = KeyRing.open(ring_path, clock=clock)
    assert second.ids() == first.ids()


# ---------------------------------------------------------------- wrapping


def test_wrap_unwrap_round_trip(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    data_key, key_id = new_data_key(), new_key_id()
    kek_id, wrapped = ring.wrap(data_key, key_id=key_id)
    assert kek_id == ring.current_id
    assert len(wrapped) == 61 and data_key not in wrapped
    assert ring.unwrap(kek_id, wrapped, key_id=key_id) == data_key
    assert ring.wrap(data_key, key_id=key_id)[1] != wrapped  # fresh nonce each time


def test_wrapped_key_is_bound_to_its_key_id(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    kek_id, wrapped = ring.wrap(new_data_key(), key_id=new_key_id())
    with pytest.raises(IntegrityError, match="failed authentication"):
        ring.unwrap(kek_id, wrapped, key_id=new_key_id())


@pytest.mark.parametrize("offset", [0, 1, 20, 60])
def test_tampered_wrapped_key_fails(ring_path, clock, offset):
    ring = KeyRing.open(ring_path, clock=clock)
    kek_id, wrapped = ring.wrap(new_data_key())
    bad = bytearray(wrapped)
    bad[offset] ^= 1
    with pytest.raises(IntegrityError):
        ring.unwrap(kek_id, bytes(bad))
    with pytest.raises(IntegrityError, match="malformed"):
        ring.unwrap(kek_id, wrapped[:-1])


def test_wrapped_key_presented_under_another_kek_fails(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    old_id, wrapped = ring.wrap(new_data_key())
    new_id = ring.rotate(clock.now_us())
    with pytest.raises(IntegrityError):
        ring.unwrap(new_id, wrapped)
    assert ring.unwrap(old_id, wrapped)  # still fine under its own KEK


# ---------------------------------------------------------------- epochs


def test_rotate_rewrap_retire_destroys_access_through_the_old_kek(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    rows = {}
    for _ in range(3):
        data_key, key_id = new_data_key(), new_key_id()
        rows[key_id] = (data_key, *ring.wrap(data_key, key_id=key_id))
    old_kek = ring.current_id
    old_secret = base64.b64decode(json.loads(ring_path.read_text())["keks"][0]["key"])

    clock.advance(86_400)
    new_kek = ring.rotate(clock.now_us())
    assert ring.current_id == new_kek != old_kek
    rewrapped = {}
    for key_id, (data_key, kek_id, wrapped) in rows.items():
        rewrapped[key_id] = rewrap(ring, kek_id, wrapped, key_id=key_id)
    ring.retire([old_kek])

    reopened = KeyRing.open(ring_path)
    assert reopened.ids() == [new_kek]
    assert old_secret not in ring_path.read_bytes()
    assert base64.b64encode(old_secret) not in ring_path.read_bytes()
    for key_id, (data_key, kek_id, wrapped) in rows.items():
        with pytest.raises(UnknownKek, match="retired"):
            reopened.unwrap(kek_id, wrapped, key_id=key_id)
        new_id, new_wrapped = rewrapped[key_id]
        assert new_id == new_kek
        assert reopened.unwrap(new_id, new_wrapped, key_id=key_id) == data_key


def test_unknown_kek_is_both_an_integrity_error_and_a_key_error(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    with pytest.raises(KeyError):
        ring.unwrap("kek-gone", b"\x01" * 61)
    with pytest.raises(IntegrityError) as err:
        ring.unwrap("kek-gone", b"\x01" * 61)
    assert str(err.value).startswith("KEK kek-gone is not in key ring")


def test_rewrap_leaves_keys_under_the_current_kek_alone(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    kek_id, wrapped = ring.wrap(new_data_key())
    assert rewrap(ring, kek_id, wrapped) == (kek_id, wrapped)


def test_retiring_the_current_kek_is_refused(ring_path, clock):
    ring = KeyRing.open(ring_path, clock=clock)
    with pytest.raises(ValueError, match="current"):
        ring.retire([ring.current_id])
    assert KeyRing.open(ring_path).ids() == [ring.current_id]


def test_another_process_rotation_is_picked_up_before_wrapping(ring_path, clock):
    serve = KeyRing.open(ring_path, clock=clock)
    cli = KeyRing.open(ring_path)
    new_kek = cli.rotate(clock.now_us() + DAY)
    kek_id, wrapped = serve.wrap(new_data_key())
    assert kek_id == new_kek
    cli.retire([cli.ids()[0]])
    assert cli.unwrap(kek_id, wrapped)


def test_rotations_by_two_processes_both_survive(ring_path, clock):
    a = KeyRing.open(ring_path, clock=clock)
    b = KeyRing.open(ring_path)
    first = a.rotate(clock.now_us() + DAY)
    second = b.rotate(clock.now_us() + DAY)  # b has not reloaded since opening
    assert KeyRing.open(ring_path).ids()[1:] == [first, second]


def test_rotation_is_due_after_one_epoch():
    assert not rotation_due(0, DAY - 1, DAY)
    assert rotation_due(0, DAY, DAY)


def test_plan_retire_keeps_current_referenced_and_recently_superseded_keks():
    entries = [KekInfo("a", 0), KekInfo("b", DAY), KekInfo("c", 2 * DAY), KekInfo("d", 3 * DAY)]
    grace = 600 * US
    now = 3 * DAY + 60 * US  # d became current a minute ago
    assert plan_retire(entries, "d", referenced={"b"}, now_us=now, grace_us=grace) == ["a"]
    later = 3 * DAY + grace
    assert plan_retire(entries, "d", referenced={"b"}, now_us=later, grace_us=grace) == ["a", "c"]
    assert plan_retire(entries, "d", referenced=set(), now_us=later, grace_us=grace) == ["a", "b", "c"]
    assert plan_retire(entries[:1], "a", referenced=set(), now_us=later, grace_us=0) == []
