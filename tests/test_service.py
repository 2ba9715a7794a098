"""The whole service as a user runs it: twistd, the embedded Redis, stalwart-admin, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.redis_process import running_redis
from tests.service_process import (
    admin,
    basic,
    http_get,
    json_output,
    pid_alive,
    start_service,
)

pytestmark = pytest.mark.slow


def redis_pid(data: Path) -> int:
    return int((data / "redis.pid").read_text().strip())


def test_embedded_service_lifecycle(tmp_path: Path) -> None:
    data = tmp_path / "d"
    # The admin tool works with the service stopped: it runs a temporary Redis on the data dir.
    result = admin("--data", str(data), "user", "add", "alice", "--password", "wonderland")
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout
    again = admin("--data", str(data), "user", "add", "Alice", "--password", "x")
    assert again.returncode == 4 and "already exists" in again.stderr

    service = start_service(tmp_path, "--data", str(data), "--max-concurrent-requests", "24")
    try:
        body = service.wait_for(basic("alice", "wonderland"))
        assert json.loads(body)["username"] == "alice"
        core = json.loads(body)["capabilities"]["urn:ietf:params:jmap:core"]
        assert core["maxConcurrentRequests"] == 24

        # ... and with the service running: it uses the service's Redis.
        created = json_output(admin("--data", str(data), "--json", "token", "create", "alice"))
        assert isinstance(created, dict)
        token = created["token"]
        bob = admin("--data", str(data), "user", "add", "bob", "--password-stdin",
                    stdin="builder\n")
        assert bob.returncode == 0, bob.stderr
        code, _, body = http_get(service.session_url, {"Authorization": f"Bearer {token}"})
        assert code == 200 and json.loads(body)["username"] == "alice"
        code, _, _ = http_get(service.session_url)
        assert code == 401
        code, _, _ = http_get(service.session_url, basic("bob", "builder"))
        assert code == 200

        users = json_output(admin("--data", str(data), "--json", "user", "list"))
        assert [u["name"] for u in users] == ["alice", "bob"]  # type: ignore[index,union-attr]

        child = redis_pid(data)
        assert service.terminate(), service.log()
        assert "Traceback" not in service.log()
        deadline = time.monotonic() + 10
        while pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child), "the embedded redis-server outlived the service"
        assert not (data / "redis.sock").exists()
    finally:
        service.kill()

    # Everything written before a clean stop is there after a restart.
    service = start_service(tmp_path, "--data", str(data))
    try:
        service.wait_for(basic("bob", "builder"))
        code, _, _ = http_get(service.session_url, {"Authorization": f"Bearer {token}"})
        assert code == 200
        revoked = admin("--data", str(data), "token", "revoke", token)
        assert revoked.returncode == 0, revoked.stderr
        code, _, _ = http_get(service.session_url, {"Authorization": f"Bearer {token}"})
        assert code == 401
        # kill -9 of the service and of its redis-server loses nothing acknowledged.
        child = redis_pid(data)
        os.kill(child, signal.SIGKILL)
        service.process.send_signal(signal.SIGKILL)
        service.process.wait(30)
    finally:
        service.kill()

    service = start_service(tmp_path, "--data", str(data))
    try:
        service.wait_for(basic("alice", "wonderland"))
        code, _, _ = http_get(service.session_url, {"Authorization": f"Bearer {token}"})
        assert code == 401, "a revoked token stays revoked across a crash"
        deleted = admin("--data", str(data), "user", "delete", "bob")
        assert deleted.returncode == 0, deleted.stderr
        service.wait_for(basic("bob", "builder"), status=401)
        missing = admin("--data", str(data), "user", "delete", "bob")
        assert missing.returncode == 3
        assert service.terminate(), service.log()
    finally:
        service.kill()


def test_bad_configuration_stops_startup_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('jmap = "tcp:8080"\nimpa = "tcp:1143"\n')
    service = start_service(tmp_path, "--config", str(config))
    try:
        code = service.process.wait(60)
    finally:
        service.kill()
    assert code != 0
    assert "unknown key 'impa'" in service.log()
    assert "Traceback" not in service.log()
    with pytest.raises(OSError):
        http_get(service.session_url)


def test_external_redis_outage_answers_503_then_recovers(tmp_path: Path) -> None:
    redis_dir = tmp_path / "r"
    service = None
    try:
        with running_redis(redis_dir, "--appendonly", "yes") as socket_path:
            url = f"unix://{socket_path}"
            assert admin("--redis", url, "user", "add", "carol", "--password", "pw").returncode == 0
            service = start_service(tmp_path, "--redis", url, "--redis-timeout", "1")
            service.wait_for(basic("carol", "pw"))
        # Redis is stopped now: the service stays up and answers 503, never hangs.
        started = time.monotonic()
        service.wait_for(basic("carol", "pw"), status=503)
        assert time.monotonic() - started < 20
        code, headers, body = http_get(service.session_url, basic("carol", "pw"))
        assert code == 503
        assert int(headers["Retry-After"]) > 0
        assert json.loads(body)["status"] == 503
        with running_redis(redis_dir, "--appendonly", "yes"):
            body = service.wait_for(basic("carol", "pw"))
            assert json.loads(body)["username"] == "carol"
            assert service.terminate(), service.log()
    finally:
        if service is not None:
            service.kill()
    unavailable = admin("--redis", url, "--timeout", "1", "user", "list")
    assert unavailable.returncode == 5
    assert "unreachable" in unavailable.stderr
