"""/status's words on whether the local model learns from the LLM's labels (issue 16)."""

from __future__ import annotations

from labelloop.dashboard.data import learning_curve
from labelloop.quality.distillation import distillation
from labelloop.storage.records import ModelVersion

USED = {"used": True, "cv_human_only": 0.6, "cv_with_llm": 0.725, "n_llm": 1800,
        "weight": 0.41, "scale": 1.0, "llm_accuracy": 0.84, "reason": "raised"}
NOT_USED = {"used": False, "cv_human_only": 0.8, "cv_with_llm": 0.8, "n_llm": 0, "weight": 0.2,
            "scale": 0.3, "llm_accuracy": 0.55,
            "reason": "the LLM's labels did not beat human labels alone in cross-validation"}


def version(name: str, lineage: dict, kind: str = "retrain") -> ModelVersion:
    return ModelVersion(1, name, kind, lineage, 0.0, None, None)


def test_the_newest_retrain_speaks() -> None:
    got = distillation([version("v1", {"llm_distillation": NOT_USED}),
                        version("v2", {"llm_distillation": USED}),
                        version("x", {"llm_distillation": NOT_USED}, kind="import")])
    assert got["version"] == "v2" and got["llm_distillation"] == USED
    msg = str(got["message"])
    assert "1800 unreviewed" in msg and "60.0% alone" in msg and "72.5% with" in msg
    assert "weight 0.41" in msg
    off = distillation([version("v2", {"llm_distillation": USED}),
                        version("v3", {"llm_distillation": NOT_USED})])
    assert str(off["message"]).startswith("the local model learns from human labels only: "
                                          "the LLM's labels did not beat")


def test_before_any_choice() -> None:
    got = distillation([version("v1", {"llm_distillation": None}), version("v0", {})])
    assert got["version"] is None and got["llm_distillation"] is None
    assert "no retrain" in str(got["message"])


def test_the_learning_curve_carries_the_choice() -> None:
    pts = learning_curve([{"version": "v1", "kind": "retrain",
                           "lineage": {"n_labeled": 40, "cv_accuracy": 0.725,
                                       "llm_distillation": USED}},
                          {"version": "v0", "kind": "retrain", "lineage": {"n_labeled": 20}}])
    assert pts[0]["llm_distillation"] == USED and pts[1]["llm_distillation"] is None
