"""benchmarks/lmtp_delivery.py delivers its messages to stalwart-tx and reports the rates."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "lmtp_delivery.py"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")
def test_a_short_run_delivers_every_message_over_one_and_several_connections(
    tmp_path: Path,
) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--count", "20", "--connections", "1", "3",
         "--size", "4096"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rates = re.findall(r"(\d+) connection\(s\): 20 messages of [\d,]+ bytes .* = ([\d,.]+) "
                       r"messages/s", run.stdout)
    assert [c for c, _ in rates] == ["1", "3"], run.stdout
    assert all(float(r.replace(",", "")) > 0 for _, r in rates)
    leftovers = subprocess.run(["pgrep", "-f", "stalwart-imap-bench-"], capture_output=True,
                               text=True)
    assert leftovers.stdout == ""
