"""Whether an endpoint takes images and audio: checked once per (endpoint, model) and kind.

The check runs on the first image (or video) and the first audio item labelloop sends, in the
output mode the endpoint's text check chose, and is stored with the other capabilities
(:class:`~labelloop.llm.capabilities.MediaSupport`):

* **images**: two tiny solid-colour images, one red and one blue, each asked "red or blue?".
  Both answered right: images on. A 400/422 (a text-only model, a server without vision
  support: "image input is not supported", "content must be a string", …): off, with the
  server's words. Answered, but not both right: off, "the model does not see the images" — a
  server that silently drops image parts answers the same for both.
* **audio**: the same with a short 440 Hz tone and silence, sent as ``input_audio`` (WAV).

An error that is not a refusal (a timeout, a 5xx after retries) decides nothing: the check is
made again on the next run. A 400 on a real item later makes the labeler run the check again
(the server may have changed): refused then, the kind is turned off; else only that item failed.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import time
import wave
from typing import Any

from labelloop.labelconfig.schema import Choice, LabelSchema
from labelloop.llm.answers import InvalidAnswer, build_request, parse_answer, raw_answer
from labelloop.llm.calls import CallRunner
from labelloop.llm.capabilities import MediaSupport
from labelloop.llm.errors import LLMRejected
from labelloop.llm.media_parts import Capability
from labelloop.llm.prompts import answer_format
from labelloop.llm.types import OutputMode

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220)}
SOUNDS = ("tone", "silence")


def _schema(values: tuple[str, ...]) -> LabelSchema:
    return LabelSchema(supported=True, task_type="text_classification", from_name="probe",
                       to_name="media", data_key="media",
                       choices=tuple(Choice(v, v) for v in values))


def colour_png(rgb: tuple[int, int, int], side: int = 32) -> bytes:
    """A ``side`` × ``side`` PNG of one colour."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (side, side), rgb).save(buf, format="PNG")
    return buf.getvalue()


def tone_wav(*, tone: bool, seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV: a 440 Hz tone at half scale, or silence."""
    n = int(seconds * rate)
    amp = 16000 if tone else 0
    frames = struct.pack(f"<{n}h", *(int(amp * math.sin(2 * math.pi * 440 * i / rate))
                                     for i in range(n)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def probe_cases(kind: Capability) -> tuple[LabelSchema, str, list[tuple[str, dict[str, Any]]]]:
    """The schema, the question and (expected answer, content part) for each probe."""
    if kind == "image":
        return _schema(tuple(COLOURS)), "What colour is this image? Answer red or blue.", [
            (name, {"type": "image_url", "image_url": {
                "url": "data:image/png;base64," + base64.b64encode(colour_png(rgb)).decode()}})
            for name, rgb in COLOURS.items()]
    return _schema(SOUNDS), "Is this recording a tone or silence?", [
        (name, {"type": "input_audio", "input_audio": {
            "data": base64.b64encode(tone_wav(tone=name == "tone")).decode(), "format": "wav"}})
        for name in SOUNDS]


async def check_media(runner: CallRunner, kind: Capability, *, mode: OutputMode,
                      clock: Any = time.time) -> MediaSupport:
    """Probe whether the endpoint takes ``kind`` media (see the module docstring). Errors other
    than a refusal propagate (nothing is decided)."""
    schema, question, cases = probe_cases(kind)
    what = "image" if kind == "image" else "audio"
    said: list[tuple[str, str]] = []
    for expected, part in cases:
        messages: list[dict[str, Any]] = [{"role": "system", "content": question + " " + answer_format(schema, mode)},
                    {"role": "user", "content": [{"type": "text", "text": question}, part]}]
        request = build_request(schema, messages, mode=mode)
        try:
            response, _ = await runner.call(request, purpose="probe", use_cache=False)
        except LLMRejected as exc:
            return MediaSupport(kind, False, f"the server refused {what} input: {exc.message}",
                                clock())
        answer = "(no answer)"
        if response.choices:
            raw, parse_mode = raw_answer(response.choices[0], mode)
            try:
                answer = parse_answer(raw, schema, parse_mode)[0]
            except InvalidAnswer:
                answer = (raw or "").strip()[:60] or "(empty)"
        said.append((expected, answer))
    wrong = [(e, a) for e, a in said if a != e]
    if not wrong:
        return MediaSupport(kind, True, None, clock())
    shown = "; ".join(f"{a!r} for the {e} {'image' if kind == 'image' else 'clip'}"
                      for e, a in said)
    return MediaSupport(kind, False, f"the model does not {'see the images' if kind == 'image' else 'hear the audio'}: "
                        f"it answered {shown} (a text-only model, or a server that drops "
                        f"{what} parts)", clock())
