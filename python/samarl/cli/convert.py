"""``samarl convert DIR``: a run folder of samarl < 0.2 rewritten in the safe policy format.

Before 0.2, ``samarl train`` saved its policy and checkpoint as pickles (``policy.pt``,
``checkpoints/latest.pt``), and loading a pickle can run any code it holds. samarl no longer loads
them; this command reads them once with torch's weights-only unpickler (tensors, NumPy arrays and
plain containers; anything that would call code is refused) and writes ``policy.safetensors`` and
``checkpoints/latest.safetensors`` beside them. The pickles are left in place.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from samarl._io import own_folder
from samarl.errors import ConfigError
from samarl.training.run_folder import convert_run

HELP = "convert a run folder of samarl < 0.2 (pickled policy.pt) to safetensors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run folder."""
    parser.add_argument("folder", metavar="DIR", help="a `samarl train` run folder")


def run(args: argparse.Namespace) -> int:
    """Converts the folder's pickles."""
    folder = Path(args.folder)
    if not folder.is_dir():
        raise ConfigError(f"policy: {os.fspath(folder)!r} is not a folder")
    own_folder(folder, "samarl convert")
    for path in convert_run(folder):
        print(f"wrote {path}")
    print(f"{folder}: converted; the .pt pickles are left (delete them once the run loads)")
    return 0
