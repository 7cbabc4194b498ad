"""A tiny sentence-transformer with random weights (a 1-layer BERT of width 16 over a word
vocabulary), built offline in a test's temporary folder: loads and trains in well under a
second, so fine-tuning tests take a real optimisation step without the bundled MiniLM."""

from __future__ import annotations

from pathlib import Path

WORDS = ["good", "great", "fine", "lovely", "superb", "fun", "bad", "awful", "poor", "dull",
         "boring", "ugly", "the", "a", "movie", "film", "plot", "was", "is", "very"]


def build_tiny_sentence_transformer(path: Path, *, seed: int = 0) -> Path:
    """Save a Transformer + mean Pooling + Normalize model to ``path``; returns ``path``."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models

    bert_dir = path / "bert"
    bert_dir.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (bert_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=64)
    torch.manual_seed(seed)
    transformers.BertModel(config).eval().save_pretrained(bert_dir)
    transformers.BertTokenizerFast(str(bert_dir / "vocab.txt")).save_pretrained(bert_dir)
    body = models.Transformer(str(bert_dir), max_seq_length=32)
    model = SentenceTransformer(modules=[body, models.Pooling(16, "mean"), models.Normalize()],
                                device="cpu")
    out = path / "st"
    model.save(str(out), create_model_card=False)
    return out
