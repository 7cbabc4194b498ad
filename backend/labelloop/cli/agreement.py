"""``labelloop agreement``: label quality of a Label Studio JSON export, offline.

Reads the export, runs :func:`labelloop.agreement.control_report` on every ``Choices`` control and
:func:`labelloop.agreement.span_report.span_control_report` on every ``Labels`` control (or the one
``--control`` names), prints a summary table and writes the full report as JSON. Exit codes:
0 done, 2 the export (or the output path) cannot be used — the message says why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labelloop.cli.tables import num as _num
from labelloop.cli.tables import table as _table
from labelloop.errors import InvalidInput

DESCRIPTION = """\
Measure label quality in a Label Studio JSON export (Export -> JSON), without a server:
agreement between annotators (percent agreement, Fleiss' kappa, Krippendorff's alpha, Cohen's
kappa per pair), each annotator against the majority of the others, and each model version found
among the predictions against the human majority (accuracy, kappa, per-class scores,
calibration of its scores). Span (Labels, NER) controls get span agreement instead: pairwise
span F1 (exact, and same-label overlap), token-level kappa and alpha, and each model version's
span precision / recall / F1 against the human consensus. Cancelled annotations are skipped.

Model comparisons need the predictions themselves: Label Studio 1.23's quick export (the Export
button, GET /api/projects/ID/export) lists prediction ids only. Make a snapshot export with
predictions included (POST /api/projects/ID/exports/ with serialization_options
{"predictions": {"only_id": false}}, then download it as JSON)."""

ID_ONLY_HINT = ("this export lists prediction ids only (Label Studio's quick export), so no "
                "model can be compared: make a snapshot export with predictions included "
                "(see --help)")

EPILOG = """\
examples:
  labelloop agreement export.json
  labelloop agreement export.json --control sentiment --output quality.json
  labelloop agreement export.json --output - | jq .controls.sentiment.krippendorff_alpha

Fleiss' kappa uses the tasks with the most common number of annotators; Krippendorff's alpha
uses every task with two or more. Values that are undefined are shown as '-' (null in JSON)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agreement",
        help="label-quality report (agreement, model vs humans) for a Label Studio export",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("export", metavar="EXPORT.json", type=Path, help="Label Studio JSON export")
    parser.add_argument(
        "-o",
        "--output",
        metavar="REPORT.json",
        help="where to write the JSON report ('-' = stdout, the summary then goes to stderr); "
        "default: EXPORT.agreement.json next to the export",
    )
    parser.add_argument(
        "--control",
        metavar="NAME",
        help="only this Choices or Labels control (its from_name); default: every one",
    )
    parser.add_argument(
        "--min-overlap",
        type=int,
        default=2,
        metavar="N",
        help="Cohen's kappa only for annotator pairs sharing at least N tasks (default: 2; "
        "Choices controls: span controls report every pair with a task in common)",
    )
    parser.add_argument(
        "--bins", type=int, default=10, metavar="N", help="calibration bins (default: 10)"
    )
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"labelloop agreement: {message}", file=sys.stderr)
    return 2


def build_report(
    tasks: Any, *, control: str | None = None, min_overlap: int = 2, n_bins: int = 10
) -> dict[str, Any]:
    """The report for parsed export JSON (raises InvalidInput with a message for the user).

    Choices controls get :func:`~labelloop.agreement.control_report`, span (Labels) controls
    :func:`~labelloop.agreement.span_report.span_control_report`; an export with both reports both.
    """
    # imported here, not with the module: ``labelloop COMMAND`` builds every command's parser,
    # and the metrics (statsmodels, scikit-learn) cost the other commands a second
    from labelloop.agreement import MalformedExport, control_report, read_export
    from labelloop.cli.agreement_spans import span_sections

    if isinstance(tasks, dict) and isinstance(tasks.get("annotations"), list):
        tasks = [tasks]  # a single task
    spans: dict[str, dict[str, Any]] = {}
    span_skipped: dict[str, int] = {}
    unit = "code_points"
    if isinstance(tasks, list):
        spans, span_skipped, unit = span_sections(tasks)
    try:
        data = read_export(tasks)
        choices, skipped, n_tasks = data.controls, data.skipped, data.n_tasks
    except MalformedExport:
        if not spans:
            raise
        choices, skipped, n_tasks = {}, {}, len(tasks)
    for reason, n in span_skipped.items():  # both readers count the same tasks and annotations
        skipped[reason] = max(n, skipped.get(reason, 0))
    names = list(choices) + [name for name in spans if name not in choices]
    if control is not None:
        if control not in names:
            kinds = "Choices or Labels" if spans else "Choices"
            raise InvalidInput(
                f"the export has no {kinds} control named {control!r}; found: {', '.join(names)}"
            )
        names = [control]
    sections: dict[str, dict[str, Any]] = {}
    for name in names:
        if name in choices:
            section = control_report(choices[name], min_overlap=min_overlap, n_bins=n_bins)
            sections[name] = {"kind": "choices", **section}
        if name in spans:
            sections[name if name not in choices else f"{name} (spans)"] = spans[name]
    report: dict[str, Any] = {"n_tasks": n_tasks, "skipped": dict(sorted(skipped.items()))}
    if spans:
        report["span_offset_unit"] = unit
    return {**report, "controls": sections}


def _skips(skipped: dict[str, int]) -> str:
    return ", ".join(f"{reason.replace('_', ' ')}: {n}" for reason, n in skipped.items())


def _agreement_lines(c: dict[str, Any], max_pairs: int) -> list[str]:
    fleiss_note = ""
    if c["fleiss_subset"]:
        sub = c["fleiss_subset"]
        fleiss_note = f"on {sub['n_tasks']} tasks with {sub['n_raters']} annotators"
    out = [""] + _table(
        ["agreement", "value", ""],
        [
            ["percent agreement", _num(c["percent_agreement"]), ""],
            ["Fleiss' kappa", _num(c["fleiss_kappa"]), fleiss_note],
            ["Krippendorff's alpha", _num(c["krippendorff_alpha"]), "all tasks with 2+ labels"],
        ],
    )
    pairs = c["pairwise_cohen_kappa"]
    if pairs:
        rows = [[f"{p['a']} / {p['b']}", p["n"], _num(p["kappa"])] for p in pairs[:max_pairs]]
        out += [""] + _table(["Cohen's kappa (pair)", "tasks", "kappa"], rows)
        if len(pairs) > max_pairs:
            out.append(f"  ... {len(pairs) - max_pairs} more pairs in the JSON report")
    if c["per_annotator"]:
        headers = ["annotator vs others' majority", "tasks", "compared", "ties", "agree", "kappa"]
        rows = [
            [
                a["annotator"],
                a["n_items"],
                a["n"],
                a["ties"],
                _num(a["agreement"]),
                _num(a["kappa"]),
            ]
            for a in c["per_annotator"]
        ]
        out += [""] + _table(headers, rows)
    if c["per_label"]:
        headers = ["label (ticked or not)", "ticked", "agree", "alpha"]
        rows = [
            [x["label"], _num(x["prevalence"]), _num(x["percent_agreement"]),
             _num(x["krippendorff_alpha"])]
            for x in c["per_label"]
        ]  # fmt: skip
        out += [""] + _table(headers, rows)
    return out


def _model_lines(c: dict[str, Any]) -> list[str]:
    if not c["models"]:
        return []
    headers = ["model vs human majority", "tasks", "coverage", "accuracy", "kappa", "ECE"]
    rows = []
    for version, m in c["models"].items():
        ece = m["calibration"]["ece"] if m["calibration"] else None
        cov = f"{m['coverage']:.0%}"
        rows.append([version, m["n"], cov, _num(m["accuracy"]), _num(m["kappa"]), _num(ece)])
    return [""] + _table(headers, rows)


def format_summary(report: dict[str, Any], *, max_pairs: int = 20) -> str:
    """A readable plain-text summary of a report from :func:`build_report`."""
    from labelloop.cli.agreement_spans import span_summary_lines

    out = [f"{report['n_tasks']} tasks in the export"]
    if report["skipped"]:
        out.append(f"skipped: {_skips(report['skipped'])}")
    if any(c["skipped"].get("prediction_id_only") for c in report["controls"].values()) or \
            report["skipped"].get("prediction_id_only"):
        out.append(f"note: {ID_ONLY_HINT}")
    for name, c in report["controls"].items():
        if c.get("kind") == "spans":
            out += span_summary_lines(c, max_pairs=max_pairs)
            continue
        kind = "multiple choice, scored as exact combinations" if c["multiple"] else "single choice"
        counts = f"{c['n_tasks']} tasks, {len(c['annotators'])} annotators"
        out += [
            "",
            f"Control {name!r} ({kind}): {counts}, {c['n_annotations']} annotations",
            "labels: " + ", ".join(f"{k} ({n})" for k, n in c["label_counts"].items()),
        ]
        if c["skipped"]:
            out.append(f"skipped: {_skips(c['skipped'])}")
        out += _agreement_lines(c, max_pairs) + _model_lines(c)
        out += [f"note: {note}" for note in c["notes"]]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    path: Path = args.export
    try:
        with path.open(encoding="utf-8") as f:
            tasks = json.load(f)
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        return _fail(f"{path} is not UTF-8 text: {exc.reason}")
    except json.JSONDecodeError as exc:
        return _fail(f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    if args.min_overlap < 1 or args.bins < 1:
        return _fail("--min-overlap and --bins must be at least 1")
    try:
        report = build_report(
            tasks, control=args.control, min_overlap=args.min_overlap, n_bins=args.bins
        )
    except InvalidInput as exc:
        return _fail(f"{path}: {exc.message}")
    report = {"export": str(path), **report}
    text = json.dumps(report, indent=2, allow_nan=False)
    summary = format_summary(report)
    if args.output == "-":
        print(summary, file=sys.stderr)
        print(text)
        return 0
    output = Path(args.output) if args.output else path.with_suffix(".agreement.json")
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}")
    print(summary)
    print(f"\nreport written to {output}")
    return 0
