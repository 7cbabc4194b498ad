"""The text-spans learner (NER). Placeholder until the token model lands: no local model; the
pool is ranked for diversity on sentence embeddings."""

from __future__ import annotations

import numpy as np

from labelloop.loop.plan_types import Learned, RetrainInputs
from labelloop.selection import PoolData, rank_pool


class SpanLearner:
    def learn(self, inputs: RetrainInputs, *, labeled: np.ndarray,
              rng: np.random.Generator) -> Learned:
        data, o = inputs.data, inputs.options
        pool = data.pool
        ranking = rank_pool(PoolData(inputs.x), pool, labeled, rng=rng,
                            batch_size=min(o.batch_size, max(1, pool.size)),
                            strategy="diversity")
        return Learned(ranking, np.zeros(len(data.task_ids), dtype=bool))


SPAN_LEARNER = SpanLearner()
