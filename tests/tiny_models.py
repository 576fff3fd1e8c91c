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


def tiny_sentence_tokenizer(max_length: int):
    """:func:`tiny_word_tokenizer` padded on the right that frames every sentence as ``<s> ... </s>`` (like
    BERT's [CLS] ... [SEP] or CLIP's start and end tokens: an empty sentence still has tokens)."""
    from tokenizers import processors

    tokenizer = tiny_word_tokenizer(padding_side="right")
    tokenizer.model_max_length = max_length
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", tokenizer.bos_token_id), ("</s>", tokenizer.eos_token_id)])
    return tokenizer


def save(obj, path: str | Path) -> Path:
    path = Path(path)
    obj.save_pretrained(path)
    return path


def build_tiny_blip2(path: str | Path, image_size: int = 32, num_query_tokens: int = 4, init_std: float = 1.0,
                     seed: int = 0) -> Path:
    """A tiny random ``Blip2ForConditionalGeneration`` + ``Blip2Processor`` saved under ``path``.

    ``init_std`` 1.0: wide random weights, so the tiny model says varied, non-empty things (a 0.02
    init mostly repeats BOS)."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        BlipImageProcessor,
        OPTConfig,
    )

    tokenizer = tiny_word_tokenizer(extra_special_tokens=("<image>",))
    config = Blip2Config(
        vision_config=Blip2VisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=image_size, patch_size=16, initializer_range=init_std,
        ),
        qformer_config=Blip2QFormerConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            vocab_size=64, max_position_embeddings=64, initializer_range=init_std,
        ),
        text_config=OPTConfig(
            hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=2, word_embed_proj_dim=32,
            vocab_size=len(tokenizer), max_position_embeddings=64, init_std=init_std,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        num_query_tokens=num_query_tokens,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(seed)
    model = Blip2ForConditionalGeneration(config)
    image_processor = BlipImageProcessor(size={"height": image_size, "width": image_size})
    processor = Blip2Processor(image_processor, tokenizer, num_query_tokens=num_query_tokens)
    return save(processor, save(model, path))


def build_tiny_sbert(path: str | Path, seed: int = 0) -> Path:
    """A tiny random BERT with mean pooling, saved as a ``SentenceTransformer`` under ``path``."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    path = Path(path)
    tokenizer = tiny_sentence_tokenizer(64)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(path / "bert")
    tokenizer.save_pretrained(path / "bert")
    transformer = models.Transformer(str(path / "bert"), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, models.Pooling(transformer.get_embedding_dimension(), "mean")],
                                device="cpu")
    model.save(str(path / "sbert"))
    return path / "sbert"


def build_tiny_clip_text(path: str | Path, seed: int = 0) -> Path:
    """A tiny random CLIP text tower with projection (``CLIPTextModelWithProjection``) and a word tokenizer."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    path = Path(path)
    tokenizer = tiny_sentence_tokenizer(32)
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=32, projection_dim=16,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    CLIPTextModelWithProjection(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_clip(path: str | Path, seed: int = 0, image_size: int = 32) -> Path:
    """A tiny random two-tower CLIP (``CLIPModel``), its image processor and a word tokenizer: the stand-in
    for the CLIP that scores images against texts on the paper profile."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    path = Path(path)
    tokenizer = tiny_sentence_tokenizer(32)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(image_size=image_size, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2),
        projection_dim=16)
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}).save_pretrained(path)
    return path
