"""benchmarks/imap_load.py runs its whole workload against stalwart-tx with no error answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "imap_load.py"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")
def test_a_short_run_at_stalwart_counts_commands_and_no_errors(tmp_path: Path) -> None:
    results = tmp_path / "imap.jsonl"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "stalwart", "--duration", "2", "--clients", "2",
         "--messages", "20", "--json", str(results)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ERRORS" not in run.stdout
    sessions, logins = (json.loads(line) for line in results.read_text().splitlines())
    assert sessions["server"] == logins["server"] == "stalwart-tx"
    assert sessions["phase"] == "sessions" and sessions["errors"] == 0, sessions
    assert sessions["commands_per_s"] > 0
    # every command of the loop was answered OK at least once, the APPENDed message expunged
    assert set(sessions["mean_ms"]) == {
        "LIST", "STATUS", "SELECT", "FETCH FLAGS", "FETCH ENVELOPE", "FETCH BODY",
        "STORE +FLAGS", "STORE -FLAGS", "APPEND", "UID STORE \\Deleted", "EXPUNGE"}
    assert logins["phase"] == "login/logout" and logins["errors"] == 0, logins
    assert logins["sessions_per_s"] > 0
    # the service and its embedded Redis are gone with the script
    leftovers = subprocess.run(["pgrep", "-f", "stalwart-imap-bench-"], capture_output=True,
                               text=True)
    assert leftovers.stdout.strip() == ""


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")
def test_rounds_measure_again_and_number_their_rows(tmp_path: Path) -> None:
    results = tmp_path / "imap.jsonl"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "stalwart", "--duration", "1", "--clients", "1",
         "--messages", "5", "--rounds", "2", "--json", str(results)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "round 2 of 2" in run.stdout
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(row["round"], row["phase"]) for row in rows] == [
        (1, "sessions"), (1, "login/logout"), (2, "sessions"), (2, "login/logout")]
    refused = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "0"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert refused.returncode == 2 and "--rounds" in refused.stderr
