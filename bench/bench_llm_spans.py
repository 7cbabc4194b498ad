"""LLM span pre-labelling throughput against the fake OpenAI-compatible server (50 ms per answer).

The fake server runs in a child process on loopback (so it does not share this process's GIL);
the client is the real ``LLMLabeler`` on the real ``openai`` SDK with SQLite storage, labeling a
``<Labels>`` config. Each task is a generated sentence with an emoji before its entities, with
repeated surface forms (the LLM lists each mention, in reading order), and a scripted share of
entities that must not give a span: a mention absent from the text (``not_found``), a label
outside the config (``unknown_label``), a mention listed once more than it occurs
(``duplicate``), an empty mention (``empty``). The generator knows every entity's offsets, so
the spans that come back are checked three ways: every span is validated against its text
(offsets within it, label from the config, no repeats, and the prediction result's
``value.text`` equal to ``text[start:end]``: the count of invalid spans must be 0); they are
compared with the generated spans (exact-match micro span-F1, must be 1.0); and the dropped
entities counted by reason are compared with the scripted ones.

Throughput at concurrency 8: labels/s, median of ``--repeats`` runs (each on new tasks, after a
warm-up that detects the endpoint's capabilities), as a share of the ideal
``n_tasks * latency / concurrency`` seconds; once with logprob scores, once with
self-consistency (5 samples, ``n`` honoured), then the re-run of a labeled batch (cache hits).

    .venv/bin/python bench/bench_llm_spans.py [--latency 0.05] [--tasks 400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))

from tests.fakes.llm_server import FakeLLM

from labelloop.errors import InvalidInput
from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.labelconfig.spans import Span, span_problem
from labelloop.llm import LabelRequest, LLMLabeler, to_prediction_result
from labelloop.llm.types import LabelOutcome
from labelloop.settings import Settings
from labelloop.storage.base import open_storage

CONFIG = """<View><Text name="text" value="$text"/><Labels name="ner" toName="text">
<Label value="Person" alias="PER"/><Label value="Location" alias="LOC"/>
<Label value="Organization" alias="ORG"/></Labels></View>"""
OUTPUT = {"Person": "PER", "Location": "LOC", "Organization": "ORG"}
PEOPLE = ["Anna", "Bob", "Maria", "Chen Wei", "Olu"]
PLACES = ["Paris", "Rome", "Oslo", "São Paulo", "Kyiv"]
ORGS = ["Acme", "Globex", "Initech"]
ABSENT = ["Berlin", "Tokyo", "Umbrella Corp"]  # never written in a text
EMOJI = ["🙂", "🇫🇷", "👩‍👩‍👧", "e\u0301"]  # non-BMP, a flag, a ZWJ family, a combining mark


@dataclass(frozen=True)
class SpanTask:
    text: str
    entities: list[tuple[str, str]]  # what the fake LLM answers: (mention, label value)
    spans: list[Span]  # where the generated entities are
    dropped: Counter[str]  # the scripted entities that must give no span, by reason


def make_task(i: int, rng: np.random.Generator) -> SpanTask:
    """A sentence with its entities, their offsets, and the scripted entities to drop."""
    person, other = rng.choice(PEOPLE, size=2, replace=False)
    place, org = str(rng.choice(PLACES)), str(rng.choice(ORGS))
    pieces: list[tuple[str, str | None]] = [
        (f"{rng.choice(EMOJI)} #{i}: ", None), (str(person), "Person"), (" met ", None),
        (str(other), "Person"), (" in ", None), (place, "Location"), (" for ", None),
        (org, "Organization"), (". ", None), (place, "Location"), (" again, said ", None),
        (str(person), "Person"), (".", None)]
    text, entities, spans = "", [], []
    for piece, label in pieces:
        if label is not None:
            entities.append((piece, label))
            spans.append(Span(len(text), len(text) + len(piece), OUTPUT[label]))
        text += piece
    dropped: Counter[str] = Counter()
    extra: list[tuple[str, str]] = []
    if rng.random() < 0.25:
        extra.append((str(rng.choice(ABSENT)), "Location"))
        dropped["not_found"] += 1
    if rng.random() < 0.15:
        extra.append((org, "Company"))
        dropped["unknown_label"] += 1
    if rng.random() < 0.1:
        extra.append((str(other), "Person"))  # listed twice, in the text once
        dropped["duplicate"] += 1
    if rng.random() < 0.05:
        extra.append(("", "Person"))
        dropped["empty"] += 1
    return SpanTask(text, entities + extra, sorted(spans), dropped)


def make_tasks(n: int, rng: np.random.Generator) -> list[SpanTask]:
    return [make_task(i, rng) for i in range(n)]


def invalid_spans(schema: LabelSchema, outcome: LabelOutcome, text: str) -> int:
    """Spans of ``outcome`` that may not be sent for ``text``: out of bounds, a label outside
    the config, a repeat, or a prediction result that does not read back as the text's."""
    bad, seen = 0, set()
    for span in outcome.span_list:
        if span_problem(text, span, labels=schema.labels) is not None or span in seen:
            bad += 1
        seen.add(span)
    try:
        result = to_prediction_result(schema, outcome, text=text)
        validate_result(schema, result, text=text)
        bad += sum(r["value"]["text"] != text[r["value"]["start"]:r["value"]["end"]]
                   for r in result)
    except InvalidInput:
        bad += max(1, len(outcome.span_list))
    return bad


def span_f1(gold: list[list[Span]], got: list[list[Span]]) -> float:
    tp = sum(len(set(g) & set(p)) for g, p in zip(gold, got))
    n_gold, n_got = sum(map(len, gold)), sum(map(len, got))
    return 1.0 if n_gold + n_got == 0 else 2 * tp / (n_gold + n_got)


def run(llm: FakeLLM, tmp: Path, schema: LabelSchema, tasks: list[SpanTask], *,
        concurrency: int, samples: int, name: str) -> dict:
    settings = Settings(_env_file=None, data_dir=tmp / name, openai_base_url=llm.url,  # type: ignore[call-arg]
                        llm_model="bench", openai_api_key=None, llm_concurrency=concurrency,
                        llm_samples=samples, llm_prices={"bench": (0.15, 0.60)})
    labeler = LLMLabeler(settings, open_storage(settings.resolved_database_url))
    labeler.label_many_sync(schema, [LabelRequest(-1, f"warm-up {name}")])
    batch = [LabelRequest(i, t.text) for i, t in enumerate(tasks)]
    calls0 = llm.calls
    t0 = time.perf_counter()
    outcomes = labeler.label_many_sync(schema, batch)
    elapsed = time.perf_counter() - t0
    calls = llm.calls - calls0
    t1 = time.perf_counter()
    again = labeler.label_many_sync(schema, batch)
    rerun_s = time.perf_counter() - t1
    labeler.storage.close()
    dropped: Counter[str] = Counter(d.reason for o in outcomes for d in o.dropped)
    return {"elapsed": elapsed, "calls": calls / len(tasks), "rerun_s": rerun_s,
            "rerun_calls": llm.calls - calls0 - calls,
            "rerun_cached": all(o.cached for o in again)
            and [o.spans for o in again] == [o.spans for o in outcomes],
            "failed": sum(o.spans is None for o in outcomes),
            "spans": sum(len(o.span_list) for o in outcomes),
            "invalid": sum(invalid_spans(schema, o, t.text) for o, t in zip(outcomes, tasks)),
            "f1": span_f1([t.spans for t in tasks], [o.span_list for o in outcomes]),
            "dropped": dropped, "methods": Counter(o.confidence_method for o in outcomes)}


def times(runs: list[dict]) -> str:
    return ", ".join(f"{x['elapsed']:.2f}" for x in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--tasks", type=int, default=400, help="tasks per run")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    schema = parse_label_config(CONFIG)
    rng = np.random.default_rng(args.seed)
    cases = [("logprobs", 1, True), ("self-consistency, 5 samples, n honoured", 5, False)]
    conc, n = args.concurrency, args.tasks
    ideal = n * args.latency / conc
    print(f"## LLM span pre-labelling (fake server, {args.latency * 1000:.0f} ms per answer, "
          f"concurrency {conc}, {n} tasks per run, median of {args.repeats}, 2 cores)\n")
    print("| confidence | labels/s | ideal s | median s | % of ideal | runs (s) | calls/task "
          "| spans | invalid spans | span-F1 vs generated | failed | re-run calls | re-run s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    drops: list[tuple[str, Counter[str], Counter[str]]] = []
    broken: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for label, samples, logprobs in cases:
            runs, scripted = [], Counter[str]()
            for rep in range(args.repeats):
                tasks = make_tasks(n, rng)
                entities = {t.text: t.entities for t in tasks}
                with FakeLLM({}, entities=entities, latency_s=args.latency, in_process=False,
                             logprobs=logprobs) as llm:
                    runs.append(run(llm, tmp, schema, tasks, concurrency=conc, samples=samples,
                                    name=f"{samples}-{rep}"))
                scripted += sum((t.dropped for t in tasks), Counter())
            r = sorted(runs, key=lambda x: x["elapsed"])[len(runs) // 2]
            broken += [f"{label}: {x['invalid']} invalid spans, {x['failed']} failed, "
                       f"re-run from the cache: {x['rerun_cached']}"
                       for x in runs if x["invalid"] or x["failed"] or not x["rerun_cached"]]
            print(f"| {label} ({', '.join(sorted(r['methods']))}) | {n / r['elapsed']:.1f} | "
                  f"{ideal:.2f} | {r['elapsed']:.2f} | {100 * ideal / r['elapsed']:.0f} % | "
                  f"{times(runs)} | {r['calls']:.2f} | "
                  f"{sum(x['spans'] for x in runs)} | {sum(x['invalid'] for x in runs)} | "
                  f"{min(x['f1'] for x in runs):.3f} | {sum(x['failed'] for x in runs)} | "
                  f"{r['rerun_calls']} | {r['rerun_s']:.2f} |")
            drops.append((label, sum((x["dropped"] for x in runs), Counter()), scripted))
    reasons = ["not_found", "unknown_label", "duplicate", "empty"]
    print(f"\nDropped entities by reason, over the {args.repeats} runs (got / scripted):\n")
    print("| confidence | " + " | ".join(reasons) + " | other |")
    print("|---|" + "---:|" * (len(reasons) + 1))
    for label, got, scripted in drops:
        other = sum(v for k, v in got.items() if k not in reasons)
        print(f"| {label} | " + " | ".join(f"{got[k]} / {scripted[k]}" for k in reasons)
              + f" | {other} |")
    if broken:
        raise SystemExit("checks failed: " + "; ".join(broken))


if __name__ == "__main__":
    main()
