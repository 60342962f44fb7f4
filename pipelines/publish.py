"""Run folders: write a night's tables into staging, then publish atomically.

A failed night must leave the last published plan intact, so every run is written into
``runs/.staging-<run_id>``, renamed to ``runs/<run_id>`` when complete (a rename within one
file system is atomic), and only then is the ``latest`` symlink swapped with
``os.replace``. Readers resolve ``latest`` once and read that folder, so they never see a
half-written run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

#: Tables a nightly run publishes, in the order they are written.
PUBLISHED_TABLES = ("forecasts", "safety_stock", "plan", "alerts")
#: Date columns per table, parsed back to datetime64 when read.
DATE_COLUMNS = {
    "forecasts": ["date"],
    "plan": ["ship_date", "arrival_date"],
    "projection": ["date"],
    "errors": ["origin"],
}


class NoPublishedRun(LookupError):
    """No run has been published yet in this output folder."""


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: ``YYYYMMDDTHHMMSSZ-<6 hex>`` (UTC start time)."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class RunWriter:
    """Collects one run's tables in a staging folder and publishes them atomically.

    Parameters
    ----------
    output_dir : Path
        Folder holding ``runs/`` and ``latest``.
    run_id : str
        Id stamped on every row and used as the folder name.
    """

    output_dir: Path
    run_id: str
    manifest: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.runs_dir = self.output_dir / "runs"
        self.staging = self.runs_dir / f".staging-{self.run_id}"
        self.final = self.runs_dir / self.run_id
        if self.final.exists():
            raise FileExistsError(f"run folder {self.final} already exists")
        self.staging.mkdir(parents=True, exist_ok=False)
        self._db = self.staging / "results.sqlite"

    def write(self, name: str, table: pd.DataFrame) -> Path:
        """Write one table as CSV and into ``results.sqlite``, stamped with ``run_id``."""
        table = table.copy()
        if "run_id" not in table:
            table.insert(0, "run_id", self.run_id)
        path = self.staging / f"{name}.csv"
        table.to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.6g")
        with sqlite3.connect(self._db) as con:
            sql_table = table.copy()
            for col in sql_table.columns:
                if pd.api.types.is_datetime64_any_dtype(sql_table[col]):
                    sql_table[col] = sql_table[col].dt.strftime("%Y-%m-%d")
            sql_table.to_sql(name, con, if_exists="replace", index=False)
        return path

    def write_json(self, name: str, payload: dict) -> Path:
        """Write a JSON document (metrics, slacks summary ...) into the run folder."""
        path = self.staging / name
        path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
        return path

    def publish(self) -> Path:
        """Rename staging into place and point ``latest`` at it; returns the run folder."""
        self.manifest.setdefault("run_id", self.run_id)
        self.manifest["published_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.write_json("manifest.json", self.manifest)
        os.replace(self.staging, self.final)
        link = self.output_dir / "latest"
        tmp = self.output_dir / f".latest-{self.run_id}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(Path("runs") / self.run_id, tmp)
        os.replace(tmp, link)
        return self.final

    def abandon(self) -> None:
        """Remove the staging folder of a failed run; the published run is untouched."""
        shutil.rmtree(self.staging, ignore_errors=True)


def latest_run(output_dir: Path) -> Path:
    """The folder of the latest published run.

    Raises
    ------
    NoPublishedRun
        Nothing has been published in ``output_dir`` yet.
    """
    link = Path(output_dir) / "latest"
    if not link.exists():
        raise NoPublishedRun(f"no published run in {output_dir} (run `supplyplan nightly` first)")
    return link.resolve()


def run_dir(output_dir: Path, run_id: str | None = None) -> Path:
    """The folder of run ``run_id``, or of the latest run when ``run_id`` is None."""
    if run_id is None:
        return latest_run(output_dir)
    path = Path(output_dir) / "runs" / run_id
    if not path.is_dir():
        raise NoPublishedRun(f"run {run_id!r} not found in {Path(output_dir) / 'runs'}")
    return path


def list_runs(output_dir: Path) -> list[str]:
    """Published run ids, oldest first (run ids sort by start time)."""
    runs = Path(output_dir) / "runs"
    if not runs.is_dir():
        return []
    return sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_table(run_folder: Path, name: str) -> pd.DataFrame:
    """Read one published table of a run, with its date columns parsed."""
    path = Path(run_folder) / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: table {name!r} not in this run")
    frame = pd.read_csv(path, dtype={"sku": str, "location": str, "origin": str, "destination": str})
    for col in DATE_COLUMNS.get(name, []):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return frame


def read_manifest(run_folder: Path) -> dict:
    """The manifest of a run (run id, as-of date, hashes, MLflow run id, stage timings)."""
    return json.loads((Path(run_folder) / "manifest.json").read_text())
