"""Which text encoder a project uses: the process's, or a fine-tuned one it adopted.

A fine-tune round (:mod:`labelloop.loop.finetune_job`) records a model version of kind
``"encoder"`` (``encoder-<12 hex of the folder's hash>``) with its lineage, adopted or not. An
adopted one also gets an ``"encoder"`` artefact: a small JSON :class:`EncoderManifest` (the
folder under the data dir, its content hash, its embedding-cache name, the base model). That
artefact is written in the same transaction as the version, and only after every task of the
project has a vector under the new name, so **the newest encoder artefact is the project's
current encoder** and the switch is atomic: a retrain reads it when it starts and embeds
with that encoder to its end, whatever a fine-tune does meanwhile.

The cache name of a fine-tuned encoder is ``<base name>+ft-<12 hex>``: its vectors never mix
with the base model's nor with another round's. The retrain's lineage records the name it
trained on, and ``/classify`` embeds with the encoder of the name its served model was trained
on (:func:`served_embedder_name`), so a model trained before a switch is served with the
vectors it knows until the retrain after the switch replaces it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labelloop.errors import InvalidInput
from labelloop.settings import Settings
from labelloop.storage.base import Tx

ENCODER_KIND = "encoder"


def encoder_version(sha256: str) -> str:
    """The model version name of a fine-tuned encoder."""
    return f"{ENCODER_KIND}-{sha256[:12]}"


def finetuned_name(base_name: str, sha256: str) -> str:
    """The embedding-cache name of a fine-tuned encoder."""
    return f"{base_name}+ft-{sha256[:12]}"


def encoders_dir(settings: Settings, project_id: int) -> Path:
    """Where a project's fine-tuned encoders are saved (one folder per content hash)."""
    return settings.data_dir / "encoders" / f"project-{project_id}"


@dataclass(frozen=True)
class EncoderManifest:
    name: str
    path: str
    sha256: str
    base: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> EncoderManifest:
        try:
            raw = json.loads(blob.decode())
            return cls(name=str(raw["name"]), path=str(raw["path"]), sha256=str(raw["sha256"]),
                       base=str(raw["base"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"not an encoder manifest: {exc}") from exc


def current_encoder(tx: Tx, project_id: int) -> EncoderManifest | None:
    """The project's adopted fine-tuned encoder (None: the process's own)."""
    version = tx.latest_model_artifact_version(project_id, ENCODER_KIND)
    if version is None:
        return None
    blob = tx.get_model_artifact(project_id, version, ENCODER_KIND)
    return EncoderManifest.from_bytes(blob) if blob is not None else None


def encoder_named(tx: Tx, project_id: int, name: str) -> EncoderManifest | None:
    """The project's adopted encoder whose cache name is ``name`` (None: not one of them)."""
    if "+ft-" not in name:
        return None
    version = encoder_version(name.rsplit("+ft-", 1)[1])
    blob = tx.get_model_artifact(project_id, version, ENCODER_KIND)
    got = EncoderManifest.from_bytes(blob) if blob is not None else None
    return got if got is not None and got.name == name else None


def served_embedder_name(lineage: Mapping[str, Any] | None) -> str | None:
    """The embedder a retrain's version was trained on, from its lineage."""
    model = (lineage or {}).get("model")
    name = model.get("embedder") if isinstance(model, Mapping) else None
    return name if isinstance(name, str) and name else None


def last_round_labels(tx: Tx, project_id: int) -> int | None:
    """How many human labels the project had at its last fine-tune round (None: never)."""
    counts = [int(v.lineage.get("labels", 0)) for v in tx.list_model_versions(project_id)
              if v.kind == ENCODER_KIND and isinstance(v.lineage, Mapping)]
    return max(counts) if counts else None
