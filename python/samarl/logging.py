"""The key-value logger of training, execution and experiments (SB3 style).

``record(key, value)`` sets a namespaced key (``rollout/``, ``train/``, ``dual/``, ``constraint/``,
``consensus/``, ``time/``) for the current row; ``dump(step)`` writes the row to every writer:
``progress.csv`` and ``progress.jsonl`` always, TensorBoard when ``torch.utils.tensorboard`` imports.
Rows are appended as they come; a resumed run rewrites the files (atomically) with the rows up to
its checkpoint, skipping a last row cut short by a killed process.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, TextIO

from samarl._io import atomic_write

__all__ = ["KVLogger"]


class KVLogger:
    """Key-value recorder with pluggable writers (SB3 style): ``record(key, value)`` then ``dump(step)``.

    Writers: ``progress.csv`` and ``progress.jsonl`` always; TensorBoard when ``torch.utils.tensorboard``
    imports. The CSV header is the union of keys seen so far (rewritten when a new key appears).
    """

    def __init__(self, out_dir: Path, *, resume_iteration: int | None = None) -> None:
        self.out_dir = out_dir
        self.jsonl_path = out_dir / "progress.jsonl"
        self.csv_path = out_dir / "progress.csv"
        self.rows: list[dict[str, float]] = []
        if resume_iteration is not None and self.jsonl_path.exists():
            for line in self.jsonl_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:  # the last row of a killed run may be cut short
                    continue
                if isinstance(row, dict) and row.get("iteration", 0) <= resume_iteration:
                    self.rows.append(row)
        self._current: dict[str, float] = {}
        # The kept rows replace the files atomically: a run killed now still has its history.
        atomic_write(self.jsonl_path, "".join(json.dumps(row) + "\n" for row in self.rows))
        self._write_csv()
        self._jsonl: TextIO = open(self.jsonl_path, "a", encoding="utf-8")
        self._tb: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional extra

            self._tb = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:  # tensorboard is an optional extra
            self._tb = None

    def record(self, key: str, value: float) -> None:
        """Sets ``key`` (``namespace/name``) for the current row."""
        self._current[key] = float(value)

    def record_many(self, prefix: str, values: dict[str, float]) -> None:
        """Records every ``values[k]`` as ``prefix/k``."""
        for k, v in values.items():
            self.record(f"{prefix}/{k}", v)

    def dump(self, iteration: int) -> dict[str, float]:
        """Writes the current row (tagged with ``iteration``) and starts a new one."""
        row = {"iteration": float(iteration), **self._current}
        self._current = {}
        new_keys = self.rows and set(row) - set().union(*self.rows)
        self.rows.append(row)
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        if new_keys or len(self.rows) == 1:
            self._write_csv()
        else:
            with open(self.csv_path, "a", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, fieldnames=self._keys()).writerow(row)
        if self._tb is not None:
            for k, v in row.items():
                if k != "iteration" and math.isfinite(v):
                    self._tb.add_scalar(k, v, iteration)
        return row

    def _keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for row in self.rows:
            keys.update(dict.fromkeys(row))
        return list(keys)

    def _write_csv(self) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=self._keys())
                w.writeheader()
                w.writerows(self.rows)

        atomic_write(self.csv_path, write)

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
