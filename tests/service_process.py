"""Running the real service (``twistd -n stalwart``) and ``stalwart-admin`` as child processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The source tree first, so its package and its twisted/plugins are the ones that run.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def admin(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from stalwart_tx.admin.cli import main; main()", *args],
        input=stdin, capture_output=True, text=True, env=child_env(), timeout=60,
    )


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class RunningService:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log_path: Path

    @property
    def session_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jmap"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, headers: dict[str, str], status: int = 200, timeout: float = 30) -> bytes:
        """Poll the session URL until it answers ``status``; fail with the service log if not."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"service exited {self.process.returncode}:\n{self.log()}")
            try:
                code, _, body = http_get(self.session_url, headers)
                if code == status:
                    return body
                last = (code, body[:200])
            except OSError as error:
                last = error
            time.sleep(0.1)
        raise AssertionError(f"no {status} from the service (last: {last}):\n{self.log()}")

    def terminate(self, timeout: float = 60) -> bool:
        """SIGTERM; True when the service shut down cleanly.

        twistd re-raises the signal after its clean shutdown, so -SIGTERM is a clean exit too.
        """
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code in (0, -signal.SIGTERM) and "Server Shut Down." in self.log()

    def kill(self) -> None:
        """Stop the service and every process it started, however the test ended.

        The service runs in a session of its own, so its redis-server child is in its process
        group and goes too, even when the service itself is already gone.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait(30)


def start_service(
    workdir: Path, *args: str, jmap: str = "tcp:{port}:interface=127.0.0.1",
    env: dict[str, str] | None = None,
) -> RunningService:
    """twistd -n stalwart with the JMAP listener on a free port (``{port}`` in ``jmap`` and in
    ``args`` is replaced by it)."""
    port = free_port()
    log_path = workdir / f"service-{port}.log"
    workdir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-c", TWISTD, "-n", "--pidfile", "", "--logfile", "-",
                "stalwart", "--jmap", jmap.format(port=port), "--imap", "none",
                *(arg.replace("{port}", str(port)) for arg in args),
            ],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env={**child_env(), **(env or {})},
            start_new_session=True,
        )
    return RunningService(process, port, workdir, log_path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def json_output(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
