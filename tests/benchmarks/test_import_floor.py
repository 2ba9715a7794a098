"""benchmarks/import_floor.py runs end to end on a few messages and reports consistent figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "import_floor.py"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")
def test_the_floor_is_the_sum_of_its_pieces(tmp_path: Path) -> None:
    results = tmp_path / "floor.jsonl"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--count", "40", "--repeat", "1", "--json", str(results)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "ceiling on 2 cores:" in run.stdout
    [line] = results.read_text().splitlines()
    figures = json.loads(line)
    assert figures["count"] == 40 and figures["avg_bytes"] > 1000
    pieces = ("client_ms", "http_ms", "parse_fields_ms", "terms_ms", "redis_ms")
    assert all(figures[name] > 0 for name in pieces), figures
    assert figures["sum_ms"] == pytest.approx(sum(figures[name] for name in pieces), rel=1e-3)
    assert figures["redis_set_ms"] < figures["redis_ms"], "the terms' ZADDs cost Redis something"
    # the JSON line rounds sum_ms to four places, the ceiling was rounded from the exact sum:
    # near a half the two roundings may land on neighbouring integers
    assert abs(figures["ceiling"] - 2000 / figures["sum_ms"]) <= 0.5 + 1e-3
    assert figures["terms_per_message"] > 10
    # the private redis-server and the bare web server are gone with the script
    leftovers = subprocess.run(["pgrep", "-f", "import-floor-"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
