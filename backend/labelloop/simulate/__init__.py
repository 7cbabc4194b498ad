"""``labelloop simulate``: the active-learning loop run offline, gold labels as the annotator.

:func:`run_simulation` works on arrays (embeddings, gold labels, optional LLM distributions);
:func:`simulate_file` adds reading JSONL, embedding through a disk cache and calling the LLM;
:mod:`.report` turns a result into JSON, a markdown table and a plot. The dataset objective
(:mod:`.dataset_engine`, :func:`simulate_dataset_file`) measures the exported dataset's accuracy
per human label instead of the model's. Span (NER) data:
:func:`simulate_span_file` and :mod:`.span_engine` (the token model, span-F1). Images, audio
and video: :mod:`.media_data` (class folders, a CSV, JSON lines, sklearn's digits) and
:func:`simulate_media` (the media embedders, then the same engine).
"""

from labelloop.simulate.data import LabeledData, load_jsonl, train_test_split
from labelloop.simulate.dataset_engine import (
    DATASET_STRATEGIES,
    DatasetCurve,
    DatasetSimulationConfig,
    DatasetStrategy,
    run_dataset_simulation,
)
from labelloop.simulate.engine import (
    Curve,
    SimulationConfig,
    SimulationResult,
    SpanSimulationConfig,
    budget_points,
    run_loop,
    run_simulation,
)
from labelloop.simulate.media_data import (
    MediaSet,
    digits_set,
    load_class_folders,
    load_labels_csv,
    load_media_jsonl,
)
from labelloop.simulate.media_pipeline import embed_media_set, simulate_media
from labelloop.simulate.pipeline import (
    LlmSource,
    SimulatedLlmSource,
    embed_texts,
    simulate_dataset_file,
    simulate_file,
    simulate_span_file,
)
from labelloop.simulate.report import markdown_table, plot_curves, to_json
from labelloop.simulate.span_data import (
    SpanData,
    is_span_file,
    load_span_jsonl,
    span_train_test_split,
)
from labelloop.simulate.synthetic import noisy_llm_distributions

__all__ = [
    "DATASET_STRATEGIES", "Curve", "DatasetCurve", "DatasetSimulationConfig", "DatasetStrategy",
    "LabeledData", "LlmSource", "MediaSet", "SimulatedLlmSource", "SimulationConfig",
    "SimulationResult", "SpanData", "SpanSimulationConfig", "budget_points", "digits_set",
    "embed_media_set", "embed_texts", "is_span_file", "load_class_folders", "load_jsonl",
    "load_labels_csv", "load_media_jsonl", "load_span_jsonl", "markdown_table",
    "noisy_llm_distributions", "plot_curves", "run_dataset_simulation", "run_loop",
    "run_simulation", "simulate_dataset_file", "simulate_file", "simulate_media",
    "simulate_span_file", "span_train_test_split", "to_json", "train_test_split",
]
