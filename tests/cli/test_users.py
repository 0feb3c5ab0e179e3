"""Users and personal API tokens: ``users add``, ``users token``, login, revocation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.users import service as users
from gateway.catalog import AsyncCatalog, Catalog, audit_log
from gateway.catalog import users as users_sql
from gateway.cli import main
from gateway.clock import FakeClock
from gateway.errors import Unauthorized



@pytest.fixture
def cfg(tmp_path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f'[storage]\npath = "{tmp_path / "store"}"\n')
    return p


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def catalog_of(cfg: Path) -> Catalog:
    return Catalog.open(cfg.parent / "store" / "catalog.sqlite3")


def test_add_with_password_file_stores_only_an_argon2_hash(cfg, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    r = cli("users", "add", "dana", "--role", "director", "--password-file", str(pw),
            "--config", str(cfg))
    assert r.exit_code == 0, r.output
    db = catalog_of(cfg)
    _, name, role, hashed, disabled = users_sql.get_user(db, "dana")
    assert (name, role, disabled) == ("dana", "director", False)
    assert hashed.startswith("$argon2id$") and "horse" not in hashed
    raw = (cfg.parent / "store" / "catalog.sqlite3").read_bytes()
    assert b"correct horse" not in raw
    db.close()


def test_token_is_printed_alone_on_the_last_line_and_authenticates(cfg):
    assert cli("users", "add", "sam", "--role", "staff", "--config", str(cfg)).exit_code == 0
    r = cli("users", "token", "sam", "--config", str(cfg))
    assert r.exit_code == 0
    token = r.stdout.rstrip("\n").splitlines()[-1]
    assert token.startswith("fgw_") and " " not in token and len(token) > 40
    db = catalog_of(cfg)
    assert users_sql.identity_for_token(db, token, 0) == ("sam", "staff")
    assert users_sql.identity_for_token(db, token + "x", 0) is None
    digest_only = db.conn.execute("SELECT COUNT(*) FROM api_tokens WHERE digest = ?",
                                  (token,)).fetchone()[0]
    assert digest_only == 0, "the token itself is never stored"
    db.close()


def test_revoked_tokens_stop_working(cfg):
    cli("users", "add", "sam", "--role", "staff", "--config", str(cfg))
    token = cli("users", "token", "sam", "--config", str(cfg)).stdout.splitlines()[-1]
    r = cli("users", "revoke-tokens", "sam", "--config", str(cfg))
    assert r.exit_code == 0 and "revoked 1" in r.output
    db = catalog_of(cfg)
    assert users_sql.identity_for_token(db, token, 0) is None
    db.close()


@pytest.mark.parametrize("args,message", [
    (["users", "add", "Bad Name", "--role", "staff"], "must match"),
    (["users", "token", "nobody"], "no user"),
])
def test_bad_input_exits_1_with_a_message(cfg, args, message):
    r = cli(*args, "--config", str(cfg))
    assert r.exit_code == 1 and message in r.output


def test_duplicate_user_and_unknown_role_are_refused(cfg, tmp_path):
    assert cli("users", "add", "sam", "--role", "staff", "--config", str(cfg)).exit_code == 0
    r = cli("users", "add", "sam", "--role", "staff", "--config", str(cfg))
    assert r.exit_code == 1 and "already exists" in r.output
    r = cli("users", "add", "x", "--role", "root", "--config", str(cfg))
    assert r.exit_code == 2
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    r = cli("users", "add", "y", "--role", "staff", "--password-file", str(short),
            "--config", str(cfg))
    assert r.exit_code == 1 and "at least" in r.output


def test_user_changes_are_audited(cfg):
    cli("users", "add", "sam", "--role", "staff", "--config", str(cfg))
    cli("users", "token", "sam", "--config", str(cfg))
    db = catalog_of(cfg)
    got = [(e.action, e.object, e.role) for e in audit_log.entries(db)]
    db.close()
    assert got == [("user.add", "user:sam", "operator"), ("user.token", "user:sam", "operator")]


async def test_login_checks_the_password_and_is_audited(tmp_path):
    db = AsyncCatalog(Catalog.open(tmp_path / "c.sqlite3"))
    clock = FakeClock()
    root = users.Actor("root", "operator")
    try:
        await users.add_user(db, clock, "dana", "director", "a long enough password", root)
        who = await users.login(db, clock, "dana", "a long enough password")
        assert (who.name, who.role) == ("dana", "director")
        for name, pw in (("dana", "wrong password!!"), ("nobody", "whatever")):
            with pytest.raises(Unauthorized):
                await users.login(db, clock, name, pw)
        actions = [e.action for e in await db.run(lambda c: list(audit_log.entries(c)))]
        assert actions == ["user.add", "login", "login.failed", "login.failed"]
    finally:
        db.close()


async def test_a_token_user_without_password_cannot_log_in(tmp_path):
    db = AsyncCatalog(Catalog.open(tmp_path / "c.sqlite3"))
    try:
        await users.add_user(db, FakeClock(), "bot", "auditor", None, users.Actor("r", "operator"))
        with pytest.raises(Unauthorized):
            await users.login(db, FakeClock(), "bot", "")
    finally:
        db.close()




async def test_revoked_token_is_refused_by_the_api(env):
    assert (await env.client.get("/api/v1/holds", headers=env.h("aud"))).status == 200
    await users.revoke_tokens(env.svc.catalog, env.clock, "aud", users.Actor("r", "operator"))
    assert (await env.client.get("/api/v1/holds", headers=env.h("aud"))).status == 401


def test_disabled_user_tokens_do_not_work(cfg):
    cli("users", "add", "sam", "--role", "staff", "--config", str(cfg))
    token = cli("users", "token", "sam", "--config", str(cfg)).stdout.splitlines()[-1]
    conn = sqlite3.connect(cfg.parent / "store" / "catalog.sqlite3")
    conn.execute("UPDATE users SET disabled = 1 WHERE name = 'sam'")
    conn.commit()
    conn.close()
    db = catalog_of(cfg)
    assert users_sql.identity_for_token(db, token, 0) is None
    db.close()
