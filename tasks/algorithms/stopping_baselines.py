"""Scores of the baseline rules (Adaptive-Consistency's beta test, ESC's unanimous window), vectorised."""

from __future__ import annotations

import numpy as np
from scipy import special


def beta_scores(counts: np.ndarray) -> np.ndarray:
    """Adaptive-Consistency's score: P(p₁ > p₂) with p₁ ~ Beta(N₁+1, N₂+1) restricted to the top two,
    i.e. P(X > ½) for X ~ Beta(N₁+1, N₂+1). Rows with no votes give 0."""
    srt = -np.sort(-np.asarray(counts), axis=1)
    n1 = srt[:, 0].astype(float) if srt.shape[1] else np.zeros(srt.shape[0])
    n2 = srt[:, 1].astype(float) if srt.shape[1] > 1 else np.zeros(srt.shape[0])
    return np.where(n1 > 0, special.betainc(n2 + 1.0, n1 + 1.0, 0.5), 0.0)


def window_unanimous(last: np.ndarray, window: int) -> np.ndarray:
    """True where the last ``window`` samples are one and the same answer (no-answer breaks it)."""
    tail = np.asarray(last)[:, -window:]
    return (tail[:, 0] >= 0) & (tail == tail[:, :1]).all(axis=1)
