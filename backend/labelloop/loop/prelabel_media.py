"""The pre-label job's media side: an image, audio or video project's tasks, fetched chunk by
chunk into LLM label requests (:mod:`labelloop.llm.media_requests`).

Only one chunk's files are in memory at a time (``MEDIA_CHUNK`` tasks). Media come from
:class:`~labelloop.media.fetch.MediaFetcher` with the project's Label Studio credentials, as
for embeddings; a video is shown to the LLM as ``LABELLOOP_LLM_VIDEO_FRAMES`` frames spread over
the clip (:func:`labelloop.media.video.frames_as_jpeg`, decoded in the job, never in a request).
A task whose media does not fetch or decode is a skip with its reason; one whose fetch may work
later (timeout, unreachable, a 5xx) is left for the job's next attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from labelloop.jobs.context import JobContext
from labelloop.labelconfig.kinds import task_input
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.media_requests import FrameSampler, media_label_requests
from labelloop.llm.types import LabelRequest
from labelloop.settings import Settings
from labelloop.storage.base import Tx

MEDIA_CHUNK = 256  # tasks whose files are fetched and held at once


@dataclass(frozen=True)
class MediaTodo:
    """The project's media tasks still to pre-label: ``(task id, media value)`` pairs."""

    tasks: list[tuple[int, str]]
    label_studio: tuple[str, str] | None


def media_todo(ctx: JobContext, tx: Tx, project_id: int, schema: LabelSchema,
               done: set[int]) -> MediaTodo:
    tasks = [(t.id, got.value) for t in tx.get_tasks(project_id)
             if t.id not in done and (got := task_input(schema, t.data)) is not None]
    return MediaTodo(tasks, ctx.gateways.credentials(tx.get_project(project_id)))


def video_frames(settings: Settings) -> FrameSampler:
    """A clip's bytes → the frames the LLM sees (JPEG, within the image bound)."""
    def sample(data: bytes) -> Sequence[bytes]:
        from labelloop.media.video import VideoLimits, frames_as_jpeg

        return frames_as_jpeg(data, k=settings.llm_video_frames,
                              limits=VideoLimits.from_settings(settings),
                              max_side=settings.llm_image_max_side)
    return sample


def media_chunks(ctx: JobContext, project_id: int, schema: LabelSchema, todo: MediaTodo, *,
                 on_skips: Callable[[dict[int, str], frozenset[int]], None],
                 ) -> Iterator[list[LabelRequest]]:
    """The label requests of ``todo``, one fetched chunk at a time; each chunk's skips go to
    ``on_skips(skipped, transient)`` before its requests are yielded."""
    fetcher = ctx.resources.media_fetcher(todo.label_studio)
    frames = video_frames(ctx.settings) if schema.modality == "video" else None
    for start in range(0, len(todo.tasks), MEDIA_CHUNK):
        part = todo.tasks[start:start + MEDIA_CHUNK]
        built = media_label_requests(fetcher, schema, [t for t, _ in part],
                                     [v for _, v in part], project_id=project_id,
                                     frames=frames)
        on_skips(built.skipped, built.transient)
        yield built.requests
