"""``labelloop model export`` for a triplet project: the adopted fine-tuned encoder's folder.

The folder is copied as the fine-tune round saved it (a sentence-transformers model:
``SentenceTransformer(directory)`` loads it, no labelloop needed), after its content hash is
checked against the version's lineage, with ``card.json`` (the round's lineage: judgements,
recall@10 / MRR before and after, training) and a ``README.md``. The version is the project's
current encoder (:func:`labelloop.loop.encoders.current_encoder`), or an adopted one asked for.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from labelloop import __version__
from labelloop.embeddings.finetune import directory_hash
from labelloop.errors import InvalidInput, NoModelYet, NotFound
from labelloop.loop.encoders import ENCODER_KIND, EncoderManifest, current_encoder
from labelloop.predict.export import Exported
from labelloop.storage.base import Storage
from labelloop.triplets.service import triplet_schema

README = """# {name}

A sentence-transformers encoder fine-tuned by labelloop {labelloop} on the similarity judgements
of project {project} (version {version}, from `{base}`).

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("{directory}")
model.encode(["a text"], normalize_embeddings=True)
```

`card.json` holds the round's lineage: judgements, recall@10 and MRR before and after.
"""


def is_triplet_project(storage: Storage, project_id: int) -> bool:
    with storage.read() as tx:
        project = tx.get_project(project_id)
    return project is not None and (project.schema or {}).get("task_type") == "text_triplets"


def export_encoder(storage: Storage, project_id: int, directory: Path, *,
                   version: str | None = None, force: bool = False) -> Exported:
    """Write the encoder's folder, ``card.json`` and ``README.md`` into ``directory``."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())) \
            and not force:
        raise InvalidInput(f"{directory} exists and is not an empty directory: choose another "
                           "--output, or --force to overwrite its files")
    with storage.read() as tx:
        triplet_schema(tx, project_id)
        manifest = current_encoder(tx, project_id) if version is None else None
        chosen = version or (_version_of(manifest) if manifest else None)
        if chosen is None:
            raise NoModelYet(f"project {project_id} has no adopted fine-tuned encoder yet "
                             "(a round is adopted when it does not do worse on held-out items)")
        blob = tx.get_model_artifact(project_id, chosen, ENCODER_KIND)
        record = tx.get_model_version(project_id, chosen)
    if blob is None or record is None:
        raise NotFound(f"project {project_id} has no adopted encoder {chosen}")
    manifest = EncoderManifest.from_bytes(blob)
    source = Path(manifest.path)
    if not source.is_dir() or directory_hash(source) != manifest.sha256:
        raise NotFound(f"the encoder folder {source} is missing or changed since it was saved")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, directory, dirs_exist_ok=True)
    card = {"project": project_id, "version": chosen, "kind": record.kind,
            "name": manifest.name, "base": manifest.base, "sha256": manifest.sha256,
            "created_at": record.created_at, "lineage": record.lineage,
            "labelloop_version": __version__, "exported_at": time.time()}
    (directory / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (directory / "README.md").write_text(README.format(
        name=manifest.name, labelloop=__version__, project=project_id, version=chosen,
        base=manifest.base, directory=directory))
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                   if p.is_file())
    return Exported(chosen, directory, files)


def _version_of(manifest: EncoderManifest) -> str:
    from labelloop.loop.encoders import encoder_version

    return encoder_version(manifest.sha256)
