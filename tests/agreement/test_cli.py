"""``labelloop agreement`` on a hand-written export (expected numbers worked out by hand)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from labelloop.cli import agreement

FIXTURE = Path(__file__).parent / "data" / "ls_export_small.json"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="labelloop")
    agreement.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["agreement", *argv])
    return args.func(args)


def test_report_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert run(str(FIXTURE), "--output", str(out)) == 0
    report = json.loads(out.read_text())
    assert report["n_tasks"] == 8
    assert report["skipped"] == {"annotation_without_choices": 1, "cancelled_annotation": 2}
    c = report["controls"]["sentiment"]
    assert c["annotators"] == [1, 2, 3] and c["n_tasks"] == 6 and c["n_annotations"] == 13
    # Items with 2+ labels: 101 PPP, 102 NN, 103 (Ne P Ne), 104 NN, 105 (P Ne).
    assert c["percent_agreement"] == pytest.approx((1 + 1 + 1 / 3 + 1 + 0) / 5)
    # Fleiss on the three 2-rater items: P-bar = 2/3, P-e = (4/6)^2 + 2 (1/6)^2 = 1/2.
    assert c["fleiss_kappa"] == pytest.approx(1 / 3)
    assert c["fleiss_subset"] == {"n_tasks": 3, "n_raters": 2}
    # Coincidences: n = 12 pairable values (P 5, N 4, Ne 3); D_o = 4/12, D_e = 94/132.
    assert c["krippendorff_alpha"] == pytest.approx(1 - (4 / 12) / (94 / 132))
    kappas = {(p["a"], p["b"]): (p["n"], p["kappa"]) for p in c["pairwise_cohen_kappa"]}
    assert kappas[(1, 2)] == (3, pytest.approx(0.5))  # p_o 2/3, p_e 1/3
    assert c["consensus"] == {"n_tasks": 5, "ties": 1}  # task 105 ties
    v1 = c["models"]["llm-v1"]
    assert (v1["n"], v1["accuracy"]) == (4, 0.75)  # wrong on 103 (consensus Neutral)
    assert v1["coverage"] == pytest.approx(4 / 6)
    assert v1["calibration"]["ece"] == pytest.approx(0.3)  # (.1 + .2 + .6 + .3) / 4
    assert c["models"]["lr-2"]["accuracy"] == 0.0
    printed = capsys.readouterr().out
    assert "Krippendorff's alpha  0.532" in printed
    assert "llm-v1" in printed and f"report written to {out}" in printed


def test_default_output_sits_next_to_the_export(tmp_path: Path) -> None:
    export = tmp_path / "proj.json"
    shutil.copy(FIXTURE, export)
    assert run(str(export)) == 0
    assert json.loads((tmp_path / "proj.agreement.json").read_text())["n_tasks"] == 8


def test_output_dash_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(FIXTURE), "--output", "-", "--control", "sentiment") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["controls"]["sentiment"]["n_tasks"] == 6
    assert "Control 'sentiment'" in captured.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"[{", "is not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b'{"a": 1}', "list of tasks"),
        (b"[]", "no usable choices"),
    ],
)
def test_unusable_exports_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    export = tmp_path / "export.json"
    if content is not None:
        export.write_bytes(content)
    assert run(str(export)) == 2
    err = capsys.readouterr().err
    assert err.startswith("labelloop agreement: ") and message in err
    assert not (tmp_path / "export.agreement.json").exists()


def test_unknown_control_and_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(FIXTURE), "--control", "topic") == 2
    assert "no Choices control named 'topic'; found: sentiment" in capsys.readouterr().err
    assert run(str(FIXTURE), "--bins", "0") == 2


def test_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(FIXTURE), "--output", str(tmp_path / "missing" / "r.json")) == 2
    assert "cannot write" in capsys.readouterr().err


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run("--help")
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "Label Studio JSON export" in text and "--control NAME" in text and "examples:" in text
