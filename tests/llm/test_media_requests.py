"""From a media project's task values to LLM label requests (the pre-label job's bridge), and
the reason media pre-labels are off, read from the stored capabilities."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.llm.media_requests import (
    capability_of,
    media_label_requests,
    media_prelabels_off,
)
from labelloop.media.fetch import MediaFetcher
from tests.llm.conftest import llm_settings
from tests.llm.test_media import image, media_schema
from tests.media.media_bytes import wav
from tests.media.servers import Loopback


def ok(body: bytes):
    return lambda _req: (200, {}, body)


def test_fetched_media_become_requests_and_failures_skips(tmp_path: Path) -> None:
    red, blue = image("red"), image("blue", fmt="JPEG")
    routes = {"/a.png": ok(red), "/b.jpg": ok(blue), "/tone.wav": ok(wav()),
              "/gone.png": lambda _r: (404, {}, b"")}
    with Loopback(routes) as host:
        settings = llm_settings(tmp_path, media_allowed_hosts=f"127.0.0.1:{host.port}")
        values = [f"{host.url}{p}" for p in routes]
        with MediaFetcher(settings) as fetcher:
            built = media_label_requests(fetcher, media_schema(), [1, 2, 3, 4], values,
                                         project_id=7)
    assert [r.task_id for r in built.requests] == [1, 2]
    assert [r.media.items[0] for r in built.requests if r.media] == [red, blue]
    assert all(r.media is not None and r.media.kind == "image" for r in built.requests)
    assert sorted(built.skipped) == [3, 4]
    assert built.skipped[3].startswith("media not fetched: wrong_type")  # a WAV is no image
    assert built.skipped[4].startswith("media not fetched: missing")
    assert built.transient == frozenset()


class Frames:
    """A fetcher and a frame sampler for video tests, no network."""

    def __init__(self, clips: dict[str, bytes]) -> None:
        self.clips = clips

    def fetch_many(self, values, *, task_ids=None, project_id=None, kind=None):
        from labelloop.media.types import Media, MediaSkip

        return [Media(self.clips[v], "video/mp4", "external", v, False, len(self.clips[v]))
                if v in self.clips else MediaSkip("timeout", "too slow", v) for v in values]


def test_video_needs_frames_and_a_sampler_that_fails_is_a_skip() -> None:
    schema = media_schema("video", ("start", "end"))
    fetcher = Frames({"good": b"clip-1", "bad": b"clip-2"})

    def sample(data: bytes) -> list[bytes]:
        if data == b"clip-2":
            raise ValueError("moov atom not found")
        return [image("red"), image("blue")]

    built = media_label_requests(fetcher, schema, [1, 2, 3], ["good", "bad", "slow"],
                                 frames=sample)
    assert [r.task_id for r in built.requests] == [1]
    media = built.requests[0].media
    assert media is not None and media.kind == "video" and len(media.items) == 2
    assert "moov atom not found" in built.skipped[2]
    assert built.transient == frozenset({3})
    without = media_label_requests(fetcher, schema, [1], ["good"])
    assert without.requests == [] and "no frame sampler" in without.skipped[1]
    assert capability_of(schema) == "image" and capability_of(media_schema("audio")) == "audio"


def test_prelabels_off_reason_comes_from_the_stored_check(tmp_path: Path, llm_storage) -> None:
    from labelloop.llm import LabelRequest, LLMLabeler
    from labelloop.llm.media_parts import MediaInput
    from tests.fakes.vision_llm import FakeVisionLLM

    with FakeVisionLLM({"red": "cat"}, vision="refuse") as server:
        labeler = LLMLabeler(llm_settings(tmp_path, server), llm_storage)
        assert media_prelabels_off(media_schema(), labeler) is None  # not checked yet
        labeler.label_many_sync(media_schema(), [LabelRequest(1, "", media=MediaInput.image(
            image("red")))])
    fresh = LLMLabeler(llm_settings(tmp_path, server), llm_storage)  # another process
    reason = media_prelabels_off(media_schema(), fresh)
    assert reason is not None and reason.startswith("image pre-labels are off")
    assert "image_url is only supported" in reason
    assert media_prelabels_off(media_schema("audio", ("a", "b")), fresh) is None
    assert media_prelabels_off(media_schema(), None) is None


def test_values_and_task_ids_must_pair_up() -> None:
    with pytest.raises(ValueError, match="values but"):
        media_label_requests(Frames({}), media_schema(), [1, 2], ["x"])
