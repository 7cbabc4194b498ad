"""Label quality of a live project: storage -> label matrices -> :mod:`labelloop.agreement`.

The metrics themselves live in :mod:`labelloop.agreement` (pure functions on arrays); this package
is the glue between them and what labelloop stores:

===============================  =============================================================
step                             module
===============================  =============================================================
read one consistent snapshot     :mod:`.data` (:func:`read_project_labels`, the only module
                                 that touches storage)
records -> arrays                :mod:`.align` (label matrix, first labels, LLM and model labels
                                 on the same rows; task ids only at this boundary)
which first labels to review     :mod:`.review` (disagrees with both the LLM and the model)
LLM accuracy on the unreviewed   :mod:`.audit` (uniform audit sample, Wilson 95 %)
the report, as JSON              :mod:`.service` (:func:`project_quality`)
second annotations               :mod:`.double` (which tasks; the Label Studio call)
which machine labels to accept   :mod:`.accept` (per-class p_correct threshold, audited)
===============================  =============================================================

docs/quality.md explains the figures, the audit method and what Label Studio allows.
"""

from typing import TYPE_CHECKING

from labelloop.lazy import lazy_exports

if TYPE_CHECKING:  # the names, for type checkers; imported on first use otherwise
    from labelloop.quality.accept import AcceptRule, ClassAccept, accept_rule
    from labelloop.quality.best_label import BestLabels, best_labels
    from labelloop.quality.double import (
        SecondAnnotation,
        plan_second_annotations,
        request_annotations,
        second_annotation_positions,
    )
    from labelloop.quality.review import review_positions
    from labelloop.quality.service import project_quality, quality_from_labels

__all__ = [
    "AcceptRule",
    "BestLabels",
    "ClassAccept",
    "SecondAnnotation",
    "accept_rule",
    "best_labels",
    "plan_second_annotations",
    "project_quality",
    "quality_from_labels",
    "request_annotations",
    "review_positions",
    "second_annotation_positions",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "labelloop.quality.accept": ("AcceptRule", "ClassAccept", "accept_rule"),
    "labelloop.quality.best_label": ("BestLabels", "best_labels"),
    "labelloop.quality.double": (
        "SecondAnnotation", "plan_second_annotations", "request_annotations",
        "second_annotation_positions"),
    "labelloop.quality.review": ("review_positions",),
    "labelloop.quality.service": ("project_quality", "quality_from_labels"),
})
