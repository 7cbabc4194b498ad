from __future__ import annotations

from labelloop.jobs.triggers import Trigger, jobs_for, resync_spec
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.storage.base import Storage


def test_two_resyncs_of_one_project_never_run_at_once(storage: Storage) -> None:
    with storage.write() as tx:
        first, _ = tx.enqueue(resync_spec(1))
        assert tx.claim("w1", lease_s=60).id == first  # type: ignore[union-attr]
        second, created = tx.enqueue(resync_spec(1))  # a change arrived mid-run: queued
        other, _ = tx.enqueue(resync_spec(2))
        assert created and second != first
        # the second waits for the first; another project's resync does not
        assert tx.claim("w2", lease_s=60).id == other  # type: ignore[union-attr]
        assert tx.claim("w2", lease_s=60) is None
        tx.finish_job(first)
        assert tx.claim("w2", lease_s=60).id == second  # type: ignore[union-attr]
        assert tx.get_job(second).status is JobStatus.RUNNING  # type: ignore[union-attr]


def test_setup_with_credentials_queues_resync_embed_and_nothing_else(settings) -> None:
    s = settings.model_copy(update={"label_studio_url": "http://ls", "label_studio_api_key": "k"})
    kinds = [j.kind for j in jobs_for({Trigger.PROJECT_SET_UP}, 1, s)]
    assert kinds == [JobKind.RESYNC, JobKind.EMBED]
    assert jobs_for({Trigger.PROJECT_SET_UP}, None, s) == []


def test_embedding_and_retraining_one_project_never_run_at_once(storage: Storage,
                                                                settings) -> None:
    """Both encode the project's uncached texts: side by side they would do it twice."""
    from labelloop.jobs.triggers import new_tasks_specs, retrain_spec

    with storage.write() as tx:
        embed, _ = tx.enqueue(new_tasks_specs(1, settings)[0])
        retrain, _ = tx.enqueue(retrain_spec(1, settings, delay_s=0.0))
        other, _ = tx.enqueue(retrain_spec(2, settings, delay_s=0.0))
        assert tx.claim("w1", lease_s=60).id == embed  # type: ignore[union-attr]
        assert tx.claim("w2", lease_s=60).id == other  # type: ignore[union-attr]
        assert tx.claim("w2", lease_s=60) is None  # project 1's retrain waits for its embedding
        tx.finish_job(embed)
        assert tx.claim("w2", lease_s=60).id == retrain  # type: ignore[union-attr]


def test_train_retrains_after_the_resync_with_a_later_fallback(storage: Storage,
                                                               settings) -> None:
    """Label Studio's "train" resyncs and retrains: the retrain must not train beside the resync
    on labels the resync has not stored yet. The resync carries the request (it queues the
    retrain at once when it ends); the retrain queued now is due only later, as a fallback."""
    from labelloop.jobs.triggers import TRAIN_FALLBACK_S, retrain_spec

    s = settings.model_copy(update={"label_studio_url": "http://ls", "label_studio_api_key": "k"})
    resync, retrain = jobs_for({Trigger.TRAIN_REQUESTED}, 1, s)
    assert resync.kind is JobKind.RESYNC and resync.payload == {"then_retrain": True}
    assert retrain.kind is JobKind.RETRAIN and retrain.delay_s == TRAIN_FALLBACK_S
    with storage.write() as tx:
        rid, _ = tx.enqueue(resync)
        tid, _ = tx.enqueue(retrain)
        assert tx.claim("w1", lease_s=60).id == rid  # type: ignore[union-attr]
        assert tx.claim("w2", lease_s=60) is None  # the retrain is not due beside the resync
        # the resync's end queues the retrain at once: the fallback is made due now
        again, created = tx.enqueue(retrain_spec(1, s, delay_s=0.0))
        assert (again, created) == (tid, False)
        tx.finish_job(rid)
        assert tx.claim("w2", lease_s=60).id == tid  # type: ignore[union-attr]
    # set-up resyncs without the request; without Label Studio credentials "train" is at once
    assert jobs_for({Trigger.PROJECT_SET_UP}, 1, s)[0].payload == {}
    [alone] = jobs_for({Trigger.TRAIN_REQUESTED}, 1, settings)
    assert alone.kind is JobKind.RETRAIN and alone.delay_s == 0.0
