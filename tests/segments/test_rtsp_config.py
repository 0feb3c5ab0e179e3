"""RTSP settings: what config validation and `policy check` refuse, and redaction of secrets."""

from __future__ import annotations

import pytest

from conftest import camera
from gateway.errors import ConfigError
from gateway.media.stream import redact_url, with_credentials
from gateway.policy.check import check
from gateway.segments.rtsp import Backoff, CredentialsError, connect_url, public_url


def test_camera_with_no_source_is_refused(make_settings):
    cam = camera("nothing")
    cam.pop("push_token")
    violations = check(make_settings([cam]))
    assert [v.rule for v in violations] == ["no-source"]
    assert "would record nothing" in violations[0].message


def test_rtsp_camera_without_token_passes(make_settings):
    cam = camera("pulled", rtsp_url="rtsp://192.0.2.10/stream1")
    cam.pop("push_token")
    assert check(make_settings([cam])) == []


@pytest.mark.parametrize("url, fragment", [
    ("http://192.0.2.1/x", "must be rtsp://"),
    ("rtsp:///nohost", "must be rtsp://"),
    ("rtsp://cam:99999/x", "not a valid URL"),
])
def test_bad_rtsp_url(make_settings, url, fragment):
    with pytest.raises(ConfigError) as err:
        make_settings([camera("c", rtsp_url=url)])
    assert "cameras[0].rtsp_url" in err.value.message and fragment in err.value.message


def test_bad_url_error_does_not_echo_a_password(make_settings):
    with pytest.raises(ConfigError) as err:
        make_settings([camera("c", rtsp_url="rtsp://admin:pa55word@cam:99999/x")])
    assert "pa55word" not in err.value.message


def test_credentials_file_and_url_credentials_conflict(make_settings, tmp_path):
    f = tmp_path / "c"
    f.write_text("u:p")
    with pytest.raises(ConfigError, match="keep them in the file only"):
        make_settings([camera("c", rtsp_url="rtsp://a:b@cam/x", rtsp_credentials_file=str(f))])
    with pytest.raises(ConfigError, match="rtsp_url is not"):
        make_settings([camera("c", rtsp_credentials_file=str(f))])


def test_credentials_from_file_are_put_in_the_url_and_listed_for_redaction(make_settings,
                                                                            tmp_path):
    f = tmp_path / "cam.creds"
    f.write_text("viewer:p@ss:w/rd\n")
    s = make_settings([camera("c", rtsp_url="rtsp://cam.local:554/s1",
                              rtsp_credentials_file=str(f))])
    url, secrets = connect_url(s.cameras[0])
    assert url == "rtsp://viewer:p%40ss%3Aw%2Frd@cam.local:554/s1"
    assert "p@ss:w/rd" in secrets
    assert public_url(s.cameras[0]) == "rtsp://cam.local:554/s1"
    msg = redact_url(f"failed: {url} (password p@ss:w/rd)", secrets)
    assert "p@ss" not in msg and "p%40ss" not in msg and "rtsp://***@cam.local" in msg
    f.write_text("no-colon-here")
    with pytest.raises(CredentialsError, match="user:password"):
        connect_url(s.cameras[0])


def test_with_credentials_replaces_url_userinfo():
    assert with_credentials("rtsp://old:x@h/p", "u", "p") == "rtsp://u:p@h/p"
    assert with_credentials("rtsp://h/p", None, None) == "rtsp://h/p"


def test_backoff_grows_with_jitter_to_the_cap():
    import random
    b, rng = Backoff(base_s=1, cap_s=30), random.Random(0)
    waits = [b.delay(n, rng) for n in range(1, 12)]
    for n, w in enumerate(waits, start=1):
        d = min(30, 2 ** (n - 1))
        assert d / 2 <= w <= d
    assert len(set(waits)) == len(waits)  # jittered: cameras do not retry in lockstep
