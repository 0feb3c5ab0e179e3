"""`policy check`: every way a configuration breaks its cameras' policies.

``check(settings)`` returns the violations (``serve`` refuses to start on
any); ``warnings(settings)`` returns things an operator should see that do
not block (a demonstration policy, an unsourced rule). Both are pure apart
from reading policy files, and each finding is one line: the camera, the
rule, what to change, and the policy's source for the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import CameraSettings, Settings
from ..errors import ConfigError
from .loading import Policy, load_policy, unsourced_rules


@dataclass(frozen=True)
class Violation:
    camera: str
    rule: str
    message: str  # what to change
    source: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.camera}: {self.rule}: {self.message} [source: {self.source}]"


def _policies(settings: Settings, policies_dir: str | None
              ) -> dict[str, Policy | ConfigError]:
    extra = policies_dir if policies_dir is not None else settings.policies_dir
    out: dict[str, Policy | ConfigError] = {}
    for cam in settings.cameras:
        if cam.policy not in out:
            try:
                out[cam.policy] = load_policy(cam.policy, extra)
            except ConfigError as err:
                out[cam.policy] = err
    return out


def check(settings: Settings, policies_dir: str | None = None) -> list[Violation]:
    """Every violation of every camera, in config order (empty: the config complies)."""
    policies = _policies(settings, policies_dir)
    out: list[Violation] = []
    for cam in settings.cameras:
        pol = policies[cam.policy]
        if isinstance(pol, ConfigError):
            out.append(_policy_error(cam, pol))
        else:
            out.extend(check_camera(cam, pol))
    return out


def warnings(settings: Settings, policies_dir: str | None = None) -> list[Violation]:
    """Findings that do not stop the gateway but that an operator must see."""
    policies = _policies(settings, policies_dir)
    out: list[Violation] = []
    for cam in settings.cameras:
        pol = policies[cam.policy]
        if isinstance(pol, ConfigError):
            continue
        if pol.is_demonstration:
            out.append(Violation(cam.id, "demonstration-policy",
                                 f"policy {pol.id!r} is a demonstration with no legal basis; "
                                 "choose your jurisdiction's policy before recording real people",
                                 pol.retention.minimum_source, "warning"))
        for rule in unsourced_rules(pol):
            out.append(Violation(cam.id, "unsourced-rule",
                                 f"policy {pol.id!r} sets {rule} without a source; add "
                                 f"{rule}_source to the policy file", f"policy {pol.id}", "warning"))
    return out


def _policy_error(cam: CameraSettings, err: ConfigError) -> Violation:
    if err.code == "unknown_policy":
        return Violation(cam.id, "unknown-policy",
                         f"{err.message}; set policy to a file in policies/ (e.g. 'ala-baseline') "
                         "or put it in policies_dir", "docs/policies.md (policy files)")
    first = err.message.replace("\n", " ")
    return Violation(cam.id, "invalid-policy",
                     f"policy {cam.policy!r} is not a valid policy file; fix it: {first}",
                     "docs/policies.md (policy schema)")


def check_camera(cam: CameraSettings, pol: Policy) -> list[Violation]:
    """The violations of one camera against its (loaded) policy."""
    out = []
    for rule in (_incomplete, _zone, _masks, _retention, _audio, _purpose):
        out.extend(rule(cam, pol))
    return out


def _v(cam: CameraSettings, rule: str, message: str, source: str) -> Violation:
    return Violation(cam.id, rule, message, source)


def _incomplete(cam: CameraSettings, pol: Policy) -> list[Violation]:
    if not pol.incomplete:
        return []
    return [_v(cam, "incomplete-policy", pol.incomplete, pol.retention.minimum_source)]


def _zone(cam: CameraSettings, pol: Policy) -> list[Violation]:
    zone = pol.zone(cam.zone)
    if zone is None:
        known = ", ".join(sorted(pol.zones))
        return [_v(cam, "unknown-zone",
                   f"zone {cam.zone!r} is not a zone kind of policy {pol.id!r}; use one of: {known}",
                   f"policy {pol.id} [zones]")]
    if zone.rule == "forbidden":
        return [_v(cam, "forbidden-zone",
                   f"no camera may record {zone.label.lower()} (zone {cam.zone!r}); "
                   "remove or re-aim this camera", zone.source)]
    return []


def _masks(cam: CameraSettings, pol: Policy) -> list[Violation]:
    out = []
    zone = pol.zone(cam.zone)
    if zone is not None and zone.rule == "mask_required":
        if not any(m.zone in zone.masks for m in cam.masks):
            kinds = " or ".join(repr(k) for k in zone.masks)
            out.append(_v(cam, "mask-required",
                          f"zone {cam.zone!r} must be masked: add a [[cameras.masks]] with zone "
                          f"{kinds} covering it", zone.source))
    for i, m in enumerate(cam.masks):
        if m.mode not in pol.masking.modes:
            out.append(_v(cam, "mask-mode",
                          f"masks[{i}] mode {m.mode!r} is not allowed; use "
                          f"{' or '.join(repr(x) for x in pol.masking.modes)}",
                          pol.masking.source))
    return out


def _retention(cam: CameraSettings, pol: Policy) -> list[Violation]:
    own = cam.retention_seconds
    if own is None:
        return []
    r = pol.retention
    if own < r.minimum_s:
        return [_v(cam, "retention-below-minimum",
                   f"retention {cam.retention} is shorter than the policy minimum {r.minimum}; "
                   f"set retention to at least {r.minimum} or remove it", r.minimum_source)]
    if own > r.maximum_s:
        return [_v(cam, "retention-above-maximum",
                   f"retention {cam.retention} is longer than the policy maximum {r.maximum}; "
                   f"set retention to at most {r.maximum} (use a hold for a specific incident)",
                   r.maximum_source)]
    if own > r.justify_above_s and not (cam.retention_reason or "").strip():
        return [_v(cam, "retention-reason-missing",
                   f"retention {cam.retention} is longer than {r.justify_above or r.minimum}; "
                   "add retention_reason saying why this camera needs it",
                   r.justify_above_source or r.minimum_source)]
    return []


def _audio(cam: CameraSettings, pol: Policy) -> list[Violation]:
    if cam.audio and not pol.audio.allowed:
        return [_v(cam, "audio-forbidden", "audio must not be recorded; set audio = false",
                   pol.audio.source)]
    return []


def _purpose(cam: CameraSettings, pol: Policy) -> list[Violation]:
    text = cam.purpose.lower()
    bad = [t for t in pol.purpose.forbidden_terms if t.lower() in text]
    if bad:
        return [_v(cam, "purpose",
                   f"purpose {cam.purpose!r} goes beyond {pol.purpose.required} ({', '.join(bad)}); "
                   f"state only a {pol.purpose.required} purpose",
                   pol.purpose.forbidden_source or pol.purpose.source)]
    if pol.purpose.required.lower() not in text:
        return [_v(cam, "purpose",
                   f"purpose {cam.purpose!r} is not {pol.purpose.required}; describe the "
                   f"{pol.purpose.required} purpose (e.g. '{pol.purpose.required} of the entrance')",
                   pol.purpose.source)]
    return []

