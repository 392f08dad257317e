"""A Kalman filter, Rauch–Tung–Striebel smoother and exact log-likelihood in NumPy: the
reference the particle-filter tests compare against.

The model (states vectors of length D, observations of length M):

    x[0]  ~ N(m0, P0)
    x[t]  = A x[t-1] + c + N(0, Q)            t >= 1
    y[t]  = H x[t] + b + N(0, R)              where observed[t]

`y` is (T, M); rows with `observed[t]` False are skipped (no update, no likelihood term).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class KalmanResult:
    log_likelihood: float
    filtered_mean: np.ndarray  # (T, D)
    filtered_cov: np.ndarray  # (T, D, D)
    smoothed_mean: np.ndarray  # (T, D)
    smoothed_cov: np.ndarray  # (T, D, D)


def _mvn_logpdf(r: np.ndarray, S: np.ndarray) -> float:
    L = np.linalg.cholesky(S)
    z = np.linalg.solve(L, r)
    return float(-0.5 * z @ z - np.log(np.diag(L)).sum() - 0.5 * len(r) * np.log(2 * np.pi))


def kalman(y, A, Q, H, R, m0, P0, *, c=None, b=None, observed: Optional[np.ndarray] = None) -> KalmanResult:
    """Filter, smooth and the log-likelihood log p(y[observed]) of the linear-Gaussian model above."""
    y = np.atleast_2d(np.asarray(y, np.float64).reshape(len(y), -1))
    A, Q, H, R = (np.atleast_2d(np.asarray(a, np.float64)) for a in (A, Q, H, R))
    m0 = np.atleast_1d(np.asarray(m0, np.float64))
    P0 = np.atleast_2d(np.asarray(P0, np.float64))
    T, D = len(y), len(m0)
    c = np.zeros(D) if c is None else np.atleast_1d(np.asarray(c, np.float64))
    b = np.zeros(H.shape[0]) if b is None else np.atleast_1d(np.asarray(b, np.float64))
    observed = np.ones(T, bool) if observed is None else np.asarray(observed, bool)
    mf, Pf = np.zeros((T, D)), np.zeros((T, D, D))
    mp, Pp = np.zeros((T, D)), np.zeros((T, D, D))  # one-step predictions
    ll = 0.0
    m, P = m0, P0
    for t in range(T):
        if t > 0:
            m, P = A @ m + c, A @ P @ A.T + Q
        mp[t], Pp[t] = m, P
        if observed[t]:
            S = H @ P @ H.T + R
            r = y[t] - H @ m - b
            ll += _mvn_logpdf(r, S)
            K = np.linalg.solve(S, H @ P).T  # P Hᵀ S⁻¹ (S, P symmetric)
            m = m + K @ r
            P = P - K @ S @ K.T
            P = 0.5 * (P + P.T)
        mf[t], Pf[t] = m, P
    ms, Ps = mf.copy(), Pf.copy()
    for t in range(T - 2, -1, -1):
        G = np.linalg.solve(Pp[t + 1], A @ Pf[t]).T  # Pf[t] Aᵀ Pp[t+1]⁻¹
        ms[t] = mf[t] + G @ (ms[t + 1] - mp[t + 1])
        Ps[t] = Pf[t] + G @ (Ps[t + 1] - Pp[t + 1]) @ G.T
    return KalmanResult(ll, mf, Pf, ms, Ps)


def simulate(rng: np.random.Generator, T, A, Q, H, R, m0, P0, *, c=None, b=None):
    """(x (T, D), y (T, M)) drawn from the model."""
    A, Q, H, R = (np.atleast_2d(np.asarray(a, np.float64)) for a in (A, Q, H, R))
    m0 = np.atleast_1d(np.asarray(m0, np.float64))
    P0 = np.atleast_2d(np.asarray(P0, np.float64))
    D, M = len(m0), H.shape[0]
    c = np.zeros(D) if c is None else np.atleast_1d(np.asarray(c, np.float64))
    b = np.zeros(M) if b is None else np.atleast_1d(np.asarray(b, np.float64))
    x = np.zeros((T, D))
    x[0] = rng.multivariate_normal(m0, P0)
    for t in range(1, T):
        x[t] = A @ x[t - 1] + c + rng.multivariate_normal(np.zeros(D), Q)
    y = x @ H.T + b + rng.multivariate_normal(np.zeros(M), R, size=T)
    return x, y
