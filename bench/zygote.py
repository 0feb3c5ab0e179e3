"""A fork server for bench/faults.py: import the gateway once, fork every process from it.

Profiling one trial of ``bench/faults.py`` (5.6 s) showed 3.2 s in the two
gateway starts, nearly all of it Python importing the gateway (aiohttp,
PyAV, OpenCV, numpy, pydantic, an Argon2 hash at import): about 1.4 s a
process on this machine. Every ``keys rotate`` the workload starts paid the
same, on the same two cores as the gateway under test.

This process imports all of that once, then forks a child per request. A
child is a fresh process as far as the trial is concerned: it runs
``tests/crash_server.py``'s ``main`` (or the CLI's) from the top: reads the
config, opens the catalog and key ring, runs start-up recovery, serves. It
is killed with a real SIGKILL and its exit status is what ``waitpid`` says.
What is skipped is only the import, which touches no state on disk.

Protocol: one JSON object a line on stdin, one answer a line on stdout.
``{"op": "spawn", "kind": "server"|"cli", "argv": [...], "log": path|null}``
-> ``{"pid": n}``; ``{"op": "poll"|"wait", "pid": n, "timeout": s|null}`` ->
``{"rc": returncode|null}`` (negative: killed by that signal, as subprocess).
It exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import crash_server  # noqa: E402  (imports gateway.app and aiohttp.web)
import gateway.cli  # noqa: E402


def _child(kind: str, argv: list[str], log: str | None) -> None:
    """In the forked child: redirect output, run the program, never return."""
    code = 1
    try:
        fd = os.open(log or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if kind == "server":
            crash_server.main(["crash_server.py", *argv])
        else:
            sys.argv = ["footage-gateway", *argv]
            gateway.cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the log like an uncaught error
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reap(pid: int, timeout: float | None, block: bool) -> int | None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, 0 if block and deadline is None else os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if not block or (deadline is not None and time.monotonic() >= deadline):
            return None
        time.sleep(0.01)


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "spawn":
            out.flush()
            pid = os.fork()
            if pid == 0:
                _child(req["kind"], req["argv"], req.get("log"))
            answer = {"pid": pid}
        else:
            answer = {"rc": _reap(req["pid"], req.get("timeout"), req["op"] == "wait")}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
