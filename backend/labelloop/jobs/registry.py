"""The handler of each job kind."""

from __future__ import annotations

from labelloop.jobs.context import Handler
from labelloop.jobs.retention import handle_retention
from labelloop.jobs.types import JobKind
from labelloop.labelstudio.cleanup import handle_cleanup
from labelloop.labelstudio.drift import handle_check_version
from labelloop.labelstudio.publish import handle_publish
from labelloop.labelstudio.sync import handle_resync
from labelloop.labelstudio.tail import handle_publish_tail
from labelloop.loop.embed import handle_embed
from labelloop.loop.finetune_job import handle_fine_tune
from labelloop.loop.prelabel import handle_prelabel
from labelloop.loop.retrain import handle_retrain
from labelloop.settings import Settings
from labelloop.stream.decide import handle_stream_decide
from labelloop.stream.drift_job import handle_drift
from labelloop.stream.outbox import handle_stream_export
from labelloop.triplets.finetune_job import handle_triplet_finetune
from labelloop.triplets.mine_job import handle_triplet_mine


def default_handlers(settings: Settings) -> dict[JobKind, Handler]:
    handlers: dict[JobKind, Handler] = {
        JobKind.RESYNC: handle_resync,
        JobKind.PUBLISH: handle_publish,
        JobKind.PUBLISH_TAIL: handle_publish_tail,
        JobKind.CLEANUP_VERSIONS: handle_cleanup,
        JobKind.EMBED: handle_embed,
        JobKind.RETRAIN: handle_retrain,
        JobKind.PRELABEL: handle_prelabel,
        JobKind.CHECK_VERSION: handle_check_version,
        JobKind.RETENTION: handle_retention,
        JobKind.DRIFT: handle_drift,
        JobKind.STREAM_EXPORT: handle_stream_export,
        JobKind.FINE_TUNE: handle_fine_tune,
        JobKind.STREAM_DECIDE: handle_stream_decide,
        JobKind.TRIPLET_MINE: handle_triplet_mine,
        JobKind.TRIPLET_FINETUNE: handle_triplet_finetune,
    }
    return handlers
