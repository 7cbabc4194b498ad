"""``labelloop simulate`` on images, audio and video: where the files are, which embedder, which
LLM; then the same engine, table, ``results.json`` and plot as for text.

Sources (one of): ``--images DIR``, ``--audio DIR`` or ``--video DIR`` with a sub-folder per
class (or ``--labels-csv FILE`` naming each file's label), ``--data FILE`` whose JSON lines
carry an ``image``, ``audio`` or ``video`` key (or ``--data-field``), and ``--dataset digits``
(scikit-learn's bundled digits as 64 × 64 PNGs: a demo that needs nothing). Vectors: the
built-in embedder of the modality, or the configured CLIP (``LABELLOOP_IMAGE_EMBEDDING_MODEL``,
or ``--embedding-model``) for images and video frames, the configured CLAP
(``LABELLOOP_AUDIO_EMBEDDING_MODEL``, or ``--embedding-model``) for audio. The LLM:
``--llm-base-url/--llm-model`` (an endpoint that takes images or audio), or ``--simulated-llm
ACCURACY`` (simulated from the data: wrong on the hard items).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelloop.embeddings.media_base import MediaEmbedder, Modality
    from labelloop.simulate import LlmSource, MediaSet, SimulatedLlmSource


def _accuracy(value: str) -> float:
    x = float(value)
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"an accuracy in [0, 1], got {value}")
    return x


def _auroc(value: str) -> float:
    x = float(value)
    if not 0.5 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"an AUROC in [0.5, 1), got {value}")
    return x


def add_arguments(p: Any) -> None:
    """The media and simulated-LLM options of ``labelloop simulate``."""
    g = p.add_argument_group("images, audio and video")
    g.add_argument("--images", type=Path, metavar="DIR",
                   help="images in a sub-folder per class (DIR/<label>/<file>)")
    g.add_argument("--audio", type=Path, metavar="DIR", help="WAV files in a sub-folder per class")
    g.add_argument("--video", type=Path, metavar="DIR",
                   help="MP4/WebM clips in a sub-folder per class")
    g.add_argument("--labels-csv", type=Path, metavar="FILE",
                   help="with --images/--audio/--video: labels from a CSV (header: a file "
                   "column, path relative to DIR, and --label-field) instead of sub-folders")
    g.add_argument("--dataset", choices=("digits",),
                   help="a bundled demo: digits = scikit-learn's 1,797 digits as 64x64 PNGs")
    g.add_argument("--data-field", help="JSON lines / CSV: the field holding the file or URL "
                   "(default: the image/audio/video key of the first row)")
    g.add_argument("--embedding-model", help="images and video: a CLIP-family model; audio: "
                   "a CLAP model (local folder, or a hub name already in the local cache) "
                   "instead of the built-in embedder (default: LABELLOOP_IMAGE_EMBEDDING_MODEL "
                   "or LABELLOOP_AUDIO_EMBEDDING_MODEL if set)")
    p.add_argument("--simulated-llm", type=_accuracy, metavar="ACCURACY",
                   help="an LLM simulated from the data, right on this share of the train "
                   "items and wrong on the hard ones (instead of --llm-base-url)")
    p.add_argument("--simulated-llm-auroc", type=_auroc, default=0.8,
                   help="how well the simulated LLM's confidence tells right from wrong "
                   "(default 0.8)")
    p.add_argument("--distill-llm", choices=("auto", "off"), default="auto",
                   help="with an LLM, class labels: auto (default, as the service's "
                   "LABELLOOP_DISTILL_LLM) lets each retrain learn from the LLM's labels of the "
                   "pool when cross-validation on the labels gathered says they help; off: "
                   "human labels only")


def is_media(args: argparse.Namespace) -> bool:
    """Whether the run is on media: a media source flag, or JSON lines with a media key."""
    if args.images or args.audio or args.video or args.dataset:
        return True
    if args.data is None:
        return False
    from labelloop.simulate.media_data import media_field

    return args.data_field is not None or media_field(args.data) is not None


def llm_source(args: argparse.Namespace) -> LlmSource | SimulatedLlmSource | None:
    """The LLM asked for (a real endpoint, one simulated from the data, or none)."""
    from labelloop.simulate import LlmSource, SimulatedLlmSource

    if args.simulated_llm is not None:
        if args.llm_base_url:
            raise ValueError("--simulated-llm and --llm-base-url exclude each other")
        return SimulatedLlmSource(args.simulated_llm, args.simulated_llm_auroc)
    if bool(args.llm_base_url) != bool(args.llm_model):
        raise ValueError("--llm-base-url and --llm-model go together")
    return LlmSource(args.llm_base_url, args.llm_model, args.llm_api_key) \
        if args.llm_base_url else None


def load(args: argparse.Namespace) -> tuple[MediaSet, str]:
    """The labelled media the flags name, and how to name the source in the report."""
    from labelloop.simulate import (
        digits_set,
        load_class_folders,
        load_labels_csv,
        load_media_jsonl,
    )

    folders: dict[Modality, Path | None] = {"image": args.images, "audio": args.audio,
                                            "video": args.video}
    given = [(m, d) for m, d in folders.items() if d is not None]
    if len(given) + bool(args.dataset) + bool(args.data) != 1:
        raise ValueError("give one source: --data, --images, --audio, --video or --dataset")
    if args.dataset == "digits":
        return digits_set(), "digits"
    if args.data is not None:
        return load_media_jsonl(args.data, field=args.data_field,
                                label_field=args.label_field), str(args.data)
    modality, folder = given[0]
    if args.labels_csv is not None:
        return load_labels_csv(folder, args.labels_csv, modality=modality,
                               file_column=args.data_field,
                               label_column=args.label_field), str(folder)
    return load_class_folders(folder, modality=modality), str(folder)


def embedder_for(args: argparse.Namespace, data: MediaSet) -> MediaEmbedder:
    from labelloop.cli.common import settings_from
    from labelloop.embeddings.media_factory import media_embedder

    field = "audio_embedding_model" if data.modality == "audio" else "image_embedding_model"
    settings = settings_from(args, embedding_threads=args.torch_threads,
                             **{field: args.embedding_model})
    return media_embedder(settings, data.modality)


def run_media(args: argparse.Namespace) -> int:
    from labelloop.cli.simulate import CLASS_DEFAULT, _progress, _report
    from labelloop.errors import LabelloopError
    from labelloop.models.distill import DistillOptions
    from labelloop.selection import STRATEGY_NAMES
    from labelloop.simulate import SimulationConfig, budget_points, simulate_media

    names = args.strategies or CLASS_DEFAULT
    wrong = [s for s in names if s not in STRATEGY_NAMES]
    try:
        if args.objective != "model" or args.task == "spans" or wrong:
            raise ValueError(f"media runs take the model objective and the strategies "
                             f"{','.join(STRATEGY_NAMES)}")
        llm = llm_source(args)
        data, source = load(args)
        embedder = embedder_for(args, data)
    except ValueError as exc:
        print(f"labelloop simulate: {exc}", file=sys.stderr)
        return 2
    config = SimulationConfig(strategies=names, batch_size=args.batch_size, budget=args.budget,
                              seeds=args.seeds, distill=DistillOptions(mode=args.distill_llm))
    steps = len(names) * config.seeds * len(budget_points(config.batch_size, config.budget))
    if llm is None and "committee" in names:
        print("no LLM given: the committee strategy falls back to the local model alone",
              file=sys.stderr)
    fetcher = None
    if any(isinstance(s, str) for s in data.sources):
        from labelloop.cli.common import settings_from
        from labelloop.media.fetch import MediaFetcher

        fetcher = MediaFetcher(settings_from(args))
    try:
        with _progress(steps, quiet=args.no_progress) as (embedded, step):
            _, result = simulate_media(
                data, config=config, embedder=embedder, llm=llm, fetcher=fetcher,
                cache_dir=None if args.no_cache else args.cache_dir,
                test_fraction=args.test_fraction, embed_progress=embedded, step=step)
    except LabelloopError as exc:
        print(f"labelloop simulate: {exc.message}", file=sys.stderr)
        return 2
    finally:
        if fetcher is not None:
            fetcher.close()
    return _report(args, result, batch_size=config.batch_size, source=source)
