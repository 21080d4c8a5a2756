"""Training shards: per-agent weights of disjoint agent ranges trained apart, joined into the serial
run's policy bit for bit (:mod:`samarl.distributed.shards`).

The first tests need no Ray: a trainer of agents ``a..b`` alone ends with exactly their weights
in the serial run over all N. The others start one local Ray cluster (2 CPUs) for the module, with
tests/test_ray.py's fixture, and are skipped when Ray is not installed, except the one that checks the
message saying how to install it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from samarl._tensor_file import load_tensor_file
from samarl.cli import main
from samarl.errors import ConfigError
from samarl.training import Trainer
from tiny import tiny_config, tiny_scenario

#: A tiny per-agent-weights run of `samarl train` (6 agents, 2 copies each, 2 iterations).
TINY = (
    "train", "--scenario", "small", "--agents", "6", "--iterations", "2", "--num-steps", "8",
    "--agent-copies", "2", "--hidden-sizes", "8", "--parameterisation", "per_agent",
    "--no-progress", "--no-eval",
)  # fmt: skip


def _weights(agents: tuple[int, int] | None, n: int, copies: int) -> dict[str, torch.Tensor]:
    cfg = tiny_config(parameterisation="per_agent", iterations=2, agent_copies=copies)
    trainer = Trainer(tiny_scenario(n), cfg, "unused", agents=agents)
    for _ in range(cfg.iterations):
        trainer.iterate()
    return trainer.policy.state_dict()


@pytest.mark.parametrize(
    ("n", "copies", "agents"),
    [(7, 2, (2, 5)), (7, 2, (6, 7)), (7, 1, (0, 4)), (5, 3, (1, 3))],
)
def test_agents_trained_alone_get_their_weights_in_the_serial_run(
    n: int, copies: int, agents: tuple[int, int]
) -> None:
    a, b = agents
    full, part = _weights(None, n, copies), _weights(agents, n, copies)
    shared = {"obs_rms.count", "value_rms.count", "block_of_step", "block_position", "_roll"}
    for key, value in part.items():
        expected = full[key] if key in shared else full[key][a:b]
        assert torch.equal(value, expected), key


def test_only_per_agent_weights_train_a_subset_of_the_agents() -> None:
    with pytest.raises(ConfigError, match="agents: only per-agent weights"):
        Trainer(tiny_scenario(4), tiny_config(), "unused", agents=(0, 2))
    with pytest.raises(ConfigError, match="agents: expected 0 <= a < b <= 4"):
        Trainer(
            tiny_scenario(4), tiny_config(parameterisation="per_agent"), "unused", agents=(3, 3)
        )


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--shards", "0", "--ray"], "--shards: must be in [1, 6]"),
        (["--shards", "7", "--ray"], "--shards: must be in [1, 6]"),
        (["--shards", "2"], "--shards: needs --ray"),
        (["--ray"], "--ray: samarl train distributes its agents with --shards"),
        (["--shards", "2", "--ray", "--resume"], "--shards: resuming is not supported"),
        (["--shards", "2", "--ray", "--target-kl", "0.1"], "--shards: target_kl"),
        (["--shards", "2", "--ray", "--parameterisation", "shared"], "--shards: shards train"),
    ],
)
def test_shards_refuse_what_they_cannot_do_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], said: str
) -> None:
    assert main([*TINY, *extra, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert said in err


def test_without_ray_shards_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    assert main([*TINY, "--shards", "2", "--ray", "--out", str(tmp_path / "x")]) == 2
    assert "pip install 'samarl[ray]'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def serial_policy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("serial") / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    return load_tensor_file(out / "policy.safetensors", kind="policy", what="policy")


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_write_the_serial_runs_policy(
    ray_cluster: Any,
    serial_policy: dict[str, Any],
    tmp_path: Path,
    shards: int,
) -> None:
    import numpy as np

    from samarl.training import load_policy

    out = tmp_path / "sharded"
    assert main([*TINY, "--shards", str(shards), "--ray", "--out", str(out)]) == 0
    joined = load_tensor_file(out / "policy.safetensors", kind="policy", what="policy")
    assert joined["hparams"] == serial_policy["hparams"]
    for key in ("static_features", "profile_blocks", "block_of_step"):
        np.testing.assert_array_equal(joined[key], serial_policy[key])
    assert joined["state_dict"].keys() == serial_policy["state_dict"].keys()
    for key, value in serial_policy["state_dict"].items():
        assert torch.equal(joined["state_dict"][key], value), key
    assert load_policy(out).num_agents == 6  # what samarl run loads
    assert (out / "progress.jsonl").read_text().count("\n") == 2


def test_a_dead_shard_is_named_without_hanging(
    ray_cluster: Any,
) -> None:
    import signal

    from samarl.distributed.shards import ShardError, _Shards

    # Many iterations: shards run ahead of the driver, and this one must still be running.
    cfg = tiny_config(parameterisation="per_agent", iterations=1000)
    run = _Shards(ray_cluster, tiny_scenario(4), cfg, 2)

    def drain() -> None:
        for i in range(1, cfg.iterations + 2):
            run.next(f"at iteration {i}")

    try:
        pids = [pid for pid, _ in run.next("while starting")]
        os.kill(pids[1], signal.SIGKILL)
        start = time.perf_counter()
        with pytest.raises(
            ShardError, match=r"^shard 1 of 2 \(agents 2\.\.4\) failed at iteration"
        ):
            drain()
        assert time.perf_counter() - start < 30
    finally:
        run.cancel()
