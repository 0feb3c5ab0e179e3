"""Shared fixtures: apps built from explicit settings in a temp dir, never the environment."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Callable

import pytest

from gateway.app import create_app
from gateway.clock import FakeClock
from gateway.config import Settings, parse_settings

#: ``s3_server``: a real S3 server with Object Lock, for tests anywhere (tests/s3server.py).
pytest_plugins = ["s3server"]

TEST_POLICY = """\
id = "{id}"
title = "Test policy ({minimum} retention)"
jurisdiction = "Test"

[retention]
minimum = "{minimum}"
minimum_source = "test fixture"
maximum = "{maximum}"
maximum_source = "test fixture"
hold_request_grace = "{grace}"
hold_review = "{review}"
"""

CAMERA_TOKEN = "test-camera-token-0123456789abcdef"


def write_policy(directory: Path, id: str = "test5s", minimum: str = "5s", maximum: str = "30d",
                 grace: str = "1h", review: str = "90d") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{id}.toml").write_text(
        TEST_POLICY.format(id=id, minimum=minimum, maximum=maximum, grace=grace, review=review))
    return id


def camera(id: str = "lobby", policy: str = "test5s", masks: list | None = None,
           **extra: Any) -> dict:
    return {"id": id, "name": f"Camera {id}", "policy": policy, "zone": "entrance",
            "purpose": "physical security of the entrance", "push_token": CAMERA_TOKEN,
            "masks": masks or [], **extra}


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings in tmp_path with a 5-second test policy; pass cameras=[camera(...)]."""
    policies = tmp_path / "policies"
    write_policy(policies)

    def build(cameras: list[dict] | None = None, **storage: Any) -> Settings:
        return parse_settings({
            "storage": {"path": str(tmp_path / "data"), **storage},
            "policies_dir": str(policies),
            "cameras": cameras if cameras is not None else [camera()],
        })
    return build


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def gateway_client(aiohttp_client, make_settings):
    """A test client for an app without background loops; returns (client, app)."""
    async def build(settings: Settings | None = None, clock=None, run_loops: bool = False):
        app = create_app(settings or make_settings(), clock=clock, run_loops=run_loops)
        client = await aiohttp_client(app)
        return client, app
    return build


def auth(token: str = CAMERA_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "video/mp4"}


def random_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
async def env(aiohttp_client, tmp_path):
    """The hold/export/access environment (tests/holds_env.py): one user per role."""
    from holds_env import make_env
    return await make_env(aiohttp_client, tmp_path)
