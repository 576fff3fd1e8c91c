"""Arrays on disk read a few rows at a time, and ``.npz`` files written a chunk at a time.

The target store and the held-out predictions are ``(frames, patches, dim)`` grids that reach
several GB at the paper's shapes (3600 x 576 x 1024 x 2 B = 4.2 GB per stimulus). They are read
with positioned reads (:class:`RowFile`) rather than a memory map, so that resident memory stays
at the rows asked for (mapped pages would count towards it), and written with
:class:`NpzWriter`, which streams each array into an uncompressed ``.npz`` member: the result is an
ordinary ``.npz`` that ``np.load`` opens, but no whole array is ever held in memory.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np
import torch


class Rows(Protocol):
    """Anything with a ``shape`` whose rows can be read by index (a :class:`RowFile`, an array adapter)."""

    shape: tuple[int, ...]

    def rows(self, index: Sequence[int] | np.ndarray) -> np.ndarray: ...


def _read_npy_header(handle) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the ``.npy`` header at the handle's position (left just past it)."""
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(handle)
    if fortran:
        raise ValueError(f"{getattr(handle, 'name', 'array')}: Fortran-ordered arrays are not supported")
    return tuple(shape), np.dtype(dtype)


def npz_member(path: str | os.PathLike, name: str) -> tuple[int, tuple[int, ...], np.dtype]:
    """``(data offset, shape, dtype)`` of the uncompressed array ``name`` inside an ``.npz`` file."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{path}: member {name!r} is compressed; rows can only be read from an uncompressed .npz")
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)                          # the member's local file header
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_length + extra_length
        handle.seek(start)
        shape, dtype = _read_npy_header(handle)
        return handle.tell(), shape, dtype


class RowFile:
    """Read-only rows of a C-ordered array at ``offset`` in ``path``: ``rows(index)`` reads just those, as float32."""

    def __init__(self, path: str | os.PathLike, offset: int, shape: Sequence[int], dtype: np.dtype | str):
        self.path, self.offset = Path(path), int(offset)
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    @classmethod
    def npy(cls, path: str | os.PathLike) -> "RowFile":
        """The array of a ``.npy`` file."""
        with open(path, "rb") as handle:
            shape, dtype = _read_npy_header(handle)
            return cls(path, handle.tell(), shape, dtype)

    @classmethod
    def npz(cls, path: str | os.PathLike, name: str) -> "RowFile":
        """The uncompressed array ``name`` of an ``.npz`` file."""
        offset, shape, dtype = npz_member(path, name)
        return cls(path, offset, shape, dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 ``(len(index), ...)`` in the order asked (repeats allowed)."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"row indices must lie in [0, {len(self)}) for {self.path.name}")
        raw = np.empty((len(index), *self.shape[1:]), dtype=self.dtype)
        flat = raw.reshape(-1).view(np.uint8)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for slot, row in enumerate(index):            # straight into the buffer: no bytes object per row
                os.preadv(fd, [flat[slot * self.row_bytes:(slot + 1) * self.row_bytes]], self.offset + int(row) * self.row_bytes)
        finally:
            os.close(fd)
        if raw.dtype == np.float16:
            return torch.from_numpy(raw).float().numpy()  # torch converts float16 4x faster than numpy
        return raw.astype(np.float32, copy=False)

    def __getitem__(self, index) -> np.ndarray:
        """``rows`` for a slice or an index array (what code written for arrays asks of a batch)."""
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        return self.rows(np.atleast_1d(index))

    def __array__(self, dtype=None, copy=None):
        """Every row as float32 (for small files; loops read chunks with :meth:`rows`)."""
        data = self.rows(np.arange(len(self)))
        return data if dtype is None else data.astype(dtype)


class Selection:
    """The rows ``index`` of ``source`` (an array or :class:`Rows`), read lazily: ``select(targets, frame_ids)``."""

    def __init__(self, source: np.ndarray | Rows, index: Sequence[int] | np.ndarray):
        self.source, self.index = source, np.asarray(index, dtype=np.int64)
        self.shape = (len(self.index), *source.shape[1:])

    def rows(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        return read_rows(self.source, self.index[np.asarray(index, dtype=np.int64)])


def select(source: np.ndarray | Rows, index: Sequence[int] | np.ndarray) -> Selection:
    return Selection(source, index)


def read_rows(source: np.ndarray | Rows, index: Sequence[int] | np.ndarray) -> np.ndarray:
    """float32 rows of an array or a :class:`Rows` source."""
    if hasattr(source, "rows"):
        return source.rows(index)
    return np.asarray(source[np.asarray(index, dtype=np.int64)], dtype=np.float32)


def chunk_rows(row_shape: Sequence[int], budget_bytes: int = 256 * 2**20, multiple: int = 1) -> int:
    """How many float32 rows of ``row_shape`` fit in ``budget_bytes`` (at least ``multiple``, rounded down to it)."""
    row_bytes = 4 * int(np.prod(row_shape, dtype=np.int64))
    n = max(1, budget_bytes // max(row_bytes, 1))
    return max(multiple, n // multiple * multiple)


def iter_chunks(source: np.ndarray | Rows, chunk: int | None = None, budget_bytes: int = 256 * 2**20) -> Iterator[np.ndarray]:
    """float32 chunks of consecutive rows of ``source`` (``chunk`` rows, or as many as fit in ``budget_bytes``)."""
    n = source.shape[0]
    chunk = chunk or chunk_rows(source.shape[1:], budget_bytes)
    for start in range(0, n, chunk):
        yield read_rows(source, np.arange(start, min(start + chunk, n)))


class NpzWriter:
    """Write an uncompressed ``.npz`` member by member, each array a chunk of rows at a time.

    ``add(name, array)`` stores a small array whole; ``add_rows(name, shape, dtype, chunks)`` streams
    ``chunks`` (row blocks in order, any float dtype) and checks that they fill ``shape`` exactly.
    """

    def __init__(self, path: str | os.PathLike):
        self.archive = zipfile.ZipFile(path, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def __enter__(self) -> "NpzWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.archive.close()

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        self.add_rows(name, array.shape, array.dtype, [array] if array.ndim else [array.reshape(1)])

    def add_rows(self, name: str, shape: Sequence[int], dtype: np.dtype | str, chunks: Iterable[np.ndarray]) -> None:
        shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        written = 0
        with self.archive.open(f"{name}.npy", mode="w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            for block in chunks:
                block = np.ascontiguousarray(block, dtype=dtype)
                if block.shape[1:] != shape[1:] and not (block.ndim == 1 and len(shape) == 0):
                    raise ValueError(f"{name}: a chunk of shape {block.shape} does not fit rows of {shape[1:]}")
                member.write(block.tobytes())
                written += len(block)
        expected = shape[0] if shape else 1
        if written != expected:
            raise ValueError(f"{name}: {written} rows were written, the header says {expected}")


def patch_means(grids: np.ndarray | Rows, chunk: int | None = None) -> np.ndarray:
    """Mean over patches of each item's grid: ``(items, dim)`` float32, read ``chunk`` items at a time (the one
    grid reduction both the models and the evaluation use, so it lives below both)."""
    means = [block.mean(1) for block in iter_chunks(grids, chunk or chunk_rows(grids.shape[1:], 128 * 2**20))]
    return np.concatenate(means) if means else np.zeros((0, grids.shape[-1]), np.float32)


def pooled_targets(targets: Rows, frame_ids: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Mean over patches of each frame's target grid: ``(len(frame_ids), dim)`` float32, read in chunks."""
    return patch_means(select(targets, frame_ids), chunk)
