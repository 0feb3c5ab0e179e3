"""Sealed mode from the shell: ``keys enroll | unlock | lock | status | migrate``.

``unlock``, ``lock`` and ``status`` talk to the running gateway over its API
(the unlocked key lives only in the server's memory), with the director's
personal API token (``--token-file``, or $FOOTAGE_GATEWAY_TOKEN). ``enroll`` and
``migrate`` work on the files directly.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import click

from ..catalog import audit_log, users as users_sql
from ..clock import SystemClock
from ..errors import GatewayError
from ..vault.sealed import KdfParams, check_passphrase, new_director_key
from ..vault.sealed_store import SealedKeys
from .common import CliError, cli_actor, config_option, settings_from, writable_catalog

TOKEN_ENV = "FOOTAGE_GATEWAY_TOKEN"


def _first_line(path: str) -> str:
    text = Path(path).read_text(encoding="utf-8")
    return text.splitlines()[0] if text else ""


def _passphrase(path: str | None, prompt: str, confirm: bool = False) -> str:
    if path:
        return _first_line(path)
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def _sealed_keys(settings) -> SealedKeys:
    return SealedKeys(settings.sealed_path, settings.keys.unlock_quorum, 1, 1)


@click.command("enroll")
@config_option
@click.option("--director", required=True, help="The director's user name (users add ... --role director).")
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False),
              help="File whose first line is the passphrase (default: prompt twice).")
@click.option("--kdf-time-cost", default=3, show_default=True, type=click.IntRange(1, 16))
@click.option("--kdf-memory-kib", default=64 * 1024, show_default=True,
              type=click.IntRange(KdfParams.MIN_MEMORY_KIB, KdfParams.MAX_MEMORY_KIB))
@click.option("--kdf-parallelism", default=4, show_default=True, type=click.IntRange(1, 16))
def enroll_command(config_path: str, director: str, passphrase_file: str | None,
                   kdf_time_cost: int, kdf_memory_kib: int, kdf_parallelism: int) -> None:
    """Give a director a sealed-mode key, protected by their own passphrase.

    The director receives a share of every epoch created from now on (the
    next `keys rotate`, or the first epoch when sealed mode starts).
    """
    settings = settings_from(config_path)
    if not settings.catalog_path.exists():
        raise CliError(f"no catalog at {settings.catalog_path}: add the director "
                                   "first (footage-gateway users add NAME --role director)")
    db = writable_catalog(settings)  # its audit entry is MACed with the audit key
    try:
        user = users_sql.get_user(db, director)
        if user is None or user[2] != "director" or user[4]:
            raise CliError(f"{director!r} is not an enabled user with role "
                                       "director (footage-gateway users add ... --role director)")
        keys = _sealed_keys(settings)
        if keys.director(director) is not None:
            raise CliError(f"director {director} is already enrolled "
                                       f"({keys.director_path(director)})")
        passphrase = _passphrase(passphrase_file, f"Passphrase for {director}", confirm=True)
        try:
            check_passphrase(passphrase)
        except ValueError as err:
            raise CliError(str(err)) from None
        key = new_director_key(director, passphrase, time_cost=kdf_time_cost,
                               memory_kib=kdf_memory_kib, parallelism=kdf_parallelism)
        path = keys.enroll(key)
        actor = cli_actor()
        audit_log.append(db, SystemClock().now_us(), actor.name, actor.role, "keys.enroll",
                         f"director:{director}", "", {"kdf": {
                             "time_cost": kdf_time_cost, "memory_kib": kdf_memory_kib,
                             "parallelism": kdf_parallelism}})
    except GatewayError as err:
        raise CliError(err.message) from None
    finally:
        db.close()
    click.echo(f"enrolled director {director}: {path} (0600); they hold a share of every epoch "
               "created from now on")


# ---------------------------------------------------------------- talking to the server

def _base_url(settings, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else (
        f"[{host}]" if ":" in host else host)
    return f"http://{host}:{settings.server.port}"


def _token(token_file: str | None) -> str:
    if token_file:
        return _first_line(token_file).strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or click.prompt("Your API token", hide_input=True).strip()


def _call(settings, url: str | None, token: str, method: str, path: str,
          body: dict | None = None) -> tuple[int, dict]:
    target = _base_url(settings, url) + path
    req = urllib.request.Request(
        target, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        try:
            message = json.load(err)["error"]["message"]
        except Exception:
            message = err.reason
        retry = err.headers.get("Retry-After")
        raise CliError(f"{err.code}: {message}"
                                   + (f" (retry after {retry} s)" if retry else "")) from None
    except urllib.error.URLError as err:
        raise CliError(f"cannot reach the gateway at {target}: {err.reason} (is it "
                                   "running? --url sets where)") from None


def _show(doc: dict) -> None:
    state = doc.get("state")
    if doc.get("mode") == "ring":
        click.echo("keys.mode is ring: the key ring is always usable; nothing to unlock")
        return
    line = f"sealed key: {state}"
    if state == "unlocked":
        line += (f" by {', '.join(doc['unlocked_by'])} at {doc['unlocked_at']}; locks by "
                 f"{doc['locks_at']} ({doc['epochs_unlocked']} of {doc['epochs']} epochs)")
    elif state == "pending":
        line += (f": given by {', '.join(doc['given_by'])}; {doc['need']} more director(s) "
                 "must unlock")
    else:
        line += f" ({doc['epochs']} epoch(s); quorum {doc['quorum']})"
    click.echo(line)


_url_option = click.option("--url", help="The gateway's base URL (default: from server.listen).")
_token_option = click.option("--token-file", type=click.Path(exists=True, dir_okay=False),
                             help=f"File holding your API token (default: ${TOKEN_ENV}, or a prompt).")


@click.command("unlock")
@config_option
@_url_option
@_token_option
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False),
              help="File whose first line is your passphrase (default: prompt).")
def unlock_command(config_path: str, url: str | None, token_file: str | None,
                   passphrase_file: str | None) -> None:
    """Unlock the sealed key in the running gateway (director; audited, rate limited)."""
    settings = settings_from(config_path)
    token = _token(token_file)
    passphrase = _passphrase(passphrase_file, "Your sealed-key passphrase")
    _, doc = _call(settings, url, token, "POST", "/api/v1/keys/unlock", {"passphrase": passphrase})
    _show(doc)


@click.command("lock")
@config_option
@_url_option
@_token_option
def lock_command(config_path: str, url: str | None, token_file: str | None) -> None:
    """Lock the sealed key now: the running gateway forgets it."""
    settings = settings_from(config_path)
    _, doc = _call(settings, url, _token(token_file), "POST", "/api/v1/keys/lock")
    _show(doc)


@click.command("status")
@config_option
@_url_option
@_token_option
def status_command(config_path: str, url: str | None, token_file: str | None) -> None:
    """Is the sealed key locked? Until when is it unlocked?"""
    settings = settings_from(config_path)
    _, doc = _call(settings, url, _token(token_file), "GET", "/api/v1/keys/status")
    _show(doc)


# ---------------------------------------------------------------- migration

@click.command("migrate")
@config_option
@click.option("--to", "to", required=True, type=click.Choice(["sealed", "ring"]))
@click.option("--dry-run", is_flag=True, help="Check every data key opens; change nothing.")
@click.option("--director", "directors", multiple=True,
              help="--to ring: a director whose passphrase opens the epochs (repeat for a quorum).")
@click.option("--passphrase-file", "passphrase_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="--to ring: one per --director, in the same order (default: prompt).")
def migrate_command(config_path: str, to: str, dry_run: bool, directors: tuple[str, ...],
                    passphrase_files: tuple[str, ...]) -> None:
    """Re-wrap every data key into the other key mode (no video touched). Gateway stopped."""
    from ..keys.migrate import migrate, refuse_if_running
    settings = settings_from(config_path)
    if passphrase_files and len(passphrase_files) != len(directors):
        raise CliError("give one --passphrase-file per --director")
    credentials = []
    if to == "ring":
        if not directors:
            raise CliError("--to ring needs --director NAME (one per director of "
                                       "the quorum): the epoch keys open only with passphrases")
        for i, name in enumerate(directors):
            credentials.append((name, _passphrase(passphrase_files[i] if passphrase_files
                                                  else None, f"Passphrase of {name}")))
    try:
        refuse_if_running(settings)
        rep = migrate(settings, to, dry_run=dry_run, actor=cli_actor(), credentials=credentials)
    except GatewayError as err:
        raise CliError(err.message) from None
    if dry_run:
        click.echo(f"dry run: {rep.data_keys} data key(s) open and would be re-wrapped to {to}"
                   + (f" under {rep.created_epoch}" if rep.created_epoch else "")
                   + "; would destroy: " + (", ".join(rep.would_destroy) or "nothing")
                   + "; no video file is touched")
        return
    click.echo(f"re-wrapped {rep.rewrapped} data key(s) to {to}"
               + (f" (new epoch {rep.created_epoch})" if rep.created_epoch else "")
               + "; destroyed: " + (", ".join(rep.destroyed) or "nothing")
               + "; no video file was touched")


def add_sealed_commands(group: click.Group) -> None:
    """Add sealed mode's commands to ``footage-gateway keys``."""
    for cmd in (enroll_command, unlock_command, lock_command, status_command, migrate_command):
        group.add_command(cmd)
