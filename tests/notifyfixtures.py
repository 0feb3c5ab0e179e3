"""A real SMTP server (aiosmtpd) and a real HTTP receiver for the notification tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gateway.app import create_app
from gateway.clock import US, FakeClock
from gateway.config import parse_settings
from gateway.models import Actor
from gateway.users import service as users
from gateway.web.appkeys import METRICS, NOTIFIER, RUNTIME

from holds_env import POLICY, T0, Env

PUBLIC_URL = "https://cctv.library.example"
SMTP_USER = "gateway@library.example"
SMTP_PASSWORD = "pw-7f3a9c1e-never-in-a-log"
WEBHOOK_SECRET = "whsec-0b8e51d2-never-in-a-log"
WEBHOOK_PATH = "/hooks/T0K3N-in-the-path-never-logged"
RECIPIENTS = {"director": ["director@library.example", "deputy@library.example"],
              "staff": ["circulation@library.example"], "admin": ["it@library.example"]}
#: People and words that must never reach a mailbox or a webhook.
USERS = {"rosalind.requester": "staff", "dorothea.decider": "director",
         "edmund.other": "director", "ada.admin": "admin"}
REASON = "Jane Roe seen taking a laptop from the reading room"
NOTE = "spoke with counsel about Jane Roe"
PERSONAL = ("rosalind", "dorothea", "edmund", "Jane Roe", "laptop", "counsel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def text(self) -> str:
        return self.message.get_content()

    def everything(self) -> str:
        return self.message.as_string()


@dataclass
class Mailbox:
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        self.messages.append(Received(envelope.mail_from, sorted(envelope.rcpt_tos), msg,
                                      session.ssl is not None or server.transport.get_extra_info(
                                          "ssl_object") is not None,
                                      self.logins[-1][0] if self.logins else None))
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
              and auth_data.password.decode() == SMTP_PASSWORD)
        if ok:
            self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=ok)


def smtp_server(box: Mailbox, port: int, tls_ctx=None, *, implicit: bool = False) -> Controller:
    """Started; STARTTLS and AUTH required when ``tls_ctx`` (implicit TLS if asked)."""
    kw: dict = {}
    if tls_ctx is not None and implicit:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; this socket is TLS throughout.
        kw = {"ssl_context": tls_ctx, "authenticator": box.authenticator,
              "auth_require_tls": False}
    elif tls_ctx is not None:
        kw = {"tls_context": tls_ctx, "require_starttls": True,
              "authenticator": box.authenticator, "auth_require_tls": True}
    c = Controller(box, hostname="127.0.0.1", port=port, **kw)
    c.start()
    return c


@dataclass
class Hook:
    """What the webhook receiver got: (headers, raw body) per POST."""

    posts: list[tuple[dict, bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)   # answers to give, then 204
    arrived: "asyncio.Event | None" = None              # set at each POST, when given

    def app(self) -> web.Application:
        async def receive(request: web.Request) -> web.Response:
            self.posts.append((dict(request.headers), await request.read()))
            status = self.statuses.pop(0) if self.statuses else 204
            if self.arrived is not None:
                self.arrived.set()
            return web.Response(status=status)
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, receive)
        return app

    def json(self, i: int) -> dict:
        return json.loads(self.posts[i][1])


def notify_settings(tmp: Path, notify: dict, public_url: str = PUBLIC_URL):
    pol = tmp / "policies"
    pol.mkdir(exist_ok=True)
    (pol / "test-policy.toml").write_text(POLICY)
    cams = [{"id": c, "name": c.title(), "policy": "test-policy", "zone": "entrance",
             "purpose": "security of the entrance", "push_token": f"{c}-token-0123456789"}
            for c in ("lobby", "desk")]
    return parse_settings({"server": {"public_url": public_url},
                           "library": {"name": "Test Library"},
                           "storage": {"path": str(tmp / "store"), "min_free_bytes": 0},
                           "policies_dir": str(pol), "cameras": cams, "notify": notify})


def smtp_config(tmp: Path, port: int, cafile: Path | None, **extra) -> dict:
    pw = tmp / "smtp.password"
    pw.write_text(SMTP_PASSWORD + "\n")
    cfg = {"smtp_host": "127.0.0.1", "smtp_port": port, "sender": "cctv@library.example",
           "recipients": RECIPIENTS, "lapse_warnings": ["1h", "10m"]}
    if cafile is not None:
        cfg |= {"smtp_ca_file": str(cafile), "smtp_user": SMTP_USER,
                "smtp_password_file": str(pw)}
    else:
        cfg |= {"smtp_starttls": False}
    return cfg | extra


def webhook_config(tmp: Path, base_url: str, **extra) -> dict:
    secret = tmp / "webhook.secret"
    secret.write_text(WEBHOOK_SECRET + "\n")
    return {"webhook_url": base_url.rstrip("/") + WEBHOOK_PATH,
            "webhook_secret_file": str(secret), **extra}


async def notify_env(aiohttp_client, tmp: Path, notify: dict, clock: FakeClock | None = None,
                     add_users: bool = True) -> Env:
    clock = clock or FakeClock(T0)
    app = create_app(notify_settings(tmp, notify), clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    tokens = {}
    if add_users:
        root = Actor("root", "operator")
        for name, role in USERS.items():
            await users.add_user(svc.catalog, clock, name, role, None, root)
            tokens[name] = await users.issue_token(svc.catalog, clock, name, root)
    return Env(client, app, clock, tokens)


def notifier(env: Env):
    return env.app[NOTIFIER]


def counter(env: Env, channel: str, outcome: str) -> float:
    return env.app[METRICS].registry.get_sample_value(
        "footage_notifications_total", {"channel": channel, "outcome": outcome}) or 0.0


async def request_hold(env: Env, user: str = "rosalind.requester", cameras=("lobby",),
                       incident: str = "INC-2026-117"):
    body = {"cameras": list(cameras), "start": _iso(T0 - 600 * US), "end": _iso(T0 - 60 * US),
            "incident": incident, "reason": REASON}
    r = await env.client.post("/api/v1/holds", json=body, headers=env.h(user))
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


def _iso(us: int) -> str:
    from gateway.clock import iso
    return iso(us)
