"""Policy files: every shipped file loads and carries its sources; jurisdictions
encode the figures the law gives; deadlines follow the camera's policy; a
policy change moves stored deadlines by the documented rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.clock import US
from gateway.config import parse_settings
from gateway.errors import ConfigError
from gateway.segments.rules import deadline
from gateway.policy.loading import (
    BUILTIN_DIR, RECIPIENTS, builtin_policies, camera_policies, load_policy, recompute_deadline,
    retention_seconds, unsourced_rules,
)

H, D = 3600, 86400
SHIPPED = [p.stem for p in builtin_policies()]


def _sources(obj, path="") -> list[tuple[str, str]]:
    """Every (path, value) whose key ends in 'source' in a policy's dumped data."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.endswith("source") and v is not None:
                out.append((f"{path}.{k}", v))
            out += _sources(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _sources(v, f"{path}[{i}]")
    return out


def test_the_required_jurisdictions_are_shipped():
    for name in ("ala-baseline", "michigan-library", "north-carolina-local", "california-local",
                 "texas-local", "wisconsin-library", "new-york-library", "ohio-library",
                 "gdpr-edpb", "austria", "luxembourg", "school-library", "demo"):
        assert name in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_policy_loads_and_passes_the_schema(name):
    pol = load_policy(name)
    assert pol.id == name == Path(BUILTIN_DIR / f"{name}.toml").stem
    assert pol.retention.minimum_s <= pol.retention.maximum_s
    assert pol.zones, "a policy must know its zone kinds"
    kinds = {z.rule for z in pol.zones.values()}
    assert {"forbidden", "mask_required"} <= kinds
    for forbidden in ("restroom", "staff_break_room", "lactation_room", "locker_room"):
        assert pol.zones[forbidden].rule == "forbidden"
    for masked in ("stacks", "public_computers", "reading_area"):
        assert pol.zones[masked].rule == "mask_required"
    assert pol.disclosure_grounds("public") == ()
    assert not pol.audio.allowed


@pytest.mark.parametrize("name", SHIPPED)
def test_every_rule_has_a_source(name):
    pol = load_policy(name)
    assert unsourced_rules(pol) == []
    sources = _sources(pol.model_dump())
    # one per retention rule, zone, recipient, statute and conduct table at least
    assert len(sources) >= 8 + len(pol.zones) + len(RECIPIENTS)
    for where, text in sources:
        assert text.strip(), where
        if not pol.is_demonstration:
            assert "http" in text or "CPLR" in text or "GDPR" in text, \
                f"{name}{where} names no checkable source: {text!r}"
    for r in RECIPIENTS:
        for s in pol.statutes(r):
            assert s.citation and s.condition and s.source


# (policy, minimum, maximum, minimum is a legal floor, reason needed above)
FIGURES = [
    ("ala-baseline", 72 * H, 30 * D, False, 72 * H),
    ("michigan-library", 7 * D, 30 * D, True, 7 * D),
    ("north-carolina-local", 30 * D, 30 * D, True, 30 * D),
    ("california-local", 365 * D, 365 * D, True, 365 * D),
    ("gdpr-edpb", 72 * H, 7 * D, False, 72 * H),
    ("austria", 72 * H, 7 * D, False, 72 * H),
    ("luxembourg", 72 * H, 30 * D, False, 8 * D),
    ("ohio-library", 7 * D, 30 * D, False, 7 * D),
    ("demo", 30, 600, False, 30),
]


@pytest.mark.parametrize("name,minimum,maximum,legal,justify", FIGURES)
def test_jurisdiction_figures(name, minimum, maximum, legal, justify):
    r = load_policy(name).retention
    assert (r.minimum_s, r.maximum_s, r.justify_above_s) == (minimum, maximum, justify)
    assert r.legal_minimum_s == (minimum if legal else 0)


def test_texas_refuses_to_be_used_until_its_schedule_figure_is_filled_in():
    pol = load_policy("texas-local")
    assert pol.incomplete and "PS4050-06" in pol.incomplete
    assert pol.retention.minimum_basis == "law"


def test_california_destruction_needs_board_approval_and_counsel():
    r = load_policy("california-local").retention
    assert "legislative body" in r.destruction_requires and "attorney" in r.destruction_requires


DISCLOSURE = [
    ("ala-baseline", "law_enforcement", "court_order", True),
    ("ala-baseline", "law_enforcement", "subpoena", False),
    ("ala-baseline", "law_enforcement", "voluntary_no_materials", False),
    ("ala-baseline", "subject", "consent", False),
    ("michigan-library", "law_enforcement", "voluntary_no_materials", True),
    ("wisconsin-library", "law_enforcement", "statute", True),
    ("wisconsin-library", "civil_litigant", "statute", False),
    ("new-york-library", "law_enforcement", "subpoena", True),
    ("new-york-library", "subject", "consent", True),
    ("ohio-library", "law_enforcement", "exigent_circumstances", True),
    ("gdpr-edpb", "subject", "consent", True),
    ("gdpr-edpb", "law_enforcement", "voluntary_no_materials", False),
    ("school-library", "law_enforcement", "consent", True),
    ("ala-baseline", "press", "court_order", False),  # unknown recipient: never
    ("ala-baseline", "law_enforcement", "bribe", False),
]


@pytest.mark.parametrize("name,recipient,ground,allowed", DISCLOSURE)
def test_disclosure_grounds(name, recipient, ground, allowed):
    assert load_policy(name).disclosure_allowed(recipient, ground) is allowed


def test_wisconsin_compels_disclosure_without_a_court_order_and_cites_it():
    cites = [s.citation for s in load_policy("wisconsin-library").statutes("law_enforcement")]
    assert "Wis. Stat. 43.30(5)(a)" in cites


def test_approvers_are_the_director():
    pol = load_policy("ala-baseline")
    assert pol.approvers.holds == ["director"] and pol.approvers.disclosures == ["director"]
    assert pol.approvers.counsel_before_disclosure


def test_austria_and_luxembourg_inherit_gdpr_masking_that_forbids_blur():
    for name in ("gdpr-edpb", "austria", "luxembourg"):
        assert "blur" not in load_policy(name).masking.modes


# --- test and local policies: a short file in policies_dir ---

MINIMAL = """\
id = "test5s"
title = "Test"
jurisdiction = "Test"
[retention]
minimum = "5s"
minimum_source = "test fixture"
maximum = "1h"
maximum_source = "test fixture"
"""


def _settings(tmp_path: Path, **cam) -> object:
    return parse_settings({
        "storage": {"path": str(tmp_path / "s")}, "policies_dir": str(tmp_path),
        "cameras": [{"id": "lobby", "name": "Lobby", "policy": "test5s", "zone": "entrance",
                     "purpose": "physical security of the entrance"} | cam]})


def test_a_minimal_policy_in_policies_dir_loads_and_inherits_the_baseline(tmp_path):
    (tmp_path / "test5s.toml").write_text(MINIMAL)
    s = _settings(tmp_path)
    pol = camera_policies(s)["lobby"]
    assert pol.id == "test5s" and pol.extends == "ala-baseline"
    assert retention_seconds(s.cameras[0], pol) == 5
    assert pol.zones["restroom"].rule == "forbidden"
    assert pol.disclosure_allowed("law_enforcement", "court_order")


def test_policies_dir_overrides_a_builtin_of_the_same_name(tmp_path):
    (tmp_path / "ala-baseline.toml").write_text(
        (BUILTIN_DIR / "ala-baseline.toml").read_text().replace('minimum = "72h"', 'minimum = "1h"'))
    assert load_policy("ala-baseline", str(tmp_path)).retention.minimum_s == H


def test_overriding_a_rule_without_its_source_drops_the_inherited_source(tmp_path):
    (tmp_path / "test5s.toml").write_text(MINIMAL + 'hold_review = "7d"\n')
    pol = load_policy("test5s", str(tmp_path))
    assert "retention.hold_review" in unsourced_rules(pol)
    assert "retention.hold_request_grace" not in unsourced_rules(pol)


def test_overriding_minimum_without_its_source_is_a_schema_error(tmp_path):
    (tmp_path / "x.toml").write_text('id = "x"\ntitle = "X"\njurisdiction = "X"\n'
                                     '[retention]\nminimum = "1h"\n')
    with pytest.raises(ConfigError, match="minimum_source"):
        load_policy("x", str(tmp_path))


@pytest.mark.parametrize("extra,match", [
    ('colour = "red"\n', "colour: unknown key"),
    ('[audio]\nallowed = "no"\nsource = "x"\n', "audio.allowed"),
    ('[zones.attic]\nlabel = "Attic"\nrule = "mask_required"\nsource = "x"\n', "mask zones"),
    ('[zones.attic]\nlabel = "Attic"\nrule = "allowed"\n', "zones.attic.source"),
    ('[disclosure.law_enforcement]\ngrounds = ["statute"]\nsource = "x"\n', "statute"),
    ('[disclosure.law_enforcement]\ngrounds = ["bribe"]\nsource = "x"\n', "grounds"),
    ('[approvers]\nholds = ["janitor"]\ndisclosures = ["director"]\nsource = "x"\n', "holds"),
    ('[signage]\nshort = "Hi {nobody}"\n', "placeholder"),
])
def test_schema_errors_name_the_key(tmp_path, extra, match):
    (tmp_path / "test5s.toml").write_text(MINIMAL.replace("[retention]", extra + "[retention]", 1)
                                          if not extra.startswith("[") else MINIMAL + extra)
    with pytest.raises(ConfigError, match=match):
        load_policy("test5s", str(tmp_path))


def test_minimum_longer_than_maximum_is_refused(tmp_path):
    (tmp_path / "test5s.toml").write_text(MINIMAL.replace('maximum = "1h"', 'maximum = "1s"'))
    with pytest.raises(ConfigError, match="longer than maximum"):
        load_policy("test5s", str(tmp_path))


def test_an_extends_cycle_is_refused(tmp_path):
    (tmp_path / "a.toml").write_text('id = "a"\nextends = "b"\n')
    (tmp_path / "b.toml").write_text('id = "b"\nextends = "a"\n')
    with pytest.raises(ConfigError, match="cycle"):
        load_policy("a", str(tmp_path))


def test_unknown_policy_is_a_config_error_naming_the_camera(tmp_path):
    s = _settings(tmp_path, policy="atlantis")
    with pytest.raises(ConfigError, match="camera 'lobby': unknown policy 'atlantis'"):
        camera_policies(s)


# --- deadlines ---

END = 1_700_000_000 * US

# (policy, camera retention or None, expected seconds after the segment's end)
DEADLINES = [
    ("ala-baseline", None, 72 * H),
    ("michigan-library", None, 7 * D),
    ("north-carolina-local", None, 30 * D),
    ("california-local", None, 365 * D),
    ("wisconsin-library", None, 72 * H),
    ("new-york-library", "30d", 30 * D),
    ("ohio-library", None, 7 * D),
    ("gdpr-edpb", None, 72 * H),
    ("austria", None, 72 * H),
    ("luxembourg", "8d", 8 * D),
    ("school-library", None, 72 * H),
    ("demo", None, 30),
    ("michigan-library", "1d", 7 * D),  # below a legal minimum: the minimum still applies
]


@pytest.mark.parametrize("name,retention,after_s", DEADLINES)
def test_segment_deadline_follows_the_cameras_policy(tmp_path, name, retention, after_s):
    cam = {"policy": name} | ({"retention": retention, "retention_reason": "r"} if retention else {})
    s = _settings(tmp_path, **cam)
    pol = camera_policies(s)["lobby"]
    assert deadline(END, retention_seconds(s.cameras[0], pol)) == END + after_s * US


# (stored deadline, old retention, new retention, new legal minimum, expected deadline), seconds
RECOMPUTE = [
    ("shortened by the new policy", 30 * D, 30 * D, 7 * D, 0, 7 * D),
    ("shortened to a past deadline", 30 * D, 30 * D, 72 * H, 0, 72 * H),
    ("not below the new legal minimum", 365 * D, 365 * D, 30 * D, 30 * D, 30 * D),
    ("lengthening by choice leaves stored footage alone", 72 * H, 72 * H, 7 * D, 0, 72 * H),
    ("lengthened where a legal minimum now requires", 72 * H, 72 * H, 7 * D, 7 * D, 7 * D),
    ("unchanged retention keeps the stored deadline", 5 * D, 72 * H, 72 * H, 0, 5 * D),
]


@pytest.mark.parametrize("why,stored,old,new,legal,expected", RECOMPUTE, ids=[r[0] for r in RECOMPUTE])
def test_recompute_deadline_after_a_policy_change(why, stored, old, new, legal, expected):
    assert recompute_deadline(END, END + stored * US, old, new, legal) == END + expected * US
