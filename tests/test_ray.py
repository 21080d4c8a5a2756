"""Ray (the optional extra): experiment cells as tasks, partitioned execution, training shards.

One local cluster (2 CPUs) is shared by every test of this module; the tests are skipped when Ray
is not installed, except the one that checks the message saying how to install it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from samarl.cli import main
from samarl.distributed import CellError, CellGrid
from samarl.training import train
from tiny import tiny_config, tiny_scenario

#: Keys of results.json that are wall times (they differ between two runs of anything).
WALL_TIMES = frozenset({"wall_s", "wall_s_per_day", "optimum_solve_s"})


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("policy") / "run"
    train(tiny_scenario(8), tiny_config(), out)
    return out


def _same_results(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two results.json differ, wall times left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [
            d for k in a if k not in WALL_TIMES for d in _same_results(a[k], b[k], f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _same_results(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_feasibility_on_ray_equals_the_serial_run(
    ray_cluster: Any, policy_dir: Path, tmp_path: Path
) -> None:
    common = ["experiment", "feasibility", "--quick", "--policy", str(policy_dir)]
    common += ["--seeds", "0", "1", "--days", "2", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "serial")]) == 0
    assert main([*common, "--ray", "--out", str(tmp_path / "ray")]) == 0
    serial = json.loads((tmp_path / "serial" / "results.json").read_text())
    on_ray = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert _same_results(serial, on_ray) == []


def _cell(x: int) -> int:
    if x == 2:
        raise ValueError(f"cell input {x} is bad")
    return x * 10


def test_a_failed_cell_is_reported_and_the_others_finish(ray_cluster: Any) -> None:
    grid = CellGrid(ray_cluster, desc="test", progress=False)
    handles = [grid.submit(f"x={x}", _cell, x) for x in range(4)]
    after_failure = grid.submit("after x=2", _cell, handles[2])
    failed = grid.wait()
    assert [f.cell for f in failed] == ["x=2", "after x=2"]
    assert failed[0].error == "ValueError: cell input 2 is bad"
    assert [grid.result(h) for h in handles[:2] + handles[3:]] == [0, 10, 30]
    assert isinstance(grid.result(after_failure), CellError)


def test_without_ray_the_flag_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    argv = ["experiment", "feasibility", "--quick", "--ray", "--out", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "pip install 'samarl[ray]'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def partition_setup(policy_dir: Path) -> dict[str, Any]:
    from samarl.execution import DualConfig
    from samarl.training import load_run

    run = load_run(policy_dir)
    dual = DualConfig(consensus_rounds=3, dual_step_size=0.1 * float(run.policy.mult_max))
    return {"scenario": run.scenario, "policy": run.policy, "dual": dual}


@pytest.mark.parametrize("partitions", [2, 3])
def test_partitioned_run_equals_one_process(
    ray_cluster: Any, partition_setup: dict[str, Any], partitions: int
) -> None:
    import numpy as np

    from samarl.distributed.partitions import PartitionedRun
    from samarl.execution import execute, torch_act_fn

    sc, policy, dual = (partition_setup[k] for k in ("scenario", "policy", "dual"))
    mult_max = float(policy.mult_max)
    actions: list[Any] = []
    act = torch_act_fn(policy)

    def recording(obs: Any, mult: Any, sod: Any) -> Any:
        a = act(obs, mult, sod)
        actions.append(a.copy())
        return a

    one = execute(sc, recording, dual, mult_max=mult_max, days=2, seed=3, progress=False)
    run = PartitionedRun(
        ray_cluster, sc, policy, dual, mult_max=mult_max, partitions=partitions, days=2, seed=3,
        record=True,
    )  # fmt: skip
    try:
        run.advance()
        res = run.gather()
    finally:
        run.close()
    assert res.edge_cut > 0
    assert res.rounds > 0
    assert res.actions is not None
    assert res.final_mult is not None
    # Stated tolerances. Mixing reproduces the engine's summation order, but torch's forward pass
    # on a part (fewer rows) may round differently from the one on all N rows (seen: 1 float32
    # ulp on ~5% of the actions with P = 3; bit-identical with P = 2): actions to 1e-6,
    # multipliers to 1e-5 mult_max, the total load to 1e-5 relative.
    np.testing.assert_allclose(res.actions, np.stack(actions), rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.final_mult, one.final_mult, rtol=0, atol=1e-5 * mult_max)
    np.testing.assert_allclose(res.total_load, one.total_load, rtol=1e-5)


def test_a_killed_partition_is_named_without_hanging(
    ray_cluster: Any, partition_setup: dict[str, Any]
) -> None:
    import time

    from samarl.distributed.partitions import PartitionedRun, PartitionError

    sc, policy, dual = (partition_setup[k] for k in ("scenario", "policy", "dual"))
    run = PartitionedRun(
        ray_cluster, sc, policy, dual, mult_max=float(policy.mult_max), partitions=2, days=1
    )
    try:
        run.advance(3)
        ray_cluster.kill(run.actors[1])
        start = time.perf_counter()
        with pytest.raises(PartitionError, match="partition 1 of 2"):
            run.advance()
        assert time.perf_counter() - start < 30
    finally:
        run.close()


def test_run_with_partitions_writes_what_one_process_writes(
    ray_cluster: Any, policy_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    common = ["run", "--policy", str(policy_dir), "--days", "1", "--no-progress"]
    common += ["--consensus-rounds", "3", "--seed", "2"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--partitions", "2", "--ray", "--out", str(tmp_path / "two")]) == 0
    assert "2 partitions cutting" in capsys.readouterr().out
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["partitions"]["edge_cut"] > 0
    assert set(one) | {"partitions"} == set(two)
    # Sums of parts rather than of all N values, and torch on fewer rows: tolerances as above.
    for key in ("constraint/peak_ratio", "demand/served", "reward/total", "consensus/error_max"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-5, err_msg=key)
    assert two["demand/postponing"] == one["demand/postponing"]
    np.testing.assert_allclose(
        two["mult/mean_per_epoch"], one["mult/mean_per_epoch"], rtol=1e-5, atol=1e-7
    )
    a, b = (np.load(tmp_path / d / "trajectories.npz") for d in ("one", "two"))
    np.testing.assert_allclose(b["total_load"], a["total_load"], rtol=1e-5)
    np.testing.assert_array_equal(b["capacity"], a["capacity"])
    np.testing.assert_allclose(b["mult_daily"], a["mult_daily"], rtol=1e-5, atol=1e-7)


def test_run_with_partitions_refuses_what_it_cannot_split(
    ray_cluster: Any, policy_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["run", "--policy", str(policy_dir), "--days", "1", "--partitions", "2"]
    assert main([*common, "--mode", "tracking", "--out", str(tmp_path / "tracking")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "mode:" in err
    assert "tracking" in err


def test_centralized_runs_partitioned_as_in_one_process(
    ray_cluster: Any, policy_dir: Path, tmp_path: Path
) -> None:
    """One price from the sum of every part's use: what one process computes from all N rows."""
    import numpy as np

    common = ["run", "--policy", str(policy_dir), "--days", "2", "--no-progress"]
    common += ["--mode", "centralized", "--seed", "1"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--partitions", "2", "--ray", "--out", str(tmp_path / "two")]) == 0
    a, b = (np.load(tmp_path / d / "trajectories.npz") for d in ("one", "two"))
    assert a["mult_daily"].max() > 0  # the price moved
    np.testing.assert_allclose(b["total_load"], a["total_load"], rtol=1e-5)
    np.testing.assert_allclose(b["mult_daily"], a["mult_daily"], rtol=1e-5, atol=1e-7)
