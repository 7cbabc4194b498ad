"""Committee disagreement: how much the members (the LLM and the local model) disagree.

The committee is one stacked array ``(n_members, n_items, n_classes)`` of member probabilities
plus member weights. A member may have no answer for an item (the LLM failed on it): that row is
all NaN, and the item is scored over the members that did answer (weights renormalised). An item
nobody answered scores 0.

* :func:`vote_entropy`: entropy of the weighted hard votes (each member votes its argmax).
  Coarse with two members (0, or the entropy of the weights), but robust to bad calibration.
* :func:`js_divergence`: generalised Jensen–Shannon divergence, ``H(sum_m w_m p_m) -
  sum_m w_m H(p_m)``; 0 when members agree, at most ``H(w) <= log n_members``.
* :func:`agreement_weight`: maps a member's measured agreement with human labels to its weight;
  :func:`member_weight` measures it from the member's predictions and the human labels.
* :func:`llm_lead`: where the LLM and the local model disagreed, how much more often the LLM was
  the one humans agreed with — whether disagreement is worth labels at all.
"""

from __future__ import annotations

import numpy as np

from labelloop.selection.errors import SelectionInputError
from labelloop.selection.uncertainty import entropy
from labelloop.selection.validation import check_committee, check_weights

_BLOCK = 16_384  # items per block in js_divergence


def _member_weights(c: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-item weights ``(n_members, n_items)`` (0 where a member has no answer, rows renormalised)
    and a mask of items at least one member answered."""
    w = check_weights(weights, c.shape[0])
    answered = ~np.isnan(c).any(axis=2)  # (m, n)
    per_item = w[:, None] * answered
    total = per_item.sum(axis=0)
    ok = total > 0
    per_item[:, ok] /= total[ok]
    return per_item, ok


def vote_entropy(committee: np.ndarray, *, weights: np.ndarray | None = None,
                 normalised: bool = False) -> np.ndarray:
    """Entropy (nats) of the weighted vote share of each class, per item ``(n_items,)``.

    ``normalised`` divides by ``log(min(n_members, n_classes))``, the largest it can be.
    """
    c = check_committee(committee)
    n_members, n_items, n_classes = c.shape
    w, ok = _member_weights(c, weights)
    votes = np.argmax(np.nan_to_num(c, nan=-1.0), axis=2)  # (m, n)
    shares = np.zeros((n_items, n_classes))
    for m in range(n_members):
        np.add.at(shares, (np.arange(n_items), votes[m]), w[m])
    scores = np.where(ok, entropy(shares), 0.0)
    top = np.log(min(n_members, n_classes))
    return scores / top if normalised and top > 0 else scores


def js_divergence(committee: np.ndarray, *, weights: np.ndarray | None = None,
                  normalised: bool = False) -> np.ndarray:
    """Generalised Jensen–Shannon divergence of the members' distributions, per item.

    ``normalised`` divides by ``log(n_members)`` (the bound for equal weights), landing in [0, 1].
    Items are scored in blocks of ``_BLOCK``, so the temporaries stay a few MiB for any pool.
    """
    c = check_committee(committee)
    check_weights(weights, c.shape[0])
    scores = np.empty(c.shape[1])
    for s in range(0, c.shape[1], _BLOCK):
        scores[s : s + _BLOCK] = _js_block(c[:, s : s + _BLOCK], weights)
    top = np.log(c.shape[0])
    return scores / top if normalised and top > 0 else scores


def _js_block(c: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Unnormalised JS divergence of a checked float64 committee, per item (row-wise only)."""
    w, ok = _member_weights(c, weights)
    filled = np.nan_to_num(c, nan=0.0)
    consensus = np.einsum("mn,mnk->nk", w, filled)
    member_h = entropy(filled)  # (m, n); 0 for unanswered rows, which also have weight 0
    scores = entropy(consensus) - (w * member_h).sum(axis=0)
    return np.where(ok, np.maximum(scores, 0.0), 0.0)  # rounding can dip below 0


def consensus(committee: np.ndarray, *, weights: np.ndarray | None = None) -> np.ndarray:
    """The weighted mean distribution ``(n_items, n_classes)``; NaN rows where nobody answered."""
    c = check_committee(committee)
    w, ok = _member_weights(c, weights)
    out = np.einsum("mn,mnk->nk", w, np.nan_to_num(c, nan=0.0))
    out[~ok] = np.nan
    return out


def agreement_weight(agreement: float | None, *, chance: float, n_compared: int = 0,
                     prior_weight: float = 0.5, prior_strength: float = 20.0) -> float:
    """A committee weight in ``[0, 1]`` for a member from its agreement with human labels.

    ``agreement`` is the fraction of compared items where the member's label matched the human
    one, and ``chance`` the agreement a member guessing by the class frequencies would reach (for
    K balanced classes ``1/K``). The skill ``(agreement - chance) / (1 - chance)`` (Cohen's-kappa
    shape) is clipped to ``[0, 1]`` — a member no better than chance gets weight 0 — and shrunk
    toward ``prior_weight`` while few items were compared:
    ``(n * skill + prior_strength * prior_weight) / (n + prior_strength)``.
    """
    if not 0.0 <= chance < 1.0:
        raise SelectionInputError(f"chance must be in [0, 1), got {chance}")
    if not 0.0 <= prior_weight <= 1.0 or prior_strength < 0:
        raise SelectionInputError("prior_weight must be in [0, 1] and prior_strength >= 0")
    if n_compared < 0:
        raise SelectionInputError(f"n_compared must be >= 0, got {n_compared}")
    if agreement is None or n_compared == 0:
        return float(prior_weight)
    if not 0.0 <= agreement <= 1.0:
        raise SelectionInputError(f"agreement must be in [0, 1], got {agreement}")
    skill = min(max((agreement - chance) / (1.0 - chance), 0.0), 1.0)
    if prior_strength == 0:
        return float(skill)
    return float((n_compared * skill + prior_strength * prior_weight)
                 / (n_compared + prior_strength))


def member_weight(probas: np.ndarray, y: np.ndarray, *, prior_weight: float = 0.5,
                  prior_strength: float = 20.0) -> float:
    """A member's committee weight from what it predicted for items humans have since labeled.

    ``probas`` ``(n, n_classes)``: the member's distributions *made before* the human label
    (NaN rows: no answer); ``y``: the human labels (class positions). Agreement is the share of
    answered items whose argmax is the human label; chance is what guessing by the observed
    label frequencies would reach (the sum of squared frequencies). See
    :func:`agreement_weight`."""
    p = check_committee(np.asarray(probas)[None])[0]
    t = np.asarray(y)
    if t.shape != (p.shape[0],) or (t.size and not np.issubdtype(t.dtype, np.integer)):
        raise SelectionInputError(f"y must hold {p.shape[0]} integer class positions")
    if t.size and (t.min() < 0 or t.max() >= p.shape[1]):
        raise SelectionInputError(f"class positions must be in [0, {p.shape[1]})")
    answered = ~np.isnan(p).any(axis=1)
    n = int(answered.sum())
    freq = np.bincount(t, minlength=p.shape[1]) / max(t.size, 1)
    chance = min(float((freq ** 2).sum()), 0.99) if t.size else 1.0 / p.shape[1]
    if n == 0:
        return agreement_weight(None, chance=chance, prior_weight=prior_weight,
                                prior_strength=prior_strength)
    agree = float((np.argmax(p[answered], axis=1) == t[answered]).mean())
    return agreement_weight(agree, chance=chance, n_compared=n, prior_weight=prior_weight,
                            prior_strength=prior_strength)


def llm_lead(llm_probas: np.ndarray, model_probas: np.ndarray, y: np.ndarray, *,
             prior_strength: float = 10.0) -> float:
    """``(llm right - model right) / (disagreements + prior_strength)`` over labeled items
    where both answered and their top labels differ, clipped to [0, 1].

    Both arrays hold what the member predicted *before* the human label (NaN rows: no answer);
    ``y`` the human labels. 1: where they disagree the LLM is right and the model wrong; 0: the
    LLM is no better there (or nothing was measured yet). ``prior_strength`` pulls the value
    toward 0 while few disagreements were seen."""
    lp = check_committee(np.asarray(llm_probas)[None])[0]
    mp = check_committee(np.asarray(model_probas)[None])[0]
    t = np.asarray(y)
    if mp.shape != lp.shape or t.shape != (lp.shape[0],):
        raise SelectionInputError(f"llm_probas {lp.shape}, model_probas {mp.shape} and y "
                                  f"{t.shape} must describe the same items")
    if prior_strength < 0:
        raise SelectionInputError("prior_strength must be >= 0")
    both = ~np.isnan(lp).any(axis=1) & ~np.isnan(mp).any(axis=1)
    la, ma = np.argmax(np.nan_to_num(lp), axis=1), np.argmax(np.nan_to_num(mp), axis=1)
    differ = both & (la != ma)
    n = int(differ.sum())
    if n == 0:
        return 0.0
    lead = (int((la[differ] == t[differ]).sum()) - int((ma[differ] == t[differ]).sum()))
    return float(min(max(lead / (n + prior_strength), 0.0), 1.0))
