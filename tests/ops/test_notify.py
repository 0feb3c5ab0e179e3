"""Notifications against a real SMTP server (aiosmtpd, STARTTLS + AUTH) and a real
HTTP receiver: one message per event, to the right people, naming nobody."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest

from gateway.holds import service as hs
from gateway.catalog import notifications as notify_sql
from gateway.clock import US
from gateway.errors import ConfigError
from gateway.loops import notify_loop
from gateway.models import Actor
from gateway.notify.webhook import SIGNATURE_HEADER, verify_signature

from notifyfixtures import (NOTE, PERSONAL, PUBLIC_URL, REASON, RECIPIENTS, SMTP_PASSWORD,
                            WEBHOOK_SECRET, Hook, Mailbox, counter, free_port,
                            notifier, notify_env, request_hold, smtp_config, smtp_server,
                            webhook_config)
from gateway.segments.ingest import ingest
from gateway.segments.stats import refresh_stats
from holds_env import GRACE_S, REVIEW_S, T0, clip
from tlscerts import self_signed, server_context

DIRECTOR = sorted(RECIPIENTS["director"])
DIRECTOR_AND_STAFF = sorted(RECIPIENTS["director"] + RECIPIENTS["staff"])


@pytest.fixture
def certs(tmp_path):
    return self_signed(tmp_path / "tls", "smtp")


@pytest.fixture
def mailbox(certs):
    """A STARTTLS-only SMTP server with AUTH, trusting nothing but our test CA."""
    box = Mailbox()
    box.port = free_port()
    controller = smtp_server(box, box.port, server_context(*certs))
    yield box
    controller.stop()


@pytest.fixture
async def hook(aiohttp_server):
    h = Hook()
    h.server = await aiohttp_server(h.app())
    return h


def assert_no_personal_data(text: str) -> None:
    for word in PERSONAL:
        assert word.lower() not in text.lower(), f"{word!r} leaked into a notification"


async def test_each_hold_event_is_one_message_to_its_roles_naming_nobody(
        aiohttp_client, tmp_path, certs, mailbox, hook):
    cfg = smtp_config(tmp_path, mailbox.port, certs[0]) | webhook_config(
        tmp_path, str(hook.server.make_url("/")))
    env = await notify_env(aiohttp_client, tmp_path, cfg)
    n = notifier(env)

    hold_id = await request_hold(env)
    assert await n.run_once() == 2                   # one mail, one webhook POST
    [mail] = mailbox.messages
    assert mail.rcpt_tos == DIRECTOR, "a request goes to the approvers only"
    assert mail.tls and mail.login == "gateway@library.example", "STARTTLS, then AUTH"
    assert mail.message["From"] == "cctv@library.example"
    assert "INC-2026-117" in mail.message["Subject"] and "requested" in mail.message["Subject"]
    assert f"{PUBLIC_URL}/holds/{hold_id}" in mail.text
    assert "lapses" in mail.text
    assert_no_personal_data(mail.everything())

    [(headers, body)] = hook.posts
    assert verify_signature(WEBHOOK_SECRET.encode(), body, headers[SIGNATURE_HEADER])
    doc = json.loads(body)
    assert doc["event"] == "hold.requested" and doc["hold"]["id"] == hold_id
    assert doc["hold"]["url"] == f"{PUBLIC_URL}/holds/{hold_id}"
    assert doc["roles"] == ["director"]
    assert_no_personal_data(body.decode())

    assert await n.run_once() == 0, "an event is sent once"
    r = await env.post("dorothea.decider", f"/api/v1/holds/{hold_id}/approve", {"note": NOTE})
    assert r.status == 200, await r.text()
    assert await n.run_once() == 2
    approved = mailbox.messages[1]
    assert approved.rcpt_tos == DIRECTOR_AND_STAFF, "staff learn the outcome of their request"
    assert "approved" in approved.message["Subject"]
    assert_no_personal_data(approved.everything())
    assert hook.json(1)["event"] == "hold.approved"
    assert_no_personal_data(hook.posts[1][1].decode())
    assert await n.run_once() == 0
    assert len(mailbox.messages) == 2 and len(hook.posts) == 2
    assert counter(env, "mail", "sent") == 2 and counter(env, "webhook", "sent") == 2


async def test_a_restart_sends_nothing_twice_and_loses_nothing(aiohttp_client, tmp_path, hook):
    cfg = webhook_config(tmp_path, str(hook.server.make_url("/")))
    env = await notify_env(aiohttp_client, tmp_path, cfg)
    await request_hold(env)
    await notifier(env).run_once()
    assert [hook.json(i)["event"] for i in range(len(hook.posts))] == ["hold.requested"]
    # Decided, and the gateway stops before its notifier ran.
    r = await env.post("dorothea.decider", "/api/v1/holds/1/deny", {"note": NOTE})
    assert r.status == 200
    await env.client.close()

    again = await notify_env(aiohttp_client, tmp_path, cfg, clock=env.clock, add_users=False)
    await notifier(again).run_once()
    await notifier(again).run_once()
    assert [hook.json(i)["event"] for i in range(len(hook.posts))] == [
        "hold.requested", "hold.denied"], "the denial is sent after the restart, once"


async def test_lapse_warnings_then_the_lapse(aiohttp_client, tmp_path, certs, mailbox):
    env = await notify_env(aiohttp_client, tmp_path,
                           smtp_config(tmp_path, mailbox.port, certs[0]))
    n = notifier(env)
    await request_hold(env)
    await n.run_once()
    env.clock.advance(GRACE_S - 3600 + 60)          # 59 min left: the 1 h warning
    await n.run_once()
    env.clock.advance(60)
    await n.run_once()                               # still the same warning: not again
    env.clock.advance(3600 - 120 - 300)              # 5 min left: the 10 min warning
    await n.run_once()
    subjects = [m.message["Subject"] for m in mailbox.messages]
    assert len(subjects) == 3, subjects
    assert "lapses in 59 min" in subjects[1] and "lapses in 5 min" in subjects[2]
    assert all(m.rcpt_tos == DIRECTOR for m in mailbox.messages)

    env.clock.advance(301)
    await hs.tick(env.svc)                           # the request lapses undecided
    await n.run_once()
    lapsed = mailbox.messages[3]
    assert "lapsed without a decision" in lapsed.message["Subject"]
    assert lapsed.rcpt_tos == DIRECTOR_AND_STAFF
    assert_no_personal_data(lapsed.everything())
    assert len(mailbox.messages) == 4


async def test_after_an_outage_only_the_nearest_warning_is_sent(aiohttp_client, tmp_path, hook):
    env = await notify_env(aiohttp_client, tmp_path, webhook_config(
        tmp_path, str(hook.server.make_url("/")), lapse_warnings=["1h", "10m"]))
    await request_hold(env)
    env.clock.advance(GRACE_S - 300)                 # the notifier was down until now
    await notifier(env).run_once()
    events = [hook.json(i) for i in range(len(hook.posts))]
    assert [e["event"] for e in events] == ["hold.requested", "hold.lapsing"]
    assert events[1]["key"].endswith(":lapsing:600")


async def test_denial_and_review_due(aiohttp_client, tmp_path, certs, mailbox):
    env = await notify_env(aiohttp_client, tmp_path,
                           smtp_config(tmp_path, mailbox.port, certs[0]))
    n = notifier(env)
    first = await request_hold(env)
    second = await request_hold(env, incident="INC-2026-118")
    await env.post("dorothea.decider", f"/api/v1/holds/{first}/approve", {"note": NOTE})
    await env.post("dorothea.decider", f"/api/v1/holds/{second}/deny", {"note": NOTE})
    await n.run_once()
    kinds = sorted(m.message["X-Footage-Event"] for m in mailbox.messages)
    assert kinds == ["hold.approved", "hold.denied"], \
        "decided before the notifier ran: the outcome is sent, not a stale request"
    denied = next(m for m in mailbox.messages if m.message["X-Footage-Event"] == "hold.denied")
    assert "INC-2026-118" in denied.message["Subject"] and denied.rcpt_tos == DIRECTOR_AND_STAFF

    env.clock.advance(REVIEW_S - 7 * 86400 - 10)     # just before the 7-day warning
    await n.run_once()
    assert len(mailbox.messages) == 2
    env.clock.advance(20)
    await n.run_once()
    review = mailbox.messages[2]
    assert review.message["X-Footage-Event"] == "hold.review_due"
    assert review.rcpt_tos == DIRECTOR and "review" in review.message["Subject"]
    # Renewed: the new review date gets its own warning, later.
    r = await env.post("dorothea.decider", f"/api/v1/holds/{first}/renew", {"note": NOTE})
    assert r.status == 200, await r.text()
    await n.run_once()
    assert len(mailbox.messages) == 3
    env.clock.advance(REVIEW_S)                      # not renewed again: it expires
    await hs.tick(env.svc)
    await n.run_once()
    kinds = [m.message["X-Footage-Event"] for m in mailbox.messages[3:]]
    assert kinds == ["hold.expired"], "the second review warning fell inside the outage"
    assert mailbox.messages[3].rcpt_tos == DIRECTOR_AND_STAFF


async def test_smtp_down_is_retried_and_the_decision_is_unaffected(aiohttp_client, tmp_path,
                                                                   certs, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()                               # nothing listens there yet
    env = await notify_env(aiohttp_client, tmp_path, smtp_config(tmp_path, port, certs[0]))
    n = notifier(env)
    hold_id = await request_hold(env)                # 201: the request does not wait for mail
    assert await n.run_once() == 0
    assert counter(env, "mail", "retry") == 1
    [row] = await env.svc.catalog.run(notify_sql.all_rows)
    assert row["state"] == "pending" and row["attempts"] == 1
    r = await env.post("dorothea.decider", f"/api/v1/holds/{hold_id}/approve", {"note": NOTE})
    assert r.status == 200, "a dead mail server never fails a decision"

    box = Mailbox()
    controller = smtp_server(box, port, server_context(*certs))
    try:
        await n.run_once()
        assert [m.message["X-Footage-Event"] for m in box.messages] == ["hold.approved"], \
            "the failed message waits for its retry time; the new one goes at once"
        env.clock.advance(30)                        # retry_first
        await n.run_once()
        assert sorted(m.message["X-Footage-Event"] for m in box.messages) == [
            "hold.approved", "hold.requested"]
        await n.run_once()
        assert len(box.messages) == 2
    finally:
        controller.stop()
    assert counter(env, "mail", "sent") == 2
    assert "retrying in 30 s" in caplog.text
    assert SMTP_PASSWORD not in caplog.text


async def test_webhook_retries_with_backoff_and_gives_up_on_a_rejection(
        aiohttp_client, tmp_path, hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook.statuses = [503, 500]                      # then 204
    env = await notify_env(aiohttp_client, tmp_path, webhook_config(
        tmp_path, str(hook.server.make_url("/"))))
    n = notifier(env)
    await request_hold(env)
    await n.run_once()
    env.clock.advance(30)
    await n.run_once()
    env.clock.advance(59)                            # the second wait is 60 s
    await n.run_once()
    assert len(hook.posts) == 2
    env.clock.advance(1)
    await n.run_once()
    assert len(hook.posts) == 3 and counter(env, "webhook", "retry") == 2
    assert counter(env, "webhook", "sent") == 1
    assert len({p[0]["X-Footage-Delivery"] for p in hook.posts}) == 1, "one delivery id"
    bodies = {p[1] for p in hook.posts}
    assert len(bodies) == 1, "a retry sends the same signed body"

    hook.statuses = [400]                            # the receiver rejects: no point retrying
    await env.post("dorothea.decider", "/api/v1/holds/1/deny", {"note": NOTE})
    await n.run_once()
    env.clock.advance(7200)
    await n.run_once()
    assert len(hook.posts) == 4 and counter(env, "webhook", "failed") == 1
    assert "given up" in caplog.text
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("gateway"))
    assert "given up" in ours
    for secret in (WEBHOOK_SECRET, "T0K3N"):
        assert secret not in ours, "the URL may carry a token; the secret signs"



async def test_an_incident_reference_cannot_inject_mail_headers(aiohttp_client, tmp_path, certs,
                                                                mailbox):
    env = await notify_env(aiohttp_client, tmp_path,
                           smtp_config(tmp_path, mailbox.port, certs[0]))
    await request_hold(env, incident="INC-1\r\nBcc: attacker@evil.example\r\n\r\nhello")
    assert await notifier(env).run_once() == 1
    [mail] = mailbox.messages
    assert mail.rcpt_tos == DIRECTOR and mail.message["Bcc"] is None
    assert mail.message["Subject"].startswith("[Test Library] Hold 1 (INC-1 Bcc: attacker@")


async def test_implicit_tls(aiohttp_client, tmp_path, certs):
    box = Mailbox()
    port = free_port()
    controller = smtp_server(box, port, server_context(*certs), implicit=True)
    try:
        env = await notify_env(aiohttp_client, tmp_path, smtp_config(
            tmp_path, port, certs[0], smtp_tls=True, smtp_starttls=False))
        await request_hold(env)
        assert await notifier(env).run_once() == 1
        assert box.messages[0].tls and box.messages[0].rcpt_tos == DIRECTOR
    finally:
        controller.stop()


async def test_an_untrusted_smtp_certificate_is_refused(aiohttp_client, tmp_path, certs,
                                                        mailbox):
    other_ca, _ = self_signed(tmp_path / "other", "other")
    env = await notify_env(aiohttp_client, tmp_path,
                           smtp_config(tmp_path, mailbox.port, other_ca))
    await request_hold(env)
    assert await notifier(env).run_once() == 0
    assert mailbox.messages == [] and mailbox.logins == [], "no password to an impostor"
    assert counter(env, "mail", "retry") == 1


async def test_footage_past_its_deadline_is_reported_once_a_day(aiohttp_client, tmp_path, hook):
    env = await notify_env(aiohttp_client, tmp_path, webhook_config(
        tmp_path, str(hook.server.make_url("/"))), add_users=False)
    await ingest(env.svc, env.svc.settings.camera("lobby"), clip(), start_hint_us=T0 - 60 * US)
    n = notifier(env)
    env.clock.advance(3600 + 10)                     # past its deadline; no purge runs here
    await refresh_stats(env.svc)
    await n.run_once()
    assert hook.posts == [], "a purge pass may be running: wait past_deadline_after"
    env.clock.advance(300)
    await refresh_stats(env.svc)
    await n.run_once()
    [doc] = [hook.json(i) for i in range(len(hook.posts))]
    assert doc["event"] == "footage.past_deadline" and doc["camera"] == "lobby"
    assert doc["segments"] == 1 and doc["roles"] == ["admin", "director"]
    env.clock.advance(1800)                          # T0 is 22:13 UTC: still the same day
    await refresh_stats(env.svc)
    await n.run_once()
    assert len(hook.posts) == 1, "at most one message per camera and day"
    env.clock.advance(86400)
    await refresh_stats(env.svc)
    await n.run_once()
    assert len(hook.posts) == 2, "a daily reminder while it lasts"


async def test_a_missing_secret_file_stops_the_start(aiohttp_client, tmp_path, certs):
    cfg = smtp_config(tmp_path, 25, certs[0])
    cfg["smtp_password_file"] = str(tmp_path / "missing.password")
    with pytest.raises(ConfigError, match="notify.smtp_password_file: cannot read"):
        await notify_env(aiohttp_client, tmp_path, cfg, add_users=False)


async def test_the_loop_sends_when_a_hold_changes(aiohttp_client, tmp_path, hook):
    """The running loop (not run_once by hand): a request wakes it; nothing waits on it."""
    env = await notify_env(aiohttp_client, tmp_path, webhook_config(
        tmp_path, str(hook.server.make_url("/")), check_every="1h"))
    task = asyncio.create_task(notify_loop(notifier(env)))
    try:
        hook.arrived = asyncio.Event()
        await hs.request_hold(env.svc, Actor("rosalind.requester", "staff"), ["lobby"],
                              T0 - 600 * US, T0 - 60 * US, "INC-9", REASON)
        await asyncio.wait_for(hook.arrived.wait(), timeout=10)
        assert hook.json(0)["event"] == "hold.requested"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_hanging_mail_server_never_holds_up_a_decision(aiohttp_client, tmp_path, certs):
    """The loop is stuck inside a send (the server accepted and says nothing); a
    director's decision still answers at once."""
    connected = asyncio.Event()
    stuck: list[asyncio.StreamWriter] = []

    async def silent(reader, writer):
        stuck.append(writer)
        connected.set()                              # and never send the SMTP greeting
    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = await notify_env(aiohttp_client, tmp_path, smtp_config(
        tmp_path, port, certs[0], smtp_timeout="60s"))
    task = asyncio.create_task(notify_loop(notifier(env)))
    try:
        hold_id = await request_hold(env)
        await asyncio.wait_for(connected.wait(), timeout=10)   # the send is under way
        r = await asyncio.wait_for(env.post("dorothea.decider",
                                            f"/api/v1/holds/{hold_id}/approve", {"note": NOTE}),
                                   timeout=10)
        assert r.status == 200 and (await r.json())["state"] == "active"
        assert not task.done(), "the notifier is still waiting for the silent server"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for w in stuck:
            w.close()
        server.close()
        await server.wait_closed()


def test_notify_test_command_sends_on_every_channel(tmp_path, certs, mailbox):
    import http.server
    import threading
    from click.testing import CliRunner
    from gateway.cli import main

    got: list[bytes] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        cfg = smtp_config(tmp_path, mailbox.port, certs[0]) | webhook_config(
            tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}")
        notify_lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in cfg.items()
                                 if not isinstance(v, dict))
        recipients = ", ".join(f"{r} = {json.dumps(a)}" for r, a in RECIPIENTS.items())
        config = tmp_path / "config.toml"
        config.write_text(f'[server]\npublic_url = "{PUBLIC_URL}"\n'
                          f'[storage]\npath = "{tmp_path / "store"}"\n'
                          f"[notify]\n{notify_lines}\nrecipients = {{ {recipients} }}\n")
        r = CliRunner().invoke(main, ["notify", "test", "--config", str(config)])
        assert r.exit_code == 0, r.output
        assert r.output.splitlines() == ["mail: sent", "webhook: sent"]
        [mail] = mailbox.messages
        assert mail.rcpt_tos == sorted({a for addrs in RECIPIENTS.values() for a in addrs})
        assert json.loads(got[0])["event"] == "notify.test"

        mailbox_port = cfg["smtp_port"]
        config.write_text(config.read_text().replace(f"smtp_port = {mailbox_port}",
                                                     f"smtp_port = {free_port()}"))
        r = CliRunner().invoke(main, ["notify", "test", "--config", str(config)])
        assert r.exit_code == 1 and "mail: FAILED: SMTP" in r.output
        assert SMTP_PASSWORD not in r.output
    finally:
        httpd.shutdown()


async def test_the_loop_retries_when_the_clock_reaches_the_retry(aiohttp_client, tmp_path, hook):
    """notify_loop sleeps through the injected clock: a FakeClock drives its retries."""
    hook.statuses = [503]
    env = await notify_env(aiohttp_client, tmp_path, webhook_config(
        tmp_path, str(hook.server.make_url("/")), check_every="1h"))
    hook.arrived = asyncio.Event()
    task = asyncio.create_task(notify_loop(notifier(env)))
    try:
        await request_hold(env)
        await asyncio.wait_for(hook.arrived.wait(), timeout=10)     # refused: 503
        for _ in range(500):                                       # the loop goes to sleep
            if env.clock.sleepers and counter(env, "webhook", "retry") == 1:
                break
            await asyncio.sleep(0.01)
        hook.arrived.clear()
        env.clock.advance(29)
        assert env.clock.sleepers, "29 s of the clock: still asleep (retry_first is 30 s)"
        env.clock.advance(1)
        await asyncio.wait_for(hook.arrived.wait(), timeout=10)
        assert len(hook.posts) == 2 and hook.posts[0][1] == hook.posts[1][1]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_https_webhook_is_verified_against_the_configured_ca(aiohttp_client,
                                                                      aiohttp_server, tmp_path):
    cert, key = self_signed(tmp_path / "hook-tls", "hook")
    hook = Hook()
    server = await aiohttp_server(hook.app(), ssl=server_context(cert, key))
    url = str(server.make_url("/"))
    assert url.startswith("https://")
    untrusted = tmp_path / "untrusted"
    untrusted.mkdir()
    env = await notify_env(aiohttp_client, untrusted, webhook_config(untrusted, url))
    await request_hold(env)
    assert await notifier(env).run_once() == 0 and hook.posts == [], \
        "a self-signed receiver is not trusted by default"
    assert counter(env, "webhook", "retry") == 1

    trusted = tmp_path / "trusted"
    trusted.mkdir()
    env = await notify_env(aiohttp_client, trusted,
                           webhook_config(trusted, url, webhook_ca_file=str(cert)))
    await request_hold(env)
    assert await notifier(env).run_once() == 1
    assert hook.json(0)["event"] == "hold.requested"
