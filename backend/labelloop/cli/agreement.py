"""``labelloop agreement``: label quality of a Label Studio JSON export, offline.

Reads the export, runs :func:`labelloop.agreement.control_report` on every ``Choices`` control (or
the one ``--control`` names), prints a summary table and writes the full report as JSON. Exit codes:
0 done, 2 the export (or the output path) cannot be used — the message says why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labelloop.agreement import control_report, read_export
from labelloop.errors import InvalidInput

DESCRIPTION = """\
Measure label quality in a Label Studio JSON export (Export -> JSON), without a server:
agreement between annotators (percent agreement, Fleiss' kappa, Krippendorff's alpha, Cohen's
kappa per pair), each annotator against the majority of the others, and each model version found
among the predictions against the human majority (accuracy, kappa, per-class scores,
calibration of its scores). Only Choices controls are read; cancelled annotations are skipped.

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
        help="only this Choices control (its from_name); default: every one in the export",
    )
    parser.add_argument(
        "--min-overlap",
        type=int,
        default=2,
        metavar="N",
        help="Cohen's kappa only for annotator pairs sharing at least N tasks (default: 2)",
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
    """The report for parsed export JSON (raises InvalidInput with a message for the user)."""
    data = read_export(tasks)
    names = list(data.controls)
    if control is not None:
        if control not in data.controls:
            raise InvalidInput(
                f"the export has no Choices control named {control!r}; found: {', '.join(names)}"
            )
        names = [control]
    return {
        "n_tasks": data.n_tasks,
        "skipped": data.skipped,
        "controls": {
            name: control_report(data.controls[name], min_overlap=min_overlap, n_bins=n_bins)
            for name in names
        },
    }


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _is_number(cell: str) -> bool:
    try:
        float(cell.rstrip("%"))
    except ValueError:
        return cell in ("-", "")
    return True


def _table(headers: list[str], rows: list[list[Any]], indent: str = "  ") -> list[str]:
    """Columns padded to width; numeric columns right-aligned, the others left-aligned."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [i > 0 and all(_is_number(row[i]) for row in cells[1:]) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)]
        lines.append(indent + "  ".join(padded).rstrip())
    return lines


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
    out = [f"{report['n_tasks']} tasks in the export"]
    if report["skipped"]:
        out.append(f"skipped: {_skips(report['skipped'])}")
    if any(c["skipped"].get("prediction_id_only") for c in report["controls"].values()) or \
            report["skipped"].get("prediction_id_only"):
        out.append(f"note: {ID_ONLY_HINT}")
    for name, c in report["controls"].items():
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
