"""Fuzzing: schemathesis over every operation of ``/openapi.json``, in process (ASGI).

For each operation it sends examples valid under the spec (positive) and examples that break it
(negative), on SQLite and on PostgreSQL (what each database refuses differs), and asserts no 5xx and that every answer conforms to the spec (documented status,
content type, response schema, negative data refused, ...). Bounded: a fixed number of examples
per operation and mode, derandomized (the same run every time), well under the 2 minutes the
issue allows. It cannot pass vacuously: it counts the operations and requests it made.

``LABELLOOP_FUZZ_EXAMPLES`` raises the examples per operation and mode (the default keeps the
test suite fast); the summary line it prints is the figure in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance
from tests.conftest import CONFIG, make_settings
from tests.fakes.label_studio import FakeGateway

from labelloop.api.app import Overrides, create_app
from labelloop.storage.base import open_storage
from labelloop.storage.records import Annotation

EXAMPLES = int(os.environ.get("LABELLOOP_FUZZ_EXAMPLES", "25"))
# A request valid under the spec may still be refused for what a schema cannot say: a labeling
# config that is not XML (422), a project labelloop does not know (404).
EXCLUDED = [positive_data_acceptance]
MIN_OPERATIONS = 13  # every operation of the spec today; a lost route lowers the count


def _seeded_storage(url: str):
    """Project 1 with tasks and an annotation, so ids 1.. reach the code behind the 404s."""
    from labelloop.events.projects import record_project

    storage = open_storage(url)
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG, ls_key="1.1700000000")
        tx.upsert_tasks(1, [{"id": i, "data": {"text": f"t{i}"}, "meta": None}
                            for i in range(1, 6)])
        tx.upsert_annotations([Annotation(
            id=1, task_id=1, project_id=1, completed_by=1,
            result=[{"from_name": "sentiment", "to_name": "text", "type": "choices",
                     "value": {"choices": ["positive"]}}],
            was_cancelled=False, ground_truth=False, lead_time=1.0, ls_updated_at=None)],
            source="webhook")
    return storage


def _fuzz(op: schemathesis.APIOperation, mode: GenerationMode, examples: int,
          statuses: Counter[int], per_operation: Counter[str], failures: list[str]) -> None:
    """Send ``examples`` cases of ``mode`` to ``op``; count them, keep the failed checks."""

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def one(case: schemathesis.Case) -> None:
        response = case.call()
        statuses[response.status_code] += 1
        per_operation[op.label] += 1
        try:
            case.validate_response(response, excluded_checks=EXCLUDED)
        except FailureGroup as exc:
            if len(failures) < 40:
                failures.append(f"{op.label} [{mode.value}] {response.status_code}: "
                                f"{[f.title for f in exc.exceptions]} "
                                f"{case.as_curl_command()[:300]}")

    one()


def run_fuzz(tmp_path: Path, examples: int = EXAMPLES,
             database_url: str | None = None) -> dict[str, object]:
    """Fuzz every operation (on SQLite in ``tmp_path``, or on ``database_url``); return the
    counts and the first failures."""
    storage = _seeded_storage(database_url or make_settings(tmp_path).resolved_database_url)
    fake = FakeGateway()
    app = create_app(
        make_settings(tmp_path, open_api=True, label_studio_url="http://ls.invalid",
                      label_studio_api_key="k" * 12),
        Overrides(storage=storage, gateway_factory=lambda *_: fake, start_worker=False,
                  preload_libraries=False))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    failures: list[str] = []
    started = time.perf_counter()
    try:
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz(op, mode, examples, statuses, per_operation, failures)
                except Unsatisfiable:  # no input to break (GET /health, /status, ...)
                    assert mode is GenerationMode.NEGATIVE, op.label
    finally:
        asgi.shutdown_lifespans()
        storage.close()
    return {"operations": len(operations), "requests": sum(statuses.values()),
            "5xx": sum(n for s, n in statuses.items() if s >= 500),
            "statuses": dict(sorted(statuses.items())), "per_operation": dict(per_operation),
            "seconds": round(time.perf_counter() - started, 1), "failures": failures}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fuzz_every_operation_no_5xx_and_conforms_to_the_spec(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_server").new_database() \
        if backend == "postgresql" else None
    out = run_fuzz(tmp_path, database_url=url)
    print(f"\nfuzz ({backend}): {out['operations']} operations, {out['requests']} requests, "
          f"{out['5xx']} 5xx, statuses {out['statuses']}, {out['seconds']} s")
    assert out["operations"] >= MIN_OPERATIONS
    per_operation = out["per_operation"]
    assert isinstance(per_operation, dict) and len(per_operation) == out["operations"]
    assert min(per_operation.values()) >= 1
    assert isinstance(out["requests"], int) and out["requests"] >= out["operations"] * 10  # type: ignore[operator]
    assert out["5xx"] == 0, out["failures"]
    assert not out["failures"], "\n".join(out["failures"])  # type: ignore[arg-type]


if __name__ == "__main__":  # python -m tests.api.test_fuzz [examples] [postgresql]
    import sys
    import tempfile

    from tests.pg_harness import PostgresServer

    n = int(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES
    server = PostgresServer().start() if sys.argv[2:] == ["postgresql"] else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_fuzz(Path(tmp), n, server.new_database() if server else None)
    finally:
        if server:
            server.stop()
    failed = result.pop("failures")
    print({**result, "failures": len(failed)})  # type: ignore[arg-type]
    print("\n".join(failed))  # type: ignore[arg-type]
