"""Partitioned execution under faults: lossy links and agent removal equal the one-process run.

The pattern of tests/test_ray.py (one local 2-CPU cluster for the module, a tiny trained policy),
with the faults of ``samarl experiment faults``: every actor drops the same links in the same
rounds as the engine does in one process, and a removal rebuilds the survivors' weights across
the same parts. Skipped when Ray is not installed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from samarl.training import train
from tiny import tiny_config, tiny_scenario

#: The stated tolerances of tests/test_ray.py: mixing reproduces the engine's summation order
#: (over lossy links and after a removal too), but torch's forward pass on a part's rows may round
#: differently from the one on all N rows: actions to 1e-6, multipliers to 1e-5 mult_max, total
#: load to 1e-5 relative.
ACTIONS_ATOL, MULT_ATOL_PER_MAX, LOAD_RTOL = 1e-6, 1e-5, 1e-5
#: Simulated days of every run (agents are removed at the start of day 1).
DAYS = 2


@pytest.fixture(scope="module")
def actors(ray_cluster: Any) -> list[Any]:
    """Three partition actors that every run of the module reuses (starting one costs seconds)."""
    from samarl.distributed.partitions import spawn_actors

    return spawn_actors(ray_cluster, 3)


@pytest.fixture(scope="module")
def trained() -> Any:
    """An untrained shared policy of :func:`tiny_config` on 12 agents (training it would add ~10 s
    and change nothing here: any policy that reads its multipliers will do)."""
    from samarl.training.trainer import mult_max_for, policy_for

    sc, cfg = tiny_scenario(12), tiny_config()
    data = sc.build()
    policy = policy_for(data, sc, cfg, mult_max_for(data, sc, cfg))
    policy.eval()
    return SimpleNamespace(scenario=sc, policy=policy)


def _both(
    ray: Any,
    actors: list[Any],
    trained: Any,
    partitions: int,
    removal: Any = None,
    **dual_changes: Any,
) -> tuple[Any, Any, list[Any], Any]:
    """The one-process result (with its actions) and the partitioned run's, same seeds."""
    from samarl.distributed.partitions import PartitionedRun
    from samarl.execution import DualConfig, execute, torch_act_fn

    mult_max = float(trained.policy.mult_max)
    dual = DualConfig(consensus_rounds=3, dual_step_size=0.1 * mult_max, **dual_changes)
    actions: list[Any] = []
    act = torch_act_fn(trained.policy)

    def recording(obs: Any, mult: Any, sod: Any) -> Any:
        a = act(obs, mult, sod)
        actions.append(a.copy())
        return a

    sc = trained.scenario
    one = execute(
        sc, recording, dual, mult_max=mult_max, days=DAYS, seed=3, progress=False, removal=removal
    )
    run = PartitionedRun(
        ray, sc, trained.policy, dual, mult_max=mult_max, partitions=partitions, days=DAYS, seed=3,
        record=True, removal=removal, actors=actors[:partitions],
    )  # fmt: skip
    try:
        run.advance()
        res = run.gather()
        result = run.execution_result()
    finally:
        run.close()
    return one, res, actions, result


def _assert_same_trajectories(one: Any, res: Any, actions: list[Any], mult_max: float) -> None:
    assert res.actions is not None
    assert res.final_mult is not None
    np.testing.assert_allclose(res.actions, np.stack(actions), rtol=0, atol=ACTIONS_ATOL)
    np.testing.assert_allclose(
        res.final_mult, one.final_mult, rtol=0, atol=MULT_ATOL_PER_MAX * mult_max
    )
    np.testing.assert_allclose(res.total_load, one.total_load, rtol=LOAD_RTOL)


def _assert_same_records(one: Any, result: Any) -> None:
    """The per-epoch records and the metrics that depend on who participates."""
    np.testing.assert_allclose(result.mult_daily, one.mult_daily, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.mult_band, one.mult_band, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.consensus_error, one.consensus_error, rtol=1e-4, atol=1e-6)
    for key in ("consensus/error_max", "consensus/error_mean"):
        np.testing.assert_allclose(
            result.metrics[key], one.metrics[key], rtol=1e-4, atol=1e-7, err_msg=key
        )
    for key in ("removal", "num_agents"):
        assert result.metrics.get(key) == one.metrics.get(key), key
    if "graph" in one.metrics:
        assert result.metrics["graph"]["components"] == one.metrics["graph"]["components"]
        np.testing.assert_allclose(
            result.metrics["graph"]["mean_degree"], one.metrics["graph"]["mean_degree"]
        )


def _mix_partitioned(parts: list[Any], xs: list[Any], dual: Any, offset: int) -> list[Any]:
    """``dual.consensus_rounds`` rounds of every part's rows, halos exchanged in process as the
    actors exchange them (:meth:`PartitionActor.mix_round`)."""
    empty = np.zeros(0, dtype=np.float32)
    for r in range(dual.consensus_rounds):
        nxt = []
        for p, part in enumerate(parts):
            if part.mixer is None:
                nxt.append(xs[p])
                continue
            halos = [xs[q][parts[q].send[p]] for q, _ in part.recv]
            halo = np.concatenate(halos) if halos else empty
            nxt.append(
                part.mixer.mix_lossy(
                    xs[p],
                    halo,
                    1,
                    drop_prob=dual.drop_prob,
                    seed=dual.graph_seed,
                    round_offset=offset + r,
                )
            )
        xs = nxt
    return xs


@pytest.mark.parametrize("drop_prob", [0.0, 0.35])
@pytest.mark.parametrize("order", ["ids", "locality"])
def test_split_rows_mix_as_the_engine_bit_for_bit(drop_prob: float, order: str) -> None:
    """Without Ray: the parts' rows and halos reproduce the engine's (lossy) rounds exactly, on
    the whole graph and on the survivors' graph after a removal that empties a part."""
    from samarl import Consensus, Graph
    from samarl.distributed.partitions import plan_partitions, split_rows
    from samarl.execution import DualConfig
    from samarl.execution.mixing import survivors_graph

    n = 300
    graph = Graph.random_geometric(n, seed=1)
    dual = DualConfig(consensus_rounds=4, drop_prob=drop_prob, graph_seed=9)
    plan = plan_partitions(graph, 4, order=order)
    x = np.random.default_rng(0).random(n, dtype=np.float32)
    gone = np.union1d(plan.parts[1].agents, np.arange(0, n, 3))
    keep = np.setdiff1d(np.arange(n), gone)
    sub = Consensus(survivors_graph(graph, keep), require_connected=False)
    members = [part.agents for part in plan.parts]
    for consensus, nodes, parts in (
        (Consensus(graph), np.arange(n), plan.parts),
        (sub, keep, split_rows(sub, keep, members, plan.part_of)[0]),
    ):
        offset = 17
        want = consensus.mix_lossy(
            x[nodes], dual.consensus_rounds, drop_prob=drop_prob, seed=9, round_offset=offset
        )
        xs = [x[part.agents if part.rows is None else part.agents[part.rows]] for part in parts]
        got = np.empty_like(want)
        for part, rows in zip(parts, _mix_partitioned(parts, xs, dual, offset), strict=True):
            agents = part.agents if part.rows is None else part.agents[part.rows]
            got[np.searchsorted(nodes, agents)] = rows
        np.testing.assert_array_equal(got, want)
    assert parts[1].mixer is None  # the emptied part has no rows left


@pytest.mark.parametrize("partitions", [2, 3])
def test_lossy_links_equal_one_process(
    ray_cluster: Any, actors: list[Any], trained: Any, partitions: int
) -> None:
    one, res, actions, result = _both(ray_cluster, actors, trained, partitions, drop_prob=0.4)
    _assert_same_trajectories(one, res, actions, float(trained.policy.mult_max))
    _assert_same_records(one, result)
    # The links did fail: the lossless run ends elsewhere.
    from samarl.execution import DualConfig, execute, torch_act_fn

    mult_max = float(trained.policy.mult_max)
    dual = DualConfig(consensus_rounds=3, dual_step_size=0.1 * mult_max)
    act = torch_act_fn(trained.policy)
    lossless = execute(
        trained.scenario, act, dual, mult_max=mult_max, days=DAYS, seed=3, progress=False
    )
    assert not np.array_equal(lossless.final_mult, one.final_mult)


@pytest.mark.parametrize("partitions", [2, 3])
def test_agent_removal_equals_one_process(
    ray_cluster: Any, actors: list[Any], trained: Any, partitions: int
) -> None:
    from samarl.execution.executor import AgentRemoval

    removal = AgentRemoval(day=1, fraction=0.5, seed=4)
    one, res, actions, result = _both(ray_cluster, actors, trained, partitions, removal=removal)
    _assert_same_trajectories(one, res, actions, float(trained.policy.mult_max))
    _assert_same_records(one, result)
    assert result.metrics["removal"]["participating"] == 6


@pytest.mark.parametrize("partitions", [2, 3])
def test_lossy_links_and_removal_together(
    ray_cluster: Any, actors: list[Any], trained: Any, partitions: int
) -> None:
    from samarl.execution.executor import AgentRemoval

    removal = AgentRemoval(day=1, fraction=0.3, seed=1)
    one, res, actions, result = _both(
        ray_cluster, actors, trained, partitions, removal=removal, drop_prob=0.3, step_decay=0.2
    )
    _assert_same_trajectories(one, res, actions, float(trained.policy.mult_max))
    _assert_same_records(one, result)


def test_removal_in_independent_mode_freezes_the_removed_copies(
    ray_cluster: Any, actors: list[Any], trained: Any
) -> None:
    from samarl.execution.executor import AgentRemoval

    removal = AgentRemoval(day=1, fraction=0.5, seed=4)
    one, res, actions, result = _both(
        ray_cluster, actors, trained, 2, removal=removal, mode="independent"
    )
    _assert_same_trajectories(one, res, actions, float(trained.policy.mult_max))
    _assert_same_records(one, result)


@pytest.mark.slow  # starts its own actors (~25 s on a busy 2-core VM); run with -m slow
def test_run_with_partitions_takes_drop_prob(
    ray_cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from samarl.cli import main

    policy_dir = tmp_path / "policy"
    train(tiny_scenario(8), tiny_config(), policy_dir)
    common = ["run", "--policy", str(policy_dir), "--days", "1", "--no-progress"]
    common += ["--consensus-rounds", "3", "--seed", "2", "--drop-prob", "0.3"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--partitions", "2", "--ray", "--out", str(tmp_path / "two")]) == 0
    assert "2 partitions cutting" in capsys.readouterr().out
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["dual"]["drop_prob"] == 0.3
    for key in ("constraint/peak_ratio", "demand/served", "consensus/error_max"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(
        two["mult/mean_per_epoch"], one["mult/mean_per_epoch"], rtol=1e-5, atol=1e-7
    )
