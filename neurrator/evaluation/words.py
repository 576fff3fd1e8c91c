"""Distinctive words: which words one group's sentences use more than the others'.

The log-odds ratio with an informative Dirichlet prior of Monroe, Colaresi & Quinn (2008, "Fightin'
words", *Political Analysis* 16:372), z-scored by its approximate standard error. Words are counted
with scikit-learn's ``CountVectorizer`` and its English stop-word list. (No maintained package of
the field computes the estimator on its own; it is a few lines, written here.)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd


def word_counts(sentences: Mapping[str, Sequence[str]], stop_words: str | Sequence[str] | None = "english") -> pd.DataFrame:
    """(groups × words) counts of the words (2+ letters, lower case, stop words removed) in each group's sentences."""
    from sklearn.feature_extraction.text import CountVectorizer

    groups = list(sentences)
    texts = [" ".join(map(str, sentences[g])) for g in groups]
    vectorizer = CountVectorizer(stop_words=stop_words, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:                       # every sentence empty or only stop words
        return pd.DataFrame(index=pd.Index(groups, name="group"), dtype=np.int64)
    return pd.DataFrame(matrix.toarray(), index=pd.Index(groups, name="group"),
                        columns=vectorizer.get_feature_names_out()).astype(np.int64)


def log_odds_z(counts: pd.DataFrame, prior_total: float | None = None) -> pd.DataFrame:
    """(groups × words) z-scores of each group's log-odds ratio against all other groups pooled.

    The prior is informative: ``alpha_w = prior_total * (word w's share of all words)``, with
    ``prior_total`` the total count of all groups by default (Monroe et al.'s choice of a prior as
    strong as the data). ``delta_w = log((y_iw + a_w) / (n_i + a_0 - y_iw - a_w)) - log((y_jw + a_w) /
    (n_j + a_0 - y_jw - a_w))``, ``var = 1 / (y_iw + a_w) + 1 / (y_jw + a_w)``, ``z = delta / sqrt(var)``.
    """
    y = counts.to_numpy(np.float64)
    if y.size == 0 or y.sum() == 0:
        return counts.astype(np.float64)
    totals = y.sum(0)
    a0 = float(totals.sum() if prior_total is None else prior_total)
    if a0 <= 0:
        raise ValueError(f"prior_total must be positive, got {prior_total}")
    alpha = a0 * totals / totals.sum()
    z = np.zeros_like(y)
    for i in range(len(y)):
        mine, rest = y[i], totals - y[i]
        n_i, n_j = mine.sum(), rest.sum()
        delta = (np.log((mine + alpha) / (n_i + a0 - mine - alpha))
                 - np.log((rest + alpha) / (n_j + a0 - rest - alpha)))
        z[i] = delta / np.sqrt(1 / (mine + alpha) + 1 / (rest + alpha))
    return pd.DataFrame(z, index=counts.index, columns=counts.columns)


def distinctive_words(sentences: Mapping[str, Sequence[str]], top: int = 8,
                      stop_words: str | Sequence[str] | None = "english") -> pd.DataFrame:
    """Each group's ``top`` words by log-odds z against the other groups: group, rank, word, z, count."""
    counts = word_counts(sentences, stop_words)
    z = log_odds_z(counts)
    rows = []
    for group in counts.index:
        best = z.loc[group].sort_values(ascending=False, kind="stable").head(top)
        rows += [{"group": group, "rank": k + 1, "word": w, "z": float(v), "count": int(counts.at[group, w])}
                 for k, (w, v) in enumerate(best.items())]
    return pd.DataFrame(rows, columns=["group", "rank", "word", "z", "count"])
