"""Whether the LLM may pre-label a project's tasks: the one place that keeps media off it.

The LLM labeler is asked with texts (:class:`labelloop.llm.LabelRequest`). An image or audio
project's tasks have no text (:func:`labelloop.labelconfig.kinds.task_text` is None for them, so
no text path can send a media URL as if it were the task), and until vision and audio pre-labels
exist (issue 19 §4) :func:`llm_prelabels_off` says why they are not asked: the pre-label job ends
at once with that reason (logged), ``/predict`` answers from the local model's stored
predictions, ``/status`` and the dashboard show the reason, and the rest of the loop (local
model, queue, committee without its LLM member, audit, second annotations) runs without LLM
labels. The vision-LLM path replaces this function's body (same signature): None where the
endpoint takes the modality, else the endpoint's reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labelloop.labelconfig.schema import LabelSchema

if TYPE_CHECKING:
    from labelloop.llm import LLMLabeler

_WHAT = {"image": "vision", "video": "vision", "audio": "audio"}


def llm_prelabels_off(schema: LabelSchema, labeler: LLMLabeler | None = None) -> str | None:
    """Why the LLM does not pre-label this project's tasks (None: it does, when configured).
    ``labeler``: the process's labeler (its endpoint's capabilities, for the vision path)."""
    if schema.modality == "text":
        return None
    what = _WHAT.get(schema.modality, schema.modality)
    return (f"{what} pre-labels not available: labelloop does not send {schema.modality} to the "
            "LLM yet; the queue and pre-labels come from the local model")
