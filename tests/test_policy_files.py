"""Policies and checkpoints: files that never run code, refuse damage, and carry their world.

- the safetensors layout of :mod:`samarl._tensor_file`: round trips, other readers open it, every
  damaged byte is refused, and a fuzz of random, truncated, flipped and re-checksummed files ends in
  a result or a ``samarl.errors`` exception;
- pickles of samarl < 0.2: never loaded, converted once by ``samarl convert`` without running code;
- a policy on another world: rebound where it can be, refused in one line where it cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarl._tensor_file import load_tensor_file, save_tensor_file
from samarl.cli import main
from samarl.errors import ConfigError, FileError, SamarlError
from samarl.training import Trainer, load_policy, load_run, train
from samarl.training.run_folder import CHECKPOINT_FILE, POLICY_FILE
from tiny import tiny_config, tiny_scenario


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained run folder (shared weights), with its checkpoint."""
    out = tmp_path_factory.mktemp("policy_files") / "run"
    train(tiny_scenario(), tiny_config(iterations=1), out, evaluate=False)
    return out


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    return out


# ------------------------------------------------------------------------------ the layout


def test_a_tree_round_trips_with_its_types() -> None:
    tree = {
        "w": torch.randn(3, 4),
        "t": torch.randn(4, 3).T,  # not contiguous
        "scalar": torch.tensor(2.5),
        "empty": np.zeros((0, 2), np.float32),
        "bytes": torch.tensor([1, 2, 255], dtype=torch.uint8),
        "mask": np.array([True, False]),
        "opt": {"state": {0: {"step": torch.tensor(3.0)}}, "groups": [{"betas": (0.9, 0.99)}]},
        "big": 2**64 - 1,
        "inf": float("-inf"),
        "$odd": None,
    }
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tree-{os.getpid()}.safetensors"
    try:
        save_tensor_file(path, tree, kind="checkpoint")
        back = load_tensor_file(path, kind="checkpoint", what="x")
    finally:
        path.unlink(missing_ok=True)
    assert back.keys() == tree.keys()
    for key in ("w", "t", "scalar", "bytes"):
        assert isinstance(back[key], torch.Tensor), key
        assert torch.equal(back[key], tree[key]), key
    for key in ("empty", "mask"):
        assert isinstance(back[key], np.ndarray)
        np.testing.assert_array_equal(back[key], tree[key])
    assert back["opt"]["state"][0]["step"].shape == ()
    assert back["opt"]["groups"][0]["betas"] == (0.9, 0.99)
    assert (back["big"], back["inf"], back["$odd"]) == (2**64 - 1, float("-inf"), None)


def test_other_safetensors_readers_open_a_policy(run_dir: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    tensors = safetensors_torch.load_file(run_dir / POLICY_FILE)
    policy = load_policy(run_dir)
    for key, value in policy.state_dict().items():
        assert torch.equal(tensors[f"state_dict/{key}"], value), key


def test_a_policy_loads_with_the_weights_it_was_saved_with(run_dir: Path) -> None:
    saved = load_tensor_file(run_dir / POLICY_FILE, kind="policy", what="policy")
    policy = load_policy(run_dir)
    assert saved["state_dict"].keys() == policy.state_dict().keys()
    for key, value in saved["state_dict"].items():
        assert torch.equal(policy.state_dict()[key], value), key
    assert saved["world"]["scenario"] == tiny_scenario().to_dict()


@pytest.mark.parametrize("where", ["data", "header", "metadata", "length"])
def test_one_flipped_byte_anywhere_is_refused(run_dir: Path, tmp_path: Path, where: str) -> None:
    run = copy_run(run_dir, tmp_path)
    path = run / POLICY_FILE
    raw = bytearray(path.read_bytes())
    (size,) = struct.unpack_from("<Q", raw)
    header = raw[8 : 8 + size].decode()
    at = {
        "data": len(raw) - 5,  # inside the last weight
        "header": 8 + header.index('"shape":[') + len('"shape":['),  # a digit of a shape
        "metadata": 8 + header.index("mult_max") + len('mult_max\\":'),  # the price range
        "length": 1,
    }[where]
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(FileError, match=r"^policy: .*policy.safetensors' is damaged"):
        load_run(run)


def test_a_checkpoint_is_not_a_policy_and_a_policy_not_a_checkpoint(
    run_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(FileError, match="a samarl checkpoint file"):
        load_tensor_file(run_dir / CHECKPOINT_FILE, kind="policy", what="policy")
    run = copy_run(run_dir, tmp_path)
    (run / POLICY_FILE).unlink()
    assert load_policy(run).num_agents == 4  # a run killed before its end: the checkpoint's


def test_a_file_claiming_wider_layers_than_it_holds_is_refused_before_allocating(
    run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(run_dir, tmp_path)
    record = load_tensor_file(run / POLICY_FILE, kind="policy", what="policy")
    record["hparams"]["hidden_sizes"] = [200_000, 200_000]  # 3e11 weights if built
    save_tensor_file(run / POLICY_FILE, record, kind="policy")
    with pytest.raises(FileError, match=r"weights, but hidden_sizes \[200000, 200000\]"):
        load_run(run)


# ------------------------------------------------------------------------------ fuzz


def _rewrite(raw: bytes, change: Any) -> bytes:
    """``raw`` with its tree changed by ``change(tree)`` and the checksum made right again: a
    valid file with one field changed."""
    (size,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8 : 8 + size])
    meta = header["__metadata__"]
    tree = json.loads(meta["samarl.tree"])
    change(tree)
    meta["samarl.tree"] = json.dumps(tree)
    del meta["samarl.sha256"]
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    canonical = json.dumps(
        {"__metadata__": meta, **entries}, sort_keys=True, separators=(",", ":")
    ).encode()
    meta["samarl.sha256"] = hashlib.sha256(canonical + raw[8 + size :]).hexdigest()
    text = json.dumps({"__metadata__": meta, **entries}).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + size :]


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths of every leaf and container of a JSON tree."""
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, (*prefix, i))
    return out


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
    st.just({"$tensor": "nonexistent"}),
    st.just({"$dict": [[1]]}),
)


@st.composite
def damaged(draw: st.DrawFn, raw: bytes) -> bytes:
    how = draw(st.sampled_from(["random", "truncate", "flip", "field"]))
    if how == "random":
        return draw(st.binary(max_size=256))
    if how == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if how == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    (size,) = struct.unpack_from("<Q", raw)
    tree = json.loads(json.loads(raw[8 : 8 + size])["__metadata__"]["samarl.tree"])
    path = draw(st.sampled_from([p for p in _paths(tree) if p]))
    value = draw(_VALUES)

    def change(t: Any) -> None:
        for key in path[:-1]:
            t = t[key]
        t[path[-1]] = value

    return _rewrite(raw, change)


def _fuzz_settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def test_a_valid_file_rewritten_with_the_same_field_loads(run_dir: Path, tmp_path: Path) -> None:
    """The fuzz's rewriter keeps a file valid when it changes nothing (so its damaged files are
    damaged where it says)."""
    run = copy_run(run_dir, tmp_path)
    path = run / POLICY_FILE
    path.write_bytes(_rewrite(path.read_bytes(), lambda tree: None))
    assert load_run(run).policy.num_agents == 4


@_fuzz_settings(60)
@given(data=st.data())
def test_fuzzed_policy_files_load_or_raise_a_samarl_error(
    run_dir: Path, tmp_path: Path, data: st.DataObject
) -> None:
    run = tmp_path / "fuzzed"
    if not run.exists():
        shutil.copytree(run_dir, run)
    raw = (run_dir / POLICY_FILE).read_bytes()
    (run / POLICY_FILE).write_bytes(data.draw(damaged(raw)))
    with contextlib.suppress(SamarlError):  # anything else fails the test
        load_run(run)


@_fuzz_settings(40)
@given(data=st.data())
def test_fuzzed_checkpoints_resume_or_raise_a_samarl_error(
    run_dir: Path, tmp_path: Path, data: st.DataObject
) -> None:
    path = tmp_path / "latest.safetensors"
    path.write_bytes(data.draw(damaged((run_dir / CHECKPOINT_FILE).read_bytes())))
    trainer = Trainer(tiny_scenario(), tiny_config(iterations=1), tmp_path)
    with contextlib.suppress(SamarlError):  # anything else fails the test
        trainer.load_checkpoint(path)


# ------------------------------------------------------------------------------ pickles


class _Payload:
    """A pickle that runs a shell command when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pickle_never_runs(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    run = copy_run(run_dir, tmp_path)
    (run / POLICY_FILE).unlink()
    (run / CHECKPOINT_FILE).unlink()
    marker = tmp_path / "pwned"
    torch.save({"hparams": _Payload(marker)}, run / "policy.pt")

    assert main(["run", "--policy", str(run), "--days", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "policy.pt' is a pickle from samarl < 0.2" in err
    assert "samarl convert" in err
    assert main(["convert", str(run)]) == 1
    assert "holds more than plain weights" in capsys.readouterr().err
    assert not marker.exists()
    assert not (run / POLICY_FILE).exists()


def test_a_folder_of_samarl_0_1_converts_and_resumes_exactly(run_dir: Path, tmp_path: Path) -> None:
    """What samarl < 0.2 wrote (``torch.save`` of the policy's dict, and of the trainer's state
    with it) converts to files that load the same weights and resume the run bit for bit."""
    scenario, cfg = tiny_scenario(), tiny_config(iterations=2, checkpoint_every=1)
    whole = train(scenario, cfg, tmp_path / "whole", evaluate=False)
    old = tmp_path / "old"
    train(scenario, cfg, old, stop_after=1, evaluate=False)
    state = load_tensor_file(old / CHECKPOINT_FILE, kind="checkpoint", what="resume")
    state["policy"].pop("world")
    torch.save(state, old / "checkpoints" / "latest.pt")
    torch.save(state["policy"], old / "policy.pt")
    for name in (POLICY_FILE, CHECKPOINT_FILE):
        (old / name).unlink()

    with pytest.raises(ConfigError, match="samarl convert"):
        train(scenario, cfg, old, resume=True, evaluate=False)
    assert main(["convert", str(old)]) == 0
    torch.testing.assert_close(load_policy(old).state_dict(), state["policy"]["state_dict"])
    resumed = train(scenario, cfg, old, resume=True, evaluate=False)
    for key, value in whole.policy.state_dict().items():
        assert torch.equal(resumed.policy.state_dict()[key], value), key


# ------------------------------------------------------------------------------ its world


def test_a_policy_refuses_another_step_length_or_block_count(run_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"days of 96 steps of 0.25 h; .* 24 steps of 1 h"):
        load_run(run_dir, scenario=tiny_scenario().replace(dt_hours=1.0))
    with pytest.raises(ConfigError, match="reads 24 block prices; this scenario has 12 blocks"):
        load_run(run_dir, scenario=tiny_scenario().replace(num_blocks=12))


def test_a_shared_policy_is_rebound_to_another_population(run_dir: Path) -> None:
    other = tiny_scenario().replace(population_seed=3, num_agents=7)
    run = load_run(run_dir, scenario=other)
    assert run.policy.num_agents == 7
    data = other.build()
    from samarl.training.features import population_tables

    static, _ = population_tables(data, other.dt_hours)
    np.testing.assert_array_equal(run.policy.static.numpy(), static)


def test_an_edited_config_json_is_refused_naming_the_field(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["scenario"]["population_seed"] = 5
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"name different scenarios \(population_seed 5 -> 0\)"):
        load_run(run)


def test_per_agent_weights_refuse_other_agents(tmp_path: Path) -> None:
    out = tmp_path / "per_agent"
    cfg = tiny_config(iterations=1, parameterisation="per_agent", target_kl=None)
    train(tiny_scenario(), cfg, out, evaluate=False)
    assert load_run(out).policy.num_agents == 4
    with pytest.raises(ConfigError, match=r"per-agent weights .* \(num_agents 4 -> 5\)"):
        load_run(out, num_agents=5)


def test_a_checkpoint_of_another_scenario_does_not_resume(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    other = tiny_scenario().replace(population_seed=1)
    with pytest.raises(ConfigError, match=r"another scenario \(population_seed 0 -> 1\)"):
        train(other, tiny_config(iterations=2), run, resume=True, evaluate=False)
