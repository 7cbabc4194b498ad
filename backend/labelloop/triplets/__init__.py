"""Hard-triplet active learning for embedding models (issue 16 part 4).

Pure parts: which triplets to ask about (:mod:`.mining`), how good an encoder is at retrieval
(:mod:`.retrieval`) and fine-tuning it on judged triplets (:mod:`.finetune`). The service side
(task type, storage, jobs) builds on these.
"""

from labelloop.triplets.mining import (
    JUDGEMENTS,
    Judgement,
    MinedTriplet,
    Triplet,
    mine_hard_triplets,
    random_triplets,
    training_triplets,
)
from labelloop.triplets.retrieval import mean_reciprocal_rank, recall_at_k, triplet_accuracy

__all__ = ["JUDGEMENTS", "Judgement", "MinedTriplet", "Triplet", "mean_reciprocal_rank",
           "mine_hard_triplets", "random_triplets", "recall_at_k", "training_triplets",
           "triplet_accuracy"]
