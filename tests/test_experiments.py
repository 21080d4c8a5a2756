"""The experiments at tiny sizes (``--quick`` plus smaller sweeps): outputs and robust facts.

One quick feasibility run trains the policy; the other experiments reuse it with ``--policy``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samarl.cli import main

MODES = ("consensus", "independent", "centralized", "unconstrained")
KEYS = (
    "violation", "excess_max", "peak_ratio", "settling", "served", "postponing", "delay_h",
    "waiting_cost", "gap_cost", "gap_served", "violation_avg", "overshoot", "consensus_error",
)  # fmt: skip


def run_cli(*argv: str) -> None:
    assert main(["experiment", *argv, "--no-progress"]) == 0


@pytest.fixture(scope="module")
def feasibility(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feasibility")
    run_cli("feasibility", "--quick", "--seeds", "0", "1", "--days", "8", "--out", str(out))
    return out


def test_feasibility_writes_the_contract_and_consensus_beats_independent(
    feasibility: Path,
) -> None:
    res = json.loads((feasibility / "results.json").read_text())
    for mode in MODES:
        entry = res["modes"][mode]
        for key in KEYS:
            assert isinstance(entry[key], float | int)
            assert len(entry["per_seed"][key]) == 2
            assert entry["ci95"][key] is None or entry["ci95"][key] >= 0
    modes = res["modes"]
    assert modes["consensus"]["served"] > modes["independent"]["served"]
    assert modes["independent"]["consensus_error"] > modes["consensus"]["consensus_error"]
    assert modes["centralized"]["consensus_error"] == pytest.approx(0.0, abs=1e-6)
    # The optimum meets capacity at every step: modes that also keep their peak under it cannot
    # wait less than it.
    for mode in MODES:
        if modes[mode]["peak_ratio"] <= 1.0:
            assert modes[mode]["gap_cost"] >= 1.0 - 1e-3
    assert set(res["checks"]) >= {"consensus_feasible", "independent_fails"}
    report = (feasibility / "report.md").read_text()
    assert "| consensus |" in report
    assert "daily excess p95" in report
    for name in ("load_every_day.png", "prices_by_day.png", "modes.png"):
        assert (feasibility / name).stat().st_size > 0


def test_consensus_error_falls_with_rounds_and_stays_under_the_bound(
    feasibility: Path, tmp_path: Path
) -> None:
    out = tmp_path / "consensus"
    policy = str(feasibility / "policy_seed0")
    run_cli(
        "consensus", "--quick", "--policy", policy, "--days", "4", "--rounds", "0", "2", "20",
        "--families", "ring", "erdos_renyi", "--consensus-rounds", "2", "--out", str(out),
    )  # fmt: skip
    res = json.loads((out / "results.json").read_text())
    # Every (graph, K) pair against the centralized run: more rounds, closer prices.
    grid = res["grid"]
    assert grid["rounds"] == [0, 2, 20]
    assert len(grid["rows"]) == 3 * len(grid["families"])
    for fam in grid["families"]:
        gaps = [r["gap"]["price"] for r in grid["rows"] if r["graph"] == fam]
        assert gaps[2] < gaps[0]
    assert (out / "gap_vs_rounds.png").stat().st_size > 0
    rows = res["k_sweep"]["rows"]
    errors = [r["consensus_error"] for r in rows]
    assert errors[0] > errors[1] > errors[2]
    assert rows[2]["served"] > rows[0]["served"]  # sharing prices beats pricing alone
    for r in rows + res["family_sweep"]["rows"]:
        assert r["bound"]["above_bound"] == 0
        assert r["bound"]["measured_mean"] <= r["bound"]["bound_mean"]
    ring, er = res["family_sweep"]["rows"]
    assert er["spectral_gap"] > ring["spectral_gap"]
    assert er["consensus_error"] < ring["consensus_error"]
    assert (out / "error_vs_rounds.png").stat().st_size > 0


def test_faults_degrade_gracefully(feasibility: Path, tmp_path: Path) -> None:
    out = tmp_path / "faults"
    run_cli(
        "faults", "--quick", "--policy", str(feasibility / "policy_seed0"), "--days", "4",
        "--drop-probs", "0", "0.7", "--removed", "0.25", "--out", str(out),
    )  # fmt: skip
    res = json.loads((out / "results.json").read_text())
    none, lossy = res["drop"]
    assert lossy["consensus_error"] > none["consensus_error"]
    (removed,) = res["removal"]
    assert removed["participating"] == 48
    assert removed["served"] > 0.9
    assert "report.md" in {p.name for p in out.iterdir()}


def test_scaling_fits_slopes(feasibility: Path, tmp_path: Path) -> None:
    out = tmp_path / "scaling"
    run_cli(
        "scaling", "--quick", "--policy", str(feasibility / "policy_seed0"), "--train-agents", "16",
        "64", "--exec-agents", "100", "2000", "--timed-iterations", "1", "--out", str(out),
    )  # fmt: skip
    res = json.loads((out / "results.json").read_text())
    assert len(res["training"]["rows"]) == 2
    assert res["execution"]["slope"] is not None
    assert (out / "scaling.png").stat().st_size > 0


def test_bad_experiment_configuration_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that is no training run: exit status 2 and one line naming --policy and it."""
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    argv = ["experiment", "feasibility", "--quick", "--policy", str(not_a_run)]
    code = main([*argv, "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"samarl experiment: error: policy: {str(not_a_run)!r} "), err
    assert err.count("\n") == 1


def test_a_missing_experiment_module_says_it_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import samarl.experiments as ex

    monkeypatch.setitem(ex.EXPERIMENTS, "ctde", ("samarl.experiments.not_there", "missing"))
    assert main(["experiment", "ctde", "--quick"]) == 2
    assert "unavailable" in capsys.readouterr().out
