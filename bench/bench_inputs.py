"""What the input layer's JSON rules cost: ``labelloop.inputs.read_json`` against plain
``json.loads`` on a typical annotation webhook (1 KB) and on a 5,000-task TASKS_CREATED event
(0.7 MB). Prints markdown table rows (best of ``--repeat`` timings).

    .venv/bin/python bench/bench_inputs.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import timeit

from labelloop.inputs import read_json

EVENT = {
    "action": "ANNOTATION_CREATED",
    "annotation": {"id": 1, "task": 9, "completed_by": 4, "was_cancelled": False,
                   "lead_time": 2.5, "updated_at": "2026-01-01T00:00:00Z",
                   "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                               "value": {"choices": ["positive"]}}]},
    "task": {"id": 9, "data": {"text": "hello world " * 20}, "meta": {}},
    "project": {"id": 2, "title": "p", "model_version": "labelloop-3",
                "label_config": "<View>" + "<Choice value='x'/>" * 20 + "</View>"},
}
BULK = {"action": "TASKS_CREATED", "project": 1,
        "tasks": [{"id": i, "data": {"text": "t" * 100, "n": i}} for i in range(5000)]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print("| body | size | json.loads | read_json |")
    print("|---|---|---|---|")
    for name, value, number in [("annotation webhook", EVENT, 2000),
                                ("TASKS_CREATED, 5,000 tasks", BULK, 10)]:
        body = json.dumps(value).encode()
        plain = min(timeit.repeat(lambda b=body: json.loads(b), number=number,
                                  repeat=args.repeat)) / number
        ours = min(timeit.repeat(lambda b=body: read_json(b), number=number,
                                 repeat=args.repeat)) / number
        print(f"| {name} | {len(body):,} B | {plain * 1e6:,.1f} µs | {ours * 1e6:,.1f} µs |")


if __name__ == "__main__":
    main()
