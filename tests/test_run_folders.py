"""No run lost: atomic writes, output folders that are never silently reused, the training log
across a resume, and training that diverges."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from samarl._io import LOCK_FILE, atomic_write, remove_temporaries
from samarl._tensor_file import load_tensor_file
from samarl.cli import main
from samarl.errors import FolderInUseError
from samarl.logging import KVLogger
from samarl.training import TrainingDivergedError, train
from samarl.training import trainer as trainer_module
from samarl.training.run_folder import CHECKPOINT_FILE, POLICY_FILE
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

    atomic_write(tmp_path / "policy.safetensors", writer)
    (tmp_path / names[0]).write_text("half a checkpoint")  # as a SIGKILL mid-write leaves it
    (tmp_path / ".keep").write_text("")
    (tmp_path / ".notes.tmp").write_text("")
    assert remove_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".keep",
        ".notes.tmp",
        "policy.safetensors",
    ]


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
        assert not (out / "checkpoints" / "latest.safetensors").exists()
        assert not (out / "policy.safetensors").exists()
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
    state = load_tensor_file(out / CHECKPOINT_FILE, kind="checkpoint", what="resume")
    assert state["iteration"] == 2
    assert not (out / POLICY_FILE).exists()
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
    assert not (tmp_path / CHECKPOINT_FILE).exists()


# ------------------------------------------------------------------------------ one writer


TINY_TRAIN = (
    "train", "--scenario", "small", "--agents", "4", "--iterations", "1", "--num-steps", "8",
    "--agent-copies", "2", "--hidden-sizes", "8", "--no-eval", "--no-progress",
)  # fmt: skip


def hold(folder: Path) -> subprocess.Popen[str]:
    """Another process holding ``folder`` as a command does, until it is killed."""
    code = (
        "import sys, time\n"
        "from samarl._io import own_folder\n"
        "own_folder(sys.argv[1], 'samarl train')\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "held\n"
    return proc


def test_a_folder_in_use_is_refused_in_one_line_until_its_holder_dies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = hold(out)
    try:
        for extra in ([], ["--overwrite"], ["--resume"]):
            assert main([*TINY_TRAIN, *extra, "--out", str(out)]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1
            assert f"is in use by another samarl command (`samarl train`, pid {holder.pid}," in err
        with pytest.raises(FolderInUseError, match="in use by another samarl command"):
            train(tiny_scenario(), tiny_config(iterations=1), out, evaluate=False)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written
    finally:
        holder.kill()  # SIGKILL: the operating system drops its lock
        holder.communicate()
    assert main([*TINY_TRAIN, "--out", str(out)]) == 0
    assert (out / POLICY_FILE).exists()


def test_temporaries_of_a_killed_command_do_not_count_and_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "consensus").mkdir(parents=True)
    left = [out / ".metrics.0123abcd.tmp.json", out / "consensus" / ".daily.89abcdef.tmp.png"]
    for path in left:
        path.write_bytes(b"")  # what a SIGKILL during a save leaves
    (out / "consensus" / "notes.txt").write_text("mine\n")
    assert main([*TINY_TRAIN, "--out", str(out / "consensus")]) == 2  # it holds a file
    assert main([*TINY_TRAIN, "--out", str(out / "consensus"), "--overwrite"]) == 0
    assert not left[1].exists()
    assert (out / "consensus" / "notes.txt").exists()
    (out / "consensus").rename(tmp_path / "elsewhere")
    assert main([*TINY_TRAIN, "--out", str(out)]) == 0  # only a temporary was there
    assert not left[0].exists()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps")
@pytest.mark.parametrize("moment", ["while torch loads", "while it trains"])
def test_ctrl_c_at_start_up_is_a_clean_exit(tmp_path: Path, moment: str) -> None:
    """SIGINT while the command still imports torch (the first seconds), or later: exit status
    130 and one line, never a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "samarl", *TINY_TRAIN, "--iterations", "50", "--out", str(tmp_path)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        loaded = "libtorch" in maps.read_text()
        if (moment == "while torch loads" and loaded) or (
            moment == "while it trains" and (tmp_path / "progress.csv").exists()
        ):
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err == "samarl train: interrupted\n"
