"""LLM labeling throughput against the fake OpenAI-compatible server (50 ms per answer).

The fake server runs in a child process on loopback (so it does not share this process's GIL);
the client is the real ``LLMLabeler`` on the real ``openai`` SDK with SQLite storage. For each
concurrency, labels/second is compared with the ideal ``concurrency / latency`` (median of
``--repeats`` runs, each after a warm-up that detects the endpoint's capabilities), and with the
bare SDK sending the same requests at the same concurrency, through the same client (the SDK's
aiohttp transport, as labelloop uses it) — the ceiling of the HTTP client on this machine. Then calls and tokens per task for each confidence method, and the cost of
re-running a labeled batch (all cache hits). Last, the service's own path: the pre-label job
(``handle_prelabel`` run by a worker) labeling a stored project of 5,000 tasks end to end —
reading the tasks, labeling them in chunks, storing every label.

    .venv/bin/python bench/bench_llm.py [--latency 0.05] [--rounds 25] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))

import openai
from tests.fakes.llm_server import FakeLLM

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.llm import LabelRequest, LLMLabeler, schema_for_labels
from labelloop.llm.chat import http_client
from labelloop.llm.labeler import run_async
from labelloop.loop.prelabel import handle_prelabel
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import open_storage

LABELS = ["positive", "negative", "neutral"]
CONFIG = """<View><Text name="text" value="$text"/><Choices name="label" toName="text">
<Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/></Choices></View>"""


def texts(n: int, tag: str) -> dict[str, str]:
    return {f"review {tag}-{i}: the film was {['good', 'bad', 'meh'][i % 3]}": LABELS[i % 3]
            for i in range(n)}


def run(llm: FakeLLM, tmp: Path, items: list[str], *, concurrency: int, samples: int = 5,
        name: str) -> dict:
    settings = Settings(_env_file=None, data_dir=tmp / name, openai_base_url=llm.url,
                        llm_model="bench", openai_api_key=None, llm_concurrency=concurrency,
                        llm_samples=samples, llm_prices={"bench": (0.15, 0.60)})
    storage = open_storage(settings.resolved_database_url)
    labeler = LLMLabeler(settings, storage)
    schema = schema_for_labels(LABELS)
    labeler.label_many_sync(schema, [LabelRequest(-1, f"warm-up {name}")])
    batch = [LabelRequest(i, t) for i, t in enumerate(items)]
    calls0 = llm.calls
    t0 = time.perf_counter()
    outcomes = labeler.label_many_sync(schema, batch)
    elapsed = time.perf_counter() - t0
    calls = llm.calls - calls0
    t1 = time.perf_counter()
    again = labeler.label_many_sync(schema, batch)
    rerun_s = time.perf_counter() - t1
    storage.close()
    n = len(items)
    return {"rate": n / elapsed, "calls": calls / n,
            "tokens": sum(o.usage.tokens for o in outcomes) / n,
            "failed": sum(o.labels is None for o in outcomes),
            "rerun_calls": llm.calls - calls0 - calls, "rerun_s": rerun_s,
            "rerun_cached": sum(o.cached for o in again) == n,
            "method": outcomes[0].confidence_method}


def bare_sdk_rate(llm: FakeLLM, concurrency: int, n: int) -> float:
    """Labels/s of the bare SDK posting a labeling request (the HTTP client's ceiling)."""
    body = {"model": "bench", "max_tokens": 30, "temperature": 0.0, "logprobs": True,
            "top_logprobs": 10,
            "messages": [{"role": "system", "content": "x" * 300},
                         {"role": "user", "content": "Label this text:\n<text>\nok\n</text>"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "label", "strict": True, "schema": {
                    "type": "object", "required": ["label"], "additionalProperties": False,
                    "properties": {"label": {"type": "string", "enum": LABELS}}}}}}

    async def go() -> float:
        # the same SDK client labelloop builds (aiohttp transport when installed)
        client = openai.AsyncOpenAI(base_url=llm.url, api_key="x", max_retries=0,
                                    http_client=http_client())
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                await client.post("/chat/completions", body=body, cast_to=object)

        await asyncio.gather(*(one() for _ in range(concurrency)))  # connections up
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        rate = n / (time.perf_counter() - t0)
        await client.close()
        return rate

    return run_async(go())


def prelabel_job_rate(llm: FakeLLM, tmp: Path, texts_: list[str], *, concurrency: int,
                      name: str) -> float:
    """Labels/s of a worker running the pre-label job over a stored project of ``texts_``
    (the endpoint's capabilities detected beforehand, as after the project's first batch)."""
    settings = Settings(_env_file=None, data_dir=tmp / name, openai_base_url=llm.url,
                        llm_model="bench", openai_api_key=None, llm_concurrency=concurrency,
                        label_studio_url=None, label_studio_api_key=None)
    storage = open_storage(settings.resolved_database_url)
    with storage.write() as tx:
        tx.save_project(1, label_config=CONFIG, supported=True,
                        schema=parse_label_config(CONFIG).to_json())
        tx.upsert_tasks(1, [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(texts_)])
    resources = Resources(settings)
    resources.labeler(storage).label_many_sync(schema_for_labels(LABELS),
                                               [LabelRequest(-1, f"warm-up {name}")])
    worker = Worker(storage, settings, {JobKind.PRELABEL: handle_prelabel},
                    gateways=GatewayProvider(settings), resources=resources)
    with storage.write() as tx:
        job_id, _ = tx.enqueue(JobSpec(JobKind.PRELABEL, 1))
    t0 = time.perf_counter()
    worker.run_once()
    elapsed = time.perf_counter() - t0
    with storage.read() as tx:
        job = tx.get_job(job_id)
        stored = len(tx.get_llm_labels(1))
    storage.close()
    if job is None or job.status is not JobStatus.SUCCEEDED or stored != len(texts_):
        raise SystemExit(f"pre-label job did not label every task: {job}, {stored} stored")
    return len(texts_) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=25, help="batches of `concurrency` per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--job-tasks", type=int, default=5000,
                    help="tasks of the pre-label job's project (chunks of 2,000 inside)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"## LLM labeling (fake server, {args.latency * 1000:.0f} ms per answer, "
              "2 cores)\n")
        print("| concurrency | tasks | labels/s | ideal | % of ideal | bare SDK % of ideal "
              "| calls/task | tokens/task | re-run calls | re-run s |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        gold = texts(6000 + 2 * args.repeats * args.job_tasks, "t")
        pool = list(gold)
        with FakeLLM(gold, latency_s=args.latency, in_process=False) as llm:
            for conc in (1, 8, 32):
                n = max(40, conc * args.rounds)
                runs, bare = [], []
                for rep in range(args.repeats):
                    items, pool = pool[:n], pool[n:]
                    runs.append(run(llm, tmp, items, concurrency=conc, name=f"c{conc}-{rep}"))
                    bare.append(bare_sdk_rate(llm, conc, n))
                r = sorted(runs, key=lambda x: x["rate"])[len(runs) // 2]
                ideal = conc / args.latency
                print(f"| {conc} | {n} | {r['rate']:.1f} | {ideal:.0f} | "
                      f"{100 * r['rate'] / ideal:.0f} % | "
                      f"{100 * statistics.median(bare) / ideal:.0f} % | {r['calls']:.2f} | "
                      f"{r['tokens']:.0f} | {r['rerun_calls']} | {r['rerun_s']:.2f} |")
            print("\n| path | concurrency | tasks | labels/s | % of ideal | runs (labels/s) |")
            print("|---|---:|---:|---:|---:|---|")
            for conc in (8, 32):
                runs = []
                for rep in range(args.repeats):
                    part, pool = pool[:args.job_tasks], pool[args.job_tasks:]
                    runs.append(prelabel_job_rate(llm, tmp, part, concurrency=conc,
                                                  name=f"job-c{conc}-{rep}"))
                rate = statistics.median(runs)
                print(f"| pre-label job (worker, storage to stored labels) | {conc} | "
                      f"{args.job_tasks} | "
                      f"{rate:.1f} | {100 * rate / (conc / args.latency):.0f} % | "
                      f"{', '.join(f'{r:.0f}' for r in runs)} |")
        print("\n| confidence method | server | calls/task | tokens/task | labels/s (conc 8) |")
        print("|---|---|---:|---:|---:|")
        cases = [("logprobs", {}), ("self-consistency, n honoured", {"logprobs": False}),
                 ("self-consistency, n ignored", {"logprobs": False, "n": False})]
        for label, kw in cases:
            gold = texts(200, label[:8])
            with FakeLLM(gold, latency_s=args.latency, in_process=False, **kw) as llm:
                r = run(llm, tmp, list(gold), concurrency=8, name=label.replace(" ", "_"))
            server = ", ".join(f"{k}={v}" for k, v in kw.items()) or "default"
            print(f"| {r['method']} ({label}) | {server} | {r['calls']:.2f} | {r['tokens']:.0f} "
                  f"| {r['rate']:.1f} |")


if __name__ == "__main__":
    main()
