"""The retrain stores its models as artefacts: the local model and the screening model."""

from __future__ import annotations

import numpy as np
from tests.loop.test_retrain import WORDS, ToyEmbedder, label, project, run_retrain

from labelloop.labelconfig.schema import parse_label_config
from labelloop.loop.artifacts import screen_training_set
from labelloop.loop.dataset import ProjectData
from labelloop.models import predict_proba
from labelloop.models.artifact import load_local_model
from labelloop.models.screen import load_screen, screen_proba

__all__ = ["project"]  # the fixture


def test_a_cold_start_version_stores_no_artefact(storage, project, tmp_path) -> None:
    version, _ = run_retrain(storage, project, tmp_path)
    with storage.read() as tx:
        assert tx.get_model_artifact(1, version.version, "local") is None
        assert tx.latest_model_artifact_version(1, "screen") is None


def test_a_trained_version_stores_both_models(storage, project, tmp_path) -> None:
    label(project, storage, list(range(1, 31)))
    version, _ = run_retrain(storage, project, tmp_path)
    with storage.read() as tx:
        local = load_local_model(tx.get_model_artifact(1, version.version, "local"))
        screen = load_screen(tx.get_model_artifact(1, version.version, "screen"))
        assert tx.latest_model_artifact_version(1, "screen") == version.version
        stored = tx.latest_predictions(1, list(range(31, 91)), source="model")
        tasks = {t.id: t.data["text"] for t in tx.get_tasks(1)}
    labels = list(WORDS)
    assert local.labels == tuple(labels) and screen.labels == tuple(labels)
    assert local.n_train == 30 and screen.n_train == 90  # the screen sees every task
    # the stored local model is the one that made the version's predictions
    ids = sorted(stored)
    p = predict_proba(local, ToyEmbedder().encode([tasks[t] for t in ids]))
    want = np.array([[stored[t].extra["probas"][c] for c in labels] for t in ids])
    np.testing.assert_allclose(p, want, atol=1e-6)
    # the screening model learned the classes from the texts
    s = screen_proba(screen, [tasks[t] for t in ids])
    assert (s.argmax(axis=1) == np.array([t % 3 for t in ids])).mean() > 0.9


def test_screen_targets_are_human_labels_else_weighted_model_labels() -> None:
    schema = parse_label_config("""<View><Text name="text" value="$text"/>
      <Choices name="c" toName="text"><Choice value="a"/><Choice value="b"/>
      <Choice value="c"/></Choices></View>""")
    assert schema.labels == ["a", "b", "c"]
    y = np.full((4, 3), np.nan)
    y[0] = [0, 0, 1]
    data = ProjectData(np.arange(1, 5), ["one", "two", "", "four"],
                       np.array([True, True, False, True]), y, np.array([True, False, False,
                                                                         False]), 1)
    probas = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [1, 0, 0], [0.3, 0.3, 0.4]])
    texts, t, w = screen_training_set(data, probas, multiple=False)
    assert texts == ["one", "two", "four"]
    assert t.tolist() == [2, 1, 2]
    np.testing.assert_allclose(w, [1.0, 0.35, 0.2])
    texts, t, w = screen_training_set(data, probas, multiple=True)
    assert t.tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 1]]
    np.testing.assert_allclose(w, [1.0, 0.35, 0.2])
