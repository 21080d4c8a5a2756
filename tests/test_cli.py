"""Smoke tests of the ``samarl`` command line, run as users run it: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


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


def test_bench_soak_prints_rss_per_day(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    res = samarl("bench", "soak", "--agents", "1000", "--days", "2", "--json", str(out))
    assert res.stdout.count("starts: RSS") == 2
    data = json.loads(out.read_text())
    assert len(data["rss_mib"]) == 3  # the start of each day, then the end
    assert all(r > 0 for r in data["rss_mib"])
    assert 0.0 <= data["served"] <= 1.0


def test_bench_rejects_bad_agent_counts() -> None:
    res = samarl("bench", "kernels", "--agents", "0", check=False)
    assert res.returncode == 2
    assert "agents: must be >= 1000" in res.stderr
    assert "Traceback" not in res.stderr


def test_help_lists_the_commands() -> None:
    res = samarl("--help")
    for cmd in ("bench", "demo", "train", "run"):
        assert cmd in res.stdout
    package = subprocess.run(
        [sys.executable, "-m", "samarl", "--help"], capture_output=True, text=True, check=True
    )
    assert package.stdout == res.stdout  # python -m samarl is the same command


#: A few agents, short rollouts, tiny networks: each trained run takes a few seconds.
TINY_TRAIN = (
    "--iterations", "2", "--num-steps", "8", "--agent-copies", "2", "--hidden-sizes", "8",
    "--eval-points", "3", "--eval-days", "1", "--no-progress",
)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "policy"
    samarl("train", "--scenario", "small", "--agents", "8", *TINY_TRAIN, "--out", str(out))
    return out


def test_run_writes_metrics_figures_and_the_data_behind_them(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = samarl(
        "run", "--policy", str(trained), "--days", "2", "--consensus-rounds", "3", "--no-progress",
        "--out", str(out),
    )  # fmt: skip
    assert "consensus: violation" in res.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_agents"] == 8
    assert metrics["dual"]["consensus_rounds"] == 3
    data = np.load(out / "trajectories.npz")
    steps = 2 * 96
    assert data["total_load"].shape == (steps,)
    assert data["capacity"].shape == (steps,)
    assert data["mult_daily"].shape == (2, 24)
    rows = (out / "total_load.csv").read_text().splitlines()
    assert rows[0] == "step,day,step_of_day,total_load_kw,capacity_kw"
    assert len(rows) == steps + 1
    assert float(rows[-1].split(",")[3]) == pytest.approx(data["total_load"][-1], rel=1e-5)
    for name in ("load_vs_capacity.png", "multipliers.png", "scenario.toml"):
        assert (out / name).stat().st_size > 0


def test_run_takes_another_population_and_a_graph_file(trained: Path, tmp_path: Path) -> None:
    """A shared policy trained on 8 agents runs on 12, over a graph read from an edge list."""
    edges = tmp_path / "ring.txt"
    edges.write_text("# a ring of 12\n" + "".join(f"{i} {(i + 1) % 12}\n" for i in range(12)))
    out = tmp_path / "run"
    samarl(
        "run", "--policy", str(trained), "--agents", "12", "--graph", str(edges), "--days", "1",
        "--no-progress", "--out", str(out),
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_agents"] == 12
    assert metrics["graph"]["mean_degree"] == pytest.approx(2.0)
    bad = samarl(
        "run", "--policy", str(trained), "--graph", str(edges), "--out", str(tmp_path / "x"),
        check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "names node 11, but there are only 8 agents" in bad.stderr


def test_run_refuses_a_folder_that_is_not_a_training_run(tmp_path: Path) -> None:
    res = samarl("run", "--policy", str(tmp_path), "--out", str(tmp_path / "o"), check=False)
    assert res.returncode == 2
    assert "not a `samarl train` run folder" in res.stderr
    assert "Traceback" not in res.stderr


def test_demo_trains_and_runs_every_mode(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = samarl(
        "demo", "--scenario", "small", "--agents", "8", *TINY_TRAIN, "--days", "1",
        "--consensus-rounds", "2", "--out", str(out),
    )  # fmt: skip
    assert "| consensus |" in res.stdout
    demo = json.loads((out / "demo.json").read_text())
    assert set(demo["modes"]) == {"consensus", "independent", "centralized", "unconstrained"}
    assert demo["modes"]["consensus"]["dual"]["consensus_rounds"] == 2
    assert demo["train"]["iterations"] == 2
    for mode in demo["modes"]:
        assert (out / mode / "metrics.json").exists()
    assert (out / "report.md").exists()


def test_train_reads_an_experiment_file_and_resumes(tmp_path: Path) -> None:
    """``--config`` takes [scenario] and [train] tables; ``--resume`` continues the run."""
    config = tmp_path / "exp.toml"
    config.write_text(
        '[scenario]\nname = "mine"\nnum_agents = 6\nepisode_days = 0.5\n\n'
        "[train]\niterations = 2\nnum_steps = 8\nagent_copies = 2\nhidden_sizes = [8]\n"
        "eval_points = 3\neval_days = 1\n"
    )
    out = tmp_path / "run"
    samarl("train", "--config", str(config), "--no-progress", "--out", str(out))
    saved = json.loads((out / "config.json").read_text())
    assert saved["scenario"]["name"] == "mine"
    assert saved["scenario"]["num_agents"] == 6
    assert saved["train"]["num_steps"] == 8
    samarl(
        "train", "--config", str(config), "--iterations", "3", "--resume", "--no-progress",
        "--out", str(out),
    )  # fmt: skip
    rows = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1.0, 2.0, 3.0]


def test_config_files_read_without_tomllib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.10 has no tomllib: every TOML read falls back to tomli, or says to install it."""
    import tomllib

    from samarl.errors import ConfigError
    from samarl.scenario import load_scenario, read_mapping

    path = tmp_path / "exp.toml"
    path.write_text("[scenario]\nnum_agents = 5\n\n[train]\niterations = 7\n")
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib now fails
    monkeypatch.setitem(sys.modules, "tomli", tomllib)  # the backport has the same API
    assert read_mapping(path)["train"] == {"iterations": 7}
    assert load_scenario(path).num_agents == 5
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ConfigError, match="needs tomli"):
        read_mapping(path)
