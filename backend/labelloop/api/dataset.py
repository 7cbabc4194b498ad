"""The dataset export: ``GET /api/projects/{id}/dataset[?format=jsonl|csv][&card=1]``.

The labels are read (in the thread pool) before the answer starts, so an unknown project (404)
or an unsupported config (422) is still a JSON error; the rows then stream page by page
(:meth:`labelloop.quality.dataset.Export.rows`), never held whole; ``accepted`` follows
``LABELLOOP_ACCEPT_PRECISION``. ``card=1`` answers the dataset card instead
(:func:`labelloop.quality.dataset_card.dataset_card`). Parquet is refused (422): it needs
pyarrow, which labelloop does not install.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.errors import InvalidInput
from labelloop.inputs import Id
from labelloop.quality.dataset import prepare_export
from labelloop.quality.dataset_card import dataset_card
from labelloop.quality.dataset_rows import MEDIA_TYPES, encode

router = APIRouter()
PARQUET = ("format: parquet needs pyarrow, which labelloop does not install; "
           "use jsonl or csv (or `labelloop export`)")


@router.get("/api/projects/{project_id}/dataset",
            responses={**error_responses(*COMMON_ERRORS, 403, 404, 422, 503),
                       200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
                             "description": "one row per live task (or, with card=1, the "
                                            "dataset card as JSON)"}})
async def get_dataset(project_id: Annotated[Id, Path()], services: ServicesDep,
                      format: Literal["jsonl", "csv", "parquet"] = "jsonl",
                      card: bool = False) -> Any:
    """The project's labelled dataset: per task its best label, its source (human, consensus,
    llm, model, ensemble), p_correct and the machines' labels, as JSON lines or CSV, streamed;
    ``card=1``: size, label distribution, cost and estimated accuracy instead."""
    prepare = partial(prepare_export, services.storage, project_id,
                      accept_precision=services.settings.accept_precision)
    if card:
        return await run_in_threadpool(lambda: dataset_card(services.storage, project_id,
                                                            export=prepare()))
    if format == "parquet":
        raise InvalidInput(PARQUET, detail=[{"loc": ["query", "format"], "msg": PARQUET}])
    export = await run_in_threadpool(prepare)
    name = f"project-{project_id}-dataset.{format}"
    return StreamingResponse(encode(export.rows(), format), media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
