"""Presenting a simulation: the JSON document, a markdown table and the learning curves.

On span data (``result.task == "spans"``) the same keys are kept and each strategy adds
``span_f1`` (per seed, per budget point) and ``invalid_spans``; ``labels_to_95pct`` and
``ratio_to_random`` are measured on span-F1, and the table and plot show span-F1.

With the dataset objective (:mod:`.dataset_engine`) each strategy adds ``dataset_accuracy``,
``estimated_accuracy`` (per seed, per budget point), ``estimated_interval`` (per seed, per point:
``[low, high]``), ``interval_coverage``, the same for the difference estimator
(``difference_accuracy``, ``difference_interval``, ``difference_coverage``) and ``error_batches`` (per seed, batches the queue spent
on machine errors); the table shows dataset accuracy and the interval's coverage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from labelloop.simulate.dataset_engine import DatasetCurve
from labelloop.simulate.engine import SimulationResult


def _ratio(result: SimulationResult, name: str) -> float | None:
    if "random" not in result.curves:
        return None
    mine, base = result.labels_to_target(name), result.labels_to_target("random")
    if mine is None or base is None:
        return None
    return mine / base


def area_under_curve(result: SimulationResult, name: str) -> float:
    """Mean accuracy over the budget points (the normalised area under the learning curve)."""
    return float(result.curves[name].mean_accuracy().mean())


def to_json(result: SimulationResult, *, data: str, extra: dict[str, Any] | None = None,
            ) -> dict[str, Any]:
    """The ``results.json`` document (the contract keys first, more keys after)."""
    strategies: dict[str, Any] = {}
    for name, curve in result.curves.items():
        strategies[name] = {
            "labels": list(curve.labels),
            "accuracy": curve.accuracy,
            "macro_f1": curve.macro_f1,
            "labels_to_95pct": result.labels_to_target(name),
            "ratio_to_random": _ratio(result, name),
            "mean_accuracy_auc": area_under_curve(result, name),
        }
        if result.task == "spans":
            strategies[name]["span_f1"] = curve.span_f1
            strategies[name]["mean_span_f1_auc"] = float(curve.mean_span_f1().mean())
            strategies[name]["invalid_spans"] = curve.invalid_spans
        if isinstance(curve, DatasetCurve):
            strategies[name] |= {
                "dataset_accuracy": curve.dataset_accuracy,
                "estimated_accuracy": curve.estimated_accuracy,
                "estimated_interval": curve.estimated_interval,
                "interval_coverage": curve.coverage(),
                "difference_accuracy": curve.difference_accuracy,
                "difference_interval": curve.difference_interval,
                "difference_coverage": curve.coverage(difference=True),
                "error_batches": curve.dataset_batches, "batches": curve.batches}
    cfg = result.config
    doc: dict[str, Any] = {
        "data": data,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "batch_size": cfg.batch_size,
        "full_pool_accuracy": result.full_pool_accuracy,
        "strategies": strategies,
        "full_pool_macro_f1": result.full_pool_macro_f1,
        "budget": cfg.budget,
        "seeds": cfg.seeds,
        "class_labels": result.labels,
        "llm": None if result.llm_train_accuracy is None else {
            "train_accuracy": result.llm_train_accuracy},
        "committee_fallback": any("committee" in n for n in result.notes),
        "notes": result.notes,
    }
    if result.task == "spans":
        doc["task"] = "spans"
        doc["full_pool_span_f1"] = result.full_pool_span_f1
        doc["invalid_spans"] = sum(c.invalid_spans for c in result.curves.values())
        if result.llm_train_accuracy is not None:
            doc["llm"] = {"train_span_f1": result.llm_train_accuracy}
    doc.update(extra or {})
    return doc


def _pm(values: np.ndarray) -> str:
    return f"{values.mean():.3f} ± {values.std():.3f}"


def span_markdown_table(result: SimulationResult) -> str:
    """Span data: span-F1 (mean ± std over seeds) per budget point and strategy, then the labels
    each strategy needs to reach 95 % of the full-pool span-F1 and random's span-F1 at the
    budget, and the invalid spans predicted."""
    names = list(result.curves)
    lines = ["| labels | " + " | ".join(f"{n} span-F1" for n in names) + " |",
             "|---:|" + "---:|" * len(names)]
    points = result.curves[names[0]].labels
    for j, point in enumerate(points):
        cells = [_pm(np.asarray(result.curves[n].span_f1)[:, j]) for n in names]
        lines.append(f"| {point} | " + " | ".join(cells) + " |")
    full = result.full_pool_target()
    summary = (f"Full-pool token model ({result.n_train} sentences): span-F1 {full:.3f}, "
               f"token accuracy {result.full_pool_accuracy:.3f}, macro span-F1 "
               f"{result.full_pool_macro_f1:.3f}; target = 95 % of its span-F1 = "
               f"{0.95 * full:.3f}.")
    lines += ["", summary, ""]
    base = result.mean_curve("random")[-1] if "random" in result.curves else None
    head = "| strategy | labels to 95 % of full | ratio to random |"
    head += f" labels to random's span-F1 at {points[-1]} |" if base is not None else ""
    lines += [head + " mean span-F1 (AUC) | invalid spans |",
              "|---|---:|---:|" + ("---:|" if base is not None else "") + "---:|---:|"]
    for n in names:
        need, ratio = result.labels_to_target(n), _ratio(result, n)
        row = (f"| {n} | {need if need is not None else f'> {points[-1]}'} | "
               f"{f'{ratio:.2f}x' if ratio is not None else 'n/a'} |")
        if base is not None:
            reach = result.labels_to_reach(n, base)
            row += (f" {reach} ({reach / points[-1]:.2f}x) |" if reach is not None
                    else f" > {points[-1]} |")
        c = result.curves[n]
        lines.append(row + f" {c.mean_span_f1().mean():.3f} | {c.invalid_spans} |")
    if result.notes:
        lines += [""] + [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)


def dataset_markdown_table(result: SimulationResult) -> str:
    """The dataset objective: the pool's dataset accuracy (mean ± std over seeds) per budget
    point and strategy, then each strategy's interval coverage and mean estimate error."""
    names = list(result.curves)
    curves = {n: c for n, c in result.curves.items() if isinstance(c, DatasetCurve)}
    lines = ["| human labels | " + " | ".join(f"{n} dataset acc" for n in names) + " |",
             "|---:|" + "---:|" * len(names)]
    points = curves[names[0]].labels
    for j, point in enumerate(points):
        cells = [_pm(np.asarray(curves[n].dataset_accuracy)[:, j]) for n in names]
        lines.append(f"| {point} ({point / result.n_train:.0%}) | " + " | ".join(cells) + " |")
    llm = "" if result.llm_train_accuracy is None else \
        f"; the LLM alone is right on {result.llm_train_accuracy:.3f} of it"
    about = (f"Dataset accuracy over the {result.n_train} pool tasks (human labels where "
             f"reviewed, the best machine label elsewhere){llm}.")
    head = ("| strategy | 95 % interval coverage | mean estimate − truth | difference estimator: "
            "coverage, mean − truth | batches on errors |")
    lines += ["", about, "", head, "|---|---:|---:|---:|---:|"]
    for n in names:
        c = curves[n]
        truth = np.asarray(c.dataset_accuracy)
        bias = float(np.mean(np.asarray(c.estimated_accuracy) - truth))
        d_bias = float(np.mean(np.asarray(c.difference_accuracy) - truth))
        lines.append(f"| {n} | {c.coverage():.2f} | {bias:+.3f} | "
                     f"{c.coverage(difference=True):.2f}, {d_bias:+.3f} | "
                     f"{sum(c.dataset_batches)} of {sum(c.batches)} |")
    if result.notes:
        lines += [""] + [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)


def markdown_table(result: SimulationResult) -> str:
    """Accuracy and macro-F1 (mean ± std over seeds) per budget point and strategy, then the
    labels each strategy needs to reach 95 % of the full-pool accuracy (span data:
    :func:`span_markdown_table`; the dataset objective: :func:`dataset_markdown_table`)."""
    if result.task == "spans":
        return span_markdown_table(result)
    if any(isinstance(c, DatasetCurve) for c in result.curves.values()):
        return dataset_markdown_table(result)
    names = list(result.curves)
    head = "| labels | " + " | ".join(f"{n} acc | {n} F1" for n in names) + " |"
    sep = "|---:|" + "---:|---:|" * len(names)
    lines = [head, sep]
    points = result.curves[names[0]].labels
    for j, point in enumerate(points):
        cells = []
        for n in names:
            c = result.curves[n]
            cells.append(_pm(np.asarray(c.accuracy)[:, j]))
            cells.append(_pm(np.asarray(c.macro_f1)[:, j]))
        lines.append(f"| {point} | " + " | ".join(cells) + " |")
    target = 0.95 * result.full_pool_accuracy
    summary = (f"Full-pool model ({result.n_train} labels): accuracy "
               f"{result.full_pool_accuracy:.3f}, macro-F1 {result.full_pool_macro_f1:.3f}; "
               f"target = 95 % of it = {target:.3f}.")
    lines += ["", summary, "",
              "| strategy | labels to 95 % of full | ratio to random | mean accuracy (AUC) |",
              "|---|---:|---:|---:|"]
    for n in names:
        need = result.labels_to_target(n)
        ratio = _ratio(result, n)
        lines.append(f"| {n} | {need if need is not None else f'> {points[-1]}'} | "
                     f"{f'{ratio:.2f}x' if ratio is not None else 'n/a'} | "
                     f"{area_under_curve(result, n):.3f} |")
    if result.notes:
        lines += [""] + [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)


def plot_curves(result: SimulationResult, path: str | Path, *, title: str | None = None) -> None:
    """Accuracy (span-F1 on span data) and macro-F1 learning curves (mean ± std band), one line
    per strategy."""
    # The object API renders with Agg and leaves pyplot's global backend and figures alone.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    metrics = ("span_f1", "macro_f1") if result.task == "spans" else ("accuracy", "macro_f1")
    for ax, metric in zip(axes, metrics):
        for name, curve in result.curves.items():
            values = np.asarray(getattr(curve, metric))
            mean, std = values.mean(axis=0), values.std(axis=0)
            ax.plot(curve.labels, mean, label=name, marker=".")
            ax.fill_between(curve.labels, mean - std, mean + std, alpha=0.15)
        full = result.full_pool_macro_f1 if metric == "macro_f1" else result.full_pool_target()
        ax.axhline(full, color="grey", linestyle="--", linewidth=1, label="full pool")
        if metric != "macro_f1":
            ax.axhline(0.95 * full, color="grey", linestyle=":", linewidth=1, label="95 % of full")
        ax.set_xlabel("labels")
        ax.set_ylabel(metric.replace("_", "-"))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
