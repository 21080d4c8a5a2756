"""Every error of the ``samarl`` command is one line on stderr naming the argument, no traceback,
and an exit status that says whose move it is: 2 for a wrong command line, 1 for a failure.

One case of each kind runs as users run the command, in a subprocess (with a timeout; they start
together, since most of each one's time is importing torch). Every case also calls
:func:`samarl.cli.main` in this process: the same code from the command line on, in a fraction of
the time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from samarl.cli import main
from samarl.training import train
from tiny import tiny_config, tiny_scenario

#: Training options of a run that takes a second or two.
TINY = (
    "--scenario", "small", "--agents", "4", "--iterations", "2", "--num-steps", "8",
    "--agent-copies", "2", "--hidden-sizes", "8", "--no-eval", "--no-progress",
)  # fmt: skip

#: name -> (argv with {run}, {tmp}, {out} placeholders, exit status, text the message must contain).
CASES: dict[str, tuple[list[str], int, str]] = {
    "policy damaged": (["run", "--policy", "{tmp}/bad_policy", "--out", "{out}/o1"], 1, "policy: "),
    "config.json damaged": (["run", "--policy", "{tmp}/bad_config", "--out", "{out}/o2"], 1, "policy: "),
    "no policy in the folder": (["run", "--policy", "{tmp}/no_policy", "--out", "{out}/o3"], 2, "policy: "),
    "checkpoint damaged": (["train", *TINY, "--resume", "--out", "{tmp}/bad_ckpt"], 1, "resume: "),
    "unknown device": (["run", "--policy", "{run}", "--device", "tpu9", "--out", "{out}/o4"], 2, "device: "),
    "out under a file": (["run", "--policy", "{run}", "--out", "{tmp}/a_file/o5"], 1, "out: cannot create"),
    "out not empty": (["train", *TINY, "--out", "{run}"], 2, "--overwrite"),
    "binary scenario file": (["train", "--scenario", "{tmp}/binary.toml", "--out", "{out}/o6"], 2, "scenario: "),
    "binary config file": (["train", "--config", "{tmp}/binary.toml", "--out", "{out}/o7"], 2, "config: "),
    "bad option value": (["train", "--iterations", "two", "--out", "{out}/o8"], 2, "--iterations"),
    "unknown option": (["run", "--policy", "{run}", "--dyas", "2", "--out", "{out}/o9"], 2, "--dyas"),
    "training diverges": (["train", *TINY, "--learning-rate", "1e12", "--out", "{out}/o10"], 1, "iteration 1"),
    "graph npz damaged": (["run", "--policy", "{run}", "--graph", "{tmp}/indptr.npz", "--out", "{out}/o11"], 2, "graph: "),
    "YAML alias bomb": (["train", "--scenario", "{tmp}/bomb.yaml", "--out", "{out}/o12"], 2, "aliases"),
    "engine demo beyond memory": (["demo", "--engine", "--agents", "4000000000", "--out", "{out}/o13"], 2, "num_agents: 4,000,000,000 agents need ~"),
    "experiment policy missing": (["experiment", "feasibility", "--quick", "--policy", "{tmp}/nowhere", "--out", "{out}/o14"], 2, "policy: "),
    "rounds beyond agreement": (["run", "--policy", "{run}", "--days", "1", "--consensus-rounds", "1000000000", "--out", "{out}/o15"], 2, "consensus_rounds: 1,000,000,000 rounds per update"),
}  # fmt: skip

#: The cases that also run in a subprocess: one of each kind of error.
SUBPROCESS = (
    "policy damaged",
    "no policy in the folder",
    "unknown option",
    "training diverges",
    "graph npz damaged",  # SciPy's C++ code aborted the process (glibc: corrupted size)
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``run`` (a trained run folder) and ``tmp`` (the damaged files of :data:`CASES`)."""
    tmp = tmp_path_factory.mktemp("cli_errors")
    run = tmp / "run"
    train(tiny_scenario(), tiny_config(iterations=1), run, evaluate=False)
    (tmp / "a_file").write_text("not a folder\n")
    (tmp / "binary.toml").write_bytes(bytes(range(256)) * 8)
    for name in ("bad_policy", "bad_config", "no_policy"):
        shutil.copytree(run, tmp / name)
    (tmp / "bad_policy" / "policy.safetensors").write_bytes(b'\x40\0\0\0\0\0\0\0{"__meta')
    (tmp / "bad_config" / "config.json").write_text('{"scenario": {"num_agents": ')
    (tmp / "no_policy" / "policy.safetensors").unlink()
    shutil.rmtree(tmp / "no_policy" / "checkpoints")
    (tmp / "bad_ckpt" / "checkpoints").mkdir(parents=True)
    (tmp / "bad_ckpt" / "checkpoints" / "latest.safetensors").write_bytes(os.urandom(64))
    # A CSR pointer that rises past the 4 entries and falls back (one per agent of the run).
    indptr = np.array([0, 20, 20, 20, 4])
    np.savez(tmp / "indptr.npz", format=b"csr", shape=[4, 4], indptr=indptr, indices=[1, 0, 3, 2], data=np.ones(4))  # fmt: skip
    # An alias bomb: 390 bytes that PyYAML expands to 9**9 items.
    value = "&a0 [1.0]"
    for i in range(1, 9):
        value = f"&a{i} [{value}, " + ", ".join([f"*a{i - 1}"] * 8) + "]"
    (tmp / "bomb.yaml").write_text(f"num_agents: {value}\n")
    return {"run": run, "tmp": tmp}


def argv_of(case: str, folders: dict[str, Path], out: str) -> list[str]:
    """The case's command line, with its outputs in ``tmp/out`` (each way of running has its own)."""
    return [a.format(out=folders["tmp"] / out, **folders) for a in CASES[case][0]]


@pytest.fixture(scope="module")
def subprocess_results(folders: dict[str, Path]) -> dict[str, tuple[int, str]]:
    """``(exit status, stderr)`` of every case of :data:`SUBPROCESS`, run as a command."""

    def one(case: str) -> tuple[int, str]:
        res = subprocess.run(
            [sys.executable, "-m", "samarl.cli", *argv_of(case, folders, "subprocess")],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        return res.returncode, res.stderr

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(SUBPROCESS, pool.map(one, SUBPROCESS), strict=True))


def check(case: str, status: int, stderr: str) -> None:
    _, expected, text = CASES[case]
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("samarl "), lines[0]
    assert text in lines[0], lines[0]
    assert status == expected, lines[0]


@pytest.mark.parametrize("case", SUBPROCESS)
def test_a_command_error_is_one_line_naming_the_argument(
    case: str, subprocess_results: dict[str, tuple[int, str]]
) -> None:
    check(case, *subprocess_results[case])


@pytest.mark.parametrize("case", list(CASES))
def test_every_error_is_one_line_naming_the_argument(
    case: str, folders: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(argv_of(case, folders, "in_process"))
    except SystemExit as e:  # argparse
        status = int(e.code or 0)
    check(case, status, capsys.readouterr().err)


def test_an_out_folder_that_cannot_be_written_is_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        status = main(["train", *TINY, "--out", str(locked / "run")])
    finally:
        locked.chmod(0o700)
    err = capsys.readouterr().err
    assert status == 1
    assert err.strip().splitlines() == [err.strip()]
    assert "out: cannot create" in err


def test_graph_params_keep_integers(
    folders: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--graph-params k=2`` is the integer 2 (integer parameters refuse 2.0), as the option's
    own example says; ``beta=0.2`` stays a float and ``connected=false`` a boolean."""
    from samarl.cli.options import _key_value

    assert _key_value("k=2") == ("k", 2)
    assert isinstance(_key_value("k=2")[1], int)
    assert _key_value("beta=0.2") == ("beta", 0.2)
    assert _key_value("connected=false") == ("connected", False)
    out = folders["tmp"] / "ring_k2"
    argv = [
        "run",
        "--policy",
        str(folders["run"]),
        "--agents",
        "8",
        "--days",
        "1",
        "--graph",
        "ring",
    ]
    assert main([*argv, "--graph-params", "k=2", "--no-progress", "--out", str(out)]) == 0
    assert "error" not in capsys.readouterr().err
