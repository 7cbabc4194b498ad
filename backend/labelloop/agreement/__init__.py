"""Label quality: how much annotators agree, and how good a model's labels are.

Everything here is a pure function over numpy arrays; nothing reads files, the clock or global
state, and randomness comes in as an ``np.random.Generator``.

The one data structure is the *label matrix* (:mod:`.matrix`): ``(n_items, n_annotators)``
floats holding class indices, NaN where an annotator did not label an item. Build it from
``(item, annotator, label)`` records with :func:`matrix_from_records`, or from a Label Studio
export with :func:`read_export`, then:

=================================  ==========================================================
question                           function
=================================  ==========================================================
how often do annotators agree?     :func:`percent_agreement`
... beyond chance?                 :func:`krippendorff_alpha` (any missing pattern),
                                   :func:`fleiss_kappa` (items with the modal rater count),
                                   :func:`pairwise_cohen_kappa` (each pair of annotators)
who disagrees with the others?     :func:`annotator_vs_consensus`
which label is hard to agree on?   :func:`per_label_agreement` (multiple choice)
what is the agreed label?          :func:`majority_vote` (ties: missing, lowest or random)
how good is a model vs humans?     :func:`compare_to_reference`
are its confidences honest?        :func:`reliability_curve`, :func:`expected_calibration_error`
how good is the LLM on the tasks   :func:`draw_audit_sample`, then
nobody reviewed?                   :func:`estimate_audit_accuracy` (Wilson, 95 %)
all of it, as JSON                 :func:`quality_report`, :func:`control_report`
spans (NER): how well do two span  :func:`span_prf`, :func:`span_prf_per_label` (exact or
sets agree?                        overlap match, micro over tasks)
... from an export, as JSON        :func:`read_span_export`, :func:`span_control_report`
                                   (pairwise span F1, token kappa/alpha, models vs consensus)
=================================  ==========================================================

Each module's docstring says how its statistic treats missing labels and ties, and when the
result is NaN (undefined) rather than an error. Input that cannot give an answer raises
:class:`InsufficientData` (e.g. no item with two labels), input that is wrong raises
:class:`~labelloop.errors.InvalidInput`; both map to HTTP 422 and to exit code 2 in the
``labelloop agreement`` command.
"""

from typing import TYPE_CHECKING

from labelloop.lazy import lazy_exports

if TYPE_CHECKING:  # the names, for type checkers; imported on first use otherwise
    from labelloop.agreement.audit import (
        AccuracyEstimate,
        AuditEstimate,
        draw_audit_sample,
        estimate_audit_accuracy,
        wilson_interval,
    )
    from labelloop.agreement.calibration import expected_calibration_error, reliability_curve
    from labelloop.agreement.consensus import consensus_strength, majority_vote
    from labelloop.agreement.errors import InsufficientData, MalformedExport
    from labelloop.agreement.export import ControlData, ExportData, ModelPredictions, read_export
    from labelloop.agreement.matrix import (
        LabelMatrix,
        binary_matrices_from_records,
        check_label_matrix,
        class_counts,
        matrix_from_records,
    )
    from labelloop.agreement.metrics import (
        annotator_vs_consensus,
        cohen_kappa,
        fleiss_kappa,
        krippendorff_alpha,
        modal_rater_count,
        pairwise_cohen_kappa,
        per_label_agreement,
        percent_agreement,
    )
    from labelloop.agreement.reference import compare_to_reference
    from labelloop.agreement.report import QualityReport, control_report, quality_report
    from labelloop.agreement.span_export import SpanControlData, SpanExportData, read_span_export
    from labelloop.agreement.span_report import span_control_report
    from labelloop.agreement.spans import PRF, span_prf, span_prf_per_label

__all__ = [
    "PRF",
    "AccuracyEstimate",
    "AuditEstimate",
    "ControlData",
    "ExportData",
    "InsufficientData",
    "LabelMatrix",
    "MalformedExport",
    "ModelPredictions",
    "QualityReport",
    "SpanControlData",
    "SpanExportData",
    "annotator_vs_consensus",
    "binary_matrices_from_records",
    "check_label_matrix",
    "class_counts",
    "cohen_kappa",
    "compare_to_reference",
    "consensus_strength",
    "control_report",
    "draw_audit_sample",
    "estimate_audit_accuracy",
    "expected_calibration_error",
    "fleiss_kappa",
    "krippendorff_alpha",
    "majority_vote",
    "matrix_from_records",
    "modal_rater_count",
    "pairwise_cohen_kappa",
    "per_label_agreement",
    "percent_agreement",
    "quality_report",
    "read_export",
    "read_span_export",
    "reliability_curve",
    "span_control_report",
    "span_prf",
    "span_prf_per_label",
    "wilson_interval",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "labelloop.agreement.audit": (
        "AccuracyEstimate", "AuditEstimate", "draw_audit_sample", "estimate_audit_accuracy",
        "wilson_interval"),
    "labelloop.agreement.calibration": ("expected_calibration_error", "reliability_curve"),
    "labelloop.agreement.consensus": ("consensus_strength", "majority_vote"),
    "labelloop.agreement.errors": ("InsufficientData", "MalformedExport"),
    "labelloop.agreement.export": ("ControlData", "ExportData", "ModelPredictions", "read_export"),
    "labelloop.agreement.matrix": (
        "LabelMatrix", "binary_matrices_from_records", "check_label_matrix", "class_counts",
        "matrix_from_records"),
    "labelloop.agreement.metrics": (
        "annotator_vs_consensus", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha",
        "modal_rater_count", "pairwise_cohen_kappa", "per_label_agreement", "percent_agreement"),
    "labelloop.agreement.reference": ("compare_to_reference",),
    "labelloop.agreement.report": ("QualityReport", "control_report", "quality_report"),
    "labelloop.agreement.span_export": ("SpanControlData", "SpanExportData", "read_span_export"),
    "labelloop.agreement.span_report": ("span_control_report",),
    "labelloop.agreement.spans": ("PRF", "span_prf", "span_prf_per_label"),
})
