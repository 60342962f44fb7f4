"""Bullwhip backtest: replay the last weeks of demand under the baseline, min/max and VMI.

All policies run through the same simulator (:func:`optimization.simulation.simulate`)
on the same demand, the same network (lead times, lane capacities and costs) and from
the same starting stock, so the table compares policies, not starting points:

``baseline``
    :class:`optimization.policies.OrderUpToMovingAverage` (or, with
    ``backtest.baseline_forecast: exponential_smoothing``,
    :class:`~optimization.policies.OrderUpToExponentialSmoothing`): every dealer orders on
    its DC from a forecast of its own sales, every DC orders on the plant from a forecast
    of its dealers' orders (no information sharing).
``minmax``
    :class:`optimization.policies.MinMaxPolicy`: dealers reorder up to their max_qty when
    their inventory position is at or below min_qty (the manual habit); DCs order like
    the baseline.
``vmi``
    :class:`VmiPolicy`: the manufacturer sees the dealers' consumer demand, re-forecasts
    every ``forecast_every`` weeks with :func:`forecasting.forecast` (model selection),
    refreshes the chosen models every ``refresh_every`` weeks with
    :func:`forecasting.refresh`, recomputes safety
    stock and solves :func:`optimization.replenishment.plan_replenishment` each week on
    the simulator's current stock, then executes the plan's first-week shipments:
    DC -> dealer (what the dealers "order" on the DCs), PLANT -> DC (the DCs' orders on
    the plant) and DC -> DC transfers.

This module combines forecasting and optimization, which the libraries may not do
themselves; the I/O around it (loading, publishing, MLflow) is in
:mod:`pipelines.backtest_flow`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimization.lp_data import lot_size
from optimization.policies import MinMaxPolicy, Orders, OrderUpToExponentialSmoothing, OrderUpToMovingAverage
from optimization.simulation import (
    Network,
    SimulationResult,
    SimulationState,
    bullwhip_metrics,
    order_amplification,
    simulate,
    steady_state_start,
)
from pipelines.loading import Dataset
from pipelines.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "run_backtest",
    "replay_policies",
    "BacktestReplay",
    "VmiPolicy",
    "BacktestSetup",
    "prepare_backtest",
    "TABLE_COLUMNS",
    "POLICIES",
]

#: Leading columns of the backtest table (the contract of ``backtest.csv``); more follow.
TABLE_COLUMNS = [
    "policy",
    "echelon",
    "bullwhip_ratio",
    "fill_rate",
    "cycle_service_level",
    "avg_on_hand",
    "turnover_days",
    "cost",
]

#: Policies a backtest can replay, in table order.
POLICIES = ("baseline", "minmax", "vmi")

#: Fewest history periods before the replay window: enough for a moving average and for
#: the forecaster's holdout.
MIN_TRAINING_PERIODS = 13


def _days_per_period(freq: str) -> float:
    grid = pd.date_range("2001-01-01", periods=53, freq=freq)
    return (grid[-1] - grid[0]).total_seconds() / 86400.0 / 52.0


class BacktestSetup:
    """Dense arrays and lookups shared by both policies of one backtest.

    Attributes
    ----------
    network : Network
    dates : pandas.DatetimeIndex
        Period starts from the first demand period to the last, then on past the end far
        enough to date any arrival (``dates[t]`` is period ``t`` of ``demand``).
    demand : numpy.ndarray, shape (n_skus, n_dealers, n_periods)
        Consumer demand per period (units; missing rows are zero).
    start : int
        First replayed period.
    dealer_service, dc_service : numpy.ndarray
        Cycle service level per SKU x dealer and SKU x DC (inventory rows, else the
        configured default).
    unit_holding_cost, unit_shortage_cost : numpy.ndarray, shape (n_skus,)
        Currency per unit and period held; per unit of demand not served on time
        (items' ``stockout_cost``, 0 when absent).
    case_pack, lot_size : numpy.ndarray, shape (n_skus,)
        Units per case pack and smallest shipment (MOQ rounded up to whole packs), as the
        plan applies them; with ``backtest.order_lots`` every policy's orders follow them.
    """

    def __init__(self, dataset: Dataset, settings: Settings, weeks: int):
        freq = settings.freq
        demand = dataset.demand
        if demand.empty:
            raise ValueError("demand history is empty: nothing to replay")
        skus = sorted(set(dataset.items["sku"].astype(str)) | set(demand["sku"].astype(str)))
        self.network = Network.from_tables(dataset.locations, dataset.lanes, skus)
        net = self.network
        first, last = pd.Timestamp(demand["date"].min()), pd.Timestamp(demand["date"].max())
        n_hist = len(pd.date_range(first, last, freq=freq))
        self.dates = pd.date_range(first, periods=n_hist + net.max_lead + settings.plan.horizon + 2, freq=freq)
        self.n_periods = n_hist
        if weeks < 2:
            raise ValueError("weeks must be >= 2")
        self.start = n_hist - weeks
        if self.start < MIN_TRAINING_PERIODS:
            raise ValueError(
                f"cannot replay {weeks} of {n_hist} periods: at least {MIN_TRAINING_PERIODS} periods "
                "of history must remain before the replay window for training"
            )

        rows, s_i, d_i, t_i = self.dealer_cells(demand)
        cube = np.zeros((net.n_skus, net.n_dealers, n_hist))
        np.add.at(cube, (s_i, d_i, t_i), rows["qty"].to_numpy(dtype=float))
        self.demand = cube

        default = settings.plan.default_service_level
        self.dealer_service = self._per_cell(dataset.inventory, "service_level", net.dealers, default)
        self.dc_service = self._per_cell(dataset.inventory, "service_level", net.dcs, default)
        self.dealer_min = self._per_cell(dataset.inventory, "min_qty", net.dealers, float("nan"))
        self.dealer_max = self._per_cell(dataset.inventory, "max_qty", net.dealers, float("nan"))

        items = dataset.items.assign(sku=dataset.items["sku"].astype(str)).set_index("sku").reindex(net.skus)
        periods_year = max(1.0, round(365.25 / _days_per_period(freq)))
        unit_cost = pd.to_numeric(items.get("unit_cost"), errors="coerce").fillna(0.0).to_numpy(float)
        rate = pd.to_numeric(items.get("holding_rate"), errors="coerce").fillna(0.0).to_numpy(float)
        self.unit_holding_cost = unit_cost * rate / periods_year
        stockout = items["stockout_cost"] if "stockout_cost" in items else pd.Series(0.0, index=items.index)
        self.unit_shortage_cost = pd.to_numeric(stockout, errors="coerce").fillna(0.0).to_numpy(float)
        # the plan ships whole case packs of at least the MOQ (optimization.lp_data.lot_size)
        pack = pd.to_numeric(items.get("case_pack"), errors="coerce").to_numpy(float) if "case_pack" in items else np.ones(net.n_skus)
        pack = np.where(np.isfinite(pack) & (pack >= 1), np.round(pack), 1.0)
        moq = pd.to_numeric(items.get("moq"), errors="coerce").to_numpy(float) if "moq" in items else np.zeros(net.n_skus)
        moq = np.where(np.isfinite(moq) & (moq > 0), moq, 0.0)
        self.case_pack = pack
        self.lot_size = lot_size(pack, moq)
        self.days_per_period = _days_per_period(freq)

    def dealer_cells(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        """The dealer rows of a long (sku, location, date) frame and their cube indices.

        Returns the rows at dealers and, per row, the SKU, dealer and history-period
        positions in ``(n_skus, n_dealers, n_periods)`` arrays (a SKU outside the network
        maps to nan, a date outside the history to -1).
        """
        net = self.network
        sku_pos = {s: i for i, s in enumerate(net.skus)}
        dealer_pos = {d: i for i, d in enumerate(net.dealers)}
        rows = frame.loc[frame["location"].astype(str).isin(dealer_pos)]
        s_i = rows["sku"].astype(str).map(sku_pos).to_numpy()
        d_i = rows["location"].astype(str).map(dealer_pos).to_numpy()
        t_i = self.dates[: self.n_periods].get_indexer(pd.to_datetime(rows["date"]))
        return rows, s_i, d_i, t_i

    def _per_cell(self, inventory: pd.DataFrame, column: str, locations: list, default: float) -> np.ndarray:
        out = np.full((self.network.n_skus, len(locations)), float(default))
        if column not in inventory:
            return out
        loc_pos = {loc: i for i, loc in enumerate(locations)}
        sku_pos = {s: i for i, s in enumerate(self.network.skus)}
        inv = inventory.loc[inventory["location"].astype(str).isin(loc_pos)]
        values = pd.to_numeric(inv[column], errors="coerce").to_numpy(float)
        ok = np.isfinite(values)
        s_i = inv["sku"].astype(str).map(sku_pos).to_numpy()
        l_i = inv["location"].astype(str).map(loc_pos).to_numpy()
        ok &= ~pd.isna(s_i)
        out[s_i[ok].astype(int), l_i[ok].astype(int)] = values[ok]
        return out


def prepare_backtest(dataset: Dataset, settings: Settings, weeks: int) -> BacktestSetup:
    """Arrays, network and costs of a backtest replaying the last ``weeks`` periods."""
    return BacktestSetup(dataset, settings, weeks)


class VmiPolicy:
    """supplyplan's own plan, recomputed every period, as a replay policy.

    Every period ``t`` (date ``dates[t]``) the manufacturer

    1. re-forecasts every ``forecast_every`` periods with :func:`forecasting.forecast` on
       the demand rows dated before ``dates[t]`` (no peeking; backtest, model selection,
       global model), and in between, every ``refresh_every`` periods, refits the chosen
       models on the newest demand with :func:`forecasting.refresh` (no re-selection;
       the last full run's backtest errors). Forecasts run over
       ``max(forecast horizon, plan horizon) + refresh_every - 1`` periods so that they
       still cover the plan horizon when they are reused;
    2. recomputes safety stock (:func:`optimization.safety_stock.compute_safety_stock`,
       same dealer policy table as the nightly job) from the forecast rows from
       ``dates[t]`` on and the forecaster's backtest errors;
    3. solves :func:`optimization.replenishment.plan_replenishment` from ``dates[t]`` with
       the simulator's stock: on hand per dealer and DC (a DC's stock net of what it still
       owes its dealers), in-transit stock as ``inbound`` (what a DC owes a dealer, and
       what the plant owes a DC, counts as arriving after the lane's lead time), and
       consumer backorders added to the demand of the first period a shipment made now
       can reach (one dealer lane lead time out);
    4. executes the plan rows shipped in ``dates[t]``.

    Dealers with ``vmi`` false are not planned by the LP; they order for themselves with
    the ``fallback`` order-up-to policy.

    Parameters
    ----------
    setup : BacktestSetup
    dataset : Dataset
    settings : Settings
    fallback : OrderUpToMovingAverage
        Policy of non-VMI dealers.
    progress : pipelines.progress.Progress, optional

    Attributes
    ----------
    timings_ : dict
        Seconds spent in full forecasts, refreshes, safety stock and the LP, summed over periods.
    statuses_ : list of str
        Solver status of each period's plan.
    targets_ : dict of str -> numpy.ndarray, shape (n_skus, n_dealers, n_window)
        Per period of the window, each dealer cell's planned level (units; NaN where the
        plan had no row): ``order_up_to`` of the safety-stock table (mean demand over the
        protection period plus safety stock), and ``band_order_up_to``, the same with the
        safety stock held inside the dealer's band as the LP holds it,
        :math:`\min(\max(SS, m), \text{max\_qty})` with :math:`m` the band's lower end
        (:func:`optimization.lp_data.band_floor`). The benchmark replays them as a
        plain order-up-to (:meth:`benchmarks._oracle.OracleProblem.run_levels`).
    """

    def __init__(self, setup: BacktestSetup, dataset: Dataset, settings: Settings, fallback: OrderUpToMovingAverage, progress=None):
        self.setup = setup
        self.dataset = dataset
        self.settings = settings
        self.fallback = fallback
        self.progress = progress
        self.timings_ = {"forecast": 0.0, "refresh": 0.0, "safety_stock": 0.0, "plan": 0.0}
        self.statuses_: list[str] = []
        self._forecast = None
        self._forecast_step = 0
        self._executor = None
        net = setup.network
        locs = dataset.locations.assign(location=dataset.locations["location"].astype(str)).set_index("location")
        vmi = locs["vmi"].reindex(net.dealers) if "vmi" in locs else pd.Series(True, index=net.dealers)
        self.vmi_mask = vmi.fillna(False).astype(bool).to_numpy()
        self.plants = set(locs.index[locs["kind"].astype(str).str.lower() == "plant"])
        self._sku_pos = {s: i for i, s in enumerate(net.skus)}
        self._dealer_pos = {d: i for i, d in enumerate(net.dealers)}
        self._dc_pos = {d: i for i, d in enumerate(net.dcs)}
        self._inventory_grid = self._inventory_template()
        window = setup.n_periods - setup.start
        self.targets_ = {k: np.full((net.n_skus, net.n_dealers, window), np.nan) for k in ("order_up_to", "band_order_up_to")}
        band = self._inventory_grid.loc[self._inventory_grid["location"].isin(self._dealer_pos)]
        self._dealer_band = {}
        for col, empty in (("min_qty", 0.0), ("max_qty", np.inf)):
            grid = np.full((net.n_skus, net.n_dealers), empty)
            if col in band:
                val = pd.to_numeric(band[col], errors="coerce").to_numpy(float)
                grid[band["sku"].map(self._sku_pos).to_numpy(int), band["location"].map(self._dealer_pos).to_numpy(int)] = \
                    np.where(np.isfinite(val), val, empty)
            self._dealer_band[col] = grid

    # -- inputs of the plan ---------------------------------------------------------------
    def _inventory_template(self) -> pd.DataFrame:
        """One inventory row per SKU x (DC, dealer) with the data's band and service level."""
        net = self.setup.network
        locs = list(net.dcs) + list(net.dealers)
        grid = pd.DataFrame({"sku": np.repeat(net.skus, len(locs)), "location": np.tile(locs, net.n_skus)})
        inv = self.dataset.inventory.assign(sku=self.dataset.inventory["sku"].astype(str), location=self.dataset.inventory["location"].astype(str))
        extra = [c for c in ("min_qty", "max_qty", "service_level") if c in inv]
        grid = grid.merge(inv[["sku", "location", *extra]], on=["sku", "location"], how="left")
        grid["on_hand"] = 0.0
        return grid[["sku", "location", "on_hand", *extra]]

    def _inventory(self, state: SimulationState) -> pd.DataFrame:
        net = self.setup.network
        dc_free = np.maximum(state.dc_on_hand - state.dc_backorders, 0.0)
        # grid order: per SKU, DCs then dealers
        on_hand = np.concatenate([dc_free, state.dealer_on_hand], axis=1).ravel()
        inv = self._inventory_grid.copy()
        inv["on_hand"] = on_hand
        return inv

    def _inbound(self, state: SimulationState) -> pd.DataFrame:
        net = self.setup.network
        dates = self.setup.dates
        frames = []
        dealer_arrivals = state.dealer_in_transit.copy()
        owed = state.dealer_owed
        if owed.any():
            lead = np.maximum(net.dealer_lead, 1)
            k = np.arange(1, dealer_arrivals.shape[-1] + 1)
            # what a DC still owes is shipped as soon as it can: expect it one lead time out
            extra = np.where(k[None, None, :] == lead[None, :, None], owed[:, :, None], 0.0)
            if dealer_arrivals.shape[-1] == 0:
                dealer_arrivals = owed[:, :, None]
            else:
                dealer_arrivals = dealer_arrivals + extra
        dc_arrivals = state.dc_in_transit
        plant_owed = state.dc_owed
        if plant_owed is not None and plant_owed.any() and dc_arrivals.shape[-1]:
            # what the plant could not ship (lane capacity) leaves as soon as it can
            lead = np.clip(net.dc_lead, 1, dc_arrivals.shape[-1])
            k = np.arange(1, dc_arrivals.shape[-1] + 1)
            dc_arrivals = dc_arrivals + np.where(k[None, None, :] == lead[None, :, None], plant_owed[:, :, None], 0.0)
        for arr, names in ((dealer_arrivals, net.dealers), (dc_arrivals, net.dcs)):
            s_i, l_i, k_i = np.nonzero(arr > 1e-9)
            if len(s_i):
                frames.append(
                    pd.DataFrame(
                        {
                            "sku": np.asarray(net.skus, dtype=object)[s_i],
                            "location": np.asarray(names, dtype=object)[l_i],
                            "arrival_date": dates[state.t + k_i + 1],
                            "qty": arr[s_i, l_i, k_i],
                        }
                    )
                )
        if not frames:
            return pd.DataFrame({"sku": [], "location": [], "arrival_date": pd.to_datetime([]), "qty": []})
        return pd.concat(frames, ignore_index=True)

    def _forecasts_now(self, state: SimulationState) -> pd.DataFrame:
        date = self.setup.dates[state.t]
        fc = self._forecast.forecasts
        fc = fc.loc[fc["date"] >= date].copy()
        backlog = state.dealer_backorders
        s_i, d_i = np.nonzero(backlog > 1e-9)
        if len(s_i):
            # Backordered consumers are served from the first arrivals, and the earliest a
            # shipment made now arrives is one lane lead time out: the backlog is demand of
            # that period. On today's date the LP would count it as a lost sale it cannot
            # prevent (nothing shipped today arrives today) and never ship for it, so a
            # backlog would linger, eating each week's arrivals, until demand dips.
            lead = np.maximum(np.asarray(self.setup.network.dealer_lead, dtype=int), 0)
            due = self.setup.dates[np.minimum(state.t + lead[d_i], len(self.setup.dates) - 1)]
            add = pd.DataFrame(
                {
                    "sku": np.asarray(self.setup.network.skus, dtype=object)[s_i],
                    "location": np.asarray(self.setup.network.dealers, dtype=object)[d_i],
                    "date": due,
                    "backlog": backlog[s_i, d_i],
                }
            )
            fc = fc.merge(add, on=["sku", "location", "date"], how="outer")
            value_cols = [c for c in fc.columns if c == "mean" or (c.startswith("q") and c[1:].replace(".", "").isdigit())]
            fc[value_cols] = fc[value_cols].fillna(0.0).add(fc["backlog"].fillna(0.0), axis=0)
            fc["model"] = fc["model"].fillna("backlog")
            fc = fc.drop(columns="backlog")
        return fc.sort_values(["sku", "location", "date"], kind="mergesort").reset_index(drop=True)

    def _plan_executor(self):
        """One pool of plan workers for the whole replay (None: the plan's own default).

        A decomposed plan otherwise starts ``plan.workers`` fresh processes for every
        weekly plan; the groups and their results are the same either way. With a Dask
        scheduler configured the plan builds its own client as in the nightly job.
        """
        workers = self.settings.plan.workers
        if workers <= 1 or self.settings.plan.scheduler or self.settings.forecast.scheduler:
            return None
        if self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
        return self._executor

    def close(self) -> None:
        """Shut the plan worker pool down (end of the replay)."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def _errors_now(self, age: int) -> pd.DataFrame:
        """Backtest errors of a forecast made ``age`` periods ago, as seen today.

        Today's period is step ``age + 1`` of that forecast, so the errors of its
        protection period are the backtest errors of steps ``age + 1``, ``age + 2``, ...:
        they are renumbered from 1 (the nightly job forecasts every night: age 0).
        """
        errors = self._forecast.errors
        if age <= 0 or errors is None or errors.empty:
            return errors
        later = errors.loc[errors["step"] > age]
        return later.assign(step=later["step"] - age)

    def _refresh_forecast(self, state: SimulationState, full: bool = True) -> None:
        """A full re-forecast (``full``) or a refresh of the current one at ``dates[t]``."""
        from forecasting import forecast, refresh
        from pipelines.nightly import forecast_options

        date = self.setup.dates[state.t]
        demand = self.dataset.demand
        history = demand.loc[demand["date"] < date]
        options = forecast_options(self.settings)
        bt = self.settings.backtest
        options["horizon"] = options["horizon"] + min(bt.refresh_every, bt.forecast_every) - 1
        # the same extra inputs as the nightly job, when this version of it has them
        try:
            from pipelines.nightly import forecast_groups
        except ImportError:  # pragma: no cover - older nightly without shape groups
            forecast_groups = None
        if forecast_groups is not None:
            options["groups"] = forecast_groups(self.dataset, self.settings)
        from pipelines.nightly import forecast_top_down

        options["top_down"] = forecast_top_down(self.dataset, self.settings)
        future = self._promotion_calendar(date, options["horizon"])
        if future is not None:
            options["future"] = future
        t0 = time.perf_counter()
        if full:
            self._forecast = forecast(history, **options)
            self.timings_["forecast"] += time.perf_counter() - t0
        else:
            # the plan's worker pool also runs the refits: no fresh processes every week
            self._forecast = refresh(history, self._forecast, executor=self._plan_executor(), **options)
            self.timings_["refresh"] += time.perf_counter() - t0
        if self.progress is not None:
            what = "forecast" if full else "refresh"
            self.progress.info(
                f"vmi: {what} at {date.date()} ({len(self._forecast.selection)} series, {time.perf_counter() - t0:.1f} s)"
            )

    def _promotion_calendar(self, date: pd.Timestamp, horizon: int) -> pd.DataFrame | None:
        """Planned promo/price of the forecast window, when ``backtest.known_promotions``.

        The manufacturer runs the campaigns, so their calendar is known when it plans;
        only the ``promo`` and ``price`` columns of demand rows dated in
        ``[date, date + horizon)`` are passed, never a quantity. By default
        (``known_promotions`` unset) the replay knows the calendar when the data folder
        has a ``promotions`` table, as the nightly job does.
        """
        known = self.settings.backtest.known_promotions
        if known is None:
            # replay what the nightly job knows: a calendar when the data supplies one
            known = getattr(self.dataset, "promotions", None) is not None
        if not known:
            return None
        demand = self.dataset.demand
        cols = [c for c in ("promo", "price") if c in demand]
        if not cols:
            return None
        end = self.setup.dates[min(self.setup.dates.get_loc(date) + horizon, len(self.setup.dates) - 1)]
        rows = demand.loc[(demand["date"] >= date) & (demand["date"] < end), ["sku", "location", "date", *cols]]
        return rows.reset_index(drop=True)

    # -- the policy -----------------------------------------------------------------------
    def decide(self, state: SimulationState) -> Orders:
        """Plan from the current state and return the first period's shipments."""
        from optimization.replenishment import plan_replenishment
        from optimization.safety_stock import compute_safety_stock
        from pipelines.nightly import plan_settings, replenishment_policy

        from pipelines.nightly import budget_safety_stock

        date = self.setup.dates[state.t]
        bt = self.settings.backtest
        if self._forecast is None or state.step % bt.forecast_every == 0:
            self._refresh_forecast(state, full=True)
            self._forecast_step = state.step
        elif (state.step - self._forecast_step) % bt.refresh_every == 0:
            self._refresh_forecast(state, full=False)
            self._forecast_step = state.step
        forecasts = self._forecasts_now(state)

        t0 = time.perf_counter()
        # the nightly plan stage's safety stock, with what was known at ``date``
        policy = replenishment_policy(self.dataset, self.settings, as_of=date)
        errors = self._errors_now(state.step - self._forecast_step)
        safety = compute_safety_stock(forecasts, errors, policy, start=date,
                                      distribution=self.settings.plan.safety_stock_distribution,
                                      pool_spread=self.settings.plan.pool_spread,
                                      fill_model=self.settings.plan.fill_model)
        safety = budget_safety_stock(safety, self.dataset, self.settings)
        self._record_targets(safety, state.step, state.dealer_backorders)
        t1 = time.perf_counter()
        result = plan_replenishment(
            forecasts,
            safety,
            self._inventory(state),
            self._inbound(state),
            self.dataset.lanes,
            self.dataset.locations,
            self.dataset.items,
            date,
            settings=plan_settings(self.settings),
            executor=self._plan_executor(),
        )
        t2 = time.perf_counter()
        self.timings_["safety_stock"] += t1 - t0
        self.timings_["plan"] += t2 - t1
        status = str(getattr(result, "status", ""))
        self.statuses_.append(status)
        if status == "empty":  # nothing stocked to plan: nothing to ship
            self.statuses_[-1] = "optimal"
        elif int(result.sol_status) not in (1, 2):  # pulp LpSolutionOptimal / IntegerFeasible
            raise RuntimeError(f"VMI plan for {date.date()} has no usable solution: {status} (sol_status {result.sol_status})")
        if status != "optimal":
            log.warning("VMI plan for %s: solver status %s", date.date(), status)

        orders = self._first_period(result.plan, date)
        if not self.vmi_mask.all():
            own = self.fallback.decide(state)
            orders.dealer[:, ~self.vmi_mask] = own.dealer[:, ~self.vmi_mask]
        return orders

    def _record_targets(self, safety: pd.DataFrame, step: int, backorders: np.ndarray | None = None) -> None:
        """Keep this period's dealer levels in :attr:`targets_` (see the class docstring).

        The plan counts a dealer's consumer backorders as demand of the first period a
        shipment can reach (:meth:`_forecasts_now`), so its order-up-to level holds them;
        the recorded level is net of them, a level for the position net of backorders
        (``SimulationState.dealer_position``), which does not depend on this replay's
        backlog.
        """
        if not 0 <= step < self.targets_["order_up_to"].shape[2]:
            return
        rows = safety.loc[safety["location"].astype(str).isin(self._dealer_pos)]
        s_i = rows["sku"].astype(str).map(self._sku_pos)
        ok = s_i.notna().to_numpy()
        s_i = s_i.to_numpy()[ok].astype(int)
        d_i = rows["location"].astype(str).map(self._dealer_pos).to_numpy()[ok].astype(int)
        mean_p = rows["mean_protection_demand"].to_numpy(float)[ok]
        ss = rows["safety_stock"].to_numpy(float)[ok]
        from optimization.lp_data import band_floor

        hi = self._dealer_band["max_qty"][s_i, d_i]
        lo = band_floor(self._dealer_band["min_qty"][s_i, d_i], mean_p, self.settings.plan.min_qty_as)
        band_ss = np.minimum(np.maximum(ss, np.minimum(lo, hi)), hi)
        backlog = np.zeros(len(s_i)) if backorders is None else np.asarray(backorders, dtype=float)[s_i, d_i]
        self.targets_["order_up_to"][s_i, d_i, step] = rows["order_up_to"].to_numpy(float)[ok] - backlog
        self.targets_["band_order_up_to"][s_i, d_i, step] = mean_p - backlog + band_ss

    def _first_period(self, plan: pd.DataFrame, date: pd.Timestamp) -> Orders:
        net = self.setup.network
        dealer = np.zeros((net.n_skus, net.n_dealers))
        dc = np.zeros((net.n_skus, net.n_dcs))
        transfers = np.zeros((net.n_skus, net.n_dcs, net.n_dcs))
        now = plan.loc[(pd.to_datetime(plan["ship_date"]) == date) & (plan["qty"] > 0)]
        if now.empty:
            return Orders(dealer, dc, transfers)
        s_i = now["sku"].astype(str).map(self._sku_pos)
        origin = now["origin"].astype(str)
        dest = now["destination"].astype(str)
        qty = now["qty"].to_numpy(float)
        o_dc = origin.map(self._dc_pos)
        d_dc = dest.map(self._dc_pos)
        d_dealer = dest.map(self._dealer_pos)

        from_plant = origin.isin(self.plants).to_numpy() & d_dc.notna().to_numpy()
        np.add.at(dc, (s_i[from_plant].astype(int), d_dc[from_plant].astype(int)), qty[from_plant])

        to_dealer = o_dc.notna().to_numpy() & d_dealer.notna().to_numpy()
        own_dc = net.dealer_dc[d_dealer[to_dealer].astype(int).to_numpy()] == o_dc[to_dealer].astype(int).to_numpy()
        if not own_dc.all():
            log.warning("VMI plan ships %d lines to dealers from a DC other than their parent; the replay ignores them", int((~own_dc).sum()))
        sel = np.flatnonzero(to_dealer)[own_dc]
        np.add.at(dealer, (s_i.iloc[sel].astype(int), d_dealer.iloc[sel].astype(int)), qty[sel])

        transfer = o_dc.notna().to_numpy() & d_dc.notna().to_numpy()
        if transfer.any():
            np.add.at(
                transfers,
                (s_i[transfer].astype(int), o_dc[transfer].astype(int), d_dc[transfer].astype(int)),
                qty[transfer],
            )
        return Orders(dealer, dc, transfers)


def _metrics_table(name: str, result: SimulationResult, setup: BacktestSetup, warmup: int) -> pd.DataFrame:
    table = bullwhip_metrics(
        result,
        warmup=warmup,
        unit_holding_cost=setup.unit_holding_cost,
        unit_shortage_cost=setup.unit_shortage_cost,
        days_per_period=setup.days_per_period,
    )
    table.insert(0, "policy", name)
    return table


@dataclass
class BacktestReplay:
    """The replays of one backtest, before they are reduced to the table.

    Attributes
    ----------
    setup : BacktestSetup
    results : dict of str -> SimulationResult
        Per policy name, the period-by-period records (see
        :meth:`optimization.simulation.SimulationResult.to_frame`).
    seconds : dict of str -> float
        Wall time of each policy's replay.
    details : dict of str -> dict
        Per policy, extra figures (VMI: seconds in forecasting, safety stock and the LP;
        number of weekly plans not solved to optimality).
    warmup : int
        Periods left out of the metrics at the start of the window.
    targets : dict of str -> dict
        Per policy that plans levels (VMI), its :attr:`VmiPolicy.targets_`.
    """

    setup: BacktestSetup
    results: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    warmup: int = 0
    targets: dict = field(default_factory=dict)

    def amplification(self) -> pd.DataFrame:
        """Order-amplification data: per policy and period, consumer demand and orders.

        Returns
        -------
        pandas.DataFrame
            policy, period (date), consumer_demand, dealer_orders (on the DCs),
            dc_orders (on the plant), in units summed over SKUs and locations, for the
            periods after the warm-up (see
            :func:`optimization.simulation.order_amplification`).
        """
        frames = [order_amplification(res, self.warmup).assign(policy=name) for name, res in self.results.items()]
        out = pd.concat(frames, ignore_index=True)
        return out[["policy", "period", "consumer_demand", "dealer_orders", "dc_orders"]]

    def window_table(self, window: int) -> pd.DataFrame:
        """The table's figures per consecutive window of ``window`` periods.

        The periods after the warm-up are cut into windows of ``window`` periods (a
        last, shorter window of at least 2 periods is kept); each row holds the
        :func:`optimization.simulation.bullwhip_metrics` of one policy, echelon and
        window, with ``step`` (0, 1, ...) and ``window_start`` (date of its first period).
        These are the per-window steps of the MLflow metrics.
        """
        if window < 2:
            raise ValueError("window must be >= 2 periods")
        rows = []
        for name, res in self.results.items():
            n = res.n_periods
            for step, lo in enumerate(range(self.warmup, n, window)):
                hi = min(lo + window, n)
                if hi - lo < 2:
                    break
                part = SimulationResult(
                    res.network, res.start + lo, {k: v[lo:hi] for k, v in res.records.items()},
                    res.initial_stock, res.final_stock, lost_sales=res.lost_sales,
                    dates=None if res.dates is None else res.dates[lo:hi],
                )
                table = _metrics_table(name, part, self.setup, 0)
                table.insert(2, "step", step)
                table.insert(3, "window_start", None if res.dates is None else res.dates[lo])
                rows.append(table)
        return pd.concat(rows, ignore_index=True)

    def table(self) -> pd.DataFrame:
        """The comparison table of :func:`run_backtest`."""
        tables = []
        for name, result in self.results.items():
            table = _metrics_table(name, result, self.setup, self.warmup)
            table["seconds"] = round(self.seconds[name], 3)
            for key, value in self.details.get(name, {}).items():
                table[key] = value
            tables.append(table)
        table = pd.concat(tables, ignore_index=True)
        # the baseline spends no time forecasting or planning: 0, not NaN (MLflow metrics)
        detail_cols = sorted({k for d in self.details.values() for k in d})
        table[detail_cols] = table[detail_cols].fillna(0)
        rest = [c for c in table.columns if c not in TABLE_COLUMNS]
        return table[TABLE_COLUMNS + rest]


def baseline_policy(setup: BacktestSetup, settings: Settings):
    """The configured bullwhip baseline (moving average or exponential smoothing)."""
    bt = settings.backtest
    common = dict(
        service_level=setup.dealer_service,
        dc_service_level=setup.dc_service,
        review_period=settings.plan.review_period,
    )
    if bt.baseline_forecast == "exponential_smoothing":
        return OrderUpToExponentialSmoothing(alpha=bt.es_alpha, **common)
    return OrderUpToMovingAverage(ma_periods=bt.ma_periods, **common)


def replay_policies(
    dataset: Dataset,
    settings: Settings,
    weeks: int | None = None,
    progress=None,
    policies: tuple[str, ...] | None = None,
    vmi_factory=None,
) -> BacktestReplay:
    """Replay the last ``weeks`` periods under each policy, after ``backtest.lead_in`` unmeasured ones.

    See :func:`run_backtest`. ``vmi_factory`` builds the ``vmi`` policy instead of
    :class:`VmiPolicy`, called as ``VmiPolicy`` is (setup, dataset, settings, fallback,
    progress=...): the benchmark's VMI with perfect forecasts
    (:class:`benchmarks._oracle.TrueMeanVmiPolicy`) plugs in here.
    """
    weeks = int(weeks or settings.backtest.weeks)
    lead_in = int(settings.backtest.lead_in)
    policies = tuple(policies or settings.backtest.policies)
    unknown = set(policies) - set(POLICIES)
    if unknown:
        raise ValueError(f"unknown policies {sorted(unknown)}; choose among {list(POLICIES)}")
    setup = prepare_backtest(dataset, settings, weeks + lead_in)
    net = setup.network
    history = setup.demand[:, :, : setup.start]
    # The start: every location at the moving-average baseline's order-up-to level with a
    # full pipeline, the same for every policy (and every baseline variant).
    start_policy = OrderUpToMovingAverage(
        ma_periods=settings.backtest.ma_periods,
        service_level=setup.dealer_service,
        dc_service_level=setup.dc_service,
        review_period=settings.plan.review_period,
    )
    levels = start_policy.levels(net, history, np.einsum("sdt,dc->sct", history, net.membership))
    initial = steady_state_start(net, levels["dealer_level"], levels["dc_level"], levels["dealer_mean"], levels["dc_mean"])
    # Orders placed before a policy's first decision arrive during the first lead time;
    # the lead-in also lets a policy move from the common start stock to its own levels
    # (a slow item's surplus drains at its demand rate), which the measured weeks must not
    # charge to it: the initial-transient deletion of simulation output analysis (Law
    # 2015, Simulation Modeling and Analysis, 5th ed., section 9.5.1).
    out = BacktestReplay(setup, warmup=max(lead_in, min(net.max_lead, weeks + lead_in - 2)))
    dates = setup.dates[setup.start : setup.n_periods]
    for name in policies:
        if name == "baseline":
            policy = baseline_policy(setup, settings)
        elif name == "minmax":
            policy = MinMaxPolicy(setup.dealer_min, setup.dealer_max, upstream=baseline_policy(setup, settings),
                                  review_period=settings.plan.review_period)
        else:
            policy = (vmi_factory or VmiPolicy)(setup, dataset, settings, baseline_policy(setup, settings), progress=progress)
        t0 = time.perf_counter()
        lots = dict(case_pack=setup.case_pack, lot_size=setup.lot_size) if settings.backtest.order_lots else {}
        if lots and name == "vmi" and not settings.plan.vmi_moq:
            # the plan ships VMI dealers whole case packs; the others order for themselves
            vmi_dealer = getattr(policy, "vmi_mask", np.ones(net.n_dealers, dtype=bool))
            lots["dealer_lot_size"] = np.where(vmi_dealer[None, :], setup.case_pack[:, None], setup.lot_size[:, None])
        try:
            out.results[name] = simulate(
                net, setup.demand, policy, setup.start, initial=initial, dates=dates,
                lost_sales=settings.backtest.lost_sales, **lots,
            )
        finally:
            if hasattr(policy, "close"):
                policy.close()
        out.seconds[name] = time.perf_counter() - t0
        detail = ""
        if name == "vmi":
            out.details[name] = {f"seconds_{k}": round(v, 3) for k, v in policy.timings_.items()}
            out.details[name]["plans_not_optimal"] = sum(s != "optimal" for s in policy.statuses_)
            out.targets[name] = policy.targets_
            detail = ", " + ", ".join(f"{k} {v:.1f} s" for k, v in policy.timings_.items())
        msg = (f"{name}: {weeks} periods (after a lead-in of {lead_in}) x {net.n_skus} SKUs x {net.n_dealers} dealers "
               f"replayed in {out.seconds[name]:.1f} s{detail}")
        log.info(msg)
        if progress is not None:
            progress.info(msg)
    return out


def run_backtest(
    dataset: Dataset,
    settings: Settings,
    weeks: int | None = None,
    progress=None,
    policies: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Replay the last ``weeks`` periods under the baseline, min/max and VMI policies.

    The periods before the window are the policies' history (moving averages, the
    forecaster's training data). Every replay starts from the same stock: every dealer
    and DC at the baseline's order-up-to level, with a full pipeline
    (:func:`optimization.simulation.steady_state_start`), ``backtest.lead_in`` periods
    before the measured weeks, so that no policy inherits a better start. Metrics leave
    out the first ``max(lead_in, longest lead time)`` periods (warm-up: orders placed
    before any decision of the policy have not arrived, and a policy whose levels differ
    from the baseline's needs time to get there; a slow item's surplus drains only at its
    demand rate). With ``lead_in`` >= the longest lead time, exactly the last ``weeks``
    periods are measured.

    Parameters
    ----------
    dataset : Dataset
        The validated input tables (demand, items, locations, inventory, inbound, lanes).
        The inventory snapshot's stock and the inbound table are not used: they describe
        the end of history, not the start of the window; its service levels and VMI band
        (min/max) are.
    settings : Settings
        ``backtest`` (weeks, lead_in, ma_periods, baseline_forecast, es_alpha,
        forecast_every, lost_sales, policies), ``forecast``, ``plan``, ``freq``.
    weeks : int, optional
        Periods measured, the last of the history (``lead_in`` more are replayed before
        them); default ``settings.backtest.weeks``.
    progress : pipelines.progress.Progress, optional
        Receives one line per re-forecast and per policy.
    policies : tuple of str, optional
        Policies to run, among ``baseline``, ``minmax`` and ``vmi``; default
        ``settings.backtest.policies``.

    Returns
    -------
    pandas.DataFrame
        One row per policy and echelon with ``policy`` (baseline, minmax, vmi),
        ``echelon`` (``dealer``: orders placed on the DCs; ``dc``: orders placed on the
        plant), the :data:`TABLE_COLUMNS` ``bullwhip_ratio``, ``fill_rate``,
        ``cycle_service_level``, ``avg_on_hand`` (units), ``turnover_days`` (days),
        ``cost`` (currency per period) and the further columns of
        :func:`optimization.simulation.bullwhip_metrics` (bullwhip_ratio_consumer,
        bullwhip_ratio_median, avg_backorders, backorders, holding_cost, shortage_cost,
        transport_cost, n_series, n_periods), ``seconds`` (wall time of the policy's
        replay) and, for VMI, ``seconds_forecast``, ``seconds_refresh``, ``seconds_safety_stock``,
        ``seconds_plan`` and ``plans_not_optimal`` (0 for the other policies).
    """
    return replay_policies(dataset, settings, weeks, progress, policies).table()
