"""No run is lost: ``samarl train`` killed (SIGKILL) at random moments, then ``--resume``d, ends
with the same policy, bit for bit, and the same log as a run never interrupted.

Checkpoints are written atomically and hold every random state, so whatever the moment of the kill
(inside an iteration, while a checkpoint or the log is written), the folder keeps a whole checkpoint
and the resumed run retraces the lost iterations exactly. The moments come from a seeded
generator, so a failure reproduces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from samarl._tensor_file import load_tensor_file
from samarl.training import train
from tiny import tiny_config, tiny_scenario

#: The run: a checkpoint after every iteration, each iteration a fraction of a second.
SETTINGS = {"iterations": 10, "checkpoint_every": 1}
COMMAND = (
    "--scenario", "small", "--agents", "4", "--iterations", "10", "--num-steps", "16",
    "--agent-copies", "2", "--episode-days", "0.25", "--update-epochs", "2",
    "--num-minibatches", "2", "--hidden-sizes", "16", "16", "--checkpoint-every", "1",
    "--no-eval", "--no-progress",
)  # fmt: skip
#: Kills before the run may finish (the last start always runs to the end).
KILLS = 2


def untimed(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def checkpoint_stamp(out: Path) -> int:
    try:
        return (out / "checkpoints" / "latest.safetensors").stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def start(out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "samarl.cli", "train", *COMMAND, "--resume", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_after_a_checkpoint(proc: subprocess.Popen[bytes], out: Path, delay: float) -> bool:
    """Waits for the process to write a checkpoint, then ``delay`` seconds more, then kills it;
    ``False`` when it finished first."""
    before = checkpoint_stamp(out)
    deadline = time.monotonic() + 120
    while checkpoint_stamp(out) == before and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    return not finished


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_run_resumes_to_the_same_policy(tmp_path: Path) -> None:
    config = tiny_config(**SETTINGS)
    assert config.to_dict() == tiny_config(**SETTINGS).to_dict()
    whole = train(tiny_scenario(), config, tmp_path / "whole", evaluate=False)

    out = tmp_path / "killed"
    rng = np.random.default_rng(2024)
    kills = 0
    for _ in range(KILLS):
        proc = start(out)
        # Mostly inside an iteration; sometimes at once (while the checkpoint may still be written).
        delay = float(rng.choice([0.0, rng.uniform(0.0, 0.4)]))
        if not kill_after_a_checkpoint(proc, out, delay):
            break
        kills += 1
    proc = start(out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert kills >= 1, "the run finished before the first kill"

    saved = load_tensor_file(out / "policy.safetensors", kind="policy", what="policy")["state_dict"]
    expected = whole.policy.state_dict()
    assert saved.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(saved[key], value), f"{key} differs after {kills} kills"
    rows = [json.loads(x) for x in (out / "progress.jsonl").read_text().splitlines()]
    assert untimed(rows) == untimed(whole.history)
