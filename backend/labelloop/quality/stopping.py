"""When more human labels stop paying: a project's stopping signal, from its retrains' lineage.

Three figures, all read from what every retrain stores in its version's lineage
(:func:`labelloop.loop.plan.plan_retrain`):

1. **Stabilising predictions** (Bloodgood & Vijay-Shanker 2009, "A method for stopping active
   learning based on stabilizing predictions and the need for user-adjustable stopping",
   CoNLL): each retrain stores the local model's label of a fixed *stop set* of tasks
   (:func:`stop_set_positions`: up to 500 tasks chosen by a hash of their id, so the set stays
   put as tasks arrive). Cohen's κ between the labels of successive models on the tasks both
   labelled measures how much the model still changes; as in the paper, predictions have
   stabilised when the mean κ over the last ``k = 3`` retrains is ≥ 0.99. A stop set needs no
   human label: it is about the model changing, not about it being right.
2. **The learning curve's recent slope**: cross-validated accuracy (span F1 for spans) per human
   label, fitted by least squares over the last retrains, in points per 100 labels.
3. **Expected wrong labels left**: among the tasks nobody reviewed that carry a machine label,
   the sum of 1 − its chance of being right: the dataset's ``p_correct`` where the task type has
   one (single choice: :mod:`labelloop.loop.plan_dataset`), else the pre-label's confidence (the
   LLM's, else the model's). It is as good as that probability is calibrated; it says how many
   errors review aimed at machine labels could still remove once training labels stop paying.

Retrains that added no label (a resync, a settings change) are not new models: of successive
versions with the same number of labels the last one counts. :func:`stopping_signal` is pure and
returns a :class:`StoppingSignal` with a verdict in plain words.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelloop.labelconfig.labels import Label
from labelloop.storage.records import ModelVersion

STOP_SET_SIZE = 500
Verdict = Literal["keep_labelling", "stop", "not_enough_retrains"]
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed 64-bit mix of each id (the same in every process, unlike ``hash``)."""
    with np.errstate(over="ignore"):
        z = (x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def stop_set_positions(task_ids: np.ndarray, *, size: int = STOP_SET_SIZE) -> np.ndarray:
    """Positions (ascending) of the ``size`` task ids with the smallest hash. A task stays in the
    set as tasks arrive unless a new one with a smaller hash takes its place."""
    ids = np.asarray(task_ids, dtype=np.int64)
    if ids.size <= size:
        return np.arange(ids.size)
    h = _splitmix64(ids)
    return np.sort(np.argsort(h, kind="stable")[:size])


def label_key(label: Label | None) -> str | None:
    """A label as one category for κ: the chosen classes joined (``"a|b"``), or for a span set
    a short hash of its canonical spans (two models agree when their span sets are equal)."""
    if label is None:
        return None
    if all(isinstance(x, str) for x in label):
        return "|".join(str(x) for x in label)
    spans = ";".join(f"{s.start}:{s.end}:{s.label}" for s in label)  # type: ignore[union-attr]
    return "spans:" + hashlib.blake2b(spans.encode(), digest_size=8).hexdigest()


def stop_set_record(task_ids: np.ndarray, has_text: np.ndarray,
                    labels: Sequence[Label | None], *,
                    size: int = STOP_SET_SIZE) -> dict[str, list[object]]:
    """The lineage's ``stop_set``: the model's label key of each stop-set task (tasks with text,
    and a label from the model)."""
    with_text = np.flatnonzero(np.asarray(has_text, dtype=bool))
    ids: list[object] = []
    keys: list[object] = []
    for i in with_text[stop_set_positions(np.asarray(task_ids)[with_text], size=size)].tolist():
        key = label_key(labels[i]) if labels else None
        if key is not None:
            ids.append(int(task_ids[i]))
            keys.append(key)
    return {"task_ids": ids, "labels": keys}


def machine_label_record(confidence: Iterable[float | None]) -> dict[str, object]:
    """The lineage's ``machine_labelled``: over unreviewed tasks, how many have a machine label
    with a chance of being right (``p_correct``, else the pre-label's confidence), and the
    expected number of wrong ones (sum of 1 − that chance)."""
    got = [min(1.0, max(0.0, float(c))) for c in confidence if c is not None]
    return {"n": len(got), "expected_wrong": float(sum(1.0 - c for c in got))}


@dataclass(frozen=True)
class RetrainPoint:
    """What one retrain version gives the signal."""

    version: str
    n_labeled: int | None
    score: float | None  # cv accuracy (span F1 for spans)
    stop_ids: tuple[int, ...] = ()
    stop_labels: tuple[str, ...] = ()
    n_machine_labelled: int | None = None
    expected_wrong: float | None = None


def _num(x: object) -> float | None:
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)
    return float(x) if ok else None  # type: ignore[arg-type]


def point_of(version: str, lineage: Mapping[str, object]) -> RetrainPoint:
    """A retrain's lineage as a :class:`RetrainPoint` (missing parts: None / empty)."""
    stop = lineage.get("stop_set")
    ids: tuple[int, ...] = ()
    keys: tuple[str, ...] = ()
    if isinstance(stop, Mapping):
        raw_ids, raw_keys = stop.get("task_ids"), stop.get("labels")
        if isinstance(raw_ids, list) and isinstance(raw_keys, list) and \
                len(raw_ids) == len(raw_keys):
            ids, keys = tuple(int(t) for t in raw_ids), tuple(str(k) for k in raw_keys)
    machine = lineage.get("machine_labelled")
    machine = machine if isinstance(machine, Mapping) else {}
    n_labeled = _num(lineage.get("n_labeled"))
    score = _num(lineage.get("span_f1" if lineage.get("task_type") == "text_spans"
                             else "cv_accuracy"))
    n_machine = _num(machine.get("n"))
    return RetrainPoint(version, None if n_labeled is None else int(n_labeled), score, ids, keys,
                        None if n_machine is None else int(n_machine),
                        _num(machine.get("expected_wrong")))


def retrain_points(versions: Iterable[ModelVersion]) -> list[RetrainPoint]:
    """The retrain versions (in the order given: creation order) as points."""
    return [point_of(v.version, v.lineage or {}) for v in versions if v.kind == "retrain"]


def stop_set_kappa(a: RetrainPoint, b: RetrainPoint) -> tuple[float | None, int]:
    """Cohen's κ between two models' labels on the stop-set tasks both labelled, and how many;
    None when none in common. Both constant and equal: 1 (κ's 0/0 read as full agreement)."""
    mine = dict(zip(a.stop_ids, a.stop_labels))
    pairs = [(mine[t], lab) for t, lab in zip(b.stop_ids, b.stop_labels) if t in mine]
    if not pairs:
        return None, 0
    cats = {c: i for i, c in enumerate(sorted({c for p in pairs for c in p}))}
    x = np.array([cats[p[0]] for p in pairs])
    y = np.array([cats[p[1]] for p in pairs])
    po = float(np.mean(x == y))
    pe = float(np.dot(np.bincount(x, minlength=len(cats)),
                      np.bincount(y, minlength=len(cats)))) / len(pairs) ** 2
    if pe >= 1.0:
        return (1.0 if po == 1.0 else 0.0), len(pairs)
    return (po - pe) / (1.0 - pe), len(pairs)


@dataclass(frozen=True)
class StoppingOptions:
    k: int = 3  # κ values averaged (Bloodgood & Vijay-Shanker 2009)
    kappa_threshold: float = 0.99
    slope_window: int = 4  # retrains the learning curve's slope is fitted over
    flat_slope: float = 0.005  # accuracy gained per 100 labels below which the curve is flat


@dataclass(frozen=True)
class KappaStep:
    version: str
    previous: str
    n_labeled: int | None
    kappa: float
    n_compared: int


@dataclass(frozen=True)
class StoppingSignal:
    verdict: Verdict
    message: str
    kappas: tuple[KappaStep, ...]
    window_kappa: float | None  # mean κ of the last k steps
    stable: bool
    slope_per_100: float | None  # accuracy (0..1) gained per 100 human labels, recently
    slope_points: int
    expected_wrong: float | None
    n_machine_labelled: int | None
    n_retrains: int  # retrains that added labels and labelled the stop set

    def to_json(self) -> dict[str, object]:
        return {"verdict": self.verdict, "message": self.message, "stable": self.stable,
                "kappa_window": self.window_kappa,
                "kappas": [{"version": s.version, "previous": s.previous,
                            "n_labeled": s.n_labeled, "kappa": s.kappa,
                            "n_compared": s.n_compared} for s in self.kappas],
                "slope_per_100_labels": self.slope_per_100, "slope_points": self.slope_points,
                "expected_wrong": self.expected_wrong,
                "n_machine_labelled": self.n_machine_labelled, "n_retrains": self.n_retrains}


def _distinct(points: Sequence[RetrainPoint]) -> list[RetrainPoint]:
    """Of successive points with the same number of labels, the last (no new label: no new
    model)."""
    out: list[RetrainPoint] = []
    for p in points:
        if out and out[-1].n_labeled == p.n_labeled:
            out[-1] = p
        else:
            out.append(p)
    return out


def recent_slope(points: Sequence[RetrainPoint], *, window: int) -> tuple[float | None, int]:
    """Least-squares slope of score per 100 labels over the last ``window`` points that have
    both; None with fewer than two distinct label counts."""
    xy = [(p.n_labeled, p.score) for p in points if p.n_labeled is not None
          and p.score is not None][-window:]
    x = np.array([a for a, _ in xy], dtype=float)
    if len(xy) < 2 or np.ptp(x) == 0:
        return None, len(xy)
    y = np.array([b for _, b in xy], dtype=float)
    return float(np.polyfit(x, y, 1)[0] * 100.0), len(xy)


def _wrong_words(s: StoppingSignal) -> str:
    if s.expected_wrong is None or not s.n_machine_labelled:
        return ""
    return (f"; about {s.expected_wrong:,.0f} of the {s.n_machine_labelled:,} machine-labelled "
            "tasks are expected wrong")


def _verdict(s: StoppingSignal, o: StoppingOptions) -> tuple[Verdict, str]:
    kappa = f"κ {s.window_kappa:.3f} over the last {o.k} retrains" \
        if s.window_kappa is not None else ""
    slope = "" if s.slope_per_100 is None else \
        f"accuracy changes {100 * s.slope_per_100:+.2f} points per 100 labels"
    wrong = _wrong_words(s)
    if len(s.kappas) < o.k:
        return "not_enough_retrains", (
            f"not enough retrains yet: {len(s.kappas)} of the {o.k} comparisons of successive "
            f"models the signal needs ({s.n_retrains} retrain(s) with new labels so far)" + wrong)
    steep = s.slope_per_100 is not None and s.slope_per_100 >= o.flat_slope
    if not s.stable:
        return "keep_labelling", (
            f"keep labelling: the model's predictions still change ({kappa}, "
            f"{o.kappa_threshold} means stable)" + (f"; {slope}" if slope else "") + wrong)
    if steep:
        return "keep_labelling", (
            f"keep labelling: predictions have stabilised ({kappa}) but {slope}" + wrong)
    return "stop", (
        f"labels have stopped paying: successive models agree ({kappa})"
        + (f" and {slope}" if slope else "") + wrong
        + (" — reviewing machine labels removes those faster than more training labels"
           if wrong else ""))


def stopping_signal(points: Sequence[RetrainPoint], *,
                    options: StoppingOptions | None = None) -> StoppingSignal:
    """The stopping signal of a project from its retrain points in creation order (see the
    module docstring)."""
    o = options or StoppingOptions()
    distinct = _distinct(points)
    with_stop = [p for p in distinct if p.stop_ids]
    steps: list[KappaStep] = []
    for a, b in itertools.pairwise(with_stop):
        kappa, n = stop_set_kappa(a, b)
        if kappa is not None:
            steps.append(KappaStep(b.version, a.version, b.n_labeled, kappa, n))
    window = float(np.mean([s.kappa for s in steps[-o.k:]])) if len(steps) >= o.k else None
    slope, n_slope = recent_slope(distinct, window=o.slope_window)
    last = points[-1] if points else None
    signal = StoppingSignal(
        "not_enough_retrains", "", tuple(steps), window,
        window is not None and window >= o.kappa_threshold, slope, n_slope,
        last.expected_wrong if last else None, last.n_machine_labelled if last else None,
        len(with_stop))
    verdict, message = _verdict(signal, o)
    return dataclasses.replace(signal, verdict=verdict, message=message)
