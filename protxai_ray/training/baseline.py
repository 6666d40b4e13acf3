"""Hydrophobicity-window baseline for membrane vs other: the classic transmembrane-helix heuristic.

Score = the highest mean Kyte–Doolittle hydropathy over any 19-residue window (Kyte & Doolittle 1982,
J Mol Biol 157:105); a window mean above 1.6 suggests a membrane-spanning helix.
"""

from __future__ import annotations

import numpy as np

KYTE_DOOLITTLE = {
    "A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5, "G": -0.4, "H": -3.2,
    "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8, "T": -0.7, "W": -0.9,
    "Y": -1.3, "V": 4.2,
}  # fmt: skip
WINDOW = 19
THRESHOLD = 1.6


def hydropathy(sequence: str) -> np.ndarray:
    """``float64[L]`` Kyte–Doolittle value per residue (0 for X and other ambiguous letters)."""
    return np.array([KYTE_DOOLITTLE.get(r, 0.0) for r in sequence.upper()], dtype=np.float64)


def max_window_hydropathy(sequence: str, window: int = WINDOW) -> float:
    """Highest mean hydropathy over ``window`` consecutive residues (whole-sequence mean if shorter)."""
    values = hydropathy(sequence)
    if len(values) == 0:
        return float("nan")
    if len(values) <= window:
        return float(values.mean())
    sums = np.convolve(values, np.ones(window), mode="valid")
    return float(sums.max() / window)
