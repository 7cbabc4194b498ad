"""The span (NER) part of ``labelloop agreement``: report sections and summary lines.

:func:`span_sections` reads every ``Labels`` control of an export
(:func:`~labelloop.agreement.span_export.read_span_export`) into report sections
(:func:`~labelloop.agreement.span_report.span_control_report`); :func:`span_summary_lines` prints
one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelloop.agreement.span_export import read_span_export
from labelloop.agreement.span_report import span_control_report
from labelloop.cli.tables import num, table


def span_sections(
    tasks: list[Any], *, names: Sequence[str] | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, int], str]:
    """(a report section per span control — only ``names`` when given —, the export-wide skip
    counts, the offset unit the export was read in)."""
    data = read_span_export(tasks)
    sections = {
        name: span_control_report(control)
        for name, control in data.controls.items()
        if names is None or name in names
    }
    return sections, data.skipped, data.offset_unit


def _pair_lines(c: dict[str, Any], max_pairs: int) -> list[str]:
    pairs = c["pairwise_span_f1"]
    if not pairs:
        return []
    overlap = {(p["a"], p["b"]): p["f1"] for p in c["pairwise_span_f1_overlap"]}
    kappa = {(p["a"], p["b"]): p["kappa"] for p in c["tokens"]["pairwise_cohen_kappa"]}
    rows = [
        [f"{p['a']} / {p['b']}", p["n"], num(p["f1"]), num(overlap.get((p["a"], p["b"]))),
         num(kappa.get((p["a"], p["b"])))]
        for p in pairs[:max_pairs]
    ]  # fmt: skip
    headers = ["annotator pair", "tasks", "span F1", "overlap F1", "token kappa"]
    out = [""] + table(headers, rows)
    if len(pairs) > max_pairs:
        out.append(f"  ... {len(pairs) - max_pairs} more pairs in the JSON report")
    return out


def _model_lines(c: dict[str, Any]) -> list[str]:
    if not c["models"]:
        return []
    headers = ["model vs human consensus", "tasks", "coverage", "precision", "recall", "F1",
               "overlap F1"]  # fmt: skip
    rows = []
    for version, m in c["models"].items():
        e = m["exact"]
        rows.append([version, m["n"], f"{m['coverage']:.0%}", num(e["precision"]),
                     num(e["recall"]), num(e["f1"]), num(m["overlap"]["f1"])])  # fmt: skip
    out = [""] + table(headers, rows)
    for version, m in c["models"].items():
        per = [[label, s["tp"] + s["fn"], num(s["precision"]), num(s["recall"]), num(s["f1"])]
               for label, s in m["per_label"].items() if s["tp"] + s["fp"] + s["fn"]]  # fmt: skip
        out += [""] + table([f"{version}: per label", "spans", "precision", "recall", "F1"], per)
    return out


def span_summary_lines(c: dict[str, Any], *, max_pairs: int = 20) -> list[str]:
    """A readable summary of one span control's report section."""
    tokens = c["tokens"]
    counts = f"{c['n_tasks']} tasks, {len(c['annotators'])} annotators"
    out = [
        "",
        f"Control {c['control']!r} (text spans): {counts}, {c['n_annotations']} annotations",
        "spans: " + ", ".join(f"{k} ({n})" for k, n in c["label_counts"].items()),
    ]
    if c["skipped"]:
        out.append("skipped: " + ", ".join(f"{k.replace('_', ' ')}: {n}"
                                           for k, n in c["skipped"].items()))  # fmt: skip
    unit = tokens["unit"] + "s" if tokens["unit"] != "mixed" else "tokens and characters"
    out += [""] + table(
        ["agreement", "value", ""],
        [
            ["span F1 (exact)", num(c["span_f1"]["exact"]), "all pairs pooled"],
            ["span F1 (overlap)", num(c["span_f1"]["overlap"]), "same label, shared characters"],
            ["percent agreement", num(tokens["percent_agreement"]), f"{tokens['n_units']} {unit}"],
            ["Krippendorff's alpha", num(tokens["krippendorff_alpha"]), f"{unit}, O included"],
        ],
    )
    out += _pair_lines(c, max_pairs)
    if c["per_label"]:
        rows = [[label, x["n_spans"], num(x["f1"]), num(x["f1_overlap"]),
                 num(x["token_krippendorff_alpha"])] for label, x in c["per_label"].items()]  # fmt: skip
        out += [""] + table(["label", "spans", "span F1", "overlap F1", "token alpha"], rows)
    out += _model_lines(c)
    out += [f"note: {note}" for note in c["notes"]]
    return out
