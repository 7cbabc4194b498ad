"""A loopback OpenAI-compatible server that looks at images and listens to audio (tests).

:class:`FakeVisionLLM` is :class:`~tests.fakes.llm_server.FakeLLM` (same faults, logprobs,
modes, ``n``) whose user messages may carry ``image_url`` parts (``data:`` URLs, decoded with
Pillow) and ``input_audio`` parts (base64 WAV/MP3). What it "sees" is a name: the nearest
colour of an image's mean pixel (``red``, ``green``, ``blue``, ``yellow``, ``white``,
``black``), ``tone`` or ``silence`` for a WAV, ``sound`` for other audio. ``gold`` maps those
names to labels; a request whose label enum contains the name itself (labelloop's capability
probes: red or blue? tone or silence?) is answered with the name.

* ``vision``: ``"see"``; ``"refuse"`` (a 400 like OpenAI's for a text-only model);
  ``"ignore"`` (image parts dropped, as some servers do: the answer is the first label).
* ``audio``: ``"hear"`` or ``"refuse"``.
* ``media_usage``: ``"details"`` (prompt tokens include 85 + 170 per 512-px tile of each image
  and 10 per second of audio, and ``prompt_tokens_details`` says how many), ``"total"`` (the
  same total, no details), ``"none"`` (no ``usage`` at all).

``images`` keeps ``(mime type, bytes, (width, height))`` of every image received, ``audio``
``(format, bytes)`` of every audio part.
"""

from __future__ import annotations

import base64
import io
import math
import wave
from collections.abc import Mapping
from typing import Any, Literal

from PIL import Image

from tests.fakes.llm_behaviour import request_labels
from tests.fakes.llm_server import FakeLLM, _error

PALETTE = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220),
           "yellow": (230, 220, 40), "white": (250, 250, 250), "black": (5, 5, 5)}
NAMES = (*PALETTE, "tone", "silence", "sound")


class FakeVisionLLM(FakeLLM):
    def __init__(self, gold: Mapping[str, Any] | None = None, *,
                 vision: Literal["see", "refuse", "ignore"] = "see",
                 audio: Literal["hear", "refuse"] = "hear",
                 media_usage: Literal["details", "total", "none"] = "details",
                 **kw: Any) -> None:
        labels = kw.pop("labels", None) or sorted({str(v) for v in (gold or {}).values()})
        super().__init__({**(gold or {}), **{f"={n}": n for n in NAMES}}, labels=labels, **kw)
        self.vision, self.audio_mode, self.media_usage = vision, audio, media_usage
        self.images: list[tuple[str, bytes, tuple[int, int]]] = []
        self.audio: list[tuple[str, bytes]] = []

    async def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
        enum = set(request_labels(body)[0] or ())
        messages, media_tokens, refusal = [], {"image": 0, "audio": 0}, None
        for m in body.get("messages") or []:
            content = m.get("content")
            if not isinstance(content, list):
                messages.append(m)
                continue
            texts, seen = [], []
            for part in content:
                kind = part.get("type")
                if kind == "text":
                    texts.append(str(part.get("text")))
                elif kind == "image_url" and self.vision == "refuse":
                    refusal = "Invalid content type. image_url is only supported by certain models."
                elif kind == "image_url" and self.vision == "see":
                    name, tokens = self._look(str(part["image_url"]["url"]))
                    seen.append(name)
                    media_tokens["image"] += tokens
                elif kind == "input_audio" and self.audio_mode == "refuse":
                    refusal = "This model does not support audio input."
                elif kind == "input_audio":
                    name, tokens = self._listen(part["input_audio"])
                    seen.append(name)
                    media_tokens["audio"] += tokens
            shown = seen[0] if seen else ""
            key = f"={shown}" if shown in enum else shown
            messages.append({**m, "content": "\n".join(texts) + f"\n<text>\n{key}\n</text>"})
        if refusal is not None:
            self._served += 1
            self.requests.append(body)
            return 400, {}, _error(refusal, "invalid_request_error")
        flat = {**body, "messages": messages}
        status, headers, payload = await super()._chat(flat)
        # keep what was received, not what was answered
        self.requests[next(i for i in range(len(self.requests) - 1, -1, -1)
                           if self.requests[i] is flat)] = body
        if status == 200 and isinstance(payload, dict):
            self._usage(payload, media_tokens)
        return status, headers, payload

    def _usage(self, payload: dict[str, Any], media: dict[str, int]) -> None:
        if self.media_usage == "none":
            payload.pop("usage", None)
            return
        usage = payload["usage"]
        usage["prompt_tokens"] += media["image"] + media["audio"]
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if self.media_usage == "details":
            usage["prompt_tokens_details"] = {"cached_tokens": 0, "image_tokens": media["image"],
                                              "audio_tokens": media["audio"]}

    def _look(self, url: str) -> tuple[str, int]:
        head, _, data = url.partition(",")
        if not head.startswith("data:") or not head.endswith(";base64"):
            raise ValueError(f"not a base64 data URL: {url[:40]}")
        raw = base64.b64decode(data)
        with Image.open(io.BytesIO(raw)) as img:
            size = img.size
            mean = img.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        self.images.append((head[5:].split(";")[0], raw, size))
        name = min(PALETTE, key=lambda c: sum((a - b) ** 2 for a, b in zip(PALETTE[c], mean)))
        tiles = math.ceil(size[0] / 512) * math.ceil(size[1] / 512)
        return name, 85 + 170 * tiles

    def _listen(self, part: dict[str, Any]) -> tuple[str, int]:
        raw = base64.b64decode(part["data"])
        self.audio.append((str(part.get("format")), raw))
        if part.get("format") != "wav":
            return "sound", 10 * max(1, len(raw) // 16000)
        with wave.open(io.BytesIO(raw)) as w:
            frames, rate, width = w.readframes(w.getnframes()), w.getframerate(), w.getsampwidth()
        loud = width == 2 and any(abs(int.from_bytes(frames[i:i + 2], "little", signed=True)) > 100
                                  for i in range(0, len(frames), 2))
        return ("tone" if loud else "silence"), math.ceil(10 * len(frames) / width / rate)
