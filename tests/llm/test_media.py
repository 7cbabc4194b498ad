"""Vision and audio LLM pre-labels (issue 19 §4) through the real openai client against a
loopback server that decodes what it is sent: labels constrained to the label set, the resize
bound, the content-hash cache, capability checks (refused, ignored, refused mid-batch), audio
parts, video frames and image tokens in the cost."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import Choice, LabelSchema, parse_label_config
from labelloop.llm import LabelRequest, LLMLabeler, to_prediction_result
from labelloop.llm.media_caps import tone_wav
from labelloop.llm.media_parts import MediaInput
from labelloop.media.fetch import MediaFetcher
from labelloop.storage.base import Storage
from tests.fakes.vision_llm import PALETTE, FakeVisionLLM
from tests.llm.conftest import llm_settings
from tests.media.servers import Loopback

GOLD = {"red": "cat", "blue": "dog", "green": "bird"}


def media_schema(kind: str = "image", labels: tuple[str, ...] = ("cat", "dog", "bird"),
                 *, multiple: bool = False) -> LabelSchema:
    """``<Choices>`` on ``<Image>`` / ``<Audio>`` as the label layer parses it (video, not
    served by the label layer yet, built by hand)."""
    if kind == "video":
        return LabelSchema(supported=True, task_type="text_classification", from_name="class",
                           to_name=kind, data_key=kind, modality="video",
                           choices=tuple(Choice(x, x) for x in labels), multiple=multiple)
    tag = {"image": "Image", "audio": "Audio"}[kind]
    choices = "".join(f'<Choice value="{x}"/>' for x in labels)
    extra = ' choice="multiple"' if multiple else ""
    schema = parse_label_config(
        f'<View><{tag} name="{kind}" value="${kind}"/><Choices name="class" toName="{kind}"'
        f'{extra}>{choices}</Choices></View>')
    assert schema.supported and schema.modality == kind
    return schema


def image(colour: str, size: tuple[int, int] = (64, 48), fmt: str = "PNG",
          mode: str = "RGB") -> bytes:
    fill = (*PALETTE[colour], 128) if mode == "RGBA" else PALETTE[colour]
    buf = io.BytesIO()
    Image.new(mode, size, fill).save(buf, format=fmt)
    return buf.getvalue()


def photo(colour: str, size: tuple[int, int], fmt: str = "PNG") -> bytes:
    """A noisy image of one dominant colour (so re-encoding changes its bytes)."""
    img = Image.effect_noise(size, 20).convert("RGB")
    img = Image.blend(Image.new("RGB", size, PALETTE[colour]), img, 0.15)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def vision() -> Any:
    servers: list[FakeVisionLLM] = []

    def start(gold: dict[str, str] | None = None, **kw: Any) -> FakeVisionLLM:
        server = FakeVisionLLM(GOLD if gold is None else gold, **kw).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def user_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return next(m["content"] for m in body["messages"]
                if m["role"] == "user" and isinstance(m["content"], list))


def sent_images(body: dict[str, Any]) -> list[tuple[str, Image.Image]]:
    out = []
    for part in user_parts(body):
        if part["type"] == "image_url":
            head, _, data = part["image_url"]["url"].partition(",")
            assert head.startswith("data:") and head.endswith(";base64")
            out.append((head[5:-7], Image.open(io.BytesIO(base64.b64decode(data)))))
    return out


def sent_images_alpha(server: FakeVisionLLM) -> set[int]:
    """The alpha values of the PNGs the server received (255 for those without alpha)."""
    out = set()
    for mime, raw, _ in server.images:
        if mime == "image/png":
            img = Image.open(io.BytesIO(raw))
            out.add(img.convert("RGBA").getpixel((0, 0))[3])
    return out


def label_requests(*media: MediaInput) -> list[LabelRequest]:
    return [LabelRequest(i, "", media=m) for i, m in enumerate(media)]


def test_image_prelabels_are_constrained_to_the_label_set(
        vision, make_labeler: Callable[..., LLMLabeler], llm_storage: Storage) -> None:
    server = vision(confidence=0.8)
    labeler = make_labeler(server)
    schema = media_schema()
    items = label_requests(MediaInput.image(image("red")),
                           MediaInput.image(image("blue", fmt="JPEG")))
    outcomes = labeler.label_many_sync(schema, items, project_id=3)
    assert [o.labels for o in outcomes] == [["cat"], ["dog"]]
    for o in outcomes:
        assert o.confidence_method == "logprobs" and o.confidence == pytest.approx(0.8)
        assert o.distribution is not None and set(o.distribution) == {"cat", "dog", "bird"}
    bodies = server.requests[-2:]  # the two items (after the capability probes)
    for body in bodies:
        assert body["response_format"]["json_schema"]["schema"]["properties"]["label"][
            "enum"] == ["cat", "dog", "bird"]
        text, part = user_parts(body)
        assert text["type"] == "text" and "Label this image" in text["text"]
        assert part["type"] == "image_url"
        assert "- cat" in body["messages"][0]["content"]
    # small PNG and JPEG files go as they are, each with its own type
    assert sorted(mime for body in bodies for mime, _ in sent_images(body)) == \
        ["image/jpeg", "image/png"]
    with llm_storage.read() as tx:
        stored = tx.get_llm_labels(3, model_version=labeler.version_for(schema))
    assert stored[0].labels == ["cat"] and stored[1].labels == ["dog"]
    assert labeler.version_for(schema) != labeler.model_version  # the media prompts' own hash
    result = to_prediction_result(schema, outcomes[0])
    validate_result(schema, result)
    assert result == [{"from_name": "class", "to_name": "image", "type": "choices",
                       "value": {"choices": ["cat"]}, "score": pytest.approx(0.8)}]

    # an answer outside the set: one retry, the image sent again with the conversation
    server.inject("outside")
    again = labeler.label_many_sync(schema, label_requests(MediaInput.image(image("green"))))
    assert again[0].labels == ["bird"] and again[0].usage.calls == 2
    assert len(sent_images(server.requests[-1])) == 1
    # outside twice: a failure with its reason, never a label outside the set
    server.inject("outside", times=2)
    bad = labeler.label_many_sync(schema, label_requests(MediaInput.image(image("yellow"))))
    assert bad[0].labels is None and bad[0].failure_kind == "invalid_answer"


def test_multiple_choice_images_use_vote_shares(vision, make_labeler) -> None:
    server = vision({"red": ["cat", "dog"], "blue": ["bird"]})
    outcomes = make_labeler(server, llm_samples=3).label_many_sync(
        media_schema(multiple=True),
        label_requests(MediaInput.image(image("red")), MediaInput.image(image("blue"))))
    assert [o.labels for o in outcomes] == [["cat", "dog"], ["bird"]]
    assert outcomes[0].confidence_method == "self_consistency"
    assert outcomes[0].distribution == {"cat": 1.0, "dog": 1.0, "bird": 0.0}


def test_images_are_resized_to_the_bound_and_never_enlarged(vision, make_labeler) -> None:
    server = vision()
    labeler = make_labeler(server, llm_image_max_side=256)
    big, clear, small = (photo("red", (2000, 1000)), image("blue", (600, 300), mode="RGBA"),
                         image("green", (100, 50)))
    outcomes = labeler.label_many_sync(media_schema(), label_requests(
        MediaInput.image(big), MediaInput.image(clear), MediaInput.image(small)))
    assert [o.labels for o in outcomes] == [["cat"], ["dog"], ["bird"]]
    sent = sorted((img.size, mime) for body in server.requests
                  if any(isinstance(m["content"], list) for m in body["messages"])
                  for mime, img in sent_images(body) if img.size != (32, 32))  # not the probes
    assert sent == [((100, 50), "image/png"), ((256, 128), "image/jpeg"),
                    ((256, 128), "image/png")]
    assert small in [raw for _, raw, _ in server.images]  # within the bound: sent as it is
    assert sent_images_alpha(server) == {255, 128}  # transparency kept in the PNG


def test_video_frames_are_spread_over_the_clip(vision, make_labeler) -> None:
    server = vision({"red": "start", "blue": "end"})
    labeler = make_labeler(server, llm_video_frames=3)
    colours = ["red", "green", "green", "yellow", "green", "green", "blue"]
    video = MediaInput.frames([image(c) for c in colours])
    outcome = labeler.label_many_sync(media_schema("video", ("start", "end")),
                                      label_requests(video))[0]
    assert outcome.labels == ["start"]  # the fake looks at the first frame
    body = server.requests[-1]
    assert "video, shown as 3 frames in order" in user_parts(body)[0]["text"]
    frames = [img.convert("RGB").getpixel((0, 0)) for _, img in sent_images(body)]
    assert frames == [PALETTE["red"], PALETTE["yellow"], PALETTE["blue"]]


def test_same_bytes_under_another_url_are_a_cache_hit(vision, make_labeler,
                                                      tmp_path: Path) -> None:
    server = vision()
    labeler = make_labeler(server)
    picture = photo("red", (900, 600), fmt="JPEG")
    routes = {p: (lambda _r: (200, {"content-type": "image/jpeg"}, picture))
              for p in ("/a/cat.jpg", "/b/copy-of-cat.jpg")}
    with Loopback(routes) as host:
        settings = llm_settings(tmp_path, server, media_allowed_hosts=f"127.0.0.1:{host.port}")
        with MediaFetcher(settings) as fetcher:
            first, second = (fetcher.fetch(f"{host.url}{p}", task_id=i, project_id=1,
                                           kind="image") for i, p in enumerate(routes))
    assert first.url != second.url and first.data == second.data
    schema = media_schema()
    one = labeler.label_many_sync(schema, [LabelRequest(1, "", media=MediaInput.from_media(
        first, "image"))])[0]
    calls = server.calls
    two = labeler.label_many_sync(schema, [LabelRequest(2, "", media=MediaInput.from_media(
        second, "image"))])[0]
    assert server.calls == calls and two.cached and two.usage.calls == 0
    assert two.labels == one.labels == ["cat"] and two.distribution == one.distribution
    # other bytes are another key: a call
    labeler.label_many_sync(schema, label_requests(MediaInput.image(photo("red", (900, 601)))))
    assert server.calls == calls + 1


def test_a_server_refusing_images_turns_image_prelabels_off(vision, make_labeler,
                                                            schema) -> None:
    server = vision(vision="refuse")
    labeler = make_labeler(server)
    outcomes = labeler.label_many_sync(media_schema(), label_requests(
        MediaInput.image(image("red")), MediaInput.image(image("blue"))), project_id=5)
    assert all(o.labels is None and o.failure_kind == "media_unsupported" for o in outcomes)
    assert "image_url is only supported by certain models" in (outcomes[0].failure or "")
    support = labeler.media_support("image")
    assert support is not None and not support.ok and "refused image input" in support.reason
    stored = labeler.status().capabilities
    assert stored is not None and stored["media"]["image"]["ok"] is False
    calls = server.calls
    again = labeler.label_many_sync(media_schema(), label_requests(MediaInput.image(image("red"))))
    assert again[0].failure_kind == "media_unsupported" and server.calls == calls  # no call
    with labeler.storage.read() as tx:  # not stored: the tasks are asked again once it is on
        assert tx.get_llm_labels(5, model_version=labeler.version_for(media_schema())) == {}
    # the rest runs without them: text still labels on the same endpoint
    text = labeler.label_many_sync(schema, [LabelRequest(9, "Dull and far too long.")])
    assert text[0].failure_kind is None


def test_a_server_that_drops_image_parts_is_found_out(vision, make_labeler) -> None:
    server = vision(vision="ignore")
    labeler = make_labeler(server)
    outcome = labeler.label_many_sync(media_schema(), label_requests(
        MediaInput.image(image("blue"))))[0]
    assert outcome.failure_kind == "media_unsupported"
    support = labeler.media_support("image")
    assert support is not None and not support.ok
    assert "does not see the images" in (support.reason or "")
    assert "'red' for the blue image" in (support.reason or "")


def test_a_refusal_mid_run_turns_images_off_after_checking_again(vision, make_labeler) -> None:
    server = vision()
    labeler = make_labeler(server)
    schema = media_schema()
    assert labeler.label_many_sync(schema, label_requests(
        MediaInput.image(image("red"))))[0].labels == ["cat"]
    server.vision = "refuse"  # the endpoint now serves a text-only model
    outcomes = labeler.label_many_sync(schema, label_requests(
        *(MediaInput.image(image(c, (40 + i, 40))) for i, c in enumerate(["blue", "green"] * 3))))
    assert all(o.failure_kind == "media_unsupported" for o in outcomes)
    support = labeler.media_support("image")
    assert support is not None and not support.ok

    # an item the server rejects while images still work fails alone
    server.vision = "see"
    fresh = make_labeler(server, llm_model="other-model")
    fresh.label_many_sync(schema, label_requests(MediaInput.image(image("red"))))
    server.inject("reject")
    one = fresh.label_many_sync(schema, label_requests(MediaInput.image(image("blue", (41, 40)))))
    assert one[0].failure_kind == "rejected"
    assert fresh.media_support("image").ok  # type: ignore[union-attr]


def test_audio_goes_as_input_audio_parts(vision, make_labeler) -> None:
    server = vision({"tone": "beep", "silence": "quiet", "sound": "quiet"})
    labeler = make_labeler(server)
    schema = media_schema("audio", ("beep", "quiet"))
    tone, hush = tone_wav(tone=True, seconds=0.5), tone_wav(tone=False, seconds=0.5)
    mp3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 400
    flac = b"fLaC" + b"\x00" * 200
    outcomes = labeler.label_many_sync(schema, label_requests(
        MediaInput.audio(tone), MediaInput.audio(hush), MediaInput.audio(mp3),
        MediaInput.audio(flac)))
    assert [o.labels for o in outcomes[:3]] == [["beep"], ["quiet"], ["quiet"]]
    assert outcomes[3].failure_kind == "no_input" and "WAV or MP3" in (outcomes[3].failure or "")
    assert set(server.audio) >= {("wav", tone), ("wav", hush), ("mp3", mp3)}
    part = next(p for b in server.requests for m in b["messages"]
                if isinstance(m["content"], list) for p in m["content"]
                if p["type"] == "input_audio" and base64.b64decode(p["input_audio"]["data"]) == tone)
    assert part == {"type": "input_audio",
                    "input_audio": {"data": base64.b64encode(tone).decode(), "format": "wav"}}
    assert "Label this audio recording" in user_parts(server.requests[-1])[0]["text"]
    assert labeler.media_support("audio").ok  # type: ignore[union-attr]


def test_a_server_refusing_audio_turns_audio_off_not_images(vision, make_labeler) -> None:
    server = vision(audio="refuse")
    labeler = make_labeler(server)
    heard = labeler.label_many_sync(media_schema("audio", ("beep", "quiet")), label_requests(
        MediaInput.audio(tone_wav(tone=True, seconds=0.2))))[0]
    assert heard.failure_kind == "media_unsupported"
    assert "does not support audio input" in (heard.failure or "")
    seen = labeler.label_many_sync(media_schema(), label_requests(
        MediaInput.image(image("red"))))[0]
    assert seen.labels == ["cat"]
    caps = labeler.status().capabilities or {}
    assert caps["media"]["audio"]["ok"] is False and caps["media"]["image"]["ok"] is True


@pytest.mark.parametrize("usage", ["details", "total"])
def test_cost_counts_the_image_tokens_the_server_reports(vision, make_labeler,
                                                         llm_storage, usage) -> None:
    server = vision(media_usage=usage)
    labeler = make_labeler(server, llm_prices={"fake-model": (1000.0, 2000.0)})
    o = labeler.label_many_sync(media_schema(), label_requests(
        MediaInput.image(image("red", (1200, 600)))))[0]
    tiles_tokens = 85 + 170 * 2  # sent as 768 x 384: two 512-px tiles
    assert o.usage.image_tokens == (tiles_tokens if usage == "details" else 0)
    assert o.usage.prompt_tokens > tiles_tokens
    assert o.usage.cost_usd == pytest.approx(
        o.usage.prompt_tokens * 1e-3 + o.usage.completion_tokens * 2e-3)
    if usage == "details":
        assert o.usage.to_json()["image_tokens"] == tiles_tokens


def test_without_usage_the_estimate_counts_images_not_base64(vision, make_labeler) -> None:
    server = vision(media_usage="none")
    labeler = make_labeler(server, llm_prices={"fake-model": (1000.0, 0.0)})
    big = photo("red", (1500, 1500), fmt="PNG")
    o = labeler.label_many_sync(media_schema(), label_requests(MediaInput.image(big)))[0]
    # the estimate: the text plus 765 for an image within 768 px, not the data URL's length
    assert 765 < o.usage.prompt_tokens < 765 + 400
    sent = len(user_parts(server.requests[-1])[1]["image_url"]["url"])
    assert sent > 10 * o.usage.prompt_tokens


def test_an_image_that_does_not_decode_is_a_skip_with_its_reason(vision, make_labeler) -> None:
    server = vision()
    broken = image("red", (900, 900))[:200]
    outcomes = make_labeler(server).label_many_sync(media_schema(), label_requests(
        MediaInput.image(broken), MediaInput.image(image("blue"))))
    assert outcomes[0].failure_kind == "no_input" and "cannot be decoded" in outcomes[0].failure
    assert outcomes[1].labels == ["dog"]
