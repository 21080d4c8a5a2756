"""The ``samarl`` command line.

    samarl demo        [--out DIR]                       the main job (see README)
    samarl bench kernels [--agents N] [--json FILE]      Rust engine vs NumPy/SciPy references
    samarl train       ...                               train state-augmented policies
    samarl run         ...                               execute trained policies with consensus
    samarl experiment NAME ...                           the paper's experiments
    samarl convert     DIR                               a run folder of samarl < 0.2, made safe

Every subcommand prints progress and writes its results under ``--out``: a folder that is new or
empty, unless ``--overwrite`` (or ``samarl train --resume``) says to write into it. Every file is
written atomically, so a killed command leaves whole files only.

An error is one line on stderr, ``samarl COMMAND: error: NAME: what is wrong``, naming the
argument, and no traceback. The exit status says whose move it is: 2 when the command line is wrong
(an unknown option, a bad value, a file that is not what the option takes), 1 when the command was
right but running it failed (a file that cannot be read or written, a damaged run folder, training
that diverged), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from samarl._io import scoped_holds
from samarl.errors import SamarlError

#: Subcommands: name -> help. Each is the module ``samarl.cli.NAME`` with ``add_arguments(parser)``
#: and ``run(args) -> int``, imported only when chosen (so ``samarl --help`` stays fast).
COMMANDS = {
    "demo": "the main job: train agents, run them with consensus, save results",
    "bench": "benchmarks that print measured ratios",
    "train": "train state-augmented policies (PPO on the Lagrangian)",
    "run": "run trained policies with dual dynamics and consensus",
    "experiment": "the paper's experiments: a Markdown report with figures",
    "convert": "convert a run folder of samarl < 0.2 (pickled policy.pt) to safetensors",
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line (argparse prints the whole usage first,
    dozens of lines for ``samarl train``), pointing to ``--help``. Sub-parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``samarl`` command; only ``command``'s module is imported."""
    from samarl import __version__

    parser = ArgumentParser(prog="samarl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"samarl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            mod = importlib.import_module(f"samarl.cli.{name}")
        except ModuleNotFoundError as e:  # an optional dependency (e.g. torch) is missing
            if e.name and e.name.startswith("samarl"):
                raise
            missing = e.name
            p = sub.add_parser(name, help=f"{help_text} (unavailable: {missing} not installed)")
            p.set_defaults(handler=lambda _a, m=missing: _missing(m))
            continue
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or "").split("\n\n")[0])
        mod.add_arguments(p)
        p.set_defaults(handler=mod.run, parser=p)
    return parser


def _missing(module: str | None) -> int:
    print(f"samarl: this command needs {module}; install it with pip", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``samarl`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:  # Ctrl-C while the command's modules (torch, ...) are still being imported, too
        return _run(argv, command)
    except KeyboardInterrupt:
        print(
            f"samarl {command}: interrupted" if command else "samarl: interrupted", file=sys.stderr
        )
        return 130


def _run(argv: list[str], command: str | None) -> int:
    """:func:`main` for the parsed command line."""
    parser = build_parser(command)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's own parser, which names it and its --help
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        with scoped_holds():  # the --out folder is this command's until it returns
            return int(args.handler(args) or 0)
    except SamarlError as e:
        print(f"samarl {args.command}: error: {_one_line(str(e))}", file=sys.stderr)
        return int(getattr(e, "exit_status", 2))
    except OSError as e:  # the file system refused (full disk, permissions, ...)
        where = f"{e.filename!r}: " if e.filename else ""
        reason = e.strerror or _one_line(str(e))
        print(f"samarl {args.command}: error: {where}{reason}", file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    """A message on one line (a wrapped library message, or one quoting a file, may hold more)."""
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
