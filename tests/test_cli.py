"""Smoke tests of the ``samarl`` command line, run as users run it: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def samarl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "samarl.cli", *args], capture_output=True, text=True, check=check
    )


def test_bench_kernels_writes_the_contracted_json(tmp_path: Path) -> None:
    out = tmp_path / "k.json"
    res = samarl("bench", "kernels", "--agents", "20000", "--repeats", "1", "--json", str(out))
    assert "speedup" in res.stdout
    data = json.loads(out.read_text())
    for key in ("speedup", "rust_s", "numpy_s", "ratio_to_stream"):
        assert data["env_step"][key] > 0
    for key in ("speedup", "speedup_same_order", "rust_s", "scipy_s"):
        assert data["consensus"][key] > 0
    assert data["agents"] == 20000
    assert data["rounds"] == 10
    assert data["copy_bandwidth_bytes_per_s"] > 0
    assert data["env_step"]["dtype"] == "float32"
    assert len(data["scaling"]["agents"]) == 2


def test_bench_rejects_bad_agent_counts() -> None:
    res = samarl("bench", "kernels", "--agents", "0", check=False)
    assert res.returncode == 2
    assert "agents: must be >= 1000" in res.stderr
    assert "Traceback" not in res.stderr


def test_help_lists_the_commands() -> None:
    res = samarl("--help")
    for cmd in ("bench", "demo", "train", "run"):
        assert cmd in res.stdout
