"""No run lost: atomic writes, output folders that are never silently reused, the training log
across a resume, and training that diverges."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from samarl._io import FileError, atomic_write, load_torch, remove_temporaries
from samarl.cli import main
from samarl.logging import KVLogger
from samarl.training import TrainingDivergedError, train
from samarl.training import trainer as trainer_module
from tiny import tiny_config, tiny_scenario

# ------------------------------------------------------------------------------ atomic writes


def test_atomic_write_replaces_whole_files_or_leaves_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    atomic_write(path, '{"a": 1}\n')
    assert path.read_text() == '{"a": 1}\n'

    def dies_half_way(tmp: Path) -> None:
        tmp.write_text('{"a": 2, "b": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies_half_way)
    assert path.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left


def test_atomic_write_keeps_the_suffix_writers_rely_on(tmp_path: Path) -> None:
    path = tmp_path / "trajectories.npz"
    atomic_write(path, lambda tmp: np.savez(tmp, x=np.arange(3)))  # np.savez adds .npz otherwise
    assert np.load(path)["x"].tolist() == [0, 1, 2]
    atomic_write(tmp_path / "b.bin", b"\x00\x01")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "trajectories.npz"]


def test_a_write_the_disk_refuses_names_the_file_not_its_temporary(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        atomic_write(tmp_path / "missing" / "x.json", "{}")
    assert info.value.filename == str(tmp_path / "missing" / "x.json")


def test_temporaries_a_killed_write_left_are_removed_and_nothing_else(tmp_path: Path) -> None:
    names: list[str] = []

    def writer(tmp: Path) -> None:
        names.append(tmp.name)
        tmp.write_text("x")

    atomic_write(tmp_path / "policy.pt", writer)
    (tmp_path / names[0]).write_text("half a checkpoint")  # as a SIGKILL mid-write leaves it
    (tmp_path / ".keep").write_text("")
    (tmp_path / ".notes.tmp").write_text("")
    assert remove_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", ".notes.tmp", "policy.pt"]


def test_a_truncated_torch_file_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.pt"
    torch.save({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(FileError, match=r"^policy: .*policy.pt' is damaged"):
        load_torch(path, what="policy")


# ------------------------------------------------------------------------------ output folders


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--scenario", "small"],
        ["demo"],
        ["demo", "--engine"],
        ["experiment", "feasibility", "--quick"],
        ["experiment", "ctde", "--quick"],
    ],
    ids=lambda a: " ".join(a),
)
def test_every_command_refuses_a_folder_that_holds_files(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policy.pt").write_bytes(b"the first run's policy")
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "already holds files" in err
    assert "--overwrite" in err
    assert ("--resume" in err) == (argv[0] == "train")
    assert (tmp_path / "policy.pt").read_bytes() == b"the first run's policy"


def test_run_refuses_a_folder_that_holds_files_and_overwrite_writes_into_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy"
    train(tiny_scenario(), tiny_config(iterations=1), policy, evaluate=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    common = [
        "run",
        "--policy",
        str(policy),
        "--mode",
        "independent",
        "--days",
        "1",
        "--no-progress",
    ]
    common += ["--out", str(out)]
    assert main(common) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*common, "--overwrite"]) == 0
    assert json.loads((out / "metrics.json").read_text())["num_agents"] == 4
    assert (out / "notes.txt").read_text() == "mine\n"  # files it does not write stay


def test_a_fresh_run_removes_what_an_earlier_run_left(tmp_path: Path) -> None:
    """Training afresh into a used folder (``--overwrite``) first removes the old run's checkpoint,
    policy and response, so a fresh run killed early cannot resume, or be read as, the old one."""
    out = tmp_path / "run"
    train(tiny_scenario(), tiny_config(iterations=1), out, evaluate=False)
    (out / "response.json").write_text("{}\n")
    calls: list[int] = []

    def stop(trainer: trainer_module.Trainer, _row: dict[str, float]) -> None:
        calls.append(trainer.iteration)
        assert not (out / "checkpoints" / "latest.pt").exists()
        assert not (out / "policy.pt").exists()
        assert not (out / "response.json").exists()

    train(tiny_scenario(), tiny_config(iterations=1), out, evaluate=False, callback=stop)
    assert calls == [1]


def test_a_resumed_log_skips_a_row_cut_short_by_a_kill(tmp_path: Path) -> None:
    rows = [{"iteration": 1.0, "a": 1.0}, {"iteration": 2.0, "a": 2.0}]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "progress.jsonl").write_text(text + '{"iteration": 3.0, "a"')
    logger = KVLogger(tmp_path, resume_iteration=2)
    logger.close()
    assert logger.rows == rows
    assert (tmp_path / "progress.jsonl").read_text() == text
    assert (tmp_path / "progress.csv").read_text().splitlines()[1:] == ["1.0,1.0", "2.0,2.0"]


# ------------------------------------------------------------------------------ divergence


def test_training_that_diverges_stops_naming_the_iteration_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samarl.training.ppo import ppo_update as real

    updates: list[int] = []

    def poisoned(policy: torch.nn.Module, *args: object, **kwargs: object) -> dict[str, float]:
        stats = real(policy, *args, **kwargs)  # type: ignore[arg-type]
        updates.append(1)
        if len(updates) == 3:
            with torch.no_grad():
                next(policy.parameters()).fill_(float("nan"))
        return stats

    monkeypatch.setattr(trainer_module, "ppo_update", poisoned)
    cfg = tiny_config(checkpoint_every=1)
    out = tmp_path / "run"
    with pytest.raises(
        TrainingDivergedError, match=r"^training diverged at iteration 3: the policy's .* finite"
    ):
        train(tiny_scenario(), cfg, out, evaluate=False)
    state = torch.load(out / "checkpoints" / "latest.pt", weights_only=False)
    assert state["iteration"] == 2
    assert not (out / "policy.pt").exists()
    lines = (out / "progress.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [1, 2]

    monkeypatch.undo()  # the resumed run continues from iteration 2 as if nothing happened
    resumed = train(tiny_scenario(), cfg, out, resume=True, evaluate=False)
    whole = train(tiny_scenario(), cfg, tmp_path / "whole", evaluate=False)
    for key, value in whole.policy.state_dict().items():
        assert torch.equal(resumed.policy.state_dict()[key], value), key


def test_an_absurd_learning_rate_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tiny_config(learning_rate=1e12, anneal_lr=False, checkpoint_every=1)
    with pytest.raises(TrainingDivergedError, match=r"^training diverged at iteration 1: "):
        train(tiny_scenario(), cfg, tmp_path, evaluate=False)
    assert not (tmp_path / "checkpoints" / "latest.pt").exists()
