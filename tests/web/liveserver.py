"""A real gateway on a free port, in a thread with its own event loop, for the browser tests.

The test thread drives Chromium through Playwright's sync API; it reaches the
server's objects (clock, services) through ``call``, which runs a coroutine on
the server's loop.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.web.accesslog import PrivateAccessLogger
from gateway.web.appkeys import RUNTIME as SERVICES

from uienv import add_people, new_clock, write_settings


class LiveServer:
    def __init__(self, tmp: Path) -> None:
        self.clock = new_clock()
        self.app = create_app(write_settings(tmp), clock=self.clock, run_loops=False)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-server",
                                       daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(self.app, access_log_class=PrivateAccessLogger)
        self.port = self.call(self._start())
        self.url = f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        await add_people(self.svc)
        return site._server.sockets[0].getsockname()[1]

    @property
    def svc(self):
        return self.app[SERVICES]

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
