"""Fixtures for the demo-data and loading tests: a small valid data folder per test and a
helper that corrupts one spreadsheet cell."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest


@pytest.fixture
def valid_dir(tmp_path) -> Path:
    """A small, valid demo network (12 SKUs, 6 dealers, 30 weeks) in its own folder."""
    from pipelines.demo_data import write_demo_data

    folder = tmp_path / "data"
    write_demo_data(folder, seed=3, n_skus=12, n_dealers=6, n_weeks=30)
    return folder


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())


class CsvEditor:
    """Edit demo CSV files by spreadsheet coordinates (header = row 1)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, table: str) -> Path:
        return self.folder / f"{table}.csv"

    def rows(self, table: str) -> list[list[str]]:
        return _read_rows(self.path(table))

    def get(self, table: str, row: int, column: str) -> str:
        rows = self.rows(table)
        return rows[row - 1][rows[0].index(column)]

    def set(self, table: str, row: int, column: str, value: str) -> None:
        rows = self.rows(table)
        rows[row - 1][rows[0].index(column)] = value
        _write_rows(self.path(table), rows)

    def find(self, table: str, **match) -> int:
        """Spreadsheet row of the first data row whose cells equal ``match``."""
        rows = self.rows(table)
        idx = {c: rows[0].index(c) for c in match}
        for number, row in enumerate(rows[1:], start=2):
            if all(row[idx[c]] == v for c, v in match.items()):
                return number
        raise LookupError(f"no row in {table} with {match}")

    def drop_column(self, table: str, column: str) -> None:
        rows = self.rows(table)
        j = rows[0].index(column)
        _write_rows(self.path(table), [r[:j] + r[j + 1 :] for r in rows])

    def replace_row(self, table: str, row: int, values: list[str]) -> None:
        rows = self.rows(table)
        rows[row - 1] = values
        _write_rows(self.path(table), rows)

    def insert_line(self, table: str, before_row: int, line: str) -> None:
        lines = self.path(table).read_text().splitlines(keepends=True)
        lines.insert(before_row - 1, line + "\n")
        self.path(table).write_text("".join(lines))


@pytest.fixture
def edit(valid_dir) -> CsvEditor:
    """A :class:`CsvEditor` on ``valid_dir``."""
    return CsvEditor(valid_dir)
