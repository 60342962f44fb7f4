"""Table contracts: the one place that says what every input and output table holds.

Each input table has a :class:`TableContract`: its columns (logical type, whether the
column must be present, whether a cell may be empty), its key, and a pandera
``DataFrameSchema`` with the per-column rules (``>= 0``, allowed values, ``0 < service
level < 1``, whole numbers ...). Rules that look across rows or tables (duplicate keys,
unknown SKUs and locations, the plant -> DC -> dealer hierarchy, ``min_qty <= max_qty``,
dates on the period grid) are plain vectorised functions below; each returns a
:data:`FINDING_COLUMNS` frame (positional row index, column, rule, message) that
``pipelines.loading`` turns into spreadsheet row numbers.

The schemas run on *typed* frames (``pipelines.loading`` parses text first, reporting
unparseable cells itself), so they can also validate frames built in memory.

Every rule has a short identifier (``non_negative``, ``duplicate_key`` ...) listed in
:data:`RULES` with the sentence shown to the planner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.tseries.frequencies import to_offset

__all__ = [
    "ALERT_COLUMNS",
    "BACKTEST_COLUMNS",
    "CONTRACTS",
    "FINDING_COLUMNS",
    "INPUT_TABLES",
    "LOCATION_KINDS",
    "OUTPUT_COLUMNS",
    "PLAN_COLUMNS",
    "PLAN_KINDS",
    "RULES",
    "RUN_ID",
    "SAFETY_STOCK_COLUMNS",
    "TOP_DOWN_GROUPS",
    "ColumnSpec",
    "TableContract",
    "check_dealer_hierarchy",
    "check_duplicate_keys",
    "check_known",
    "check_lanes",
    "check_min_max",
    "check_period_grid",
    "check_after_history",
    "forecast_columns",
]

#: Rule identifier -> sentence shown after the offending value.
RULES: dict[str, str] = {
    "missing_file": "required input file not found",
    "unreadable_file": "file cannot be read",
    "malformed_row": "row has the wrong number of fields",
    "duplicate_column": "column name appears more than once",
    "unknown_freq": "cannot infer the period grid from the dates",
    "missing_column": "required column is missing",
    "no_rows": "table has no data rows",
    "not_a_number": "cannot be read as a number",
    "not_a_date": "cannot be read as a date (expected ISO 8601, e.g. 2026-11-23)",
    "not_a_bool": "cannot be read as true/false",
    "wrong_type": "column has the wrong type",
    "required": "a value is required",
    "empty_id": "identifier must not be empty",
    "finite": "must be a finite number",
    "non_negative": "must be >= 0",
    "integer": "must be a whole number",
    "at_least_one": "must be >= 1",
    "binary": "must be 0 or 1",
    "positive": "must be > 0",
    "open_unit_interval": "must lie strictly between 0 and 1",
    "allowed_values": "is not an allowed value",
    "duplicate_key": "duplicate key",
    "unknown_sku": "SKU is not in items",
    "unknown_location": "location is not in locations",
    "unknown_parent": "parent is not in locations",
    "parent_not_dc": "a dealer's parent must be a DC",
    "parent_not_plant": "a DC's parent must be a plant",
    "self_lane": "origin and destination must differ",
    "min_gt_max": "min_qty must be <= max_qty",
    "off_grid": "date is not a period start",
    "in_history": "dated at or before the last demand period",
}

#: Columns of the frames returned by the cross-row check functions.
FINDING_COLUMNS = ("index", "column", "rule", "message")

LOCATION_KINDS = ("plant", "dc", "dealer")
PLAN_KINDS = ("replenishment", "transfer")

# ---------------------------------------------------------------------------------------
# per-column checks: the check name is the rule identifier
# ---------------------------------------------------------------------------------------


def _finite() -> pa.Check:
    return pa.Check(lambda s: np.isfinite(s), name="finite")


def _non_negative() -> pa.Check:
    return pa.Check(lambda s: s >= 0, name="non_negative")


def _integer() -> pa.Check:
    return pa.Check(lambda s: np.floor(s) == s, name="integer")


def _at_least_one() -> pa.Check:
    return pa.Check(lambda s: s >= 1, name="at_least_one")


def _binary() -> pa.Check:
    return pa.Check(lambda s: s.isin([0, 1]), name="binary")


def _positive() -> pa.Check:
    return pa.Check(lambda s: s > 0, name="positive")


def _open_unit_interval() -> pa.Check:
    return pa.Check(lambda s: (s > 0) & (s < 1), name="open_unit_interval")


def _non_empty() -> pa.Check:
    return pa.Check(lambda s: s.str.len() > 0, name="empty_id")


def _allowed(values) -> pa.Check:
    allowed = list(values)
    return pa.Check(lambda s: s.isin(allowed), name="allowed_values")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input table.

    Parameters
    ----------
    name : str
        Column name in the file.
    kind : {"id", "str", "number", "int", "date", "bool"}
        Logical type: ``id`` is a non-empty identifier kept as text (never ``0001`` ->
        ``1``), ``number`` a float, ``int`` a whole number, ``date`` an ISO 8601 date,
        ``bool`` true/false (also 1/0, yes/no).
    required : bool
        The column must be present in the file.
    nullable : bool
        Cells may be empty (missing value).
    checks : tuple of pandera.Check
        Value rules; each check's ``name`` is its rule identifier in :data:`RULES`.
    allowed : tuple of str
        For categorical text columns, the allowed values (checked as ``allowed_values``).
    description : str
        Meaning and unit.
    """

    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    checks: tuple = ()
    allowed: tuple = ()
    description: str = ""

    @property
    def all_checks(self) -> list:
        """The value checks, plus ``allowed_values`` when ``allowed`` is set."""
        return list(self.checks) + ([_allowed(self.allowed)] if self.allowed else [])

    @property
    def dtype(self) -> str:
        """pandas dtype of the column after loading."""
        return {
            "id": "str",
            "str": "str",
            "number": "float64",
            "int": "int64",
            "date": "datetime64[ns]",
            "bool": "bool",
        }[self.kind]


@dataclass(frozen=True)
class TableContract:
    """Columns, key and per-column schema of one input table.

    Parameters
    ----------
    name : str
        Table name; the file is ``<name>.csv`` or ``<name>.parquet``.
    columns : tuple of ColumnSpec
        Contract columns in their canonical order.
    key : tuple of str
        Columns that identify a row; duplicates are a violation.
    optional_file : bool
        The table may be absent (it is then empty).
    min_rows : int
        Minimum number of data rows.
    description : str
        What one row means.
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    optional_file: bool = False
    min_rows: int = 0
    description: str = ""

    def column(self, name: str) -> ColumnSpec:
        """The :class:`ColumnSpec` called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """All contract column names, in order."""
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns that must be present in the file."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def schema(self) -> pa.DataFrameSchema:
        """pandera schema of the typed table (per-column rules only).

        Extra columns are allowed; optional columns may be absent. Dtypes are not
        enforced here because loading normalises them; the value rules are.
        """
        return pa.DataFrameSchema(
            {
                c.name: pa.Column(
                    None,
                    checks=c.all_checks,
                    nullable=c.nullable,
                    required=c.required,
                    description=c.description,
                )
                for c in self.columns
            },
            name=self.name,
            strict=False,
            coerce=False,
        )

    def empty_frame(self) -> pd.DataFrame:
        """A zero-row frame with every contract column in its loaded dtype."""
        return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in self.columns})


def _id(name: str, description: str, nullable: bool = False) -> ColumnSpec:
    checks = (_non_empty(),)
    return ColumnSpec(name, "id", nullable=nullable, checks=checks, description=description)


def _qty(name: str, description: str, required: bool = True, nullable: bool = False) -> ColumnSpec:
    return ColumnSpec(
        name,
        "number",
        required=required,
        nullable=nullable,
        checks=(_finite(), _non_negative()),
        description=description,
    )


CONTRACTS: dict[str, TableContract] = {
    "demand": TableContract(
        "demand",
        (
            _id("sku", "stock keeping unit, must be in items"),
            _id("location", "where the demand occurred, must be in locations"),
            ColumnSpec("date", "date", description="period start, on the period grid"),
            _qty("qty", "demand in the period, units"),
            ColumnSpec(
                "promo",
                "int",
                required=False,
                checks=(_finite(), _binary()),
                description="1 when the SKU was on promotion in the period",
            ),
            _qty("price", "selling price in the period, currency per unit", required=False, nullable=True),
        ),
        key=("sku", "location", "date"),
        min_rows=1,
        description="one row per SKU, location and period",
    ),
    "items": TableContract(
        "items",
        (
            _id("sku", "stock keeping unit"),
            _qty("unit_cost", "cost of one unit, currency"),
            _qty("holding_rate", "holding cost as a fraction of unit cost per year"),
            ColumnSpec(
                "case_pack",
                "int",
                checks=(_finite(), _integer(), _at_least_one()),
                description="units per case; shipments are whole cases",
            ),
            _qty("moq", "minimum order quantity, units"),
            _qty("stockout_cost", "penalty per unit short, currency", required=False, nullable=True),
            ColumnSpec("category", "str", required=False, nullable=True, description="product family"),
        ),
        key=("sku",),
        min_rows=1,
        description="one row per SKU",
    ),
    "locations": TableContract(
        "locations",
        (
            _id("location", "location identifier"),
            ColumnSpec(
                "kind",
                "str",
                allowed=LOCATION_KINDS,
                description="plant, dc or dealer",
            ),
            ColumnSpec("region", "str", description="sales region"),
            _id("parent", "who supplies it (empty for the plant)", nullable=True),
            ColumnSpec("vmi", "bool", description="the manufacturer replenishes it (VMI)"),
        ),
        key=("location",),
        min_rows=1,
        description="one row per plant, DC or dealer",
    ),
    "inventory": TableContract(
        "inventory",
        (
            _id("sku", "stock keeping unit, must be in items"),
            _id("location", "stocking location, must be in locations"),
            _qty("on_hand", "units on hand at the snapshot"),
            _qty("min_qty", "warning line, units", required=False, nullable=True),
            _qty("max_qty", "upper limit, units", required=False, nullable=True),
            ColumnSpec(
                "service_level",
                "number",
                required=False,
                nullable=True,
                checks=(_open_unit_interval(),),
                description="target cycle service level, 0 < a < 1",
            ),
        ),
        key=("sku", "location"),
        description="stock snapshot, one row per SKU and location",
    ),
    "inbound": TableContract(
        "inbound",
        (
            _id("sku", "stock keeping unit, must be in items"),
            _id("location", "receiving location, must be in locations"),
            ColumnSpec("arrival_date", "date", description="period start of the arrival, on the grid"),
            _qty("qty", "units in transit"),
        ),
        key=("sku", "location", "arrival_date"),
        optional_file=True,
        description="stock in transit, one row per SKU, location and arrival period",
    ),
    "lanes": TableContract(
        "lanes",
        (
            _id("origin", "shipping location, must be in locations"),
            _id("destination", "receiving location, must be in locations"),
            ColumnSpec(
                "lead_time",
                "int",
                checks=(_finite(), _integer(), _non_negative()),
                description="periods between shipping and arrival",
            ),
            _qty("cost_per_unit", "transport cost, currency per unit"),
            _qty("capacity", "units per period (empty: unlimited)", required=False, nullable=True),
            _qty("lead_time_sd", "standard deviation of the lead time, periods (empty: 0)", required=False, nullable=True),
        ),
        key=("origin", "destination"),
        description="one row per allowed shipment lane",
    ),
    # The manufacturer runs the campaigns (VMI), so the calendar of the weeks it plans is
    # known; past campaigns live in demand's promo/price columns, not here.
    "promotions": TableContract(
        "promotions",
        (
            _id("sku", "stock keeping unit, must be in items"),
            _id("location", "where the promotion runs, must be in locations"),
            ColumnSpec(
                "date",
                "date",
                description="period start, on the period grid, after the last demand period",
            ),
            ColumnSpec(
                "promo",
                "int",
                checks=(_finite(), _binary()),
                description="1 when the SKU is planned on promotion in the period",
            ),
            ColumnSpec(
                "price",
                "number",
                required=False,
                nullable=True,
                checks=(_finite(), _positive()),
                description="planned selling price, currency per unit (empty: the last price holds)",
            ),
        ),
        key=("sku", "location", "date"),
        optional_file=True,
        description="planned promotion calendar, one row per SKU, location and future period",
    ),
}

#: Input table names in loading order.
INPUT_TABLES = tuple(CONTRACTS)

#: ``supplyplan forecast --top-down FILE``: which locations' demand of a SKU is forecast
#: as one aggregate and shared out (``forecasting.top_down``). Not a data-folder table:
#: the nightly job takes its aggregates from ``locations.region`` (``forecast.top_down``).
TOP_DOWN_GROUPS = TableContract(
    "top_down",
    (
        _id("location", "a location of the history"),
        _id("group", "aggregate label; a SKU's locations with the same label form one aggregate"),
    ),
    key=("location",),
    min_rows=1,
    description="one row per location that takes part in a top-down aggregate",
)

# ---------------------------------------------------------------------------------------
# output tables (DESIGN.md); every output row also carries RUN_ID
# ---------------------------------------------------------------------------------------

RUN_ID = "run_id"
SAFETY_STOCK_COLUMNS = (
    "sku",
    "location",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "service_level",
)
PLAN_COLUMNS = (
    "sku",
    "origin",
    "destination",
    "ship_date",
    "arrival_date",
    "qty",
    "kind",
    "reason",
)
ALERT_COLUMNS = ("sku", "location", "kind", "severity", "value", "threshold", "message")
#: Required columns of ``backtest.csv`` (issue 2); later issues may append metrics such as
#: cycle_service_level, turnover_days and cost.
BACKTEST_COLUMNS = ("policy", "echelon", "bullwhip_ratio", "fill_rate", "avg_on_hand")


def forecast_columns(quantiles=(0.5, 0.9, 0.95)) -> tuple[str, ...]:
    """Columns of the forecasts table for the requested quantile levels.

    Parameters
    ----------
    quantiles : sequence of float
        Quantile levels in (0, 1); each gives a column ``q<100*level:g>`` (``q90``,
        ``q97.5``), the same naming as ``forecasting.quantiles.quantile_column``.

    Returns
    -------
    tuple of str
        ``sku, location, date, mean, q.., model``.
    """
    levels = [float(q) for q in quantiles]
    bad = [q for q in levels if not 0.0 < q < 1.0]
    if bad:
        raise ValueError(f"quantile levels must lie in (0, 1), got {bad}")
    return ("sku", "location", "date", "mean", *(f"q{100 * q:g}" for q in levels), "model")


#: Output table -> contract columns (forecasts with the default quantiles).
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "forecasts": forecast_columns(),
    "safety_stock": SAFETY_STOCK_COLUMNS,
    "plan": PLAN_COLUMNS,
    "alerts": ALERT_COLUMNS,
    "backtest": BACKTEST_COLUMNS,
}

# ---------------------------------------------------------------------------------------
# cross-row and cross-table rules (vectorised; positional indices)
# ---------------------------------------------------------------------------------------


def _findings(index, column: str, rule: str, message) -> pd.DataFrame:
    index = np.asarray(index, dtype=np.int64)
    if np.ndim(message) == 0:
        message = np.full(len(index), message, dtype=object)
    return pd.DataFrame(
        {
            "index": index,
            "column": np.full(len(index), column, dtype=object),
            "rule": np.full(len(index), rule, dtype=object),
            "message": np.asarray(message, dtype=object),
        }
    )


def _no_findings() -> pd.DataFrame:
    return _findings(np.empty(0, dtype=np.int64), "", "", "")


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else _no_findings()


def check_duplicate_keys(frame: pd.DataFrame, key, rows=None) -> pd.DataFrame:
    """Rows whose key repeats an earlier row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Typed table; rows with a missing key value are ignored (reported elsewhere).
    key : sequence of str
        Key columns.
    rows : array of int, optional
        Spreadsheet row number of each record, used to name the first occurrence in the
        message; defaults to position + 2.

    Returns
    -------
    pandas.DataFrame
        :data:`FINDING_COLUMNS`, one finding per repeated row (the first occurrence is
        not reported), attributed to the last key column.
    """
    key = list(key)
    n = len(frame)
    if n == 0:
        return _no_findings()
    rows = np.arange(n) + 2 if rows is None else np.asarray(rows)
    valid = np.ones(n, dtype=bool)
    codes = []
    for col in key:
        # sort=True numbers the codes in key order, so a file sorted by its key gives
        # an increasing combined code and the check below is one pass.
        c, uniques = pd.factorize(frame[col], sort=True, use_na_sentinel=True)
        valid &= c >= 0
        codes.append((c, max(len(uniques), 1)))
    # One int64 per key (mixed radix) so duplicate detection is a single hash pass;
    # renumbering keeps the radix product inside int64 for any number of key columns.
    combined = np.zeros(n, dtype=np.int64)
    capacity = 1
    for c, size in codes:
        if capacity > np.iinfo(np.int64).max // size:
            combined, uniques = pd.factorize(combined)
            capacity = max(len(uniques), 1)
        combined = combined * size + c
        capacity *= size
    if valid.all() and (np.diff(combined) > 0).all():
        return _no_findings()
    combined = pd.Series(np.where(valid, combined, -1 - np.arange(n)))  # NaN keys never collide
    repeated = combined.duplicated(keep="first").to_numpy()
    dup = np.flatnonzero(repeated)
    if len(dup) == 0:
        return _no_findings()
    firsts = combined[~repeated]
    first_of = pd.Series(firsts.index.to_numpy(), index=firsts.to_numpy())
    first_pos = np.empty(n, dtype=np.int64)
    first_pos[dup] = first_of.reindex(combined.to_numpy()[dup]).to_numpy()
    label = ", ".join(key)
    messages = [f"duplicate key ({label}): same as row {r}" for r in rows[first_pos[dup]]]
    return _findings(dup, key[-1], "duplicate_key", messages)


def check_known(values: pd.Series, known, column: str, rule: str, what: str) -> pd.DataFrame:
    """Rows whose identifier is not among the known ones.

    Parameters
    ----------
    values : pandas.Series
        Identifiers to check; missing values are ignored.
    known : array-like
        Valid identifiers (e.g. ``items.sku``).
    column, rule : str
        Column name and rule identifier for the findings.
    what : str
        Name of the reference table, for the message.
    """
    known = pd.Index(pd.Series(known).dropna().unique())
    bad = values.notna().to_numpy() & ~values.isin(known).to_numpy()
    return _findings(np.flatnonzero(bad), column, rule, f"{RULES[rule]} (not found in {what})")


def check_dealer_hierarchy(locations: pd.DataFrame) -> pd.DataFrame:
    """The supply tree plant -> DC -> dealer.

    A dealer's ``parent`` must be a location of kind ``dc`` and a DC's parent one of
    kind ``plant``; a non-empty parent must exist in the table.
    """
    kind_of = locations.drop_duplicates("location").set_index("location")["kind"]
    parent = locations["parent"]
    parent_kind = parent.map(kind_of)
    has_parent = parent.notna().to_numpy()
    known = parent_kind.notna().to_numpy()
    kind = locations["kind"].to_numpy()
    parts = [
        _findings(np.flatnonzero(has_parent & ~known), "parent", "unknown_parent", RULES["unknown_parent"])
    ]
    for child, parent_needed, rule in (("dealer", "dc", "parent_not_dc"), ("dc", "plant", "parent_not_plant")):
        wrong = (kind == child) & ~(known & (parent_kind.to_numpy() == parent_needed))
        wrong &= ~(has_parent & ~known)  # already reported as unknown_parent
        idx = np.flatnonzero(wrong)
        got = parent_kind.to_numpy()[idx]
        messages = [
            f"{RULES[rule]} (parent is {'a ' + str(g) if isinstance(g, str) else 'empty'})" for g in got
        ]
        parts.append(_findings(idx, "parent", rule, messages))
    return _concat(parts)


def check_lanes(lanes: pd.DataFrame, locations: pd.DataFrame) -> pd.DataFrame:
    """Lanes must join two different, known locations."""
    known = locations["location"]
    parts = [
        check_known(lanes[col], known, col, "unknown_location", "locations")
        for col in ("origin", "destination")
    ]
    same = (lanes["origin"] == lanes["destination"]).fillna(False).to_numpy(dtype=bool)
    parts.append(_findings(np.flatnonzero(same), "destination", "self_lane", RULES["self_lane"]))
    return _concat(parts)


def check_min_max(inventory: pd.DataFrame) -> pd.DataFrame:
    """The VMI band: ``min_qty`` (warning line) must not exceed ``max_qty`` (upper limit)."""
    if "min_qty" not in inventory or "max_qty" not in inventory:
        return _no_findings()
    lo = inventory["min_qty"].to_numpy(dtype=float)
    hi = inventory["max_qty"].to_numpy(dtype=float)
    idx = np.flatnonzero(lo > hi)  # NaN compares False: open bands are fine
    messages = [f"{RULES['min_gt_max']} (max_qty is {h:g})" for h in hi[idx]]
    return _findings(idx, "min_qty", "min_gt_max", messages)


def check_period_grid(dates: pd.Series, freq: str, column: str) -> pd.DataFrame:
    """Dates that are not period starts of ``freq``.

    A date is on the grid when ``to_offset(freq).is_on_offset(date)`` and it carries no
    time of day. Only the distinct dates are tested, so this is cheap on long tables.
    """
    offset = to_offset(freq)
    values = pd.to_datetime(dates)
    uniques = pd.DatetimeIndex(values.dropna().unique())
    bad = [d for d in uniques if d != d.normalize() or not offset.is_on_offset(d)]
    if not bad:
        return _no_findings()
    idx = np.flatnonzero(values.isin(bad).to_numpy())
    return _findings(idx, column, "off_grid", f"{RULES['off_grid']} of {offset.freqstr}")


def check_after_history(dates: pd.Series, last, column: str = "date") -> pd.DataFrame:
    """Rows of a planned calendar dated at or before the last demand period.

    A promotion calendar describes the periods still to be planned; what happened in the
    periods of the demand history is recorded in that history's own ``promo`` and
    ``price`` columns (the forecaster learns the lift from there), so a calendar row for
    a closed period is either a copy of it or a contradiction.

    Parameters
    ----------
    dates : pandas.Series
        Period starts of the calendar rows; missing dates are ignored (reported
        elsewhere).
    last : date-like or None
        Last period start of the demand history; None (no valid demand dates) checks
        nothing.
    column : str
        Column name for the findings.

    Returns
    -------
    pandas.DataFrame
        :data:`FINDING_COLUMNS`, one finding per row dated ``<= last``.
    """
    if last is None or pd.isna(last):
        return _no_findings()
    last = pd.Timestamp(last)
    values = pd.to_datetime(dates)
    idx = np.flatnonzero((values <= last).fillna(False).to_numpy(dtype=bool))
    message = (
        f"{RULES['in_history']} ({last.date()}): past promotions belong in demand's promo and "
        f"price columns; the calendar starts at the first period after the history"
    )
    return _findings(idx, column, "in_history", message)
