"""Whether the LLM may pre-label a project's tasks: the one place that decides it for media.

Text projects: always (when an LLM is configured). Image, audio and video projects are shown to
the LLM as content parts (issue 19 §4, :mod:`labelloop.llm.media_requests`) when the endpoint
takes that media: :func:`llm_prelabels_off` reads the endpoint's stored check (images and video
frames: ``image``; recordings: ``audio``; see :mod:`labelloop.llm.media_caps`) and gives its
reason when it refused or ignored them. Then the pre-label job ends at once with that reason
(logged), ``/predict`` answers from the local model's stored predictions, ``/status`` and the
dashboard show the reason, and the rest of the loop (local model, queue, committee without its
LLM member, audit, second annotations) runs without LLM labels. Before the first check (it runs
on the first media task the pre-label job sends) the answer is None: the job tries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labelloop.labelconfig.schema import LabelSchema

if TYPE_CHECKING:
    from labelloop.llm import LLMLabeler


def llm_prelabels_off(schema: LabelSchema, labeler: LLMLabeler | None = None) -> str | None:
    """Why the LLM does not pre-label this project's tasks (None: it does, when configured).
    ``labeler``: the process's labeler (its endpoint's stored capabilities); None: no LLM."""
    if schema.modality == "text":
        return None
    from labelloop.llm.media_requests import media_prelabels_off

    return media_prelabels_off(schema, labeler)
