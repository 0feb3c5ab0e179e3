"""A bare gateway process for the crash tests: ``python tests/crash_server.py CONFIG``.

It runs ``create_app(load_settings(CONFIG))`` on the config's listen address,
with the background loops on, exactly as ``serve`` wires it but without the
policy check (the test policy is deliberately short). Where it dies is decided
by ``FOOTAGE_GATEWAY_CRASH_AT`` (gateway.crashpoints), read when the gateway
is imported: the test sets it, the process SIGKILLs itself at that point.
SIGTERM stops it cleanly (aiohttp's run_app handles the signal). ``--no-loops``
leaves the background loops out: start-up recovery only (bench/faults.py).
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from gateway.app import create_app
from gateway.config import load_settings


def main(argv: list[str]) -> None:
    """Serve the gateway configured by ``argv[1]`` until SIGTERM (or a crash point)."""
    loops = "--no-loops" not in argv
    argv = [a for a in argv if a != "--no-loops"]
    if len(argv) != 2:
        raise SystemExit("usage: crash_server.py CONFIG [--no-loops]")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(argv[1])
    web.run_app(create_app(settings, run_loops=loops), host=settings.server.host, port=settings.server.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv)
