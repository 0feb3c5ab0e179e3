"""``export verify DIR | create HOLD | key``: build, check and publish disclosure packages."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import click

from ..catalog import users as users_sql
from ..errors import NotFound
from ..holds import exports as ex
from ..holds import package as pkg
from ..models import Actor
from .common import CliError, cli_runtime, config_option, run, settings_from


@click.group("export")
def export_group() -> None:
    """Export packages for a disclosure under an active hold."""


@export_group.command("verify")
@click.argument("path", type=click.Path(exists=True))
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False),
              help="The gateway's public key (PEM, from its notice page).")
@click.option("--fingerprint", "expected_fp", default=None,
              help="The SHA-256 fingerprint of the gateway's key, from its notice page.")
def verify_command(path: str, key_file: str | None, expected_fp: str | None) -> None:
    """Check a package directory (or its zip): exit 0 valid, 1 invalid with what failed.

    Give --key or --fingerprint to check who signed it; without either, only the
    package's integrity is proven (it could be re-signed by anyone).
    """
    key = Path(key_file).read_bytes() if key_file else None
    rep = pkg.verify_package(Path(path), key)
    problems = list(rep.problems)
    # Accept the whole line `sha256sum` prints ("HEX  -"), in any case.
    wanted = expected_fp.split()[0].lower() if expected_fp and expected_fp.split() else None
    if wanted and rep.ok and rep.key_sha256 != wanted:
        problems.append(f"signed by key {rep.key_sha256}, not by {wanted}")
    for p in problems:
        click.echo(f"FAIL {p}")
    if problems:
        click.echo(f"package INVALID: {len(problems)} problem(s)")
        sys.exit(1)
    click.echo(f"package valid: {rep.clips} clip(s), every file matches the signed manifest")
    click.echo(f"signing key SHA-256 {rep.key_sha256}")
    if not (key_file or expected_fp):
        click.echo("UNAUTHENTICATED: signed by the key shipped inside the package; it proves "
                   "origin only if that fingerprint matches the gateway's notice page "
                   "(or run again with --key or --fingerprint)")


@export_group.command("create")
@click.argument("hold_id", type=int)
@click.option("--as", "director", required=True, help="The deciding director's user name.")
@click.option("--ground", required=True, help="Disclosure ground, e.g. court_order.")
@click.option("--reference", default="", help="The document: court order number, statute...")
@click.option("--recipient", required=True,
              help="law_enforcement | civil_litigant | public | subject")
@click.option("--recipient-name", default="", help="Who exactly (agency, officer, court).")
@click.option("--counsel", default="", help="Legal counsel consulted (when the policy asks).")
@click.option("--reason", required=True)
@click.option("--out", "out", required=True, type=click.Path(),
              help="Where to write the package: a new directory, or a path ending in .zip.")
@config_option
def create_command(hold_id: int, director: str, ground: str, reference: str, recipient: str,
                   recipient_name: str, counsel: str, reason: str, out: str,
                   config_path: str) -> None:
    """Build the package of an active hold HOLD_ID and write it to --out (plaintext!)."""
    settings = settings_from(config_path)
    dest = Path(out)
    if os.path.lexists(dest):  # a dangling symlink too: never write through one
        raise CliError(f"{dest} already exists; choose a new path")

    async def go():
        async with cli_runtime(settings) as svc:
            row = await svc.catalog.run(users_sql.get_user, director)
            if row is None or row[4]:
                raise NotFound(f"no active user {director!r}")
            actor = Actor(row[1], row[2])  # the camera's policy decides who may disclose
            with click.progressbar(length=1, label="building export",
                                   show_pos=True, file=sys.stderr) as bar:
                def progress(done: int, total: int) -> None:
                    bar.length = total
                    bar.update(done - bar.pos)
                e = await ex.create_export(
                    svc, hold_id, actor, ground=ground, reference=reference,
                    recipient=recipient, reason=reason, recipient_name=recipient_name,
                    counsel=counsel, progress=progress)
            try:
                await svc.cpu(_deliver, ex.package_chunks(svc, e.id), dest)
            except FileExistsError:
                raise CliError(f"{dest} appeared while the export was built; nothing "
                               "written there") from None
            finally:
                await ex.delete_package(svc, e.id, actor, f"copied to {dest} by the CLI")
            return e
    e = run(go())
    click.echo(f"export {e.id}: {e.clips} clip(s), {e.bytes} bytes, manifest SHA-256 "
               f"{e.manifest_sha256}")
    click.echo(f"written to {dest}; it holds decrypted (masked) footage: hand it over, then "
               "delete it")


def _create_private(path: Path):
    """A new file, 0600 from its first byte; refuses an existing file or a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    return os.fdopen(fd, "wb")


def _deliver(chunks, dest: Path) -> None:
    """Write the decrypted zip, or unpack it into a new directory (0700); files 0600."""
    if dest.suffix == ".zip":
        with _create_private(dest) as fh:
            for chunk in chunks:
                fh.write(chunk)
        return
    dest.mkdir(parents=True, mode=0o700)  # refuses an existing path or a symlink
    spooled = dest / ".package.zip"      # inside the new private directory, removed below
    try:
        with _create_private(spooled) as fh:
            for chunk in chunks:
                fh.write(chunk)
        with zipfile.ZipFile(spooled) as z:
            for info in z.infolist():
                parts = Path(info.filename).parts[1:]  # drop the export-<id>/ folder
                if not parts or info.is_dir() or ".." in parts:
                    continue
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                with _create_private(target) as out:
                    out.write(z.read(info))
    finally:
        spooled.unlink(missing_ok=True)


@export_group.command("key")
@config_option
def key_command(config_path: str) -> None:
    """Print the export signing key (public, PEM) and its SHA-256 fingerprint."""
    settings = settings_from(config_path)
    key = pkg.signing_key(settings.storage_path)
    click.echo(f"# SHA-256 {pkg.fingerprint(key)}", err=True)
    click.echo(pkg.public_pem(key), nl=False)
