"""Compiled inner loops (numba) of the exponential smoothing and Theta models.

Why compiled: an ETS fit evaluates the state recursion a few hundred times inside the
optimiser, and an automatic ETS fits up to 15 model forms per series. In plain Python
that is ~0.2 s per form on a 126-month series; here the recursion *and* the Nelder-Mead
optimiser run in machine code, ~0.3-1 ms per form. ``cache=True`` keeps the compiled code
on disk next to this file, so worker processes do not recompile.

State space forms follow Hyndman, Koehler, Ord and Snyder (2008), *Forecasting with
Exponential Smoothing*, Table 2.3 (additive trend, optionally damped; additive or
multiplicative error and seasonality). Codes: ``error`` 0 = additive, 1 =
multiplicative; ``trend`` 0 = none, 1 = additive, 2 = additive damped; ``season`` 0 =
none, 1 = additive, 2 = multiplicative.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BIG = 1e12


@njit(cache=True)
def ets_filter(y, error, trend, season, m, alpha, beta, gamma, phi, l0, b0, s0, out_states):
    """Run the ETS recursion; return ``-2 log L`` up to a constant, ``BIG`` if unstable.

    ``s0`` holds the ``m`` seasonal states for periods ``0 .. m-1``; ``out_states`` (length
    ``2 + m``) receives the final level, trend and seasonal states, the latter rotated so
    that ``out_states[2 + j]`` belongs to period ``n + j``.
    """
    n = y.size
    lev = l0
    b = b0 if trend > 0 else 0.0
    mm = m if season > 0 else 1
    s = np.empty(mm)
    for j in range(mm):
        s[j] = s0[j] if season > 0 else (1.0 if season == 2 else 0.0)
    sse = 0.0
    logsum = 0.0
    j = -1
    for t in range(n):
        # j = t mod mm, kept as a wrapping counter: an integer division per step cost
        # ~15 % of the recursion
        j += 1
        if j == mm:
            j = 0
        if trend == 2:
            pb = phi * b
        elif trend == 1:
            pb = b
        else:
            pb = 0.0
        base = lev + pb
        if season == 1:
            yhat = base + s[j]
        elif season == 2:
            yhat = base * s[j]
        else:
            yhat = base
        if error == 1:
            if yhat <= 0.0 or base <= 0.0:
                return BIG
            e = (y[t] - yhat) / yhat
            logsum += np.log(yhat)
        else:
            e = y[t] - yhat
        sse += e * e
        if error == 0:
            if season == 2:
                if s[j] <= 0.0 or base <= 0.0:
                    return BIG
                lev = base + alpha * e / s[j]
                b = pb + beta * e / s[j]
                s[j] = s[j] + gamma * e / base
            else:
                lev = base + alpha * e
                b = pb + beta * e
                if season == 1:
                    s[j] = s[j] + gamma * e
        else:
            if season == 1:
                u = (base + s[j]) * e
                lev = base + alpha * u
                b = pb + beta * u
                s[j] = s[j] + gamma * u
            elif season == 2:
                lev = base * (1.0 + alpha * e)
                b = pb + beta * base * e
                s[j] = s[j] * (1.0 + gamma * e)
            else:
                lev = base * (1.0 + alpha * e)
                b = pb + beta * base * e
        if not np.isfinite(lev) or abs(lev) > 1e15:
            return BIG
    out_states[0] = lev
    out_states[1] = b
    for j in range(mm):
        out_states[2 + j] = s[(n + j) % mm]
    if sse <= 0.0:
        sse = 1e-300
    return n * np.log(sse / n) + 2.0 * logsum


@njit(cache=True)
def _ets_objective(x, y, error, trend, season, m, s0, fixed_phi, work):
    # x = [alpha, beta, gamma, phi, l0, b0]; parameter region of Hyndman et al. (2008)
    # section 5.2 ("usual" bounds): 0<alpha<1, 0<beta<alpha, 0<gamma<1-alpha, 0.8<=phi<=0.98.
    alpha = x[0]
    beta = x[1] if trend > 0 else 0.0
    gamma = x[2] if season > 0 else 0.0
    phi = x[3] if trend == 2 else 1.0
    if fixed_phi > 0.0 and trend == 2:
        phi = fixed_phi
    if alpha < 1e-4 or alpha > 0.9999:
        return BIG
    if trend > 0 and (beta < 1e-4 or beta > alpha):
        return BIG
    if season > 0 and (gamma < 1e-4 or gamma > 1.0 - alpha):
        return BIG
    if trend == 2 and (phi < 0.8 or phi > 0.98):
        return BIG
    if error == 1 and x[4] <= 0.0:
        return BIG
    return ets_filter(y, error, trend, season, m, alpha, beta, gamma, phi, x[4], x[5], s0, work)


@njit(cache=True)
def nelder_mead_ets(x0, step, active, y, error, trend, season, m, s0, max_evals, tol):
    """Nelder-Mead (Nelder and Mead 1965; standard coefficients 1, 2, 0.5, 0.5) over the
    ``active`` coordinates of ``x0``; returns the best point and its objective."""
    work = np.empty(2 + max(m, 1))
    idx = np.flatnonzero(active)
    d = idx.size
    simplex = np.empty((d + 1, x0.size))
    fvals = np.empty(d + 1)
    for i in range(d + 1):
        simplex[i] = x0
        if i > 0:
            simplex[i, idx[i - 1]] += step[idx[i - 1]]
        fvals[i] = _ets_objective(simplex[i], y, error, trend, season, m, s0, 0.0, work)
    evals = d + 1
    # Work arrays allocated once: the loop below runs a few hundred times per form, and
    # an allocation per trial point cost about as much as the recursion on a short
    # series. The arithmetic is the textbook one, element by element, in the same order.
    k = x0.size
    sorted_s = np.empty_like(simplex)
    sorted_f = np.empty_like(fvals)
    centroid = np.empty(k)
    xr = np.empty(k)
    xe = np.empty(k)
    xc = np.empty(k)
    while evals < max_evals:
        order = np.argsort(fvals)
        for i in range(d + 1):
            sorted_s[i] = simplex[order[i]]
            sorted_f[i] = fvals[order[i]]
        simplex, sorted_s = sorted_s, simplex
        fvals, sorted_f = sorted_f, fvals
        if abs(fvals[d] - fvals[0]) <= tol * (abs(fvals[0]) + 1e-10) and fvals[0] < BIG:
            break
        centroid[:] = 0.0
        for i in range(d):
            centroid += simplex[i]
        centroid /= d
        for j in range(k):
            xr[j] = centroid[j] + (centroid[j] - simplex[d, j])
        fr = _ets_objective(xr, y, error, trend, season, m, s0, 0.0, work)
        evals += 1
        if fr < fvals[0]:
            for j in range(k):
                xe[j] = centroid[j] + 2.0 * (centroid[j] - simplex[d, j])
            fe = _ets_objective(xe, y, error, trend, season, m, s0, 0.0, work)
            evals += 1
            if fe < fr:
                simplex[d] = xe
                fvals[d] = fe
            else:
                simplex[d] = xr
                fvals[d] = fr
        elif fr < fvals[d - 1]:
            simplex[d] = xr
            fvals[d] = fr
        else:
            if fr < fvals[d]:
                for j in range(k):
                    xc[j] = centroid[j] + 0.5 * (xr[j] - centroid[j])
            else:
                for j in range(k):
                    xc[j] = centroid[j] + 0.5 * (simplex[d, j] - centroid[j])
            fc = _ets_objective(xc, y, error, trend, season, m, s0, 0.0, work)
            evals += 1
            if fc < min(fr, fvals[d]):
                simplex[d] = xc
                fvals[d] = fc
            else:
                for i in range(1, d + 1):
                    for j in range(k):
                        simplex[i, j] = simplex[0, j] + 0.5 * (simplex[i, j] - simplex[0, j])
                    fvals[i] = _ets_objective(simplex[i], y, error, trend, season, m, s0, 0.0, work)
                evals += d
    best = np.argmin(fvals)
    return simplex[best].copy(), fvals[best]


@njit(cache=True)
def theta_sse(y, alpha, theta, l0, a, b):
    """In-sample one-step SSE of the Theta method with line weight ``theta``.

    The theta line is ``Z_t = theta y_t + (1 - theta)(a + b t)``; it is smoothed by SES
    (``alpha``, initial level ``l0``) and the one-step fit of ``y`` is
    ``(1 - 1/theta)(a + b t) + (1/theta) lhat_t`` (Fiorucci et al. 2016, eq. 3-5).
    """
    lev = l0
    sse = 0.0
    w = 1.0 / theta
    for t in range(y.size):
        trend_t = a + b * t
        yhat = (1.0 - w) * trend_t + w * lev
        e = y[t] - yhat
        sse += e * e
        z = theta * y[t] + (1.0 - theta) * trend_t
        lev = lev + alpha * (z - lev)
    return sse, lev


@njit(cache=True)
def _theta_objective(x, y, a, b, fit_theta):
    alpha = x[0]
    theta = x[2] if fit_theta else 2.0
    if alpha < 1e-4 or alpha > 0.9999 or theta < 1.0 or theta > 10.0:
        return BIG
    sse, _ = theta_sse(y, alpha, theta, x[1], a, b)
    return sse


@njit(cache=True)
def nelder_mead_theta(x0, step, y, a, b, fit_theta, max_evals, tol):
    """Nelder-Mead over (alpha, l0[, theta]) of the Theta method; best point and SSE."""
    # The same Nelder-Mead steps as nelder_mead_ets, written out again on purpose: one
    # shared kernel taking the objective as a first-class function gave bit-identical fits
    # but ran ETS + Theta fits 2.5x slower (measured 10.7 s vs 4.2 s on 120 fits), as numba
    # neither inlines nor caches a function passed as a value.
    d = 3 if fit_theta else 2
    simplex = np.empty((d + 1, 3))
    fvals = np.empty(d + 1)
    for i in range(d + 1):
        simplex[i] = x0
        if i > 0:
            simplex[i, i - 1] += step[i - 1]
        fvals[i] = _theta_objective(simplex[i], y, a, b, fit_theta)
    evals = d + 1
    while evals < max_evals:
        order = np.argsort(fvals)
        simplex = simplex[order]
        fvals = fvals[order]
        if abs(fvals[d] - fvals[0]) <= tol * (abs(fvals[0]) + 1e-10) and fvals[0] < BIG:
            break
        centroid = np.zeros(3)
        for i in range(d):
            centroid += simplex[i]
        centroid /= d
        xr = centroid + (centroid - simplex[d])
        fr = _theta_objective(xr, y, a, b, fit_theta)
        evals += 1
        if fr < fvals[0]:
            xe = centroid + 2.0 * (centroid - simplex[d])
            fe = _theta_objective(xe, y, a, b, fit_theta)
            evals += 1
            if fe < fr:
                simplex[d] = xe
                fvals[d] = fe
            else:
                simplex[d] = xr
                fvals[d] = fr
        elif fr < fvals[d - 1]:
            simplex[d] = xr
            fvals[d] = fr
        else:
            if fr < fvals[d]:
                xc = centroid + 0.5 * (xr - centroid)
            else:
                xc = centroid + 0.5 * (simplex[d] - centroid)
            fc = _theta_objective(xc, y, a, b, fit_theta)
            evals += 1
            if fc < min(fr, fvals[d]):
                simplex[d] = xc
                fvals[d] = fc
            else:
                for i in range(1, d + 1):
                    simplex[i] = simplex[0] + 0.5 * (simplex[i] - simplex[0])
                    fvals[i] = _theta_objective(simplex[i], y, a, b, fit_theta)
                evals += d
    best = np.argmin(fvals)
    return simplex[best].copy(), fvals[best]


@njit(cache=True)
def trend_season_of(y, n, m):
    """:func:`~forecasting.models.seasonality.trend_season_fit` of ``y[:n]``: the ``m``
    position means net of the trend (units per period), the residual variance
    ``RSS / (n - m - 1)`` (units^2) and the periods per position. Needs ``n >= 2 m``."""
    counts = np.zeros(m)
    ysum = np.zeros(m)
    tsum = np.zeros(m)
    tbar = 0.5 * (n - 1)
    j = -1
    for t in range(n):
        j += 1
        if j == m:
            j = 0
        counts[j] += 1.0
        ysum[j] += y[t]
        tsum[j] += (t - tbar) / n
    y_pos = ysum / counts
    t_pos = tsum / counts
    # trend coefficient net of the position means (Frisch-Waugh-Lovell), as trend_season_fit
    num = 0.0
    den = 0.0
    j = -1
    for t in range(n):
        j += 1
        if j == m:
            j = 0
        td = (t - tbar) / n - t_pos[j]
        num += td * (y[t] - y_pos[j])
        den += td * td
    b = num / den
    c = y_pos - b * t_pos
    rss = 0.0
    j = -1
    for t in range(n):
        j += 1
        if j == m:
            j = 0
        e = y[t] - b * ((t - tbar) / n) - c[j]
        rss += e * e
    sigma2 = rss / max(n - m - 1, 1)
    return c, sigma2, counts


@njit(cache=True)
def smooth_shrink(raw, window, noise, out):
    """Circular moving average of odd width ``window`` of ``raw`` into ``out``, demeaned
    (:func:`~forecasting.models.seasonality.smooth_circular`); returns the positive-part
    James-Stein factor ``max(0, 1 - noise / mean(out^2))`` (0 when ``out`` has no
    spread), ``noise`` the sampling variance of one smoothed value."""
    m = raw.size
    half = window // 2
    w = 1.0 / window
    mean = 0.0
    for i in range(m):
        if half == 0:
            out[i] = raw[i]
        else:
            acc = 0.0
            for k in range(-half, half + 1):
                acc += raw[(i + k) % m] * w
            out[i] = acc
        mean += out[i]
    mean /= m
    spread = 0.0
    for i in range(m):
        out[i] -= mean
        spread += out[i] * out[i]
    spread /= m
    return max(0.0, 1.0 - noise / spread) if spread > 0.0 else 0.0


@njit(cache=True)
def group_indices(y, n, m, g, window, min_index):
    """:func:`~forecasting.models.seasonality.group_seasonal_indices` of ``y[:n]``.

    ``g``: the group profile normalised to mean 1; ``window``: the odd smoothing width
    (already resolved). Compiled because a grouped backtest re-estimates the indices at
    every origin of every series (see :func:`frozen_group_combination`); the steps and
    their sources are in the Python function's docstring.
    """
    c, sigma2, counts = trend_season_of(y, n, m)
    level = 0.0
    for i in range(m):
        level += c[i]
    level /= m
    if not level > 0.0:
        return g.copy()
    mean_counts = 0.0
    for i in range(m):
        mean_counts += counts[i]
    mean_counts /= m
    v = sigma2 / (level * level * mean_counts)
    cross = 0.0
    gg = 0.0
    for i in range(m):
        gd = g[i] - 1.0
        cross += (c[i] / level - 1.0) * gd
        gg += gd * gd
    beta = max(0.0, cross / gg) if gg > 0.0 else 0.0
    base = np.empty(m)
    raw = np.empty(m)
    for i in range(m):
        base[i] = 1.0 + beta * (g[i] - 1.0)
        raw[i] = c[i] / level - base[i]
    dev = np.empty(m)
    shrink = smooth_shrink(raw, window, v / window, dev)
    idx = np.empty(m)
    total = 0.0
    for i in range(m):
        idx[i] = max(base[i] + shrink * dev[i], min_index)
        total += idx[i]
    return idx / (total / m)


@njit(cache=True)
def _theta_fixed(x, n, alpha, theta, l0, h, f):
    # Theta.fit(x[:n]).predict(h) with fixed parameters, before any reseasonalising: the
    # least squares line (base.line_fit), the theta filter, theta_forecast's formula
    if n < 2:
        slope, inter = 0.0, x[0]
    else:
        tb = 0.5 * (n - 1)
        sxy = 0.0
        sx = 0.0
        for t in range(n):
            sxy += (t - tb) * x[t]
            sx += x[t]
        slope = sxy / (n * (n * n - 1) / 12.0)
        inter = sx / n - slope * tb
    _, lev = theta_sse(x[:n], alpha, theta, l0, inter, slope)
    for q in range(h):
        f[q] = (1.0 - 1.0 / theta) * (inter + slope * (n + q)) + lev / theta


# Member kinds of frozen_group_combination (the frozen members' compiled re-runs).
MEMBER_ETS = 0     # AutoETS, non-seasonal form, fixed parameters and starting states
MEMBER_THETA = 1   # Theta / OptimisedTheta without seasonal adjustment, fixed parameters
MEMBER_STL = 2     # STLForecaster without decomposition: log (optional), shift, AutoETS


@njit(cache=True)
def _ets_member(z, n, zpos, p, h, states, s0, f):
    # the frozen AutoETS re-run: a multiplicative error needs z > 0 (else additive, as
    # AutoETS._fit), then the filter from the fixed states; False when it is unstable
    error = int(p[0]) if zpos else 0
    trend = int(p[1])
    lik = ets_filter(z[:n], error, trend, 0, 1, p[2], p[3], 0.0, p[4], p[5], p[6], s0, states)
    if not lik < BIG:
        return False
    lev = states[0]
    b = states[1]
    cum = 0.0
    for i in range(h):
        step = i + 1.0
        if trend == 2:
            cum += p[4] ** step
            f[i] = lev + cum * b
        elif trend == 1:
            f[i] = lev + step * b
        else:
            f[i] = lev
    return True


@njit(cache=True)
def frozen_group_combination(y, origins, h, m, G, window, min_index, kinds, P, out, ok):
    """Forecasts of a frozen :class:`~forecasting.models.GroupSeasonCombination` at many
    backtest origins in one call.

    For each origin ``o_k`` (all ``>= 2 m``): the group-informed indices ``s`` of
    ``y[:o_k]`` with profile ``G[k]`` (:func:`group_indices`), the adjusted series
    ``x_t = y_t / s_{t mod m}``, each member's re-run with its fixed parameters on ``x``,
    the mean of the members' forecasts times the indices of the target periods. The
    same arithmetic as the Python models' ``fit(y[:o]).predict(h)`` (to rounding);
    ``ok[k]`` is False where a member failed or a value is not finite, and the caller
    re-runs that origin in Python, which leaves the failed member out and says why.

    ``P[i]`` holds member ``i``'s ``(error, trend, alpha, beta, phi, l0, b0)`` (ETS and
    STL's base ETS, codes as :func:`ets_filter`), ``(alpha, theta, l0)`` (Theta) and
    ``P[i, 7]`` = 1 for STL's log transform.
    """
    K = origins.size
    nm = kinds.size
    N = y.size
    x = np.empty(N)
    z = np.empty(N)
    states = np.empty(3)
    s0 = np.zeros(1)
    f = np.empty(h)
    acc = np.empty(h)
    for k in range(K):
        n = origins[k]
        s = group_indices(y, n, m, G[k], window, min_index)
        positive = True
        j = -1
        for t in range(n):
            j += 1
            if j == m:
                j = 0
            x[t] = y[t] / s[j]
            if not x[t] > 0.0:
                positive = False
        acc[:] = 0.0
        good = True
        for i in range(nm):
            kind = kinds[i]
            p = P[i]
            if kind == MEMBER_THETA:
                _theta_fixed(x, n, p[0], p[1], p[2], h, f)
            elif kind == MEMBER_ETS:
                if not _ets_member(x, n, positive, p, h, states, s0, f):
                    good = False
                    break
            else:
                logged = p[7] > 0.0 and positive
                lo = np.inf
                for t in range(n):
                    z[t] = np.log(x[t]) if logged else x[t]
                    if z[t] < lo:
                        lo = z[t]
                shift = max(0.0, -lo)
                zpos = True
                for t in range(n):
                    z[t] = z[t] + shift
                    if not z[t] > 0.0:
                        zpos = False
                if not _ets_member(z, n, zpos, p, h, states, s0, f):
                    good = False
                    break
                for q in range(h):
                    g = f[q] - shift
                    f[q] = np.exp(min(g, 700.0)) if logged else g
            for q in range(h):
                if not np.isfinite(f[q]):
                    good = False
            if not good:
                break
            for q in range(h):
                # SeriesModel.predict: demand forecasts are never negative
                acc[q] += f[q] if f[q] > 0.0 else 0.0
        if not good:
            ok[k] = False
            continue
        ok[k] = True
        for q in range(h):
            v = acc[q] / nm * s[(n + q) % m]
            if not np.isfinite(v):
                ok[k] = False
            out[k, q] = v if v > 0.0 else 0.0


# ---- intermittent demand: the recursions of forecasting.models.intermittent -----------

@njit(cache=True)
def croston_states(y, origins, alpha, open_interval, out_z, out_p):
    """Croston's smoothed size ``z`` and interval ``p`` after each prefix ``y[:o]``.

    One pass: the recursion of a prefix is the start of the recursion of the whole
    series, so the states at every origin are read off on the way (``(0, inf)`` for a
    prefix without demand). ``origins`` increasing. With ``open_interval`` the interval
    read off at origin ``o`` is ``p + alpha max(0, (o - t_last) - p)``
    (:func:`forecasting.models.intermittent.croston_components`).
    """
    k = 0
    K = origins.size
    z = 0.0
    p = np.inf
    prev = -1
    for t in range(y.size + 1):
        while k < K and origins[k] == t:
            out_z[k] = z
            gap = t - prev
            if open_interval and prev >= 0 and gap > p:
                out_p[k] = p + alpha * (gap - p)
            else:
                out_p[k] = p
            k += 1
        if k == K or t == y.size:
            break
        if y[t] > 0.0:
            if prev < 0:
                z = y[t]
                p = t + 1.0
            else:
                z += alpha * (y[t] - z)
                p += alpha * ((t - prev) - p)
            prev = t


@njit(cache=True)
def tsb_states(y, n, alpha, beta):
    """TSB's demand probability and size after ``y[:n]`` (``(0, 0)`` without demand)."""
    first = -1
    count = 0
    for t in range(n):
        if y[t] > 0.0:
            count += 1
            if first < 0:
                first = t
    if first < 0:
        return 0.0, 0.0
    z = y[first]
    p = count / n
    for t in range(n):
        v = y[t]
        if v > 0.0:
            p += beta * (1.0 - p)
            z += alpha * (v - z)
        else:
            p -= beta * p
    return p, z


@njit(cache=True)
def ses_grid(x, grid):
    """SES level and constant chosen on ``grid`` by in-sample one-step SSE
    (:func:`~forecasting.models.intermittent.ses_level`); ties go to the first."""
    best_lev = x[0]
    best_sse = np.inf
    best_a = grid[0]
    for g in range(grid.size):
        a = grid[g]
        lev = x[0]
        sse = 0.0
        for t in range(1, x.size):
            e = x[t] - lev
            sse += e * e
            lev = lev + a * e
        if sse < best_sse:
            best_sse = sse
            best_lev = lev
            best_a = a
    return best_lev, best_a


@njit(cache=True)
def adida_fit(y, n, bucket, grid):
    """ADIDA on ``y[:n]``: ``(bucket k, SES constant, rate per period)``; ``bucket`` <= 0
    means the mean inter-demand interval (:class:`~forecasting.models.ADIDA`)."""
    if bucket <= 0:
        nz = 0
        for t in range(n):
            if y[t] > 0.0:
                nz += 1
        k = int(np.rint(n / nz)) if nz > 0 else 1
    else:
        k = bucket
    k = max(1, min(k, n))
    nb = n // k
    totals = np.zeros(nb)
    lo = n - nb * k
    for i in range(nb):
        acc = 0.0
        for t in range(lo + i * k, lo + (i + 1) * k):
            acc += y[t]
        totals[i] = acc
    level, a = ses_grid(totals, grid)
    return k, a, max(level, 0.0) / k


# ---- Theta at many origins: forecasting.models.theta with fixed parameters ------------

@njit(cache=True)
def seasonal_by_acf(y, n, m, z):
    """:func:`~forecasting.models.seasonality.seasonality_test` of ``y[:n]``: is the
    lag-``m`` autocorrelation above ``z`` Bartlett standard errors?"""
    if m < 2 or n <= 2 * m:
        return False
    mean = 0.0
    for t in range(n):
        mean += y[t]
    mean /= n
    denom = 0.0
    for t in range(n):
        denom += (y[t] - mean) ** 2
    if denom <= 0.0:
        return False
    ssq = 0.0
    r_m = 0.0
    for k in range(1, m + 1):
        acc = 0.0
        for t in range(n - k):
            acc += (y[t + k] - mean) * (y[t] - mean)
        r = acc / denom
        if k < m:
            ssq += r * r
        else:
            r_m = r
    return abs(r_m) > z * np.sqrt((1.0 + 2.0 * ssq) / n)


@njit(cache=True)
def classical_indices_of(y, n, m, multiplicative, out):
    """:func:`~forecasting.models.seasonality.classical_indices` of ``y[:n]`` into ``out``
    (``m`` values): a centred moving average of order ``m`` (``2 x m`` for even ``m``) as
    the trend, the ratios (differences) to it averaged per position, normalised."""
    L = m + 1 if m % 2 == 0 else m
    off = (L - 1) // 2
    sums = np.zeros(m)
    counts = np.zeros(m)
    for i in range(n - L + 1):
        trend = 0.0
        for j in range(L):
            w = 1.0 / m
            if m % 2 == 0 and (j == 0 or j == L - 1):
                w = 0.5 / m
            trend += y[i + j] * w
        t = i + off
        v = y[t] / trend if multiplicative else y[t] - trend
        sums[t % m] += v
        counts[t % m] += 1.0
    total = 0.0
    for j in range(m):
        out[j] = sums[j] / max(counts[j], 1.0)
        total += out[j]
    mean = total / m
    for j in range(m):
        out[j] = out[j] / mean if multiplicative else out[j] - mean


@njit(cache=True)
def long_profile_of(y, n, m, window, out):
    """:func:`~forecasting.models.smoothing.seasonal_indices` of ``y[:n]`` into ``out``
    (``m`` additive indices, units per period): trend and position dummies fitted
    jointly, the raw indices smoothed around the cycle (odd ``window``), demeaned and
    shrunk by their noise. Needs ``n >= 2 m``; returns whether any index is non-zero
    (the profile was not shrunk away), as
    :func:`~forecasting.models.seasonality.is_seasonal` for a long season."""
    c, sigma2, counts = trend_season_of(y, n, m)
    cmean = 0.0
    mean_counts = 0.0
    for i in range(m):
        cmean += c[i]
        mean_counts += counts[i]
    cmean /= m
    mean_counts /= m
    raw = np.empty(m)
    for i in range(m):
        raw[i] = c[i] - cmean
    shrink = smooth_shrink(raw, window, sigma2 / (mean_counts * window), out)
    if not shrink > 0.0:
        out[:m] = 0.0
        return False
    any_nonzero = False
    for i in range(m):
        out[i] *= shrink
        if out[i] != 0.0:
            any_nonzero = True
    return any_nonzero


@njit(cache=True)
def theta_origins(y, origins, h, m, alpha, theta, l0, z, long_season, short_cycles, window, out, ok):
    """Forecasts of a frozen :class:`~forecasting.models.Theta` (fixed ``alpha``,
    ``theta`` and ``l0``) from each origin: the seasonal adjustment of ``y[:o]``, the
    least squares line and the theta filter on the adjusted series, the indices put
    back. The same arithmetic as ``Theta.fit(y[:o]).predict(h)`` to rounding
    (:func:`~forecasting.models.seasonality.deseasonalise`): up to ``long_season``
    periods the lag-``m`` test (or, under ``short_cycles`` cycles, a profile of
    :func:`long_profile_of` that is not zero) and classical decomposition
    (multiplicative for positive data); above it the shrunk additive profile of
    :func:`long_profile_of` (smoothing ``window``). ``ok[k]`` False where a value is
    not finite (the caller re-runs that origin in Python)."""
    idx = np.empty(max(m, 1))
    x = np.empty(y.size)
    f = np.empty(h)
    for k in range(origins.size):
        n = origins[k]
        mult = False
        if m > long_season:
            seasonal = n >= 2 * m and long_profile_of(y, n, m, window, idx)
        else:
            seasonal = m >= 2 and n >= 2 * m and (seasonal_by_acf(y, n, m, z) or (
                n < short_cycles * m and long_profile_of(y, n, m, window, idx)))
            if seasonal:
                mult = True
                for t in range(n):
                    if not y[t] > 0.0:
                        mult = False
                        break
                classical_indices_of(y, n, m, mult, idx)
                if mult:
                    for j in range(m):
                        if idx[j] <= 0.0:
                            seasonal = False
        for t in range(n):
            if seasonal:
                x[t] = y[t] / idx[t % m] if mult else y[t] - idx[t % m]
            else:
                x[t] = y[t]
        _theta_fixed(x, n, alpha, theta, l0, h, f)
        ok[k] = True
        for q in range(h):
            f_q = f[q]
            if seasonal:
                f_q = f_q * idx[(n + q) % m] if mult else f_q + idx[(n + q) % m]
            if not np.isfinite(f_q):
                ok[k] = False
            out[k, q] = f_q if f_q > 0.0 else 0.0
