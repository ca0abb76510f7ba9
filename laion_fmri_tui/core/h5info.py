"""What is inside a downloaded HDF5 file, without loading it.

A user who just fetched 50 MB of embeddings (or a 68 MB mask stack) wants to
see that it is the right thing: dataset names, shapes, dtypes, and for the
embeddings files (UPSTREAM.md §4: ``embedding``, ``image_ids``, ``valid``)
the first few rows. Only metadata and the first *n* rows are read, so this
stays fast on files of any size; the app still calls it from a thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laion_fmri_tui.core.errors import LaionFmriError

EMBEDDING, IMAGE_IDS, VALID = "embedding", "image_ids", "valid"
FIRST_VALUES = 4
"""Values read per dataset for :attr:`DatasetInfo.first` (one small read of the first row)."""


class H5InfoError(LaionFmriError):
    """The file could not be read as HDF5; the text is one line fit to show."""


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset of a file."""

    name: str
    """Path inside the file without the leading ``/`` (``group/data``)."""
    shape: tuple[int, ...]
    dtype: str
    """Readable type: ``float16``, ``bool``, ``string``, ``vlen uint8`` ..."""
    size_bytes: int | None
    """Uncompressed size of the values; None for variable-length types."""
    first: tuple[str, ...] = field(default=(), compare=False)
    """The first :data:`FIRST_VALUES` values along the last axis, as text (empty for
    byte blobs), so a preview shows values of every file, not only of embeddings."""


@dataclass(frozen=True)
class EmbeddingRow:
    """One row of an embeddings file, ready to print."""

    index: int
    image_id: str
    valid: bool | None
    """None when the file has no ``valid`` dataset."""
    norm: float
    """L2 norm of the full vector (CLIP, PEcore and SigLIP2 are L2-normed)."""
    values: tuple[float, ...]
    """The first few components, rounded."""


def describe(path: Path) -> list[DatasetInfo]:
    """Every dataset in the file, groups walked depth first in name order.

    Raises:
        H5InfoError: missing file, a folder, or not HDF5.
    """
    out: list[DatasetInfo] = []
    with _open(path) as f:
        _walk(f, out)
    return out


def is_embeddings(datasets: list[DatasetInfo]) -> bool:
    """True for files laid out like upstream's embeddings (a 2-D ``embedding``)."""
    return any(d.name == EMBEDDING and len(d.shape) == 2 for d in datasets)


def preview_rows(path: Path, n: int = 5, *, columns: int = 6, digits: int = 3) -> list[EmbeddingRow]:
    """The first *n* rows of an embeddings file; ``[]`` for any other HDF5 file.

    Raises:
        H5InfoError: as :func:`describe`, or when the datasets disagree in length.
    """
    with _open(path) as f:
        emb = f.get(EMBEDDING)
        if emb is None or not hasattr(emb, "shape") or len(emb.shape) != 2:
            return []
        count = min(max(n, 0), emb.shape[0])
        vectors = emb[:count].astype("float64")
        ids = _first(f, IMAGE_IDS, count)
        valid = _first(f, VALID, count)
    rows = []
    for i in range(count):
        vec = [float(v) for v in vectors[i]]
        rows.append(EmbeddingRow(
            index=i,
            image_id=_text(ids[i]) if ids is not None else "",
            valid=bool(valid[i]) if valid is not None else None,
            norm=round(math.sqrt(sum(v * v for v in vec)), digits),
            values=tuple(round(v, digits) for v in vec[:columns]),
        ))
    return rows


@contextmanager
def _open(path: Path) -> Iterator[Any]:
    """The open file; any h5py failure, at open or while reading, becomes one line."""
    import h5py  # lazy: importing h5py costs ~0.2 s and only this screen needs it

    path = Path(path)
    if not path.exists():
        raise H5InfoError(f"no such file: {path}")
    if path.is_dir():
        raise H5InfoError(f"is a folder, not an HDF5 file: {path}")
    if not h5py.is_hdf5(path):
        raise H5InfoError(f"not an HDF5 file: {path}")
    try:
        with h5py.File(path, "r") as f:
            yield f
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # truncated, corrupt, locked
        raise H5InfoError(f"cannot read {path.name}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "truncated file" in text:
        return "the file is incomplete (an interrupted download?); fetch it again"
    return text


def _walk(group: Any, out: list[DatasetInfo]) -> None:
    import h5py

    for name in sorted(group.keys()):
        item = group.get(name)
        if isinstance(item, h5py.Group):
            _walk(item, out)
        elif isinstance(item, h5py.Dataset):
            out.append(_info(item, h5py))


def _info(ds: Any, h5py: Any) -> DatasetInfo:
    shape = tuple(int(x) for x in (ds.shape or ()))
    string = h5py.check_string_dtype(ds.dtype)
    vlen = h5py.check_vlen_dtype(ds.dtype)
    if string is not None:
        dtype = "string" if string.length is None else f"string[{string.length}]"
        variable = string.length is None
    elif vlen is not None:
        dtype, variable = f"vlen {vlen}", True
    else:
        dtype, variable = str(ds.dtype), False
    size = None if variable else math.prod(shape) * ds.dtype.itemsize
    first = () if vlen is not None and string is None else _first_values(ds, shape)
    return DatasetInfo(name=ds.name.lstrip("/"), shape=shape, dtype=dtype, size_bytes=size, first=first)


def _first_values(ds: Any, shape: tuple[int, ...]) -> tuple[str, ...]:
    """Up to FIRST_VALUES values from the start of the first row (one read, whatever the size)."""
    if ds.shape is None or 0 in shape:
        return ()
    try:
        if not shape:
            values = [ds[()]]
        else:
            values = list(ds[(0,) * (len(shape) - 1) + (slice(0, FIRST_VALUES),)])
    except (OSError, TypeError, ValueError):  # a filter h5py lacks, an odd type: no values, still the rest
        return ()
    return tuple(_value_text(v) for v in values)


def _value_text(value: Any) -> str:
    if isinstance(value, (bytes, str)):
        return _text(value)[:256]  # whole (a front end elides it), but never a whole blob
    if hasattr(value, "dtype") and value.dtype.kind == "f" or isinstance(value, float):
        return f"{float(value):.4g}"
    if hasattr(value, "dtype") and value.dtype.kind == "b" or isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _first(f: Any, name: str, count: int) -> Any:
    ds = f.get(name)
    if ds is None:
        return None
    if ds.shape is None or len(ds.shape) != 1 or ds.shape[0] < count:
        raise H5InfoError(f"{name} does not match {EMBEDDING} (shape {ds.shape})")
    return ds[:count]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
