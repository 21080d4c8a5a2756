"""Ray (the optional extra): the cells of ``experiment ctde``, ``experiment scaling`` and the demo's
modes as Ray tasks, at the smallest sizes their options allow.

Each ``--ray`` run's results equal the serial run's but for what is measured rather than computed
(:func:`differences` says which keys those are). One local cluster (2 CPUs) is shared by the module;
the tests are skipped when Ray is not installed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import samarl.experiments.demo as demo_module
import samarl.experiments.scaling as scaling_module
from samarl.cli import main
from samarl.distributed import CellGrid
from samarl.training import train
from tiny import tiny_config, tiny_scenario

#: The demo on 4 agents, one PPO iteration, one simulated day (the fuzz suite's tiny command).
TINY_DEMO = (
    "demo", "--scenario", "small", "--agents", "4", "--iterations", "1", "--num-steps", "8",
    "--agent-copies", "2", "--hidden-sizes", "8", "--eval-points", "2", "--eval-days", "1",
    "--days", "1", "--no-progress",
)  # fmt: skip


def measured(key: str) -> bool:
    """A key whose value is measured, so differs between any two runs: wall times and rates
    (``*_s``, ``wall*``, ``*per_s``, e.g. ``time/execution_wall_s``, ``solve_s``,
    ``s_per_iteration``), memory (``*_mib``), the log-log ``slope`` fitted to timings, and
    ``detail`` (ctde's stop reason quotes the measured peak)."""
    return (
        key.endswith(("_s", "_mib"))
        or "wall" in key
        or key.startswith("s_per_")
        or key in ("slope", "detail")
    )


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two results differ, :func:`measured` keys left out (recursively)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a if not measured(k) for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def serial_and_ray(argv: list[str], tmp_path: Path, name: str = "results.json") -> tuple[Any, Any]:
    """``argv`` run without and with ``--ray``; the two ``name`` files."""
    assert main([*argv, "--out", str(tmp_path / "serial")]) == 0
    assert main([*argv, "--ray", "--out", str(tmp_path / "ray")]) == 0
    return read(tmp_path, name)


def read(tmp_path: Path, name: str) -> tuple[Any, Any]:
    """The ``name`` files of the serial and the --ray runs."""
    return tuple(json.loads((tmp_path / d / name).read_text()) for d in ("serial", "ray"))


def test_the_measured_keys_are_only_timings_and_memory() -> None:
    skipped = ["wall_s", "solve_s", "time/execution_wall_s", "time/agent_steps_per_s",
               "s_per_day", "iteration_s", "peak_rss_mib", "slope", "detail"]  # fmt: skip
    kept = ["time/steps", "served", "violation", "N", "num_agents", "days", "seed"]
    assert all(measured(k) for k in skipped)
    assert not any(measured(k) for k in kept)


def _timed_cell(seconds: float) -> tuple[float, float, int, str | None]:
    """A cell that holds its CPUs for ``seconds``: (start, end, engine threads, its variable)."""
    import samarl

    start = time.time()
    time.sleep(seconds)
    return start, time.time(), samarl.get_num_threads(), os.environ.get("SAMARL_NUM_THREADS")


def test_exclusive_cells_run_alone_on_all_the_node_cpus(ray_cluster: Any) -> None:
    grid = CellGrid(ray_cluster, progress=False, exclusive=True)
    handles = [grid.submit(f"cell {i}", _timed_cell, 1.0) for i in range(2)]
    assert grid.wait() == []
    first, second = sorted(grid.result(h) for h in handles)
    assert first[1] <= second[0]  # one after the other on the 2-CPU cluster
    assert first[2:] == second[2:] == (2, "2")
    # The worker's own setting is back once the cell is done.
    plain = CellGrid(ray_cluster, progress=False)
    handle = plain.submit("plain", _timed_cell, 0.0)
    plain.wait()
    assert plain.result(handle)[2:] == (1, "1")


@pytest.mark.parametrize(
    "argv",
    [[*TINY_DEMO, "--ray"], ["experiment", "ctde", "--ray"]],
    ids=["demo", "ctde"],
)
def test_without_ray_the_flag_says_how_to_install_it(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    assert "pip install 'samarl[ray]'" in capsys.readouterr().err


def test_demo_on_ray_equals_the_serial_run(ray_cluster: Any, tmp_path: Path) -> None:
    serial, on_ray = serial_and_ray(list(TINY_DEMO), tmp_path, "demo.json")
    assert set(on_ray["modes"]) == set(demo_module.MODES_SHOWN)
    assert differences(serial, on_ray) == []
    for mode in demo_module.MODES_SHOWN:
        assert (tmp_path / "ray" / mode / "metrics.json").is_file()


_RUN_MODE = demo_module._run_mode


def _broken_independent(policy: Any, scenario: Any, dual: Any, **kwargs: Any) -> Any:
    """The demo's mode cell, failing for ``independent`` (run on a Ray worker)."""
    if dual.mode == "independent":
        raise RuntimeError("independent is broken")
    return _RUN_MODE(policy, scenario, dual, **kwargs)


def test_demo_on_ray_reports_a_failed_mode_and_finishes_the_others(
    ray_cluster: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(demo_module, "_run_mode", _broken_independent)
    assert main([*TINY_DEMO, "--ray", "--out", str(tmp_path / "o")]) == 1
    assert "cell mode=independent failed: RuntimeError: independent is broken" in (
        capsys.readouterr().out
    )
    result = json.loads((tmp_path / "o" / "demo.json").read_text())
    assert result["failed_cells"] == [
        {"cell": "mode=independent", "error": "RuntimeError: independent is broken"}
    ]
    assert set(result["modes"]) == {"consensus", "centralized", "unconstrained"}
    assert not (tmp_path / "o" / "independent").exists()
    assert "independent is broken" in (tmp_path / "o" / "report.md").read_text()


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("policy") / "run"
    train(tiny_scenario(8), tiny_config(iterations=1), out, evaluate=False)
    return out


def scaling_argv(policy_dir: Path) -> list[str]:
    """The scaling experiment at one N of each part, on the tiny policy."""
    argv = ["experiment", "scaling", "--policy", str(policy_dir), "--train-agents", "4"]
    return [*argv, "--exec-agents", "16", "--timed-iterations", "1", "--days", "1", "--no-progress"]


def test_scaling_on_ray_equals_the_serial_run_but_timings(
    ray_cluster: Any, policy_dir: Path, tmp_path: Path
) -> None:
    serial, on_ray = serial_and_ray(scaling_argv(policy_dir), tmp_path)
    assert [r["num_agents"] for r in on_ray["execution"]["rows"]] == [16]
    assert differences(serial, on_ray) == []


_TIME_EXECUTION = scaling_module._time_execution


def _broken_execution(policy: Any, n: int, days: int) -> Any:
    """Scaling's execution cell, failing for 16 agents (run on a Ray worker)."""
    if n == 16:
        raise RuntimeError("16 agents are too many")
    return _TIME_EXECUTION(policy, n, days)


def test_scaling_on_ray_reports_a_failed_cell_and_finishes_the_others(
    ray_cluster: Any,
    policy_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(scaling_module, "_time_execution", _broken_execution)
    argv = [*scaling_argv(policy_dir), "--exec-agents", "8", "16"]
    assert main([*argv, "--ray", "--out", str(tmp_path / "o")]) == 1
    said = "cell execution N=16 failed: RuntimeError: 16 agents are too many"
    assert said in capsys.readouterr().out
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["failed_cells"] == [
        {"cell": "execution N=16", "error": "RuntimeError: 16 agents are too many"}
    ]
    assert results["finished_cells"] == ["training N=4", "execution N=8"]
    assert "16 agents are too many" in (tmp_path / "o" / "report.md").read_text()


def _measure_here(method: str, n: int, settings: Any, train: bool) -> dict[str, Any]:
    """``ctde._spawn`` without the subprocess."""
    from samarl.experiments.ctde import measure

    return measure(method, n, settings, train=train)


def test_ctde_on_ray_equals_the_serial_run_but_timings(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import samarl.experiments.ctde as ctde

    # CTDE stops at N = 4 on memory (any process is above 0.01 GiB): one cell per method, both
    # trained and evaluated, so the feasibility numbers are compared.
    argv = ["experiment", "ctde", "--scenario", "small", "--min-agents", "4"]
    argv += ["--ours-max-agents", "4", "--max-memory-gib", "0.01", "--repeats", "1"]
    argv += ["--num-steps", "8", "--train-iterations", "1", "--eval-days", "1"]
    # The serial run measures in this process: its fresh subprocess per cell only isolates the
    # peak memory, which is not compared, and costs ~20 s of imports each on a loaded machine.
    # The --ray run's cells start their subprocesses as they do for a user.
    with monkeypatch.context() as m:
        m.setattr(ctde, "_spawn", _measure_here)
        assert main([*argv, "--out", str(tmp_path / "serial")]) == 0
    assert main([*argv, "--ray", "--out", str(tmp_path / "ray")]) == 0
    serial, on_ray = read(tmp_path, "results.json")
    assert on_ray["ctde_stopped"]["reason"] == "memory"
    assert [r["N"] for r in on_ray["rows"]["ours"]] == [4]
    assert "violation" in on_ray["rows"]["ctde"][0]
    assert "violation" in on_ray["rows"]["ours"][0]
    assert differences(serial, on_ray) == []
