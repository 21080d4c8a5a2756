"""Fuzzing the ``samarl`` command line: every option of ``train``, ``run`` and ``demo`` given a
malformed value on an otherwise valid, tiny command.

The options come from the commands' own parsers (a new option is fuzzed without touching this
file). Allowed outcomes: the command runs (exit 0: the value was acceptable), or it stops with exit
status 2 (a wrong command line) or 1 (a failure) and one line on stderr that names the option,
without a traceback. Each call runs in this process through :func:`samarl.cli.main` under a time
limit (a hang fails); ``tests/test_cli_errors.py`` runs the same entry point as a subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samarl.cli import build_parser, main
from samarl.training import train
from tiny import tiny_config, tiny_scenario

#: A training run that takes a second or two.
TINY = (
    "--scenario", "small", "--agents", "4", "--iterations", "1", "--num-steps", "8",
    "--agent-copies", "2", "--hidden-sizes", "8", "--eval-points", "2", "--eval-days", "1",
    "--no-progress",
)  # fmt: skip

#: Each command's valid base command line ({run}: a trained run folder); --out is added per call.
BASE = {
    "train": [*TINY, "--no-eval"],
    "run": ["--policy", "{run}", "--days", "1", "--no-progress"],
    "demo": [*TINY, "--days", "1"],
}

#: Options that name where results go (fuzzing them would write around the file system).
SKIP = {"--out", "--help", "--json"}

#: Values a user mistypes: signs, zeros, overflows, non-numbers, empty, paths that are no file.
BAD_VALUES = (
    "-1", "0", "-0.0", "1.5", "1e309", "nan", "inf", "-inf", "abc", "", " ", "2**64",
    "99999999999999999999999", "0x10", "1,2", "{binary}", "/nonexistent/file.toml", "{run}",
)  # fmt: skip

#: Seconds a command may take (a tiny run takes a few).
LIMIT_S = 120

#: Examples per command: few on CI, the profile's own number otherwise (``fuzz``: a long run).
_EXAMPLES = {"ci": 4, "dev": 6}.get(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def options(command: str) -> list[tuple[str, str, int | str | None]]:
    """``(flag, dest, nargs)`` of every option of ``command`` that takes a value."""
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for action in sub.choices[command]._actions:
        flags = [f for f in action.option_strings if f.startswith("--")]
        if not flags or action.nargs == 0 or flags[0] in SKIP:
            continue
        found.append((flags[0], action.dest, action.nargs))
    return found


@pytest.fixture(scope="module")
def files() -> Iterator[dict[str, str]]:
    """``run``: a trained run folder; ``binary``: a file of random bytes named like a config."""
    with tempfile.TemporaryDirectory(prefix="samarl_cli_fuzz_") as tmp:
        run = Path(tmp) / "run"
        train(tiny_scenario(), tiny_config(iterations=1), run, evaluate=False)
        binary = Path(tmp) / "binary.toml"
        binary.write_bytes(bytes(range(256)) * 4)
        yield {"run": str(run), "binary": str(binary), "tmp": tmp}


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"the command ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def with_value(base: list[str], flag: str, nargs: int | str | None, value: str) -> list[str]:
    """``base`` with ``flag`` (and its values there) replaced by ``flag value``."""
    argv, i = [], 0
    while i < len(base):
        if base[i] == flag:
            i += 1
            while i < len(base) and not base[i].startswith("--"):
                i += 1
            continue
        argv.append(base[i])
        i += 1
    return [*argv, flag, value] if nargs != "+" else [*argv, flag, value, value]


def check_outcome(argv: list[str], flag: str, dest: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        with time_limit(LIMIT_S):
            try:
                status = main(argv)
            except SystemExit as e:  # argparse
                status = int(e.code or 0)
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    if status == 0:
        return
    assert status in (1, 2), (argv, status, text)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, (argv, text)
    names = {flag, flag.lstrip("-"), dest, dest.replace("_", "-")}
    assert any(name in lines[0] for name in names), (argv, lines[0])


CASES = [(command, *option) for command in BASE for option in options(command)]


@settings(
    **({"max_examples": _EXAMPLES} if _EXAMPLES else {}),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(value=st.sampled_from(BAD_VALUES), data=st.data())
@pytest.mark.parametrize("command", list(BASE))
def test_a_malformed_option_value_is_one_line_naming_the_option(
    command: str, value: str, data: st.DataObject, files: dict[str, str]
) -> None:
    flag, dest, nargs = data.draw(st.sampled_from(options(command)), label="option")
    value = value.format(**files)
    with tempfile.TemporaryDirectory(dir=files["tmp"]) as out:
        base = [a.format(**files) for a in BASE[command]]
        argv = [command, *with_value(base, flag, nargs, value), "--out", str(Path(out) / "o")]
        check_outcome(argv, flag, dest)


@pytest.mark.parametrize(("command", "flag", "dest", "nargs"), CASES, ids=lambda v: str(v))
def test_every_option_refuses_a_non_number_or_takes_it(
    command: str, flag: str, dest: str, nargs: int | str | None, files: dict[str, str]
) -> None:
    """One deterministic pass over every option: the value ``abc``."""
    with tempfile.TemporaryDirectory(dir=files["tmp"]) as out:
        base = [a.format(**files) for a in BASE[command]]
        argv = [command, *with_value(base, flag, nargs, "abc"), "--out", str(Path(out) / "o")]
        check_outcome(argv, flag, dest)
