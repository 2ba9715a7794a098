"""The access log: one line per request when asked for, nothing otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import maybeDeferred
from twisted.logger import globalLogPublisher
from twisted.web.resource import Resource
from twisted.web.server import Request

from stalwart_tx.config import ConfigError, build_config
from stalwart_tx.http.site import DrainableSite


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return b"hi"


async def lines_logged(access_log: bool) -> list[str]:
    logged: list[str] = []

    def observe(event: dict[str, Any]) -> None:
        text = str(event.get("log_io", ""))  # what the site writes to the log as a file
        if "GET /probe" in text:
            logged.append(text)

    globalLogPublisher.addObserver(observe)
    port = reactor.listenTCP(
        0, DrainableSite(Hello(), access_log=access_log), interface="127.0.0.1"
    )
    try:
        for _ in range(3):
            response = await treq.get(f"http://127.0.0.1:{port.getHost().port}/probe")
            assert await response.content() == b"hi"
    finally:
        globalLogPublisher.removeObserver(observe)
        await maybeDeferred(port.stopListening)
    return logged


@pytest_twisted.ensureDeferred
async def test_one_line_per_request_when_on() -> None:
    assert len(await lines_logged(True)) == 3


@pytest_twisted.ensureDeferred
async def test_nothing_when_off() -> None:
    assert await lines_logged(False) == []


def test_the_setting(tmp_path: Path) -> None:
    assert build_config({}, None).access_log is False
    assert build_config({"access-log": True}, None).access_log is True
    config_file = tmp_path / "c.toml"
    config_file.write_text('access-log = "sometimes"\n')
    with pytest.raises(ConfigError, match="access-log"):
        build_config({}, config_file)

