"""jmap-jam, a JMAP client library for Node.js written elsewhere, against the running service."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.service_process import admin, basic, start_service

pytestmark = pytest.mark.slow

JAM_DIR = Path(__file__).parent / "jam"


@pytest.fixture(scope="session")
def jam_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the jam test project with its pinned dependency installed from the registry."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("Node.js and npm are needed to run the jmap-jam client")
    project = tmp_path_factory.mktemp("jam")
    for name in ("package.json", "roundtrip.mjs"):
        shutil.copy(JAM_DIR / name, project / name)
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )
    if installed.returncode != 0:
        pytest.skip(f"could not install jmap-jam from the npm registry: {installed.stderr[-500:]}")
    return project


def test_session_echo_upload_download_with_jmap_jam(tmp_path: Path, jam_project: Path) -> None:
    data = tmp_path / "d"
    assert admin("--data", str(data), "user", "add", "alice", "--password", "pw").returncode == 0
    token = admin("--data", str(data), "token", "create", "alice").stdout.strip()
    service = start_service(tmp_path, "--data", str(data))
    try:
        service.wait_for(basic("alice", "pw"))
        ran = subprocess.run(
            ["node", "roundtrip.mjs"], cwd=jam_project, capture_output=True, text=True,
            timeout=60, env={"SESSION_URL": service.session_url, "TOKEN": token,
                             "PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
        assert ran.returncode == 0, ran.stderr + service.log()
        seen = json.loads(ran.stdout)
        assert seen["username"] == "alice"
        assert seen["echo"] == {"hello": ["jam", 1, None]}
        assert seen["uploaded"]["size"] == 300000
        assert seen["uploaded"]["type"] == "image/png"
        assert seen["uploaded"]["accountId"] == seen["accountId"]
        assert seen["downloadStatus"] == 200
        assert seen["downloadType"].startswith("image/png")
        assert seen["sameBytes"] is True
        assert service.terminate(), service.log()
    finally:
        service.kill()
