"""Who may do what: the one table of roles.

Every HTTP route names one of these actions (gateway.web.routes); the auth
middleware checks the caller's role against ``RULES[action].roles`` on every
request, OpenAPI documents it, and one test walks every route x every role.
Where the policy or the hold's state narrows an action further (who approves,
who views a camera, who discloses), the service decides and names the rule;
``succeeds`` says who can succeed under the default policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import OPERATOR_ROLE, ROLES, SYSTEM_ROLE

#: Anyone, no authentication: the health check and the public notice.
PUBLIC = "public"
#: A camera with its push token (checked per camera by the push handler).
CAMERA = "camera"

#: May ask for a hold (and see the holds they asked for).
REQUESTERS = ("director", "staff")
#: See every hold (requesters see their own).
HOLD_READERS = ("director", "auditor")
#: May ever see footage; a policy's ``access.view_roles`` narrows it. Never auditors or admins.
VIEWERS = ("director", "staff")
#: Approve holds and disclose, unless a policy's ``approvers`` says otherwise.
DEFAULT_APPROVERS = ("director",)
#: Read the audit log and verify its chain.
AUDIT_READERS = ("auditor", "director")
#: Sealed mode: who may unlock and lock the key (each with their own passphrase).
KEY_HOLDERS = ("director",)
#: Not people: the gateway itself and the host's shell (the CLI); never on HTTP.
MACHINE_ROLES = (SYSTEM_ROLE, OPERATOR_ROLE)


@dataclass(frozen=True)
class Rule:
    """Who may call an action at all, and who can succeed with the default policy."""

    roles: tuple[str, ...] | str          # PUBLIC, CAMERA, or the roles let through
    succeeds: tuple[str, ...] | None = None  # None: the same as roles
    decided_by: str = ""                  # what narrows it further, in words

    @property
    def who_succeeds(self) -> tuple[str, ...]:
        return self.succeeds if self.succeeds is not None else (
            self.roles if isinstance(self.roles, tuple) else ())


RULES: dict[str, Rule] = {
    "public": Rule(PUBLIC),
    "camera.push": Rule(CAMERA),
    "metrics.read": Rule(ROLES),
    "api.describe": Rule(ROLES),
    "hold.request": Rule(REQUESTERS),
    "hold.read": Rule(("director", "staff", "auditor"),
                      decided_by="staff see only the holds they requested"),
    "hold.act": Rule(ROLES, decided_by="the hold state machine and the policy's approvers.holds"),
    "hold.segments": Rule(VIEWERS, decided_by="the camera's policy (access.view_roles)"),
    "export.create": Rule(ROLES, succeeds=DEFAULT_APPROVERS,
                          decided_by="the cameras' policy (approvers.disclosures)"),
    "export.download": Rule(ROLES, succeeds=DEFAULT_APPROVERS,
                            decided_by="the cameras' policy (approvers.disclosures)"),
    "footage.view": Rule(ROLES, succeeds=VIEWERS,
                         decided_by="the camera's policy (access.view_roles) and live holds"),
    "audit.read": Rule(AUDIT_READERS),
    "keys.unlock": Rule(KEY_HOLDERS, decided_by="the director's own sealed-key passphrase"),
    "keys.lock": Rule(KEY_HOLDERS),
    "keys.status": Rule(ROLES),
    # The web pages (gateway.web.pages): people in a browser, with a session.
    "session.end": Rule(ROLES),
    "camera.read": Rule(ROLES, decided_by="masks over a placeholder; a stored frame only for "
                                          "those the camera's policy lets view"),
    "timeline.read": Rule(("director", "staff", "auditor"),
                          decided_by="staff read the text of their own holds only"),
    "footage.play": Rule(VIEWERS, decided_by="the camera's policy (access.view_roles) and "
                                             "live holds, per segment"),
    "receipts.read": Rule(AUDIT_READERS),
    "compliance.read": Rule(("director", "auditor", "admin")),
    "users.manage": Rule(("admin",)),
}


def allows(action: str, role: str) -> bool:
    """True if ``role`` passes the edge check of ``action`` (PUBLIC passes everyone)."""
    rule = RULES[action]
    if rule.roles == PUBLIC:
        return True
    return isinstance(rule.roles, tuple) and role in rule.roles
