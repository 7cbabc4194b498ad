"""Audited auto-accept: which machine labels are good enough to keep without a human look.

Pure: arrays in, an :class:`AcceptRule` out; rows are positions in the arrays passed in.
:func:`accept_rule` takes, per task, the machine label (``-1``: none) made *without* that task's
human label, its ``p_correct`` (NaN: none), the human consensus class (``-1``: none) and whether
the uniform audit drew the task. ``AcceptRule.accepted(machine, p_correct)`` then says which rows
clear their class's threshold (whether a row already has a human label is the caller's business).

**The threshold, per class** (the machine label's class ``c``). *Evidence* is every row with a
machine label ``c``, a ``p_correct`` and a human label; a row is a hit when the two agree. For a
threshold ``t`` the accepted region is ``p_correct >= t``, and its precision is the share of
hits among the evidence in it. The thresholds form one fixed descending grid
(:data:`GRID`: 0.999 … 0.995 by 0.001, then by 0.005 down to 0). From a start point (below) down
the grid, each ``t`` is tested: "the region's precision is at least ``target``" is accepted when the one-sided
Clopper–Pearson lower bound (level ``confidence``) of its evidence precision reaches ``target``.
The scan stops at the first ``t`` that fails; the threshold is the last one that passed, raised
to the highest grid point whose region holds the same evidence (so it never reaches below the
lowest ``p_correct`` the evidence has: no extrapolation to tasks less confident than any checked). This is
fixed-sequence testing as in learn-then-test (Angelopoulos, Bates, Candès, Jordan & Lei 2021,
"Learn then Test: calibrating predictive algorithms to achieve risk control"): the regions are
nested and tested in an order set before the hits are seen, so the chance that the chosen region's
precision is below target is at most ``1 - confidence`` with no multiplicity correction.
Where the scan starts is decided by the ``p_correct`` values alone, never by the hits, so given
them the sequence is still fixed in advance: among the thresholds whose region is large enough
to be tested — at least ``min_evidence`` rows (default 30), and at least as many as could pass
with every label right (at a 0.98 target and 95 %, 149 rows: ``0.05 ** (1 / n) >= 0.98``) — it
starts at the one whose lower bound, computed with the expected hits (the sum of ``p_correct``),
clears the target by the most. (Starting at the smallest testable region instead lost 30 % of
the accepted tasks at a 0.95 target on the simulated data of ``tests/quality/test_accept.py``:
one wrong label among its first 60 rows ended the scan.) A class with too few evidence rows
accepts nothing: nothing is accepted on a handful of labels.

What the bound covers: the precision on the evidence's own distribution. The human-labelled rows
are mostly the active-learning picks, chosen because the machines disagree or are unsure there,
so they are usually harder than the unreviewed tasks at the same ``p_correct``, and the bound is
then conservative for the rest; the audited rows are a uniform draw and carry no such lean. It is
not a guarantee where the picks would be *easier* than the rest.

**The audit check.** The audit keeps drawing uniformly from the pool, accepted tasks included.
The audited rows in a class's accepted region re-estimate its precision (Wilson 95 % interval,
two-sided, no finite-population correction: slightly wide, never narrow). A class stops being
accepted (state ``"below target on audit"``, threshold None) when at least ``min_audit`` (default
10) audited rows sit in its region and the interval's *upper* end is below the target: the audit
then shows, at 97.5 % one-sided, that the region misses the target. A point estimate below
target on fewer rows, or with an upper end above target, is reported in the reason but does not
stop the class: at a 0.98 target one wrong label among 20 audited would stop a class whose true
precision is exactly 0.98 a third of the time.

States: ``"accepting"``, ``"insufficient evidence"`` (too few rows, or the first tested region
already fails its bound), ``"below target on audit"`` and ``"off"`` (no target: auto-accept is off).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import beta

from labelloop.agreement import wilson_interval
from labelloop.errors import InvalidInput

GRID = np.abs(np.round(np.concatenate([np.arange(0.999, 0.9955, -0.001),
                                       np.arange(0.995, -1e-9, -0.005)]), 4))
STATES = ("accepting", "insufficient evidence", "below target on audit", "off")
METHOD = ("per class, the lowest p_correct threshold of a fixed descending grid whose region "
          "passes, scanning down from a start chosen by p_correct alone and stopping at the "
          "first failure (fixed-sequence testing, learn-then-test): the one-sided "
          "Clopper-Pearson lower bound of the precision of the human-checked machine labels in "
          "the region must reach the target; a class stops when enough audited accepted tasks "
          "(10 by default) put the Wilson 95 % upper bound below target")


@dataclass(frozen=True)
class ClassAccept:
    """One class's verdict. ``n_evidence``/``hits``/``lower``: the evidence at the chosen
    threshold (else at the region that failed, or the whole class) and its one-sided lower
    bound; ``audit_*``: the audited rows in the accepted region (0 and None without one)."""

    label: int
    threshold: float | None
    state: str
    n_evidence: int
    hits: int
    lower: float | None
    audit_n: int
    audit_hits: int
    audit_precision: float | None
    audit_low: float | None
    audit_high: float | None
    reason: str


@dataclass(frozen=True)
class AcceptRule:
    """The auto-accept rule: ``target`` (None: off) and one :class:`ClassAccept` per class."""

    target: float | None
    classes: tuple[ClassAccept, ...]
    confidence: float = 0.95

    def accepted(self, machine: np.ndarray, p_correct: np.ndarray) -> np.ndarray:
        """Bool per row: its machine label's class accepts and its ``p_correct`` clears the
        threshold. Rows without a machine label or a ``p_correct`` are never accepted."""
        m, p = _labels(machine, "machine", len(self.classes)), _probs(p_correct, "p_correct")
        if m.shape != p.shape:
            raise InvalidInput(f"machine and p_correct differ in length: {m.size} vs {p.size}")
        thresholds = np.array([np.inf if c.threshold is None else c.threshold
                               for c in self.classes] + [np.inf])  # index -1: no machine label
        with np.errstate(invalid="ignore"):
            return np.asarray(p >= thresholds[m], dtype=bool) & (m >= 0)

    def to_json(self) -> dict[str, object]:
        """Plain JSON (numbers, strings, None, lists)."""
        return {"target": self.target, "confidence": self.confidence, "method": METHOD,
                "classes": [asdict(c) for c in self.classes]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> AcceptRule:
        """The rule back from :meth:`to_json` (raises InvalidInput on another shape)."""
        try:
            raw = data["classes"]
            if not isinstance(raw, list):
                raise TypeError("classes is not a list")
            classes = tuple(ClassAccept(**c) for c in raw)
            target, confidence = data["target"], data.get("confidence", 0.95)
            if not (target is None or isinstance(target, (int, float))) or not isinstance(
                    confidence, (int, float)):
                raise TypeError("target or confidence is not a number")
        except (KeyError, TypeError) as e:
            raise InvalidInput(f"not an accept rule: {e}") from e
        return cls(None if target is None else float(target), classes, float(confidence))


def _labels(a: np.ndarray, what: str, n_classes: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise InvalidInput(f"{what} must be a 1-d array of class indices (-1: none)")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < -1 or arr.max() >= n_classes):
        raise InvalidInput(f"{what} holds a class outside -1 … {n_classes - 1}")
    return arr


def _probs(a: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "fiu"):
        raise InvalidInput(f"{what} must be a 1-d array of probabilities (NaN: none)")
    arr = arr.astype(np.float64)
    seen = arr[~np.isnan(arr)]
    if seen.size and (seen.min() < 0 or seen.max() > 1):
        raise InvalidInput(f"{what} must lie in [0, 1] (NaN: none)")
    return arr


def cp_lower(hits: ArrayLike, n: ArrayLike, confidence: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bounds of ``hits / n`` at ``confidence`` (0 where n is 0
    or nothing hit)."""
    k, m = np.asarray(hits, dtype=np.float64), np.asarray(n, dtype=np.float64)
    ok = (k > 0) & (m > 0)
    out = np.zeros(k.shape)
    out[ok] = beta.ppf(1 - confidence, k[ok], m[ok] - k[ok] + 1)
    return out


def _f(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if x < 1 else "1"


def _scan(p: np.ndarray, hit: np.ndarray, *, target: float, confidence: float,
          min_evidence: int) -> tuple[float | None, int, int, float | None, str]:
    """The fixed-sequence scan of one class: (threshold, n, hits, lower, reason)."""
    order = np.argsort(-p, kind="stable")
    desc = p[order]
    cum_hits = np.concatenate([[0], np.cumsum(hit[order])])
    cum_p = np.concatenate([[0.0], np.cumsum(desc)])
    n = np.searchsorted(-desc, -GRID, side="right")  # rows with p >= t, per grid point
    k = cum_hits[n]
    lower = cp_lower(k, n, confidence)
    # a region too small to pass even with every label right is not tested (n alone decides)
    need = max(min_evidence, math.ceil(math.log(1 - confidence) / math.log(target) - 1e-9))
    testable = np.flatnonzero(n >= need)
    if testable.size == 0:
        low = float(cp_lower(hit.sum(), p.size, confidence)) if p.size else None
        why = f"only {p.size} human-checked machine labels of this class ({need} needed)"
        return None, int(p.size), int(hit.sum()), low, why
    # start where p_correct alone expects the bound to clear the target by the most
    first = int(testable[np.argmax(cp_lower(cum_p[n[testable]], n[testable], confidence))])
    fails = np.flatnonzero(lower[first:] < target)
    # the last region that passed; the first tested one when even it fails
    i = max(first, first + int(fails[0]) - 1) if fails.size else len(GRID) - 1
    # the highest threshold with the same evidence: never below the evidence's lowest p_correct
    i = int(np.searchsorted(n, n[i], side="left"))
    words = (f"at p_correct >= {_f(GRID[i])}, {k[i]} of {n[i]} human-checked machine labels "
             f"were right: precision >= {_f(lower[i])} ({confidence * 100:g} % one-sided)")
    if lower[i] < target:
        why = f"{words}, short of the target {_f(target)}"
        return None, int(n[i]), int(k[i]), float(lower[i]), why
    return (float(GRID[i]), int(n[i]), int(k[i]), float(lower[i]),
            f"accepting: {words}, target {_f(target)}")


def _check(target: float | None, confidence: float, n_classes: int, min_evidence: int,
           min_audit: int) -> None:
    if target is not None and (not isinstance(target, (int, float)) or not 0 < target < 1):
        raise InvalidInput(f"target must lie in (0, 1) or be None; got {target!r}")
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InvalidInput(f"confidence must lie in (0, 1); got {confidence!r}")
    for name, v in (("n_classes", n_classes), ("min_evidence", min_evidence),
                    ("min_audit", min_audit)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidInput(f"{name} must be an integer >= 1; got {v!r}")


def accept_rule(machine: np.ndarray, p_correct: np.ndarray, human: np.ndarray, audit: np.ndarray,
                *, n_classes: int, target: float | None, confidence: float = 0.95,
                min_evidence: int = 30, min_audit: int = 10) -> AcceptRule:
    """The per-class thresholds and audit verdicts (see the module docstring).

    ``machine``, ``p_correct``, ``human``, ``audit``: one entry per task (machine class or -1;
    probability or NaN; human consensus class or -1; drawn by the uniform audit). Raises
    InvalidInput on arrays of the wrong kind or length and on options out of range.
    """
    _check(target, confidence, n_classes, min_evidence, min_audit)
    m, h = _labels(machine, "machine", n_classes), _labels(human, "human", n_classes)
    p = _probs(p_correct, "p_correct")
    aud = np.asarray(audit)
    if aud.ndim != 1 or (aud.size and aud.dtype.kind != "b"):
        raise InvalidInput("audit must be a 1-d bool array")
    if not m.size == p.size == h.size == aud.size:
        raise InvalidInput(f"arrays differ in length: machine {m.size}, p_correct {p.size}, "
                           f"human {h.size}, audit {aud.size}")
    evidence = (m >= 0) & (h >= 0) & ~np.isnan(p)
    hit = m == h
    out = []
    for c in range(n_classes):
        rows = evidence & (m == c)
        if target is None:
            out.append(ClassAccept(c, None, "off", int(rows.sum()), int(hit[rows].sum()), None,
                                   0, 0, None, None, None, "auto-accept is off (no target set)"))
            continue
        t, n, k, low, reason = _scan(p[rows], hit[rows], target=target, confidence=confidence,
                                     min_evidence=min_evidence)
        if t is None:
            out.append(ClassAccept(c, None, "insufficient evidence", n, k, low,
                                   0, 0, None, None, None, reason))
            continue
        in_audit = rows & aud & (p >= t)
        an, ak = int(in_audit.sum()), int(hit[in_audit].sum())
        if an == 0:
            out.append(ClassAccept(c, t, "accepting", n, k, low, 0, 0, None, None, None,
                                   reason + "; no audited task in the accepted region yet"))
            continue
        a_low, a_high = wilson_interval(ak, an, confidence=0.95)
        words = (f"the audit found {ak} of {an} accepted-region tasks right "
                 f"({_f(ak / an)}, 95 % {_f(a_low)}-{_f(a_high)})")
        if an >= min_audit and a_high < target:
            out.append(ClassAccept(c, None, "below target on audit", n, k, low, an, ak, ak / an,
                                   a_low, a_high, f"{words}, below the target {_f(target)}: "
                                   "its machine labels are no longer accepted"))
            continue
        watch = "; below target so far, not yet conclusive" if ak / an < target else ""
        out.append(ClassAccept(c, t, "accepting", n, k, low, an, ak, ak / an, a_low, a_high,
                               f"{reason}; {words}{watch}"))
    return AcceptRule(None if target is None else float(target), tuple(out), float(confidence))
