"""Hypothesis strategies shared by the agreement tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def label_matrices(
    draw: st.DrawFn, *, max_items: int = 25, max_annotators: int = 6, max_classes: int = 4
) -> np.ndarray:
    """Label matrices with NaN gaps, at least one item labelled by two annotators."""
    n_classes = draw(st.integers(2, max_classes))
    shape = (draw(st.integers(1, max_items)), draw(st.integers(2, max_annotators)))
    values = st.sampled_from([np.nan] + [float(c) for c in range(n_classes)])
    matrix = draw(hnp.arrays(np.float64, shape, elements=values))
    first = draw(st.lists(st.integers(0, n_classes - 1), min_size=2, max_size=2))
    matrix[0, :2] = first
    return matrix
