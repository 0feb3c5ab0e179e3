"""`policy check`: a table of misconfigurations, each with the line it must produce."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli.policy import policy_group
from gateway.config import parse_settings
from gateway.policy.loading import load_policy
from gateway.policy.check import Violation, check, warnings

SHELVES = {"zone": "shelves", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9]]}
SCREEN = {"zone": "screen", "polygon": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.5]]}


def cam(**over) -> dict:
    return {"id": "cam1", "name": "Camera 1", "policy": "ala-baseline", "zone": "entrance",
            "purpose": "physical security of the entrance"} | over


def settings(*cams: dict, policies_dir: str | None = None):
    return parse_settings({"storage": {"path": "/nonexistent"}, "policies_dir": policies_dir,
                           "cameras": list(cams)})


def src(policy: str, *path: str) -> str:
    """The source text the policy file gives for a rule (the line must carry it)."""
    obj = load_policy(policy)
    for p in path:
        obj = obj[p] if isinstance(obj, dict) else getattr(obj, p)
    return obj


# (case, camera overrides, expected lines: (rule, message, source path in the policy))
CASES = [
    ("camera in a restroom", {"zone": "restroom"}, [(
        "forbidden-zone", "no camera may record restrooms (zone 'restroom'); remove or re-aim this camera",
        ("zones", "restroom", "source"))]),
    ("camera in a staff break room", {"zone": "staff_break_room"}, [(
        "forbidden-zone", "no camera may record staff break rooms (zone 'staff_break_room'); remove or re-aim this camera",
        ("zones", "staff_break_room", "source"))]),
    ("camera in a lactation room", {"zone": "lactation_room"}, [(
        "forbidden-zone", "no camera may record lactation rooms (zone 'lactation_room'); remove or re-aim this camera",
        ("zones", "lactation_room", "source"))]),
    ("stacks with no mask", {"zone": "stacks"}, [(
        "mask-required", "zone 'stacks' must be masked: add a [[cameras.masks]] with zone 'shelves' covering it",
        ("zones", "stacks", "source"))]),
    ("stacks masked only over a screen", {"zone": "stacks", "masks": [SCREEN]}, [(
        "mask-required", "zone 'stacks' must be masked: add a [[cameras.masks]] with zone 'shelves' covering it",
        ("zones", "stacks", "source"))]),
    ("public computers with no mask", {"zone": "public_computers"}, [(
        "mask-required", "zone 'public_computers' must be masked: add a [[cameras.masks]] with zone 'screen' covering it",
        ("zones", "public_computers", "source"))]),
    ("retention below the minimum", {"retention": "1h"}, [(
        "retention-below-minimum", "retention 1h is shorter than the policy minimum 72h; set retention to at least 72h or remove it",
        ("retention", "minimum_source"))]),
    ("retention above the maximum", {"retention": "60d", "retention_reason": "long trial"}, [(
        "retention-above-maximum", "retention 60d is longer than the policy maximum 30d; set retention to at most 30d (use a hold for a specific incident)",
        ("retention", "maximum_source"))]),
    ("extension with no reason", {"retention": "7d"}, [(
        "retention-reason-missing", "retention 7d is longer than 72h; add retention_reason saying why this camera needs it",
        ("retention", "justify_above_source"))]),
    ("extension with a blank reason", {"retention": "7d", "retention_reason": "  "}, [(
        "retention-reason-missing", "retention 7d is longer than 72h; add retention_reason saying why this camera needs it",
        ("retention", "justify_above_source"))]),
    ("audio where forbidden", {"audio": True}, [(
        "audio-forbidden", "audio must not be recorded; set audio = false", ("audio", "source"))]),
    ("purpose other than physical security", {"purpose": "counting visitors"}, [(
        "purpose", "purpose 'counting visitors' is not physical security; describe the physical security purpose (e.g. 'physical security of the entrance')",
        ("purpose", "source"))]),
    ("purpose that adds staff monitoring", {"purpose": "physical security and staff performance review"}, [(
        "purpose", "purpose 'physical security and staff performance review' goes beyond physical security (performance); state only a physical security purpose",
        ("purpose", "forbidden_source"))]),
    ("unknown zone", {"zone": "rooftop-pool"}, [(
        "unknown-zone", None, None)]),
    ("blur where the policy wants irreversible masks",
     {"policy": "gdpr-edpb", "zone": "stacks", "masks": [SHELVES | {"mode": "blur"}]}, [(
         "mask-mode", "masks[0] mode 'blur' is not allowed; use 'fill' or 'pixelate'", ("masking", "source"))]),
    ("GDPR: more than 72 h with no justification", {"policy": "gdpr-edpb", "retention": "5d"}, [(
        "retention-reason-missing", "retention 5d is longer than 72h; add retention_reason saying why this camera needs it",
        ("retention", "justify_above_source"))]),
    ("Luxembourg: beyond 8 days with no reason", {"policy": "luxembourg", "retention": "10d"}, [(
        "retention-reason-missing", "retention 10d is longer than 8d; add retention_reason saying why this camera needs it",
        ("retention", "justify_above_source"))]),
    ("Texas before its schedule figure is filled in", {"policy": "texas-local"}, [(
        "incomplete-policy", None, ("retention", "minimum_source"))]),
    ("several violations on one camera", {"zone": "restroom", "audio": True}, [
        ("forbidden-zone", "no camera may record restrooms (zone 'restroom'); remove or re-aim this camera",
         ("zones", "restroom", "source")),
        ("audio-forbidden", "audio must not be recorded; set audio = false", ("audio", "source"))]),
]


@pytest.mark.parametrize("case,over,expected", CASES, ids=[c[0] for c in CASES])
def test_misconfiguration_produces_the_expected_violation(case, over, expected):
    found = check(settings(cam(**over)))
    assert [v.rule for v in found] == [e[0] for e in expected]
    policy = over.get("policy", "ala-baseline")
    for v, (rule, message, source_path) in zip(found, expected):
        assert v.camera == "cam1"
        if message is not None:
            assert v.message == message
        if source_path is not None:
            assert v.source == src(policy, *source_path)
        assert str(v) == f"cam1: {rule}: {v.message} [source: {v.source}]"
        assert "\n" not in str(v)


def test_unknown_zone_lists_the_zones_the_policy_knows():
    (v,) = check(settings(cam(zone="rooftop-pool")))
    assert "'rooftop-pool' is not a zone kind of policy 'ala-baseline'" in v.message
    assert "entrance" in v.message and "stacks" in v.message


def test_unknown_policy_is_a_violation_not_an_exception():
    (v,) = check(settings(cam(policy="atlantis")))
    assert v.rule == "unknown-policy" and "unknown policy 'atlantis'" in v.message


def test_a_broken_policy_file_is_a_violation(tmp_path):
    (tmp_path / "broken.toml").write_text('id = "broken"\n[retention\n')
    (v,) = check(settings(cam(policy="broken"), policies_dir=str(tmp_path)))
    assert v.rule == "invalid-policy" and "TOML syntax error" in v.message


@pytest.mark.parametrize("over", [
    {},
    {"zone": "stacks", "masks": [SHELVES]},
    {"zone": "public_computers", "masks": [SCREEN]},
    {"zone": "reading_area", "masks": [SHELVES, SCREEN]},
    {"retention": "72h"},
    {"retention": "30d", "retention_reason": "evening incidents are reported after the weekend"},
    {"policy": "luxembourg", "retention": "8d"},
    {"policy": "michigan-library", "zone": "exterior", "purpose": "Physical security of the car park"},
])
def test_compliant_cameras_have_no_violations(over):
    assert check(settings(cam(**over))) == []


def test_every_camera_is_checked_and_reported_in_config_order():
    found = check(settings(cam(id="a", zone="restroom"), cam(id="b"), cam(id="c", audio=True)))
    assert [(v.camera, v.rule) for v in found] == [("a", "forbidden-zone"), ("c", "audio-forbidden")]


def test_demonstration_policy_warns_but_does_not_block():
    s = settings(cam(policy="demo"))
    assert check(s) == []
    (w,) = warnings(s)
    assert (w.rule, w.severity) == ("demonstration-policy", "warning")


def test_unsourced_override_in_a_local_policy_warns(tmp_path):
    (tmp_path / "local.toml").write_text('id = "local"\ntitle = "L"\njurisdiction = "L"\n'
                                         '[retention]\nhold_review = "30d"\n')
    s = settings(cam(policy="local"), policies_dir=str(tmp_path))
    assert check(s) == []
    assert [w.rule for w in warnings(s)] == ["unsourced-rule"]


# --- the command ---

def _config(tmp_path: Path, camera_toml: str) -> str:
    p = tmp_path / "config.toml"
    p.write_text(f'[storage]\npath = "{tmp_path / "store"}"\n\n[[cameras]]\n{camera_toml}')
    return str(p)


GOOD = 'id = "lobby"\nname = "Lobby"\nzone = "entrance"\npurpose = "physical security of the lobby"\n'


def test_cli_exits_0_on_a_compliant_config(tmp_path):
    r = CliRunner().invoke(policy_group, ["check", "--config", _config(tmp_path, GOOD)])
    assert r.exit_code == 0, r.output
    assert "ok: 1 camera complies with its policy" in r.output


def test_cli_lists_each_violation_on_one_line_and_exits_1(tmp_path):
    bad = GOOD.replace('"entrance"', '"stacks"') + 'audio = true\n'
    r = CliRunner().invoke(policy_group, ["check", "--config", _config(tmp_path, bad)])
    assert r.exit_code == 1
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("lobby: mask-required: zone 'stacks' must be masked")
    assert lines[1].startswith("lobby: audio-forbidden: audio must not be recorded")
    assert all("[source: " in ln for ln in lines)


def test_cli_reports_a_bad_config_without_a_traceback(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text("[storage]\npath = 1\n")
    r = CliRunner().invoke(policy_group, ["check", "--config", str(p)])
    assert r.exit_code == 1
    assert "storage.path" in r.output and "Traceback" not in r.output


def test_violation_str_is_one_line():
    v = Violation("cam", "rule", "change this", "a source")
    assert str(v) == "cam: rule: change this [source: a source]"
