"""What isolating bad items costs (issue 18, "one bad task stops nothing").

Rows:
* ``parse_task`` per task without and with the edge cleaning (``text.clean_task``): 20,000
  tasks of ~60 words, most of them holding non-ASCII words (the slower check), best of 5,
  interleaved;
* ``embed_each`` with the bundled model on ``--texts`` texts into an empty cache: a clean batch,
  then the same batch with one text the embedder refuses (raising before any model work, as a
  tokenizer does), which the cache splits in halves down to that text;
* migration 12 (``storage/migrate_text.py``) on a SQLite database of 100,001 tasks, one of them
  to clean: plain texts, then one in ten holding an emoji (a surrogate pair in the stored JSON:
  a candidate the SQL scan cannot rule out).

    .venv/bin/python bench/bench_bad_items.py [--texts 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_cost() -> tuple[float, float]:
    """(µs per task without cleaning, with), best of 5 each, interleaved."""
    import labelloop.events.parse as parse_mod

    rng = random.Random(0)
    words = ["great", "awful", "plot", "café", "naïve", "film", "😀", "really", "the", "a"]
    raws = [json.loads(json.dumps({
        "id": i + 1, "data": {"text": " ".join(rng.choice(words) for _ in range(60)),
                              "lang": "en"}, "meta": {"source": "import"}}))
        for i in range(20_000)]
    real = parse_mod.clean_task
    best = {"without": float("inf"), "with": float("inf")}
    for _ in range(5):
        for name, clean in (("without", lambda task: task), ("with", real)):
            parse_mod.clean_task = clean
            started = time.perf_counter()
            for r in raws:
                parse_mod.parse_task(r, 1)
            best[name] = min(best[name], (time.perf_counter() - started) / len(raws) * 1e6)
    parse_mod.clean_task = real
    return best["without"], best["with"]


def fallback_cost(n: int, threads: int) -> tuple[float, float, int]:
    """(seconds for a clean batch, for the batch with one refused text, texts skipped)."""
    import numpy as np

    from labelloop.embeddings import SentenceTransformerEmbedder, embed_each
    from labelloop.storage import open_storage

    model = SentenceTransformerEmbedder(torch_threads=threads)
    model.encode(["warm up"])

    class Refusing:
        name, dim = model.name, model.dim

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            if any("poison" in t for t in texts):
                raise ValueError("cannot tokenize")
            return model.encode(texts)

    texts = [f"review {i}: the plot was {'great' if i % 2 else 'awful'}, the acting {i % 7}/7"
             for i in range(n)]
    out = []
    for batch in (texts, texts[:-1] + ["poison"]):
        with tempfile.TemporaryDirectory() as d:
            store = open_storage(f"sqlite:///{d}/cache.db")
            started = time.perf_counter()
            result = embed_each(batch, embedder=Refusing(), store=store, chunk_size=1024)
            out.append((time.perf_counter() - started, len(result.failed)))
            store.close()
    return out[0][0], out[1][0], out[1][1]


def migration_cost() -> list[tuple[str, float]]:
    """Seconds migration 12 takes on 100,001 tasks, per kind of text."""
    from labelloop.storage import open_storage
    from labelloop.storage.engine import WRITE_OPTION
    from labelloop.storage.migrate_text import clean_stored_tasks

    out = []
    for label, extra in (("plain texts", ""), ("one in ten with an emoji", "\U0001F600")):
        with tempfile.TemporaryDirectory() as d:
            store = open_storage(f"sqlite:///{d}/tasks.db")
            with store.write() as tx:
                tx.save_project(1)
                for i in range(0, 100_000, 5000):
                    tx.upsert_tasks(1, [{"id": j + 1, "data": {
                        "text": f"review {j} of a film" + (extra if j % 10 == 0 else "")}}
                        for j in range(i, i + 5000)])
                tx.upsert_tasks(1, [{"id": 100_001, "data": {"text": "bad \udc80"}}])
            started = time.perf_counter()
            with store.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, \
                    conn.begin():
                clean_stored_tasks(conn)
            out.append((label, time.perf_counter() - started))
            store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    without, with_ = parse_cost()
    clean, poisoned, skipped = fallback_cost(args.texts, args.threads)
    print("| measure | value |\n|---|---|")
    print(f"| `parse_task` per task, without cleaning | {without:.2f} µs |")
    print(f"| `parse_task` per task, with cleaning | {with_:.2f} µs |")
    print(f"| `embed_each`, {args.texts} texts, clean | {clean:.2f} s |")
    print(f"| `embed_each`, {args.texts} texts, one refused ({skipped} skipped) | "
          f"{poisoned:.2f} s |")
    for label, seconds in migration_cost():
        print(f"| migration 12, 100,001 tasks, {label} | {seconds:.2f} s |")


if __name__ == "__main__":
    main()
