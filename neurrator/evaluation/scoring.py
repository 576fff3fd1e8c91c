"""SBERT scoring of decoded narrations against the reference captions of their true frames, with controls.

Each narration is scored by the cosine between its SBERT embedding and that of the reference caption of
its own frame (``matched``). Three controls say what a score means:

* ``shuffled``: the same narrations against the references of other items (a seeded derangement), i.e.
  what a narration scores against a frame it was not decoded from;
* ``random_caption``: each narration against a caption drawn at random from the stimulus' caption pool,
  never the item's own reference string when another exists (the reference-independent floor);
* ``word_salad``: each reference against grammatical-looking nonsense (``WORD_SALAD``), i.e. what a
  fluent sentence with no content scores.

A decoder carries frame information only where ``matched`` clearly exceeds all three.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from neurrator.evaluation import inference
from neurrator.evaluation.sbert import embed_sentences

WORD_SALAD: tuple[str, ...] = (
    "Purple arithmetic hums beneath the sleeping invoice.",
    "The theorem of yesterday apologises to a loud vowel.",
    "Several reluctant decimals negotiate with the colour of Tuesday.",
    "A punctual silence forgets its own grammar.",
    "Obedient fractions whisper about the tax of echoes.",
    "The abstract syllable borrows courage from a lukewarm verb.",
    "Nine opinions evaporate into a polite paragraph.",
    "Her logarithm resigned because the adjective was too heavy.",
    "Crisp rumours of geometry dissolve in formal laughter.",
    "The committee of semicolons mourns an unfinished rhythm.",
    "Tomorrow's parenthesis sings louder than a quiet algebra.",
    "An honest probability sneezes at the edge of a footnote.",
    "Velvet deadlines calculate the patience of a synonym.",
    "The premise folded itself into a nervous percentage.",
    "Seventeen vague promises audit the flavour of an index.",
    "A diplomatic hyphen remembers the weight of Thursday.",
    "Elastic grammar disagrees with the temperature of irony.",
    "The syntax of regret invoices a hesitant integer.",
    "Bashful variables recite the mortgage of an idea.",
    "An oblique apology multiplies the echo of a clause.",
    "Sincere denominators stumble over the memory of rhyme.",
    "The hypothesis yawned at a fashionable contradiction.",
    "A tidy paradox bargains with the vocabulary of Monday.",
    "Granular metaphors subscribe to the policy of vowels.",
    "The inventory of doubts translated a modest exponent.",
    "Overdue axioms gossip about the texture of a tense.",
    "A courteous remainder misplaced its own definition.",
    "Translucent statistics pardon the ambition of a comma.",
    "The ledger of adverbs hesitates before a generous sum.",
    "Stubborn pronouns rehearse the arithmetic of nostalgia.",
    "A hollow citation outranks the curiosity of nouns.",
    "The quarterly mood of prefixes rounds down to kindness.",
    "Formal uncertainty knits a receipt for the subjunctive.",
    "An eager corollary postponed the grammar of fairness.",
)

SCORE_COLUMNS = ("matched", "shuffled", "random_caption", "word_salad")


def embed_unique(model, sentences: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """``embed_sentences`` rows for ``sentences``, embedding each distinct sentence only once."""
    sentences = list(sentences)
    unique = list(dict.fromkeys(sentences))
    emb = embed_sentences(model, unique, batch_size=batch_size)
    index = {s: i for i, s in enumerate(unique)}
    return emb[[index[s] for s in sentences]]


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` without fixed points (the identity for ``n == 1``)."""
    if n < 2:
        return np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def half_shift(frames: Sequence[int]) -> np.ndarray:
    """For items shown at ``frames``: the index of each item's partner half the items away in frame order
    (circularly), a derangement for two items or more."""
    order = np.argsort(np.asarray(frames), kind="stable")
    n = len(order)
    partner = np.empty(n, dtype=np.int64)
    partner[order] = order[(np.arange(n) + n // 2) % n]
    return partner


def score_narrations(model, narrations: Sequence[str], references: Sequence[str],
                     caption_pool: Sequence[str] | None = None, seed: int = 0,
                     frames: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-item cosines ``matched``, ``shuffled``, ``random_caption`` and ``word_salad`` (see the module docstring).

    With ``frames`` (each item's frame), the shuffled partner of an item is the reference of the item half the
    items away in frame order (a circular shift, :func:`half_shift`): the pairing keeps the movie's temporal
    structure on both sides and never pairs neighbouring frames. Without, a seeded derangement."""
    narrations, references = list(narrations), list(references)
    if len(narrations) != len(references):
        raise ValueError(f"{len(narrations)} narrations but {len(references)} reference captions")
    if not narrations:
        raise ValueError("no narrations to score")
    pool = list(dict.fromkeys(references if caption_pool is None else caption_pool))
    if not pool:
        raise ValueError("caption_pool is empty")
    n = len(narrations)
    rng = np.random.default_rng(seed)
    perm = derangement(n, rng) if frames is None else half_shift(frames)
    drawn = []
    for ref in references:
        others = [c for c in pool if c != ref] or pool
        drawn.append(others[rng.integers(len(others))])

    emb = embed_unique(model, narrations + references + drawn + list(WORD_SALAD)).astype(np.float64)
    nar, ref, cap, salad = np.split(emb, np.cumsum([n, n, n]))
    return pd.DataFrame({
        "matched": (nar * ref).sum(1),
        "shuffled": (nar * ref[perm]).sum(1),
        "random_caption": (nar * cap).sum(1),
        "word_salad": (ref @ salad.T).mean(1),
    })


def fraction_distinct(sentences: Sequence[str]) -> float:
    """Distinct sentences / sentences (nan when there are none)."""
    sentences = list(sentences)
    return len(set(sentences)) / len(sentences) if sentences else float("nan")


def matched_vs_shuffled(scores: pd.DataFrame, frame_column: str = "frame", seed: int = 0,
                        block_column: str | None = None) -> dict:
    """One-sided sign-flip test of ``matched > shuffled`` on the means of blocks of frames (block length from the
    autocorrelation of the difference, :func:`~neurrator.evaluation.inference.frame_blocks`), or of the groups
    in ``block_column`` where every item has one (e.g. the source photograph of a scene: images are not a
    movie's neighbours, their shared source is what ties them): the mean difference, p, the block length
    (0 for design blocks) and the number of blocks (the effective n)."""
    diff = scores["matched"].to_numpy(np.float64) - scores["shuffled"].to_numpy(np.float64)
    if block_column and block_column in scores and scores[block_column].notna().all():
        blocks = inference.design_blocks(scores[block_column], block_column)
    else:
        blocks = inference.frame_blocks(scores[frame_column].to_numpy(), diff)
    result = inference.paired_block_test(scores["matched"], scores["shuffled"], blocks, alternative="greater", seed=seed)
    return {**result, "block_frames": blocks.length or 0, "blocks_": blocks}


def parse_p(p: str) -> float:
    """The number behind a formatted p (``"<0.001"`` reads as 0.0005)."""
    return 0.0005 if p == "<0.001" else float(p)


#: the test and correction behind :func:`summary_table`'s p and q, for the line printed with the table
SUMMARY_TEST = ("one-sided sign-flip test of matched > shuffled on block means (blocks of consecutive frames, "
                "3 autocorrelation lengths of the difference); interval: bootstrap over the same blocks")


def summary_table(scores: pd.DataFrame, by: str | Sequence[str], narrations_column: str = "narration",
                  seed: int = 0, decimals: int = 2, frame_column: str = "frame", correction: str = "holm",
                  block_column: str | None = None) -> pd.DataFrame:
    """One row per group (first-appearance order): means of the scores and controls, a block-bootstrap CI of
    ``matched``, the sign-flip p of matched vs shuffled on block means (:data:`SUMMARY_TEST`) and its
    ``correction`` over the table's rows (the family), the block length (0 where a group's blocks are its
    ``block_column``, see :func:`matched_vs_shuffled`), the number of blocks (effective n), and the distinct
    narrations (count and fraction)."""
    keys = [by] if isinstance(by, str) else list(by)

    def row(group: pd.DataFrame) -> pd.Series:
        test = matched_vs_shuffled(group, frame_column, seed, block_column)
        low, high = inference.block_bootstrap_ci(group["matched"], test["blocks_"], seed=seed)
        means = group[list(SCORE_COLUMNS)].astype(np.float64).mean()
        return pd.Series({
            "n": len(group),
            "block (frames)": test["block_frames"],
            "blocks (n_eff)": test["blocks"],
            "matched": means["matched"],
            "matched CI low": low,
            "matched CI high": high,
            "shuffled": means["shuffled"],
            "random caption": means["random_caption"],
            "word salad": means["word_salad"],
            "matched - shuffled": means["matched"] - means["shuffled"],
            "p": test["p"],
            "distinct sentences": len(set(group[narrations_column])),
            "distinct": fraction_distinct(group[narrations_column]),
        }, dtype=object)

    columns = list(SCORE_COLUMNS) + [narrations_column, frame_column] + ([block_column] if block_column in scores else [])
    table = scores.groupby(keys, sort=False)[columns].apply(row).reset_index()
    p = table["p"].astype(np.float64).to_numpy()
    label = inference.CORRECTIONS[correction]
    table[f"q ({label})"] = [inference.format_p(q) for q in inference.correct(p, correction)]
    table["p"] = [inference.format_p(v) for v in p]
    floats = ["matched", "matched CI low", "matched CI high", "shuffled", "random caption", "word salad",
              "matched - shuffled", "distinct"]
    table[floats] = table[floats].astype(np.float64).round(decimals)
    for column in ("n", "block (frames)", "blocks (n_eff)", "distinct sentences"):
        table[column] = table[column].astype(int)
    table.attrs["family"] = inference.family_note("this table", len(table), correction, SUMMARY_TEST)
    return table


def above_controls(summary: pd.DataFrame, alpha: float = 0.05) -> pd.Series:
    """Per row: the matched CI lies above every control and the corrected p (the ``q`` column) is below
    ``alpha``."""
    floor = summary[["shuffled", "random caption", "word salad"]].max(axis=1)
    q_column = next(c for c in summary.columns if str(c).startswith("q ("))
    q = summary[q_column].map(lambda v: parse_p(v) if v else np.nan)
    return (summary["matched CI low"] > floor) & (q < alpha)
