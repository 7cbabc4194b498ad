"""A small synthetic span corpus: templated sentences with PER/LOC/ORG entities at known offsets,
some without entities, some with an emoji or a combining mark before an entity."""

from __future__ import annotations

import numpy as np

from labelloop.labelconfig.spans import Span

PEOPLE = ["Alice Moreau", "Bob", "Chidi Okafor", "Dana", "Émile", "Farah Khan", "Goro"]
PLACES = ["Paris", "Lagos", "New York", "Kyoto", "Lima", "Oslo", "Quito"]
ORGS = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli"]
TEMPLATES = [
    "{PER} flew to {LOC} on Monday",
    "met {PER} at {ORG} today 🙂",
    "🎉 {ORG} opens a new office in {LOC}",
    "cafe\u0301 with {PER} near {LOC}",
    "nothing much happening here",
    "so tired of this weather lol",
    "{PER} says {ORG} is hiring",
    "why is everyone talking about it",
]


def span_corpus(n: int, *, seed: int = 0) -> tuple[list[str], list[list[Span]]]:
    """``n`` sentences and their spans (code points, sorted)."""
    rng = np.random.default_rng(seed)
    pools = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}
    texts: list[str] = []
    spans: list[list[Span]] = []
    for _ in range(n):
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        text, found, rest = "", [], template
        while "{" in rest:
            head, _, tail = rest.partition("{")
            label, _, rest = tail.partition("}")
            text += head
            surface = pools[label][int(rng.integers(len(pools[label])))]
            found.append(Span(len(text), len(text) + len(surface), label))
            text += surface
        text += rest
        texts.append(text)
        spans.append(sorted(found))
    return texts, spans
