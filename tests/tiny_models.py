"""Tiny, randomly initialised stand-ins for hub models, built offline (no downloads).

Each builder saves with ``save_pretrained`` so tests exercise the real ``from_pretrained`` path.
"""

from __future__ import annotations

from pathlib import Path

#: a small vocabulary: the prompt words plus common caption words
WORDS = (
    "USER: ASSISTANT: Describe this scene in one sentence. a an the of on in with and is are "
    "man woman dog cat car street tree house sky water road people sitting standing walking "
    "black white red green blue dark bright large small photo picture image view two three"
).split()


def tiny_word_tokenizer(extra_special_tokens: tuple[str, ...] = (), padding_side: str = "left"):
    """A word-level fast tokenizer with <s>, </s>, <unk>, <pad> and the given extra special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", *extra_special_tokens]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys([*specials, *WORDS, "\n"]))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        padding_side=padding_side,
    )
    if extra_special_tokens:
        tok.add_special_tokens({"additional_special_tokens": list(extra_special_tokens)})
    return tok


def save(obj, path: str | Path) -> Path:
    path = Path(path)
    obj.save_pretrained(path)
    return path
