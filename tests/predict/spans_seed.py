"""A NER project for the /predict, publish and dashboard tests: texts with an emoji before the
entities, stored LLM spans (one answer with a span past its text, one with no entity) and stored
local-model span predictions (one whose ``value.text`` is not the text it covers)."""

from __future__ import annotations

from typing import Any

from labelloop.events.projects import record_project
from labelloop.storage.base import Storage
from labelloop.storage.records import Prediction
from labelloop.storage.records_llm import LlmLabel

NER_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text">
    <Label value="Person" alias="PER"/>
    <Label value="Location" alias="LOC"/>
    <Label value="Organization" alias="ORG"/>
  </Labels>
</View>"""
EMOJI = "🙂 Anna flew to Paris 🇫🇷 with Acme."
TEXTS = {
    1: EMOJI,  # the LLM's spans, offsets after an emoji
    2: "Bob met <b>Eve</b> in Rome.",  # the LLM's answer holds a span past the text: the model's
    3: "Acme hired Carl.",  # no LLM label: the model's
    4: "Dana lives in Oslo.",  # the model's region says a text that is not there: nothing
    5: "Nothing to see here.",  # the LLM found no entity
    6: "Ann & Bo <3 Paris.",  # nothing stored
}


def where(text: str, surface: str, nth: int = 0) -> tuple[int, int]:
    """Code-point offsets of the ``nth`` occurrence of ``surface`` (found independently)."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return start, start + len(surface)


def spans_json(text: str, items: list[tuple[str, str, float]]) -> dict[str, Any]:
    return {"spans": [{"start": where(text, s)[0], "end": where(text, s)[1], "label": label,
                       "score": score} for s, label, score in items], "dropped": []}


def model_region(text: str, surface: str, label: str, *, said: str | None = None,
                 score: float | None = None) -> dict[str, Any]:
    start, end = where(text, surface)
    region: dict[str, Any] = {
        "from_name": "ner", "to_name": "text", "type": "labels",
        "value": {"start": start, "end": end, "text": said if said is not None else surface,
                  "labels": [label]}}
    if score is not None:
        region["score"] = score
    return region


def seed_ner(storage: Storage, project_id: int = 1) -> None:
    with storage.write() as tx:
        record_project(tx, project_id, label_config=NER_CONFIG)
        tx.upsert_tasks(project_id, [{"id": i, "data": {"text": t}, "meta": {}}
                                     for i, t in TEXTS.items()])
        bad = spans_json(TEXTS[2], [("Bob", "PER", 0.9)])
        bad["spans"].append({"start": 20, "end": 99, "label": "LOC", "score": 0.8})
        tx.save_llm_labels([
            LlmLabel(project_id, 1, "llm-ner", ["LOC", "ORG", "PER"], None, 0.8, "logprobs",
                     spans=spans_json(EMOJI, [("Anna", "PER", 0.9), ("Paris", "LOC", 0.8),
                                              ("Acme", "ORG", 0.7)])),
            LlmLabel(project_id, 2, "llm-ner", ["LOC", "PER"], None, 0.85, "logprobs",
                     spans=bad),
            LlmLabel(project_id, 5, "llm-ner", [], None, None, "logprobs",
                     spans={"spans": [], "dropped": []}),
        ])
        tx.save_predictions([
            Prediction(2, project_id, "model", "labelloop-1",
                       [model_region(TEXTS[2], "Rome", "LOC", score=0.6)], 0.4),
            Prediction(3, project_id, "model", "labelloop-1",
                       [model_region(TEXTS[3], "Acme", "ORG", score=0.7),
                        model_region(TEXTS[3], "Carl", "PER", score=0.5)], 0.3),
            Prediction(4, project_id, "model", "labelloop-1",
                       [model_region(TEXTS[4], "Oslo", "LOC", said="Osl")], 0.2),
        ])
