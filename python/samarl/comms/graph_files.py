"""Reading graphs from files (:meth:`samarl.comms.Graph.from_file`), validated before NumPy, SciPy
or the engine builds anything from them.

- :func:`read_edge_list`: a text file of node-index pairs;
- :func:`read_sparse_npz`: a SciPy sparse matrix saved with ``scipy.sparse.save_npz``, read member
  by member here (``scipy.sparse.load_npz`` trusts the file: an inconsistent ``indptr`` crashes
  SciPy's C++ code, and the process with it).

Every problem is a one-line :class:`~samarl.errors.InvalidValueError` (the file is not a graph
file) or :class:`~samarl.errors.GraphError` (it is one, but its matrix is inconsistent), naming
the ``graph`` argument and the file.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import struct
import zipfile
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from samarl._userfiles import read_user_file, show_line
from samarl.errors import GraphError, InvalidValueError

__all__ = [
    "MAX_EDGE_LIST_BYTES",
    "MAX_FILE_NODES",
    "MAX_NPZ_BYTES",
    "read_edge_list",
    "read_sparse_npz",
]

#: Largest edge list read (about 5 * 10^7 edges); larger graphs go in a ``.npz``.
MAX_EDGE_LIST_BYTES = 2**30
#: Largest ``.npz`` read, both as stored and unpacked (about 2.5 * 10^8 links as int64 indices).
MAX_NPZ_BYTES = 2**32
#: Most members of a ``.npz`` (``save_npz`` writes at most 6); bounds the work of opening one.
MAX_NPZ_MEMBERS = 16
#: Most nodes a graph file may describe: as many as a CSR index of :data:`MAX_NPZ_BYTES` holds.
#: A ``coo`` matrix or an edge list states its size in a few bytes, and this bounds the memory a
#: small file can make the engine allocate (about 16 bytes a node).
MAX_FILE_NODES = MAX_NPZ_BYTES // 8 - 1

# -- edge lists ------------------------------------------------------------------------------------

#: One line of an edge list once comments are removed: blank, or two indices (at most 10 digits,
#: so every one fits int64) separated by whitespace or a comma.
_EDGE_LINE = rb"[ \t]*(?:[0-9]{1,10}(?:[ \t]*,[ \t]*|[ \t]+)[0-9]{1,10})?[ \t]*\r?"
_BAD_EDGE_LINE = re.compile(rb"^(?!" + _EDGE_LINE + rb"$).*$", re.MULTILINE)
_COMMENT = re.compile(rb"#[^\n]*")
_SEPARATOR = re.compile(r"[ \t]*,[ \t]*|[ \t]+")


def read_edge_list(path: str | os.PathLike[str]) -> npt.NDArray[np.int64]:
    """The ``[E, 2]`` node-index pairs of a text edge list: one pair a line, separated by
    whitespace or a comma; ``#`` starts a comment, blank lines and a UTF-8 byte-order mark are
    skipped. At most :data:`MAX_EDGE_LIST_BYTES`; indices below :data:`MAX_FILE_NODES`."""
    name = os.fspath(path)
    data = read_user_file(
        path, what="graph", limit=MAX_EDGE_LIST_BYTES, error=InvalidValueError
    ).removeprefix(codecs.BOM_UTF8)
    text = _COMMENT.sub(b"", data) if b"#" in data else data  # keeps every newline
    bad = _BAD_EDGE_LINE.search(text)
    if bad is not None:
        lineno = text.count(b"\n", 0, bad.start()) + 1
        line = data.split(b"\n", lineno)[lineno - 1]
        raise InvalidValueError(
            f"graph: {name!r} line {lineno}: {_edge_line_problem(bad.group())}: {show_line(line)}"
        )
    if not text.strip():
        return np.zeros((0, 2), dtype=np.int64)
    # Validated: ASCII digits, blanks and newlines only, two numbers of <= 10 digits a line.
    edges = np.loadtxt(io.BytesIO(text.replace(b",", b" ")), dtype=np.int64, ndmin=2, comments=None)
    largest = int(edges.max())
    if largest >= MAX_FILE_NODES:
        raise InvalidValueError(
            f"graph: {name!r} names node {largest}; a graph file describes at most "
            f"{MAX_FILE_NODES:,} nodes"
        )
    return edges


def _edge_line_problem(line: bytes) -> str:
    """Why a line is not an edge (its comment already removed)."""
    text = line.decode("utf-8", "replace").strip()
    values = _SEPARATOR.split(text)
    if len(values) != 2:
        return f"expected two node indices, got {len(values)} value{'s' * (len(values) != 1)}"
    for value in values:
        if not value.isascii() or not value.isdigit():
            try:
                number = float(value)
            except ValueError:
                return f"{value[:20]!r} is not a node index (a whole number >= 0)"
            return f"{value[:20]!r} is not a node index ({'< 0' if number < 0 else 'not whole'})"
        if len(value) > 10:
            return f"node index {value[:20]}... has more than 10 digits"
    return "expected two node indices separated by whitespace or a comma"


# -- SciPy sparse .npz -----------------------------------------------------------------------------

#: Formats read, and the members each needs besides ``format``, ``shape`` and ``data``.
_FORMATS = {"csr": ("indptr", "indices"), "csc": ("indptr", "indices"), "coo": ("row", "col")}
#: Members read: what ``save_npz`` writes for the formats above; others are ignored.
_MEMBERS = frozenset({"format", "shape", "data", "indptr", "indices", "row", "col", "_is_array"})
#: dtype kinds each member may have (``b`` bool, ``i``/``u`` integers, ``f`` floats, ``S``/``U``
#: strings) and its number of dimensions.
_MEMBER_KINDS = {
    "format": ("SU", 0),
    "shape": ("iu", 1),
    "data": ("biuf", 1),
    "indptr": ("iu", 1),
    "indices": ("iu", 1),
    "row": ("iu", 1),
    "col": ("iu", 1),
    "_is_array": ("b", 0),
}
_EOCD = struct.Struct("<4s4H2LH")  # a zip's end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


def read_sparse_npz(path: str | os.PathLike[str]) -> Any:
    """The square sparse matrix of a ``scipy.sparse.save_npz`` file (format ``csr``, ``csc`` or
    ``coo``), as a SciPy sparse array built only once every member has been checked: the zip
    (:data:`MAX_NPZ_MEMBERS`, :data:`MAX_NPZ_BYTES` unpacked), each array's dtype and shape, and
    the matrix's structure (``indptr`` from 0 to the number of entries, never decreasing; every
    index below the size)."""
    name = os.fspath(path)
    data = read_user_file(path, what="graph", limit=MAX_NPZ_BYTES, error=InvalidValueError)
    arrays = _npz_members(data, name)
    return _sparse_matrix(arrays, f"graph: {name!r}")


def _not_npz(name: str, reason: str) -> InvalidValueError:
    reason = " ".join(reason.split())  # one line (NumPy quotes a malformed header whole)
    reason = reason if len(reason) <= 200 else reason[:197] + "..."
    return InvalidValueError(f"graph: {name!r} is not a SciPy sparse .npz file: {reason}")


def _npz_members(data: bytes, name: str) -> dict[str, npt.NDArray[Any]]:
    """The arrays of the members :data:`_MEMBERS` of the zip ``data``, their headers checked
    before their data is unpacked."""
    _check_zip_directory(data, name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if len(infos) > MAX_NPZ_MEMBERS:
                raise _not_npz(name, f"a zip of {len(infos)} members (a matrix needs at most 6)")
            if len(set(names)) != len(names):
                raise _not_npz(name, "two members of the same name")
            wanted = [
                i for i in infos if i.filename.endswith(".npy") and i.filename[:-4] in _MEMBERS
            ]
            unpacked = sum(i.file_size for i in wanted)
            if unpacked > MAX_NPZ_BYTES:
                raise _not_npz(
                    name, f"its arrays unpack to {unpacked:,} bytes, more than {MAX_NPZ_BYTES:,}"
                )
            # The format first: it says what the other members must be.
            wanted.sort(key=lambda i: i.filename != "format.npy")
            arrays: dict[str, npt.NDArray[Any]] = {}
            for info in wanted:
                arrays[info.filename[:-4]] = _npy_member(archive, info, name)
                if info.filename == "format.npy":
                    _check_format(arrays["format"], name)
            return arrays
    except InvalidValueError:
        raise
    # What zipfile and NumPy's header parser raise on damaged data: a bad zip, bad compressed
    # data, a bad CRC, an unsupported compression method or encryption, a malformed header.
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
        RuntimeError,
        OSError,
        ValueError,
        struct.error,
        OverflowError,
    ) as e:
        raise _not_npz(name, f"{type(e).__name__}: {e}") from None


def _check_zip_directory(data: bytes, name: str) -> None:
    """Refuses a zip whose central directory lists more than :data:`MAX_NPZ_MEMBERS` members
    before ``zipfile`` reads it (it builds an object for every one)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD.size - 0xFFFF))
    if end < 0 or len(data) - end < _EOCD.size:
        raise _not_npz(name, "not a zip archive")
    entries, directory = _EOCD.unpack_from(data, end)[4:6]
    locator = end - _ZIP64_LOCATOR.size
    if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        record = _ZIP64_LOCATOR.unpack_from(data, locator)[2]
        if record + _ZIP64_EOCD.size <= len(data) and data[record : record + 4] == b"PK\x06\x06":
            fields = _ZIP64_EOCD.unpack_from(data, record)
            entries, directory = fields[7], fields[8]
    if entries > MAX_NPZ_MEMBERS:
        raise _not_npz(name, f"a zip of {entries} members (a matrix needs at most 6)")
    if directory > MAX_NPZ_MEMBERS * 1024:
        raise _not_npz(name, f"a zip whose directory of members takes {directory:,} bytes")


def _npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> npt.NDArray[Any]:
    """The array of one ``.npy`` member: header first (dtype, number of dimensions, size against
    the member's size), then exactly its data."""
    key = info.filename[:-4]
    kinds, ndim = _MEMBER_KINDS[key]
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise _not_npz(name, f"{info.filename} has unknown .npy version {version}")
        if dtype.kind not in kinds or dtype.hasobject or len(shape) != ndim:
            raise _not_npz(
                name,
                f"{info.filename} holds a {len(shape)}-D {dtype} array, expected "
                f"{ndim}-D of kind {kinds!r}",
            )
        count = int(np.prod(shape, dtype=object))
        nbytes = count * dtype.itemsize
        if nbytes > info.file_size:
            raise _not_npz(name, f"{info.filename} is shorter than its array")
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise _not_npz(name, f"{info.filename} is shorter than its array")
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(
        shape, order="F" if fortran else "C"
    )


def _sparse_matrix(arrays: dict[str, npt.NDArray[Any]], where: str) -> Any:
    """The SciPy sparse array of checked ``save_npz`` members (see :func:`read_sparse_npz`)."""
    for key in ("format", "shape", "data"):
        if key not in arrays:
            raise InvalidValueError(f"{where} is not a SciPy sparse .npz file: no {key!r} array")
    fmt = _format_name(arrays["format"])
    shape = arrays["shape"]
    if shape.shape != (2,):
        raise InvalidValueError(f"{where}: shape must hold 2 sizes, got {shape.shape[0]}")
    rows, cols = (int(s) for s in shape)
    if rows != cols:
        raise GraphError(f"{where}: expected a square matrix, got shape ({rows}, {cols})")
    if not 1 <= rows <= MAX_FILE_NODES:
        raise GraphError(
            f"{where}: the matrix size must be in [1, {MAX_FILE_NODES:,}] (nodes), got {rows}"
        )
    # Only the pattern of non-zero entries matters; float64 keeps every non-zero value non-zero.
    values = arrays["data"].astype(np.float64)
    if not np.isfinite(values).all():
        raise GraphError(f"{where}: data holds NaN or inf")
    first, second = _FORMATS[fmt]
    for key in (first, second):
        if key not in arrays:
            raise InvalidValueError(f"{where}: a {fmt} matrix needs an {key!r} array")
    if fmt == "coo":
        row = _indices(arrays["row"], rows, f"{where}: row")
        col = _indices(arrays["col"], rows, f"{where}: col")
        if not row.shape == col.shape == values.shape:
            raise GraphError(
                f"{where}: row, col and data must have one entry per link, got "
                f"{row.size}, {col.size} and {values.size}"
            )
        return sp.coo_array((values, (row, col)), shape=(rows, rows))
    indptr = _indptr(arrays["indptr"], rows, f"{where}: indptr")
    indices = _indices(arrays["indices"], rows, f"{where}: indices")
    if not int(indptr[-1]) == indices.size == values.size:
        raise GraphError(
            f"{where}: indptr ends at {int(indptr[-1])}, but there are {indices.size} indices "
            f"and {values.size} data (all three must be the number of links)"
        )
    build = sp.csr_array if fmt == "csr" else sp.csc_array
    return build((values, indices, indptr), shape=(rows, rows))


def _format_name(member: npt.NDArray[Any]) -> str:
    raw = member.item()
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)


def _check_format(member: npt.NDArray[Any], name: str) -> None:
    """Refuses a sparse format other than those of :data:`_FORMATS`."""
    fmt = _format_name(member)
    if fmt not in _FORMATS:
        hint = " (convert it with .tocsr() before save_npz)" if fmt in ("bsr", "dia") else ""
        raise InvalidValueError(
            f"graph: {name!r}: sparse format {fmt[:20]!r} is not read{hint}; save a csr, csc or "
            "coo matrix"
        )


def _as_int64(values: npt.NDArray[Any], what: str) -> npt.NDArray[np.int64]:
    if values.size and values.dtype.kind == "u" and int(values.max()) > np.iinfo(np.int64).max:
        raise GraphError(f"{what}: value {int(values.max())} is too large")
    return values.astype(np.int64)


def _indices(values: npt.NDArray[Any], size: int, what: str) -> npt.NDArray[np.int64]:
    """``values`` as int64 node indices, each in ``[0, size)``."""
    out = _as_int64(values, what)
    if out.size and not (0 <= int(out.min()) and int(out.max()) < size):
        bad = int(out.min()) if int(out.min()) < 0 else int(out.max())
        raise GraphError(f"{what}: index {bad} is outside [0, {size})")
    return out


def _indptr(values: npt.NDArray[Any], size: int, what: str) -> npt.NDArray[np.int64]:
    """``values`` as an int64 CSR / CSC pointer: ``size + 1`` entries from 0, never decreasing."""
    out = _as_int64(values, what)
    if out.size != size + 1:
        raise GraphError(f"{what}: expected {size + 1} entries (size + 1), got {out.size}")
    if out[0] != 0:
        raise GraphError(f"{what}: must start at 0, got {int(out[0])}")
    falls = np.flatnonzero(np.diff(out) < 0)
    if falls.size:
        i = int(falls[0])
        raise GraphError(
            f"{what}: must never decrease, but entry {i + 1} is {int(out[i + 1])} after "
            f"{int(out[i])}"
        )
    return out
