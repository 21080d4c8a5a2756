"""Policies and checkpoints on disk: safetensors files that never run code when read.

A pickle (what ``torch.save`` writes) can execute anything when it is loaded, and a policy is a file
people share between machines, shards and colleagues. samarl therefore writes its trained policies
and training checkpoints in the `safetensors <https://github.com/huggingface/safetensors>`_ layout,
and reads them with its own parser (a few lines of ``struct`` and ``json``; no third-party code
touches the bytes):

- 8 bytes: ``N``, the header's length (unsigned little-endian);
- ``N`` bytes: a JSON header. Each tensor is ``name: {"dtype", "shape", "data_offsets": [begin,
  end]}`` (offsets into the data that follows); ``"__metadata__"`` holds strings:
  ``"samarl.kind"`` (``"policy"`` or ``"checkpoint"``), ``"samarl.format"`` (the layout's version),
  ``"samarl.tree"`` (the saved object as JSON, its tensors and arrays referring to tensors by name)
  and ``"samarl.sha256"``;
- the tensors' bytes, little-endian, row-major, back to back.

``samarl.sha256`` is the SHA-256 of the header without it (canonical JSON) followed by the data:
every bit of the file that carries meaning is covered, so a flipped byte in a weight, a shape or a
setting is refused instead of run. Any safetensors reader opens these files
(``safetensors.torch.load_file``), and the tensors' names are the paths of the saved object
(``state_dict/actor.layers.0.weight``).

The saved object (the *tree*) may hold dicts, lists, tuples, ``str``, ``int``, ``float``, ``bool``,
``None``, torch tensors and NumPy arrays of the dtypes in :data:`DTYPES`; reading gives back the same
types (dict keys may be strings, ints or bools).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from samarl._io import atomic_write
from samarl._userfiles import read_user_file
from samarl.errors import FileError

__all__ = ["DTYPES", "FORMAT", "load_tensor_file", "save_tensor_file"]

#: The layout's version, written as ``samarl.format``.
FORMAT = "1"
#: safetensors dtype names and their little-endian NumPy dtypes (the ones samarl's files hold).
DTYPES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
#: Most bytes a policy or checkpoint file may have (64 GiB: 2**34 float32 weights, the most a
#: policy may have).
MAX_FILE = 2**36
#: Most bytes a header may have (safetensors' own readers refuse beyond 100 MB).
MAX_HEADER = 100_000_000
#: Most dimensions of one tensor.
_MAX_DIMS = 16
#: Nesting depth of the saved object beyond which a file is refused (samarl writes about 6).
_MAX_DEPTH = 64


def save_tensor_file(path: str | os.PathLike[str], tree: Any, *, kind: str) -> Path:
    """Writes ``tree`` (see the module doc) to ``path`` atomically; returns ``path``."""
    import torch

    arrays: dict[str, np.ndarray] = {}

    def encode(node: Any, where: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError(f"{where}: nested deeper than {_MAX_DEPTH} levels")
        if isinstance(node, torch.Tensor):
            return {"$tensor": store(node.detach().cpu().contiguous().numpy(), where)}
        if isinstance(node, np.ndarray):
            return {"$array": store(node, where)}
        if isinstance(node, np.generic):
            node = node.item()
        if node is None or isinstance(node, (bool, int, str)):
            return node
        if isinstance(node, float):
            return node if math.isfinite(node) else {"$float": repr(node)}
        if isinstance(node, (list, tuple)):
            items = [encode(v, f"{where}/{i}", depth + 1) for i, v in enumerate(node)]
            return items if isinstance(node, list) else {"$tuple": items}
        if isinstance(node, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in node):
                return {k: encode(v, f"{where}/{k}", depth + 1) for k, v in node.items()}
            pairs = []
            for k, v in node.items():
                if not isinstance(k, (str, int)):  # bool is an int
                    raise TypeError(f"{where}: cannot save a dict key of type {type(k).__name__}")
                pairs.append([k, encode(v, f"{where}/{k}", depth + 1)])
            return {"$dict": pairs}
        raise TypeError(f"{where}: cannot save a {type(node).__name__}")

    def store(array: np.ndarray, where: str) -> str:
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if dtype not in _NAMES:
            raise TypeError(f"{where}: cannot save dtype {array.dtype}")
        name = where.lstrip("/") or "tensor"
        while name in arrays:
            name += "'"
        arrays[name] = array.astype(dtype, order="C", copy=False)
        return name

    tree_json = json.dumps(encode(tree, "", 0), allow_nan=False, separators=(",", ":"))
    entries: dict[str, Any] = {}
    offset = 0
    for name, array in arrays.items():
        entries[name] = {
            "dtype": _NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    metadata = {"samarl.kind": kind, "samarl.format": FORMAT, "samarl.tree": tree_json}
    digest = hashlib.sha256(_canonical(entries, metadata))
    for array in arrays.values():
        digest.update(_bytes(array))
    metadata["samarl.sha256"] = digest.hexdigest()
    header = json.dumps({"__metadata__": metadata, **entries}, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # safetensors aligns the data to 8 bytes

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for array in arrays.values():
                f.write(_bytes(array))

    return atomic_write(path, write)


def load_tensor_file(path: str | os.PathLike[str], *, kind: str, what: str) -> Any:
    """The object saved in ``path`` by :func:`save_tensor_file` with the same ``kind``.

    ``what`` names the argument the file came from in errors. Every byte is checked before it is
    used: the header's structure, every tensor's dtype, shape and extent, and the checksum. Raises
    :class:`~samarl.errors.FileError` for an unreadable, damaged or foreign file.
    """
    path = Path(path)
    shown = repr(os.fspath(path))
    raw = read_user_file(path, what=what, limit=MAX_FILE, error=FileError)

    def damaged(reason: str) -> FileError:
        return FileError(f"{what}: {shown} is damaged or not a samarl {kind} file ({reason})")

    if len(raw) < 8:
        raise damaged(f"{len(raw)} bytes")
    (size,) = struct.unpack_from("<Q", raw)
    if size > min(MAX_HEADER, len(raw) - 8):
        raise damaged(f"header of {size} bytes in a file of {len(raw)}")
    try:
        header = json.loads(raw[8 : 8 + size].decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise damaged(f"header: {_short(e)}") from None
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict):
        raise damaged("no metadata")
    metadata = header.pop("__metadata__")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise damaged("metadata that is not text")
    found = metadata.get("samarl.kind")
    if found != kind:
        what_it_is = f"a samarl {found}" if found else "not written by samarl"
        raise damaged(f"{what_it_is} file")
    if metadata.get("samarl.format") != FORMAT:
        raise FileError(
            f"{what}: {shown} has layout {metadata.get('samarl.format')!r}; this samarl reads "
            f"layout {FORMAT!r} (a newer samarl wrote it?)"
        )
    data = memoryview(raw)[8 + size :]
    extents = []
    for name, entry in header.items():
        extents.append((*_extent(name, entry, len(data), damaged), name))
    extents.sort()
    end = 0
    for begin, stop, name in extents:
        if begin != end:
            raise damaged(f"tensor {name!r} overlaps another or leaves a gap")
        end = stop
    if end != len(data):
        raise damaged(f"{len(data) - end} bytes after the last tensor")
    claimed = metadata.pop("samarl.sha256", None)
    digest = hashlib.sha256(_canonical(header, metadata))
    digest.update(data)
    if claimed != digest.hexdigest():
        raise damaged("checksum mismatch: the file was changed after it was written")
    try:
        tree = json.loads(metadata["samarl.tree"])
    except (KeyError, ValueError, RecursionError) as e:
        raise damaged(f"tree: {_short(e)}") from None
    return _decode(tree, header, data, damaged)


def _extent(name: str, entry: Any, available: int, damaged: Any) -> tuple[int, int]:
    """``(begin, end)`` of a header entry, checked against its dtype and shape."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise damaged(f"tensor {name!r}: malformed entry")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise damaged(f"tensor {name!r}: unknown dtype {dtype!r}")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DIMS
        or not all(type(d) is int and 0 <= d < 2**62 for d in shape)
    ):
        raise damaged(f"tensor {name!r}: malformed shape")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= available
    ):
        raise damaged(f"tensor {name!r}: offsets outside the file")
    if offsets[1] - offsets[0] != math.prod(shape) * DTYPES[dtype].itemsize:
        raise damaged(f"tensor {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape}")
    return offsets[0], offsets[1]


def _decode(tree: Any, header: dict[str, Any], data: memoryview, damaged: Any) -> Any:
    """The saved object of a parsed ``samarl.tree``, its tensors read from ``data``."""
    import torch

    def array(name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in header:
            raise damaged(f"tree: no tensor {name!r}")
        entry = header[name]
        begin, end = entry["data_offsets"]
        flat = np.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]])
        return flat.reshape(entry["shape"]).astype(DTYPES[entry["dtype"]].newbyteorder("="))

    def decode(node: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise damaged(f"tree: nested deeper than {_MAX_DEPTH} levels")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [decode(v, depth + 1) for v in node]
        if not isinstance(node, dict):
            raise damaged(f"tree: unexpected {type(node).__name__}")
        if len(node) == 1:
            ((tag, value),) = node.items()
            if tag == "$tensor":
                return torch.from_numpy(array(value))
            if tag == "$array":
                return array(value)
            if tag == "$float" and value in ("inf", "-inf", "nan"):
                return float(value)
            if tag == "$tuple" and isinstance(value, list):
                return tuple(decode(v, depth + 1) for v in value)
            if tag == "$dict" and isinstance(value, list):
                pairs = {}
                for pair in value:
                    if not (
                        isinstance(pair, list)
                        and len(pair) == 2
                        and isinstance(pair[0], (str, int))
                    ):
                        raise damaged("tree: malformed dict")
                    pairs[pair[0]] = decode(pair[1], depth + 1)
                return pairs
        if any(k.startswith("$") for k in node):
            raise damaged(f"tree: unknown tag in {sorted(node)[:3]}")
        return {k: decode(v, depth + 1) for k, v in node.items()}

    return decode(tree, 0)


def _bytes(array: np.ndarray) -> memoryview:
    """The bytes of a contiguous array, without a copy."""
    return array.reshape(-1).view(np.uint8).data


def _canonical(entries: dict[str, Any], metadata: dict[str, str]) -> bytes:
    """The header's content as one canonical JSON text (the checksum's first part)."""
    return json.dumps(
        {"__metadata__": metadata, **entries}, sort_keys=True, separators=(",", ":")
    ).encode()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's dict, refusing a repeated key (two readers could take different ones)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} repeated")
        out[key] = value
    return out


def _short(e: BaseException) -> str:
    reason = " ".join(str(e).split()) or type(e).__name__
    return reason if len(reason) <= 100 else reason[:97] + "..."
