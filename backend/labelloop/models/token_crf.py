"""A linear-chain CRF on hand-made token features (CRFsuite through ``python-crfsuite``).

Features of a token: its lower-cased form, prefixes and suffixes, its shape (``Xxxx``, ``dd``),
case, digits, and whether it is a URL, ``@mention``, ``#hashtag`` or punctuation; the same
(fewer) for its neighbours at distance 1 and 2; begin/end of text. Trained with L-BFGS and
elastic-net regularisation (``c1``, ``c2``), a fixed iteration budget so a retrain takes a
bounded time. The CRF gives exact per-token marginals and the probability of the best
sequence, which :mod:`labelloop.models.tokens` turns into span confidences and uncertainty.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelloop.models.token_text import OUTSIDE

Features = dict[str, str | float | bool]

# Chosen on WNUT-16 with a validation split (400 sentences of the training pool, not the
# benchmark's test split): span-F1 at 200 / 600 / 1,600 training sentences was 0.172 / 0.320 /
# 0.432 with these against 0.139 / 0.301 / 0.437 with c1 = c2 = 0.05 and 100 iterations, in 30 %
# less time (the iteration budget bounds a retrain's time).
DEFAULT_C1 = 0.1
DEFAULT_C2 = 0.01
DEFAULT_MAX_ITERATIONS = 70


@dataclass(frozen=True)
class CrfTagger:
    """A fitted CRF: CRFsuite's model file as bytes (so the record pickles and every decode
    opens its own tagger: no state shared between threads). ``tags``: the tags it knows (those
    seen in training), ``"O"`` first."""

    model: bytes
    tags: tuple[str, ...]


def _shape(word: str) -> str:
    out: list[str] = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)[:6]


def _kind(word: str) -> str:
    low = word.lower()
    if low.startswith(("http://", "https://", "www.")):
        return "url"
    if word[:1] == "@" and len(word) > 1:
        return "mention"
    if word[:1] == "#" and len(word) > 1:
        return "hashtag"
    if not any(ch.isalnum() for ch in word):
        return "punct"
    return "word"


def token_features(words: Sequence[str], dense: np.ndarray | None = None) -> list[Features]:
    """One feature dict per token of one text; ``dense`` ``(n_tokens, k)``, when given, adds
    ``k`` real-valued features per token (``v0`` ...)."""
    lows = [w.lower() for w in words]
    kinds = [_kind(w) for w in words]
    shapes = [_shape(w) for w in words]
    out: list[Features] = []
    n = len(words)
    for i, word in enumerate(words):
        low = lows[i] if kinds[i] != "url" else "<url>"
        f: Features = {
            "bias": 1.0, "w": low, "kind": kinds[i], "shape": shapes[i],
            "p2": low[:2], "p3": low[:3], "s2": low[-2:], "s3": low[-3:],
            "title": word.istitle(), "upper": word.isupper() and len(word) > 1,
            "digit": any(ch.isdigit() for ch in word), "len": min(len(word), 8),
        }
        if kinds[i] in ("mention", "hashtag"):
            f["tag_body"] = low[1:]
            f["tag_title"] = word[1:2].isupper()
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < n:
                f[f"{d}:w"] = lows[j] if kinds[j] != "url" else "<url>"
                if abs(d) == 1:
                    f[f"{d}:shape"] = shapes[j]
                    f[f"{d}:title"] = words[j].istitle()
                    f[f"{d}:kind"] = kinds[j]
            elif abs(d) == 1:
                f["BOS" if d < 0 else "EOS"] = True
        if dense is not None:
            f.update({f"v{k}": float(v) for k, v in enumerate(dense[i])})
        out.append(f)
    return out


def fit_crf(words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]], *,
            dense: Sequence[np.ndarray] | None = None, c1: float = DEFAULT_C1,
            c2: float = DEFAULT_C2, max_iterations: int = DEFAULT_MAX_ITERATIONS) -> CrfTagger:
    """Fit on tokenised texts and their BIO tags (at least one non-empty text); ``dense``: one
    ``(n_tokens, k)`` array of real-valued features per text."""
    import pycrfsuite  # type: ignore[import-untyped]

    trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
    trainer.set_params({"c1": c1, "c2": c2, "max_iterations": max_iterations,
                        "feature.possible_transitions": True})
    for n, (w, t) in enumerate(zip(words, tags)):
        if w:
            trainer.append(token_features(w, None if dense is None else dense[n]), list(t))
    with tempfile.TemporaryDirectory(prefix="labelloop-crf-") as folder:
        path = os.path.join(folder, "model.crfsuite")
        trainer.train(path)
        with open(path, "rb") as f:
            data = f.read()
    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(data)
    known = sorted(t for t in tagger.labels() if t != OUTSIDE)
    tagger.close()
    return CrfTagger(model=data, tags=(OUTSIDE, *known))


@dataclass(frozen=True)
class CrfDecoded:
    tags: list[str]  # the best sequence
    log_prob: float  # log P(best sequence | text)
    marginals: np.ndarray  # (n_tokens, n_tags) in ``CrfTagger.tags`` order


def decode_crf(model: CrfTagger, texts_words: Sequence[Sequence[str]], *,
               dense: Sequence[np.ndarray] | None = None) -> list[CrfDecoded]:
    """Per text: the best tag sequence, its log-probability and the per-token marginals
    (``dense`` as in :func:`fit_crf`)."""
    import pycrfsuite

    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(model.model)
    out: list[CrfDecoded] = []
    try:
        for n, words in enumerate(texts_words):
            if not words:
                out.append(CrfDecoded([], 0.0, np.zeros((0, len(model.tags)))))
                continue
            tagger.set(token_features(words, None if dense is None else dense[n]))
            best = list(tagger.tag())
            prob = float(tagger.probability(best))
            marg = np.array([[tagger.marginal(t, i) for t in model.tags]
                             for i in range(len(words))])
            out.append(CrfDecoded(best, float(np.log(max(prob, 1e-300))), marg))
    finally:
        tagger.close()
    return out
