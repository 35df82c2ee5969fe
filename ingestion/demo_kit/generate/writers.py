"""Streaming writers: records go to disk as they are made, so memory does not grow with the population."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import IO, Any

_BUFFER = 1 << 20


# One reusable encoder: json.dumps would rebuild it (and re-check its options) on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(record: Any) -> str:
    """Compact JSON, UTF-8 text kept as is (names with accents stay readable)."""
    return _ENCODER.encode(record)


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: IO[str] = path.open("w", encoding="utf-8", newline="\n", buffering=_BUFFER)
        self.rows = 0

    def write(self, record: Any) -> None:
        self._handle.write(dumps(record))
        self._handle.write("\n")
        self.rows += 1

    def close(self) -> None:
        self._handle.close()


class CsvWriter:
    """One CSV export. ``rows`` counts data lines (broken ones included); the header is line 1."""

    def __init__(self, path: Path, header: tuple[str, ...], bom: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.width = len(header)
        encoding = "utf-8-sig" if bom else "utf-8"  # spreadsheet exports often start with a BOM
        self._handle: IO[str] = path.open("w", encoding=encoding, newline="", buffering=_BUFFER)
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(header)
        self.rows = 0

    def write(self, row: tuple[str, ...] | list[str]) -> int:
        """Write a well-formed row; returns its 1-based data row number."""
        if len(row) != self.width:
            raise ValueError(f"{self.path.name}: row has {len(row)} fields, header has {self.width}")
        self._writer.writerow(row)
        self.rows += 1
        return self.rows

    def write_raw_line(self, line: str) -> int:
        """Write a line as is (planted broken rows); returns its 1-based data row number."""
        self._handle.write(line + "\n")
        self.rows += 1
        return self.rows

    def close(self) -> None:
        self._handle.close()


def csv_line(row: tuple[str, ...] | list[str]) -> str:
    """The text csv.writer would write for ``row`` (without the newline)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(row)
    return buffer.getvalue()


class SegmentWriter:
    """Segment files of one chunk: ``<day received>/events-<chunk>.jsonl``, opened on first use."""

    def __init__(self, root: Path, chunk: int) -> None:
        self.root = root
        self.name = f"events-{chunk:04d}.jsonl"
        self._files: dict[str, IO[str]] = {}
        self._lines: dict[str, int] = {}
        self.rows = 0

    def write_line(self, day: str, line: str) -> str:
        """Append one line to the day's file; returns ``<day>/<file>:<1-based line number>``."""
        handle = self._files.get(day)
        if handle is None:
            folder = self.root / day
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / self.name
            # Each chunk owns its files, so a fresh file per (day, chunk) is always right.
            handle = path.open("w", encoding="utf-8", newline="\n", buffering=1 << 16)
            self._files[day] = handle
            self._lines[day] = 0
        handle.write(line)
        handle.write("\n")
        self._lines[day] += 1
        self.rows += 1
        return f"{day}/{self.name}:{self._lines[day]}"

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()
