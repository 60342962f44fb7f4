"""Dependencies of the ERP API: settings, the run store and the API-key check.

Nothing here is built at import time: :func:`pipelines.api.app.create_app` puts the
settings, the expected key and a :class:`RunStore` on ``app.state``, and the functions
below hand them to the routes (tests can swap them with ``app.dependency_overrides``).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import Depends, HTTPException, Query, Request, Security, status
from fastapi.security import APIKeyHeader

from pipelines.publish import NoPublishedRun, latest_run, read_manifest, read_table, run_dir
from pipelines.settings import Settings

#: Header an ERP sends its key in.
API_KEY_HEADER = "X-API-Key"
#: Run ids as minted by ``pipelines.publish.new_run_id``; anything else is refused before
#: it gets near the file system (no ``..`` in a path built from a query string).
RUN_ID_PATTERN = r"^\d{8}T\d{6}Z-[0-9a-f]{6}$"

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="Key from SUPPLYPLAN_API_KEY (or api.api_key in the configuration).",
    auto_error=False,
)


class RunStore:
    """Reads published runs, caching tables per run folder.

    A published run folder never changes after its rename into ``runs/``, so a table read
    once can be served from memory for as long as the folder is wanted. ``latest`` is
    resolved on every call, which is how a newly published night is served without a
    restart.

    Parameters
    ----------
    output_dir : Path
        Folder holding ``runs/`` and ``latest``.
    data_dir : Path
        Input data folder; its ``locations`` table says which locations are dealers.
    max_runs : int
        Run folders kept in memory (least recently used are dropped).
    """

    def __init__(self, output_dir: Path, data_dir: Path, max_runs: int = 4) -> None:
        self.output_dir = Path(output_dir)
        self.data_dir = Path(data_dir)
        self.max_runs = max_runs
        self._runs: OrderedDict[str, dict] = OrderedDict()
        self._locations: tuple[tuple, pd.DataFrame] | None = None
        self._lock = threading.Lock()

    def latest(self) -> Path:
        """Folder of the latest published run (raises ``NoPublishedRun``)."""
        return latest_run(self.output_dir)

    def run(self, run_id: str | None) -> Path:
        """Folder of ``run_id``, or of the latest run when None."""
        return run_dir(self.output_dir, run_id)

    def _entry(self, folder: Path) -> dict:
        key = str(Path(folder).resolve())
        with self._lock:
            entry = self._runs.get(key)
            if entry is None:
                entry = {}
                self._runs[key] = entry
                while len(self._runs) > self.max_runs:
                    self._runs.popitem(last=False)
            else:
                self._runs.move_to_end(key)
            return entry

    def table(self, folder: Path, name: str) -> pd.DataFrame:
        """Table ``name`` of a run folder (cached; callers must not mutate it)."""
        entry = self._entry(folder)
        if name not in entry:
            frame = read_table(folder, name)
            with self._lock:
                entry.setdefault(name, frame)
        return entry[name]

    def manifest(self, folder: Path) -> dict:
        """``manifest.json`` of a run folder (cached)."""
        entry = self._entry(folder)
        if "manifest.json" not in entry:
            manifest = read_manifest(folder)
            with self._lock:
                entry.setdefault("manifest.json", manifest)
        return entry["manifest.json"]

    def locations(self) -> pd.DataFrame:
        """The data folder's locations table (location, kind); empty when missing.

        Only two columns are read, without the full contract validation of
        ``pipelines.loading``: the API must answer while the nightly job validates. The
        frame is cached until the file's size or modification time changes.
        """
        for suffix in (".csv", ".parquet"):
            path = self.data_dir / f"locations{suffix}"
            if path.is_file():
                break
        else:
            return pd.DataFrame({"location": pd.Series(dtype=str), "kind": pd.Series(dtype=str)})
        stat = path.stat()
        stamp = (str(path), stat.st_mtime_ns, stat.st_size)
        cached = self._locations
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if suffix == ".csv":
            frame = pd.read_csv(path, usecols=["location", "kind"], dtype=str)
        else:
            frame = pd.read_parquet(path, columns=["location", "kind"]).astype(str)
        frame = frame.assign(kind=frame["kind"].str.strip().str.lower())
        self._locations = (stamp, frame)
        return frame


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_store(request: Request) -> RunStore:
    """The app's run store."""
    return request.app.state.store


def require_api_key(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)] = None,
) -> None:
    """Refuse the request unless ``X-API-Key`` matches the configured key.

    The comparison is ``secrets.compare_digest`` so the time taken does not reveal how
    many leading characters were right.
    """
    expected: str | None = getattr(request.app.state, "api_key", None)
    if not expected:
        # create_app refuses to build without a key; this guards against a state that
        # was tampered with, so the endpoint can never be open by accident.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no API key is configured on the server")
    if key is None or not secrets.compare_digest(key.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing or wrong API key: send it in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )


def resolve_run(
    store: Annotated[RunStore, Depends(get_store)],
    run_id: Annotated[
        str | None,
        Query(pattern=RUN_ID_PATTERN, description="a published run id; default: the latest run"),
    ] = None,
) -> Path:
    """Folder of the requested run: 503 when nothing is published, 404 for an unknown id."""
    try:
        return store.run(run_id)
    except NoPublishedRun as exc:
        code = status.HTTP_503_SERVICE_UNAVAILABLE if run_id is None else status.HTTP_404_NOT_FOUND
        raise HTTPException(code, str(exc)) from None


def dealer_ids(store: RunStore, plan: pd.DataFrame) -> tuple[set[str], dict[str, str]]:
    """Known dealers and the kind of every location in the data folder.

    A dealer is known when the locations table lists it with kind ``dealer`` or the plan
    ships to it (a dealer added after the data folder was last refreshed still gets its
    lines).
    """
    locations = store.locations()
    kinds = dict(zip(locations["location"], locations["kind"]))
    dealers = {loc for loc, kind in kinds.items() if kind == "dealer"}
    shipped_to = set(plan["destination"].astype(str)) if "destination" in plan else set()
    dealers |= {loc for loc in shipped_to if kinds.get(loc, "dealer") == "dealer"}
    return dealers, kinds

