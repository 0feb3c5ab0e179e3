"""Policies as data: load ``policies/NAME.toml`` into a frozen, validated object.

A policy states, each with its source: how long footage is kept (the
shortest period the governing rules permit, and the longest a camera may be
configured for), how long holds last, which roles approve holds and
disclosures, which disclosure grounds each recipient may rely on, whether
audio may be recorded, which zones are forbidden or must be masked, what a
camera may be for, and the signage text. The schema is documented in
``docs/policies.md``.

A policy may ``extends = "other"``: the other file is read first and this one
overlays it table by table. A policy that names no parent inherits from
``ala-baseline`` (so a short test or local policy that sets only
``[retention]`` still has zones, disclosure rules and signage). When a child
overrides a rule but not its ``*_source``, the parent's source is dropped, so
the rule shows up as unsourced instead of carrying someone else's citation.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..clock import US
from ..config import (
    MASK_MODES,
    MASK_ZONES,
    CameraSettings,
    Settings,
    StrictModel,
    check_duration,
    format_validation_error,
)
from ..durations import parse_duration
from ..errors import ConfigError
from ..models import ROLES


def _builtin_dir() -> Path:
    """The shipped policies: ``policies/`` of a source checkout, else the installed copy."""
    source = Path(__file__).resolve().parents[2] / "policies"
    if source.is_dir():
        return source
    return Path(sys.prefix) / "share" / "footage-gateway" / "policies"


BUILTIN_DIR = _builtin_dir()
BASELINE = "ala-baseline"

#: Grounds on which footage may be disclosed (an export records one of these).
GROUNDS = ("court_order", "search_warrant", "subpoena", "statute", "exigent_circumstances",
           "voluntary_no_materials", "consent")
#: Who may ask for footage.
RECIPIENTS = ("law_enforcement", "civil_litigant", "public", "subject")
#: User roles (see the users command); approvers and viewers are drawn from these.
ZONE_RULES = ("allowed", "mask_required", "forbidden")
#: Placeholders the signage text may use.
SIGNAGE_FIELDS = ("library", "contact", "retention", "notice_url")




class Retention(StrictModel):
    """How long footage is kept, and why each number is what it is."""

    minimum: str
    minimum_source: str = Field(min_length=1)
    # "law": the records rules forbid destroying earlier (US schedules);
    # "library": the law sets only a ceiling and this is the library's choice.
    minimum_basis: Literal["law", "library"] = "library"
    maximum: str
    maximum_source: str = Field(min_length=1)
    justify_above: str | None = None
    justify_above_source: str | None = None
    hold_request_grace: str = "72h"
    hold_request_grace_source: str | None = None
    hold_review: str = "90d"
    hold_review_source: str | None = None
    destruction_requires: str | None = None
    destruction_requires_source: str | None = None

    _durations = field_validator("minimum", "maximum", "justify_above", "hold_request_grace",
                                 "hold_review")(lambda cls, v: v if v is None else check_duration(v))

    @model_validator(mode="after")
    def _bounds(self) -> "Retention":
        if self.minimum_s > self.maximum_s:
            raise ValueError(f"minimum {self.minimum} is longer than maximum {self.maximum}")
        if self.justify_above is not None and not (
                self.minimum_s <= self.justify_above_s <= self.maximum_s):
            raise ValueError(f"justify_above {self.justify_above} must lie between minimum "
                             f"and maximum")
        return self

    @property
    def minimum_s(self) -> int:
        return parse_duration(self.minimum)

    @property
    def maximum_s(self) -> int:
        return parse_duration(self.maximum)

    @property
    def justify_above_s(self) -> int:
        """A camera kept longer than this must record a reason (default: the minimum)."""
        return parse_duration(self.justify_above) if self.justify_above else self.minimum_s

    @property
    def legal_minimum_s(self) -> int:
        """The floor the law sets (0 when the minimum is only the library's choice)."""
        return self.minimum_s if self.minimum_basis == "law" else 0

    @property
    def hold_request_grace_s(self) -> int:
        return parse_duration(self.hold_request_grace)

    @property
    def hold_review_s(self) -> int:
        return parse_duration(self.hold_review)


class Zone(StrictModel):
    """A kind of place a camera may look at, and what the policy says about it."""

    label: str = Field(min_length=1)
    rule: Literal[ZONE_RULES]  # type: ignore[valid-type]
    masks: list[Literal[MASK_ZONES]] = Field(default_factory=list)  # type: ignore[valid-type]
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _masks(self) -> "Zone":
        if self.rule == "mask_required" and not self.masks:
            raise ValueError("a mask_required zone must list the mask zones that satisfy it")
        return self


class Statute(StrictModel):
    citation: str = Field(min_length=1)
    condition: str = Field(min_length=1)
    source: str = Field(min_length=1)


class RecipientRule(StrictModel):
    """The grounds on which one kind of recipient may receive footage."""

    grounds: list[Literal[GROUNDS]] = Field(default_factory=list)  # type: ignore[valid-type]
    statutes: list[Statute] = Field(default_factory=list)
    note: str | None = None
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _statutes(self) -> "RecipientRule":
        if ("statute" in self.grounds) != bool(self.statutes):
            raise ValueError("ground 'statute' needs [[...statutes]] with a citation, and "
                             "statutes need the 'statute' ground")
        return self


class Disclosure(StrictModel):
    law_enforcement: RecipientRule
    civil_litigant: RecipientRule
    public: RecipientRule
    subject: RecipientRule


class Approvers(StrictModel):
    holds: list[Literal[ROLES]] = Field(min_length=1)  # type: ignore[valid-type]
    disclosures: list[Literal[ROLES]] = Field(min_length=1)  # type: ignore[valid-type]
    counsel_before_disclosure: bool = True
    source: str = Field(min_length=1)


class Access(StrictModel):
    view_roles: list[Literal[ROLES]] = Field(min_length=1)  # type: ignore[valid-type]
    source: str = Field(min_length=1)


class Audio(StrictModel):
    allowed: bool
    source: str = Field(min_length=1)


class Masking(StrictModel):
    modes: list[Literal[MASK_MODES]] = Field(min_length=1)  # type: ignore[valid-type]
    source: str = Field(min_length=1)


class Purpose(StrictModel):
    required: str = Field(min_length=1)
    source: str = Field(min_length=1)
    forbidden_terms: list[str] = Field(default_factory=list)
    forbidden_source: str | None = None


class Signage(StrictModel):
    short: str = Field(min_length=1, max_length=400)
    full: str = Field(min_length=1)
    placement: str = Field(min_length=1)
    source: str = Field(min_length=1)

    @field_validator("short", "full")
    @classmethod
    def _fields(cls, v: str) -> str:
        unknown = set(re.findall(r"\{(\w*)\}", v)) - set(SIGNAGE_FIELDS)
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use {list(SIGNAGE_FIELDS)}")
        return v


class Policy(StrictModel):
    """One jurisdiction's or library type's rules, every number with its source."""

    id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    title: str = Field(min_length=1)
    jurisdiction: str = Field(min_length=1)
    kind: Literal["baseline", "jurisdiction", "library-type", "demonstration"] = "jurisdiction"
    extends: str | None = None
    summary: str | None = None
    caveats: list[str] = Field(default_factory=list)
    # Set when a figure the law requires could not be verified: `policy check`
    # refuses a camera under this policy until a local copy fills it in.
    incomplete: str | None = None
    retention: Retention
    zones: dict[str, Zone]
    disclosure: Disclosure
    approvers: Approvers
    access: Access
    audio: Audio
    masking: Masking
    purpose: Purpose
    signage: Signage

    @property
    def is_demonstration(self) -> bool:
        return self.kind == "demonstration"

    def disclosure_allowed(self, recipient: str, ground: str) -> bool:
        """True when this policy lets footage go to ``recipient`` on ``ground``."""
        rule = getattr(self.disclosure, recipient, None) if recipient in RECIPIENTS else None
        return rule is not None and ground in rule.grounds

    def disclosure_grounds(self, recipient: str) -> tuple[str, ...]:
        """The grounds allowed for a recipient (empty: never, or an unknown recipient)."""
        return tuple(getattr(self.disclosure, recipient).grounds) if recipient in RECIPIENTS else ()

    def statutes(self, recipient: str) -> tuple[Statute, ...]:
        """The statutes that allow or compel disclosure to a recipient, with their conditions."""
        return tuple(getattr(self.disclosure, recipient).statutes) if recipient in RECIPIENTS else ()

    def zone(self, kind: str) -> Zone | None:
        return self.zones.get(kind)


# --- loading ---


def _search_dirs(extra_dir: str | None, near: Path | None = None) -> list[Path]:
    dirs = [near] if near else []
    return dirs + ([Path(extra_dir)] if extra_dir else []) + [BUILTIN_DIR]


def policy_path(name: str, extra_dir: str | None = None, near: Path | None = None) -> Path:
    """A bare name is looked up in ``near``, ``extra_dir``, then the built-in ``policies/``."""
    if "/" in name or name.endswith(".toml"):
        return Path(name)
    dirs = _search_dirs(extra_dir, near)
    for d in dirs:
        if (d / f"{name}.toml").is_file():
            return d / f"{name}.toml"
    raise ConfigError(f"unknown policy {name!r}: no {name}.toml in "
                      f"{', '.join(str(d) for d in dirs)}", code="unknown_policy")


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"policy file {path} does not exist", code="unknown_policy") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"policy {path}: TOML syntax error: {err}") from None


def merge(base: dict, child: dict) -> dict:
    """Overlay ``child`` on ``base`` table by table; lists and values are replaced.

    Overriding a rule without its ``<rule>_source`` drops the parent's source:
    a citation never silently follows a number it does not support.
    """
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
            if f"{key}_source" in out and f"{key}_source" not in child:
                del out[f"{key}_source"]
    return out


def resolve(path: Path, extra_dir: str | None = None, _seen: tuple[Path, ...] = ()) -> dict:
    """The policy file at ``path`` with its ancestors merged in, as a plain dict."""
    data = _read_toml(path)
    parent = data.get("extends")
    if parent is None and data.get("id") != BASELINE:
        parent = BASELINE
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"policy {path}: extends must be a policy name")
    ppath = policy_path(parent, extra_dir, near=path.parent)
    if ppath.resolve() in _seen or ppath.resolve() == path.resolve():
        raise ConfigError(f"policy {path}: extends {parent!r} makes a cycle")
    base = resolve(ppath, extra_dir, _seen + (path.resolve(),))
    base.pop("incomplete", None)  # a parent's gap is not the child's unless restated
    return merge(base, data) | {"extends": parent}


def load_policy(name: str, extra_dir: str | None = None) -> Policy:
    """Load and validate a policy by name or path; ConfigError says what is wrong."""
    path = policy_path(name, extra_dir)
    data = resolve(path, extra_dir)
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, f"policy {path}")) from None


def builtin_policies() -> list[Path]:
    """Every policy file shipped in ``policies/``."""
    return sorted(BUILTIN_DIR.glob("*.toml"))


def camera_policies(settings: Settings) -> dict[str, Policy]:
    """The policy of every camera, loaded once; ConfigError names a camera's unknown policy."""
    out, errors = try_camera_policies(settings)
    if errors:
        cam, err = next(iter(errors.items()))
        raise ConfigError(f"camera {cam!r}: {err.message}", code=err.code)
    return out


def try_camera_policies(settings: Settings) -> tuple[dict[str, Policy], dict[str, ConfigError]]:
    """Like ``camera_policies`` but returns the errors per camera instead of raising."""
    cache: dict[str, Policy | ConfigError] = {}
    out: dict[str, Policy] = {}
    errors: dict[str, ConfigError] = {}
    for cam in settings.cameras:
        if cam.policy not in cache:
            try:
                cache[cam.policy] = load_policy(cam.policy, settings.policies_dir)
            except ConfigError as err:
                cache[cam.policy] = err
        got = cache[cam.policy]
        if isinstance(got, ConfigError):
            errors[cam.id] = got
        else:
            out[cam.id] = got
    return out, errors


def unsourced_rules(policy: Policy) -> list[str]:
    """Rules in the policy that carry no source (shipped policies must have none)."""
    r = policy.retention
    missing = [name for name, val, src in (
        ("retention.justify_above", r.justify_above, r.justify_above_source),
        ("retention.destruction_requires", r.destruction_requires, r.destruction_requires_source),
    ) if val is not None and not src]
    missing += [name for name, src in (
        ("retention.hold_request_grace", r.hold_request_grace_source),
        ("retention.hold_review", r.hold_review_source),
    ) if not src]
    if policy.purpose.forbidden_terms and not policy.purpose.forbidden_source:
        missing.append("purpose.forbidden_terms")
    return missing


# --- deadlines ---


def retention_seconds(camera: CameraSettings, policy: Policy) -> int:
    """How long this camera's footage is kept: its own setting, else the policy's minimum.

    Bounds are enforced by ``policy check`` (and ``serve`` refuses a violating
    config); here we never return less than the policy's minimum.
    """
    own = camera.retention_seconds
    return max(own, policy.retention.minimum_s) if own is not None else policy.retention.minimum_s


def recompute_deadline(seg_end_us: int, stored_deadline_us: int, old_retention_s: int,
                       new_retention_s: int, new_minimum_s: int) -> int:
    """A stored segment's deadline after its camera's retention changed.

    Shortening applies to stored footage (the new policy may forbid keeping
    it), but never below ``new_minimum_s`` (pass ``policy.retention.legal_minimum_s``:
    the floor the law sets). Lengthening applies only to footage recorded from
    now on, except where the new legal minimum itself requires keeping stored
    footage longer. A deadline already in the past means "destroy now".
    """
    if new_retention_s == old_retention_s:
        return stored_deadline_us
    floor = seg_end_us + new_minimum_s * US
    cap = seg_end_us + new_retention_s * US
    return max(floor, min(stored_deadline_us, cap))
