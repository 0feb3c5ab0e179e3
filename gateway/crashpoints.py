"""Named points in the write and purge procedures where crash tests kill the process.

Set ``FOOTAGE_GATEWAY_CRASH_AT=<name>`` and the process SIGKILLs itself on
reaching that point, exactly as a power cut would stop it. Unset (always, in
production) this is one dict lookup.
"""

from __future__ import annotations

import os
import signal

_AT = os.environ.get("FOOTAGE_GATEWAY_CRASH_AT")

#: The points, in procedure order (docs/storage.md lists the same).
WRITE_POINTS = ("write.tmp_written", "write.fsynced", "write.renamed", "write.dir_fsynced",
                "write.committed")
PURGE_POINTS = ("purge.key_erased", "purge.unlinked", "purge.receipt")


def crash_point(name: str) -> None:
    if _AT is not None and _AT == name:
        os.kill(os.getpid(), signal.SIGKILL)
