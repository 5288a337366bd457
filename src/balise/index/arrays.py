"""The index's array and blob files, written in pieces and checked against the format table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .format import ARRAY


class ArrayFile:
    """One array of the format, written in pieces, checked against the table."""

    def __init__(self, directory: Path, name: str, dtype: str | None = None) -> None:
        spec = ARRAY[name]
        self.dtype = np.dtype(dtype or spec.dtypes[0])
        if self.dtype not in [np.dtype(d) for d in spec.dtypes]:
            raise ValueError(f"{name}: {self.dtype.str} is not one of {spec.dtypes}")
        self.columns = spec.columns
        self.file = open(directory / name, "wb")  # noqa: SIM115 (closed by close())
        self.count = 0

    def write(self, values: ArrayLike) -> None:
        array: NDArray[Any] = np.ascontiguousarray(values, dtype=self.dtype)
        self.file.write(array.tobytes())
        self.count += len(array)

    def close(self) -> int:
        self.file.close()
        return self.count


def write_array(directory: Path, name: str, values: ArrayLike, dtype: str | None = None) -> int:
    out = ArrayFile(directory, name, dtype)
    out.write(values)
    return out.close()


def offsets_of(lengths: ArrayLike) -> NDArray[np.uint64]:
    """Offsets (uint64, one more than the lengths) of records of these lengths laid end to end."""
    array = np.asarray(lengths)
    offsets = np.zeros(len(array) + 1, dtype=np.uint64)
    np.cumsum(array, out=offsets[1:])
    return offsets


def write_strings(directory: Path, name: str, strings: list[bytes]) -> None:
    """Strings as ``name.bin`` plus ``name.off`` (uint64, one more than the strings)."""
    offsets = offsets_of([len(b) for b in strings])
    (directory / f"{name}.bin").write_bytes(b"".join(strings))
    write_array(directory, f"{name}.off", offsets)
