"""Chapter 07's steps: what each cell type's predicted patches are made of in a sparse dictionary, and every claim
about a cell type tested against its size-matched random controls.

The order of the chapter:

- :func:`stimulus_grids`, :func:`training_tokens`: the target tokens the SAE (:mod:`neurrator.models.sae`) learns from,
  with the labelling corpus's; :func:`sae_summary` / :func:`training_text` say how it trained;
- :func:`queried_populations`: the cell types of chapter 06 and up to ``limit`` of each one's control draws, queried
  through chapter 05's encoder (:func:`pan_session_encoder`, :func:`held_out_windows`, :func:`population_codes`);
  :func:`quality_table` measures how well the dictionary reconstructs each kind of token;
- :class:`FeatureProfiles`: each population's profile over the dictionary, its top-k features, those no other cell
  type has ("unique by magnitude"), each statistic against the controls (:meth:`FeatureProfiles.versus_controls`,
  :meth:`FeatureProfiles.pseudo_cell_types`, the check that the comparison can fail);
- :func:`corpus_labels`: the label of each corpus image, which names a feature;
- :func:`stability_table`: the top-k under resampling of blocks of frames;
- :func:`movie_concept_scores`, :func:`feature_concept_scores`, :func:`welch_tests`: concept leanings;
- :meth:`FeatureProfiles.planted_truth`: the codes planted in the demo world, against the controls;
- :func:`against_controls` (Holm over :func:`dictionary.control_null`), :func:`readable`, :func:`verdict`,
  :func:`family_note`: an against-controls table, for reading, its prose and what its family of tests is;
- :func:`record_tables`: the chapter's headline record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.evaluation import dictionary, inference, results

#: the demo world's planted codes: cell type -> the per-frame variable its drive rises with
PLANTED = {"PV": "rms_contrast", "SST": "vehicle", "VIP": "mean_luminance"}
#: chapter 05's pseudo-mouse (every session's units) in the data layout
POPULATION = "pan_session"


# tokens and the SAE ---------------------------------------------------------------------------------------------
def target_field_of_view(store, stimulus: str):
    """The field of view the target store's tokens of ``stimulus`` were made with (the corpus passes the same
    vision tower); a missing store names chapter 02. None where the backend has no such option."""
    from neurrator.artifacts import read_sidecar

    store.open(stimulus)
    return read_sidecar(store.path(stimulus))["params"]["backend"].get("field_of_view")


def stimulus_grids(store, stimuli: Sequence[str], backend_spec: dict | None = None) -> dict[str, np.ndarray]:
    """Every frame's target grid of each stimulus (with ``backend_spec``: made by that backend, else an error)."""
    opened = {s: store.open(s, backend_spec=backend_spec) for s in stimuli}
    return {s: t.rows(np.arange(t.shape[0])) for s, t in opened.items()}


def tokens_of(grids: np.ndarray) -> np.ndarray:
    """Grids ``(..., patches, dim)`` as token rows ``(n, dim)``."""
    return grids.reshape(-1, grids.shape[-1])


def training_tokens(stimulus_tokens: Mapping[str, np.ndarray], corpus_grids: np.ndarray) -> np.ndarray:
    """The SAE's training rows, float32: every patch token of the stimuli, then of the corpus."""
    return np.concatenate([tokens_of(g) for g in stimulus_tokens.values()] + [tokens_of(corpus_grids)]).astype(np.float32)


def sae_summary(sae, n_tokens: int, trained: bool) -> str:
    history, config = sae.history_, sae.config
    return (f"SAE with {config.n_features} features, k = {config.k}, on {n_tokens:,} tokens: "
            f"{'trained now' if trained else 'read back (same tokens, config and seed)'}; training took "
            f"{history['tokens_per_s'].rdiv(n_tokens).sum():.0f} s at {history['tokens_per_s'].mean():,.0f} tokens/s")


def training_text(history: pd.DataFrame, n_features: int) -> str:
    """Prose for the last epoch of an SAE's ``history_``."""
    if len(history) <= 1:
        return f"the SAE trained for one epoch (training R² {1 - history['nmse'].iloc[-1]:.2f})"
    return (f"after {len(history)} epochs the training R² is {1 - history['nmse'].iloc[-1]:.2f} "
            f"(gaining {history['nmse'].iloc[-2] - history['nmse'].iloc[-1]:.2f} in the last epoch) and "
            f"{history['dead_fraction'].iloc[-1]:.0%} of the {n_features} features are dead")


# the populations queried ------------------------------------------------------------------------------------------
@dataclass
class QueriedPopulations:
    """The cell types, their control draws (``members``: type -> [the type, then its draws' names]) and the
    columns of every population queried; ``made``: how many draws chapter 06 made per type."""

    populations: dict[str, np.ndarray]
    members: dict[str, list[str]]
    columns: dict[str, np.ndarray]
    made: int

    @property
    def cell_types(self) -> list[str]:
        return list(self.populations)

    @property
    def n_draws(self) -> int:
        return min(len(m) - 1 for m in self.members.values())

    @property
    def control_names(self) -> list[str]:
        """Each type's draw 0, shown beside the types."""
        return [f"{t} control 0" for t in self.cell_types if len(self.members[t]) > 1]

    def describe(self) -> str:
        return (f"querying {len(self.populations)} cell types and {self.n_draws} size-matched control draws of each "
                f"(chapter 06 made {self.made}): {len(self.columns)} populations")

    def draws_text(self) -> str:
        """How many draws each type has, and what the smallest p of a single type against them allows."""
        n, types = self.n_draws, self.cell_types
        floor = 1 / (n + 1)
        return (f"{n} draws per type, so a single type's p against its draws cannot go below 1/{n + 1} = {floor:.3f}"
                + (f", above 0.05: no single cell type can be shown to beat its controls in this run (that needs "
                   f"{int(1 / 0.05)} draws or more: this chapter's `control_draws`, up to chapter 06's `controls`), "
                   f"only the {len(types)} types together (p floor 1/{np.prod([len(m) for m in self.members.values()])})"
                   if floor >= 0.05 else ""))


def queried_populations(populations: Mapping[str, np.ndarray], controls: Mapping[str, list[np.ndarray]],
                        limit: int) -> QueriedPopulations:
    """The cell types and at most ``limit`` of each one's control draws (``celltypes.split_population_table``)."""
    draws = {t: list(controls.get(t, []))[:limit] for t in populations}
    members = {t: [t, *(f"{t} control {d}" for d in range(len(draws[t])))] for t in populations}
    columns = {**populations, **{f"{t} control {d}": c for t, cs in draws.items() for d, c in enumerate(cs)}}
    return QueriedPopulations(dict(populations), members, columns, max(len(cs) for cs in controls.values()))


def pan_session_encoder(layout, stimulus: str, regime: str):
    """``(decoder, split)``: chapter 05's pan-session encoder of ``regime`` and its saved split."""
    from neurrator.data import splits
    from neurrator.models.training import SpikeDecoder

    decoder = SpikeDecoder.load(layout.decoder(POPULATION, stimulus, regime), made_by="05_scaling")
    return decoder, splits.read_split(layout.split(POPULATION, stimulus, regime), made_by="05_scaling")


def held_out_windows(layout, decoder, split, stimulus: str, per_frame: int | None, seed: int = 0):
    """The held-out windows of chapter 05's pan-session pseudo-mouse (its saved ``split``, the ``decoder``'s
    z-scoring, no augmentation), ``per_frame`` of each test frame (spread over its repeats)."""
    from neurrator.data import windows
    from neurrator.data.pseudomice import pan_session_mouse

    binned = pan_session_mouse(layout, stimulus, None).as_binned()
    test = windows.from_split(binned, split, decoder.zscore_, seed=seed, jitter=0, neuron_dropout=0.0).test
    return windows.sample_per_frame(test, per_frame)


def population_codes(decoder, windows, columns: Mapping[str, np.ndarray], sae) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(frame of each window, population -> codes (windows, features))``: the decoder queried with each
    population's units only, each predicted grid encoded by ``sae`` (:func:`dictionary.window_codes`)."""
    if decoder.out_shape_[-1] != sae.model_.d_input:
        raise ValueError(f"the encoder predicts {decoder.out_shape_[-1]}-d patches, the SAE reads {sae.model_.d_input}-d "
                         "tokens: both must come from the same profile's target store")
    codes, frames = {}, np.zeros(0, np.int64)
    for name, cols in columns.items():
        frames, codes[name] = dictionary.window_codes(decoder, windows, cols, sae)
    return frames, codes


def quality_table(sae, decoder, windows, targets: Mapping[str, np.ndarray], columns: Mapping[str, np.ndarray | None]
                  ) -> pd.DataFrame:
    """R², silent features and active features per token of the SAE on each set of target tokens (``targets``:
    name -> grids) and on the predictions of each population (``columns``: name -> its units, None for every
    unit) on one test window per frame."""
    from neurrator.data.windows import neuron_mask, sample_per_frame

    sample = sample_per_frame(windows, 1)
    rows = {f"{name} (targets)": tokens_of(g) for name, g in targets.items()}
    for name, cols in columns.items():
        rows[f"{name} (predicted)"] = tokens_of(decoder.predict(sample, neuron_mask=neuron_mask(windows.counts.shape[1], cols)))
    table = pd.DataFrame({name: sae.quality(x) | {"tokens": len(x)} for name, x in rows.items()}).T
    table = table.rename(columns={"r2": "R²", "dead_fraction": "silent features", "mean_active": "active per token"})
    return table.assign(tokens=table["tokens"].astype(int))


def quality_text(quality: pd.DataFrame, stimulus: str, cell_types: Sequence[str]) -> str:
    return (f"R² {quality.at[f'{stimulus.replace(chr(95), chr(32))} (targets)', 'R²']:.2f} on the movie's target tokens "
            f"and {quality.at['labelling corpus (targets)', 'R²']:.2f} on the corpus's, but "
            f"{quality.at['all units (predicted)', 'R²']:.2f} on the all-unit predictions and "
            + ", ".join(f"{quality.at[f'{t} (predicted)', 'R²']:.2f} ({t})" for t in cell_types) + " on the populations' own")


# against the controls -------------------------------------------------------------------------------------------
def against_controls(statistic: Callable[[Mapping[str, str]], Mapping[str, float]], members: Mapping[str, Sequence[str]],
                     alternative: str, seed: int = 0) -> pd.DataFrame:
    """:func:`dictionary.control_null` with Holm's correction over its rows (``p (Holm)``)."""
    table = dictionary.control_null(statistic, members, alternative, seed=seed)
    table["p (Holm)"] = inference.correct(table["p"].to_numpy(), "holm")
    return table


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """An against-controls table for reading: p with the floor its draws allow, Holm-adjusted p."""
    return table.drop(columns="p floor").round(2).assign(
        p=[inference.format_p(p, f) for p, f in zip(table["p"], table["p floor"])],
        **{"p (Holm)": table["p (Holm)"].map(inference.format_p)})


def verdict(table: pd.DataFrame, statistic: str, beating: str) -> str:
    """Prose for one statistic of an against-controls table, with what passing it means (``beating``)."""
    rows = table.loc[statistic]
    types = [t for t in rows.index if t != "all types"]
    text = ", ".join(f"{t} {r['value']:.3g} (draws {r['control min']:.3g}–{r['control max']:.3g}, p "
                     f"{inference.format_p(r['p'], r['p floor'])})" for t, r in rows.loc[types].iterrows())
    if "all types" in rows.index:
        text += f"; all types together p {inference.format_p(rows.at['all types', 'p'], rows.at['all types', 'p floor'])}"
    passed = [t for t in rows.index if rows.at[t, "p (Holm)"] < 0.05]
    return text + (f": after Holm's correction {', '.join(passed)} {beating}" if passed else
                   f": after Holm's correction no type, nor the types together, {beating}")


def pseudo_text(table: pd.DataFrame) -> str:
    """The verdict of the check that the comparison can fail (no pseudo cell type may pass)."""
    if not len(table):
        return "not run: it needs at least two draws per type"
    passes = int((table["p (Holm)"] < 0.05).sum())
    return (f"{passes} of its {len(table)} tests pass after Holm's correction (smallest p "
            f"{inference.format_p(table['p'].min())}, as it should: "
            + ("nothing in a random population is special)" if passes == 0 else
               "the comparison flags a random population, so its verdicts on the cell types cannot be trusted)"))


#: the families of tests against the controls: name -> (table, correction, what is tested)
FAMILIES = {
    "cell types": ("cell types against their controls", "holm",
                   "each type's statistic against its draws in its place, the sum over types against every "
                   "assignment of draws to types (one-sided); n_eff: the draws"),
    "pseudo cell types": ("pseudo cell types (draw 0 relabelled) against the other draws", "holm", "the same tests"),
    "stability": ("mean overlap against the controls", "holm",
                  "each type's mean block-bootstrap overlap against its draws', the sum over types against every "
                  "assignment of draws to types (two-sided); n_eff: the draws"),
    "Welch passes": ("Welch passes against the controls", "holm",
                     "each type's number of concepts passing q < 0.05 against its draws' in its place, the sum over "
                     "types against every assignment of draws to types (one-sided); n_eff: the draws"),
    "specificity": ("specificity against the controls", "holm",
                    "each type's median 'times more strongly' of its most specific features against its draws' in its "
                    "place, the sum over types against every assignment of draws to types (one-sided); n_eff: the draws"),
    "leanings": ("the leanings against the controls", "holm",
                 "each carrier's leaning against its draws' in its place, the sum over carriers against every "
                 "assignment of draws (one-sided); n_eff: the draws"),
}

#: what the planted-truth table's p-values are
PLANTED_NOTE = ("p vs random sets and p (below): one-sided against random feature sets of the same size, uncorrected and "
                "descriptive; p vs controls and p (Holm): from the table below, which decides 'recovered'")


def family_note(family: str, table: pd.DataFrame) -> str:
    """:func:`inference.family_note` for one of the :data:`FAMILIES` of tests, of ``table``'s size."""
    name, method, test = FAMILIES[family]
    return inference.family_note(name, len(table), method, test)


def stability_text(stability: pd.DataFrame, cell_types: Sequence[str]) -> str:
    return "; ".join(f"{n}: mean overlap {stability.at[n, 'mean']:.2f} over blocks (single bins: "
                     f"{stability.at[n, 'single bins: mean']:.2f}), {stability.at[n, 'in every resample']} "
                     f"features in every resample" for n in cell_types)


def welch_text(welch: pd.DataFrame, welch_null: pd.DataFrame) -> str:
    return (f"{int(welch['significant'].sum())} of {len(welch)} (concept, population) Welch tests pass q < 0.05 "
            f"for the cell types, but their features are not independent samples; the passes per type against its draws': "
            + verdict(pd.concat({"passes": welch_null}), "passes", "leans towards more concepts than its draws"))


def planted_text(planted: pd.DataFrame, leaning_null: pd.DataFrame) -> str:
    """The verdict on the planted codes (:meth:`FeatureProfiles.planted_truth`), or why there is none."""
    if not len(planted):
        return "not tested: the paper profile has no planted truth"
    return (verdict(pd.concat({"leaning": leaning_null}), "leaning", "leans towards its planted variable more than its "
                    "draws") + ". " + "; ".join(planted_verdict(r) for _, r in planted.iterrows()))


def chapter_finding(cell_type_null: pd.DataFrame, leaning_null: pd.DataFrame, k: int) -> str:
    """Chapter 07's headline sentence (display only): each type's unique top-``k`` features against its size-matched
    draws' range, the types together, and how many planted codes the controls let count as recovered."""
    rows = cell_type_null.loc["unique features"]
    types = [t for t in rows.index if t != "all types"]
    text = (f"Among the top {k} features of a sparse dictionary of the predicted patches, "
            + ", ".join(f"{t} has {rows.at[t, 'value']:.0f} unique (size-matched random draws "
                        f"{rows.at[t, 'control min']:.0f}–{rows.at[t, 'control max']:.0f})" for t in types))
    if "all types" in rows.index:
        text += (f"; the types together {rows.at['all types', 'value']:.0f} against {rows.at['all types', 'control mean']:.1f}"
                 f" (p {inference.format_p(rows.at['all types', 'p'], rows.at['all types', 'p floor'])}, Holm "
                 f"{inference.format_p(rows.at['all types', 'p (Holm)'])})")
    if len(leaning_null):
        carriers = leaning_null.drop(index="all types", errors="ignore")
        text += (f", and {int((carriers['p (Holm)'] < 0.05).sum())} of the {len(carriers)} planted codes are recovered "
                 "against those controls")
    return text + "."


# profiles over the dictionary -------------------------------------------------------------------------------------
class FeatureProfiles:
    """Each population's profile (mean activation of each feature over the test windows, ``table``: features x
    populations), its top-``k`` (``tops``), and the features of a type's top-k that no other type has
    (``unique``; ``unique_as``: each member's, in its type's place); ``members``: type -> [type, its draws]."""

    def __init__(self, codes: Mapping[str, np.ndarray], members: Mapping[str, Sequence[str]], k: int):
        self.table = pd.DataFrame({name: c.mean(0) for name, c in codes.items()})
        self.tops = {name: dictionary.top_features(self.table[name].to_numpy(), k) for name in codes}
        self.members, self.k = {t: list(m) for t, m in members.items()}, k
        self.cell_types = list(members)
        self.observed = {t: t for t in self.cell_types}
        self.unique = self.unique_when_playing(self.observed)
        self.unique_as = {m: self.unique_when_playing({**self.observed, t: m})[t] for t in self.cell_types
                          for m in self.members[t]}
        self.shared = self.shared_within(self.members)

    def unique_when_playing(self, assignment: Mapping[str, str]) -> dict[str, np.ndarray]:
        """Each type's top-k features that no other type's top-k has, when ``assignment`` (type -> population)
        plays them."""
        return dictionary.unique_by_magnitude({t: self.tops[m] for t, m in assignment.items()})

    def specificity_when_playing(self, assignment: Mapping[str, str]) -> dict[str, np.ndarray]:
        """Each type's "times more strongly" per feature (:func:`dictionary.specificity`) when ``assignment`` (type ->
        population) plays the types."""
        return dictionary.specificity({t: self.table[m].to_numpy() for t, m in assignment.items()})

    def specificity_statistic(self, assignment: Mapping[str, str], n: int) -> dict[str, float]:
        """Each type's median "times more strongly" over its ``n`` most specific features."""
        return {t: float(np.median(np.sort(r)[::-1][:n])) for t, r in self.specificity_when_playing(assignment).items()}

    def specificity_versus_controls(self, n: int, seed: int = 0) -> pd.DataFrame:
        """The cell types' :meth:`specificity_statistic` against their size-matched draws playing them (and all types
        together); Holm over the table."""
        table = pd.concat({"specificity": dictionary.control_null(lambda a: self.specificity_statistic(a, n), self.members,
                                                                  "greater", seed=seed)}, names=["statistic", "population"])
        return table.assign(**{"p (Holm)": inference.correct(table["p"].to_numpy(), "holm")})

    def specific_table(self, labels: pd.DataFrame, n: int) -> pd.DataFrame:
        """Each type's ``n`` most specific features (ranked by "times more strongly", as the paper ranks unique
        features) with their corpus label and mean activation."""
        ratios = self.specificity_when_playing(self.observed)
        return pd.DataFrame([{"population": t, "rank": rank + 1, "feature": int(f),
                              "times more strongly": ratios[t][f], "mean activation": self.table.at[int(f), t],
                              "label": labels.at[int(f), "label"], "label share": round(labels.at[int(f), "share"], 2),
                              **({"scene words": labels.at[int(f), "scene words"]} if "scene words" in labels else {})}
                             for t in self.cell_types for rank, f in enumerate(dictionary.top_features(ratios[t], n))])

    def shared_within(self, members: Mapping[str, Sequence[str]]) -> dict[str, float]:
        """Each population's mean number of top-k features shared with the other populations of its type."""
        return {m: np.mean([len(np.intersect1d(self.tops[m], self.tops[o])) for o in ms if o != m]) if len(ms) > 1
                else np.nan for ms in members.values() for m in ms}

    def strongest(self, names: Sequence[str], n: int = 8) -> pd.DataFrame:
        """Populations x the union of their ``n`` strongest features, scaled to the largest activation shown."""
        union = list(dict.fromkeys(int(f) for name in names for f in self.tops[name][:n]))
        heat = self.table.loc[union, list(names)].T
        return heat / heat.to_numpy().max()

    def summary(self, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Per population: units, active features, top-k shared with its type's others, unique in its type's place."""
        return pd.DataFrame([{
            "population": m, "units": len(columns[m]), "active features": int((self.table[m] > 0).sum()),
            f"top-{self.k} shared with its type's others": self.shared[m], "unique by magnitude": len(self.unique_as[m])}
            for t in self.cell_types for m in self.members[t]]).set_index("population")

    def versus_controls(self, members: Mapping[str, Sequence[str]] | None = None, seed: int = 0) -> pd.DataFrame:
        """Unique features (more than the draws?) and top-k shared with the type's others (fewer?) of each type
        against its draws, and of all types together; Holm over the table."""
        members = self.members if members is None else members
        shared = self.shared_within(members)
        table = pd.concat({
            "unique features": dictionary.control_null(
                lambda a: {t: len(u) for t, u in self.unique_when_playing(a).items()}, members, "greater", seed=seed),
            f"top-{self.k} shared with its type's others": dictionary.control_null(
                lambda a: {t: shared[m] for t, m in a.items()}, members, "less", seed=seed)},
            names=["statistic", "population"])
        return table.assign(**{"p (Holm)": inference.correct(table["p"].to_numpy(), "holm")})

    def pseudo_cell_types(self, seed: int = 0) -> pd.DataFrame:
        """The check that the comparison can fail: each type's draw 0 plays the type, its other draws are its
        controls (empty where fewer than two types have two draws or more)."""
        pseudo = {t: ms[1:] for t, ms in self.members.items() if len(ms) > 2}
        return self.versus_controls(pseudo, seed=seed) if len(pseudo) > 1 else pd.DataFrame()

    def unique_table(self, labels: pd.DataFrame) -> pd.DataFrame:
        """Each type's unique features with their corpus label (``labels``: :func:`dictionary.feature_labels` by
        feature)."""
        return pd.DataFrame([{"population": t, "rank in top-k": int(np.flatnonzero(self.tops[t] == f)[0]) + 1,
                              "feature": int(f), "label": labels.at[int(f), "label"],
                              "label share": round(labels.at[int(f), "share"], 2),
                              **({"scene words": labels.at[int(f), "scene words"]} if "scene words" in labels else {}),
                              "mean activation": self.table.at[int(f), t]}
                             for t in self.cell_types for f in self.unique.get(t, [])])

    def planted_truth(self, variables: Mapping[str, np.ndarray], frame_acts: np.ndarray, frames_per_feature: int,
                      null_sets: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
        """Each carrier's planted variable (``variables``: type -> its value per movie frame) over its features.

        A feature's value is the variable's mean over its ``frames_per_feature`` most activating frames; a
        carrier's leaning is that value averaged over its unique features, in SD of the variable over the movie
        from the movie's mean (0 without unique features), against its draws' in its place. Returns the table
        (also against ``null_sets`` random feature sets, descriptive), the leanings against the controls and the
        value of every feature per carrier."""
        if not variables:
            return pd.DataFrame(), pd.DataFrame(), {}
        carriers = list(variables)
        top_frames = dictionary.top_images(frame_acts, self.table.index.to_numpy(), frames_per_feature)
        per_feature = {t: np.array([variables[t][top_frames[f]].mean() if len(top_frames[f]) else np.nan
                                    for f in self.table.index]) for t in carriers}

        def leaning(assignment):
            own = self.unique_when_playing({**self.observed, **assignment})
            return {t: (np.nanmean(per_feature[t][own[t]]) - variables[t].mean()) / variables[t].std() if len(own[t])
                    else 0.0 for t in assignment}

        def whole_profile(t, m):
            """Carrier ``t``'s variable over every feature, weighted by population ``m``'s mean activation."""
            finite = np.isfinite(per_feature[t])
            return float(np.average(per_feature[t][finite], weights=self.table[m].to_numpy()[finite]))

        null = against_controls(leaning, {t: self.members[t] for t in carriers}, "greater", seed=seed)
        rows = []
        for t in carriers:
            own = dictionary.feature_set_statistic(per_feature[t], self.unique[t], n_random=null_sets, seed=seed)
            away = dictionary.feature_set_statistic(-per_feature[t], self.unique[t], n_random=null_sets, seed=seed)["p"]
            draws = self.members[t][1:]
            rows.append({"planted": f"{t} → {PLANTED.get(t, t)}", "unique features": own["n"],
                         "statistic": own["statistic"], "random sets": own["null mean"], "p vs random sets": own["p"],
                         "p (below)": away, "leaning (SD)": null.at[t, "value"], "control leaning": null.at[t, "control mean"],
                         "p vs controls": null.at[t, "p"], "p (Holm)": null.at[t, "p (Holm)"],
                         "recovered": bool(null.at[t, "p (Holm)"] < 0.05), "movie mean": variables[t].mean(),
                         "whole profile": whole_profile(t, t),
                         "control whole profile": np.mean([whole_profile(t, m) for m in draws]) if draws else np.nan})
        return pd.DataFrame(rows), null, per_feature


def planted_variables(layout, stimulus: str, cell_types: Sequence[str]) -> dict[str, np.ndarray]:
    """Per cell type with a planted code in the demo world (:data:`PLANTED`), its variable on each movie frame."""
    from neurrator.stimulus_tables import STIMULUS_FOLDER, read_frame_info

    carriers = [t for t in cell_types if t in PLANTED]
    if not carriers:
        return {}
    info = read_frame_info(layout.allen_cache / STIMULUS_FOLDER)[stimulus].set_index("frame")
    return {t: info[PLANTED[t]].astype(float).to_numpy() for t in carriers}


SAE_ROUTE = "dictionary of the masked query (unique features)"


def with_dictionary_route(routes: pd.DataFrame, planted: pd.DataFrame, leaning_null: pd.DataFrame,
                          alpha: float = 0.05) -> pd.DataFrame:
    """Chapter 06's planted truth by route (:func:`cell_types.read_routes`) with this chapter's route added per
    planted code: the carrier's unique features' leaning (SD) against its draws' (:meth:`FeatureProfiles.planted_truth`
    and its ``leaning_null``; above the rest: above every draw's), all p Holm-corrected again as one family
    (:func:`cell_types.correct_routes`)."""
    from neurrator.evaluation import cell_types as chapter06

    if not len(planted) or not len(routes):
        return routes.assign(**{"leaning (SD)": np.nan})
    carriers = planted["planted"].str.split(" → ").str[0]
    rows = pd.DataFrame({"planted": planted["planted"], "route": SAE_ROUTE, "ρ": np.nan, "p": planted["p vs controls"],
                         "other types ρ": "", "controls ρ (max)": np.nan, "distinct sentences": np.nan,
                         "above the rest": planted["leaning (SD)"].to_numpy() > leaning_null.loc[carriers, "control max"].to_numpy(),
                         "leaning (SD)": planted["leaning (SD)"]})
    table = pd.concat([routes.assign(**{"leaning (SD)": np.nan}), rows], ignore_index=True)
    order = {code: k for k, code in enumerate(dict.fromkeys(routes["planted"]))}
    table = table[table["planted"].isin(order)].sort_values("planted", key=lambda c: c.map(order), kind="stable")
    return chapter06.correct_routes(table.reset_index(drop=True), alpha)


def planted_verdict(row: Mapping) -> str:
    """Prose for one row of :meth:`FeatureProfiles.planted_truth`'s table."""
    text = (f"{row['planted']} is {'recovered' if row['recovered'] else 'not recovered'} (unique features' mean "
            f"{row['statistic']:.3f} against {row['random sets']:.3f} for random sets; leaning {row['leaning (SD)']:+.2f} SD, "
            f"its draws' {row['control leaning']:+.2f} on average)")
    if row["p (below)"] < 0.05 and row["leaning (SD)"] < 0:
        text += f": its unique features lean away from the planted variable (p {row['p (below)']:.3f} below random sets)"
    whole, draws_whole = row["whole profile"], row["control whole profile"]
    side = "above" if whole > draws_whole else "not above"
    return text + (f"; over its whole profile (every feature, weighted by its mean activation) it is {whole:.3f}, "
                   f"{side} its draws' {draws_whole:.3f}")


# naming, stability, concepts --------------------------------------------------------------------------------------
def corpus_labels(backend, corpus_grids: np.ndarray, corpus_frames: np.ndarray, image_text_model=None) -> list[str]:
    """One label per corpus image: CLIP's zero-shot ImageNet class where there is an image-text model (paper),
    else the frozen classifier's most probable label (demo)."""
    from neurrator.vlm.efficientnet import imagenet_class_names

    if image_text_model is None:
        return [labels[0] for labels in backend.labels(corpus_grids)]
    class_names = imagenet_class_names()
    prompts = image_text_model.encode([f"a photo of a {name}" for name in class_names])
    return [class_names[i] for i in (image_text_model.encode_images(corpus_frames) @ prompts.T).argmax(1)]


def with_scene_words(labels: pd.DataFrame, feature_images: Mapping[int, np.ndarray], scene_backend,
                     corpus_grids: np.ndarray) -> pd.DataFrame:
    """``labels`` (by feature) with the scene narrator's words for each feature's top corpus images: where the named
    object sits and the lighting words most of them get (``scene words``, ``words share``). Unchanged without a
    scene narrator (the paper's LLaVA)."""
    if scene_backend is None:
        return labels
    scene = scene_backend.scene(corpus_grids)
    words = [", ".join([place, *said]) for place, said in zip(scene["place"], scene["words"])]
    named = dictionary.feature_labels(feature_images, words).set_index("feature")
    return labels.join(named[["label", "share"]].rename(columns={"label": "scene words", "share": "words share"}))


def stability_table(codes: Mapping[str, np.ndarray], frames: np.ndarray, cell_types: Sequence[str],
                    unique_as: Mapping[str, np.ndarray], k: int, n_boot: int, seed: int = 0):
    """``(table, overlaps, blocks)``: each population's top-k overlap over ``n_boot`` resamples of blocks of frames
    (:func:`dictionary.top_k_blocks`), beside resamples of single bins (cell types only), features in every
    resample and the unique ones among them."""
    blocks = dictionary.top_k_blocks(codes, frames, k)
    overlaps, always = dictionary.bootstrap_top_overlap(codes, k, n_boot, seed=seed, blocks=blocks)
    single_bins, _ = dictionary.bootstrap_top_overlap({t: codes[t] for t in cell_types}, k, n_boot, seed=seed)
    table = overlaps.groupby("population", sort=False)["overlap"].describe(percentiles=[0.05, 0.5])[["mean", "5%", "50%", "min"]]
    table["single bins: mean"] = single_bins.groupby("population")["overlap"].mean()
    table["top-k"] = k  # overlaps are fractions of these k features
    table["in every resample"] = [len(always[n]) for n in table.index]
    table["unique and in every resample"] = [len(np.intersect1d(unique_as[n], always[n])) for n in table.index]
    table["block (frames)"], table["blocks (n_eff)"] = blocks.length, blocks.n
    return table, overlaps, blocks


def movie_concept_scores(model, layout, stimulus: str, n_frames: int, concepts: Sequence[str]) -> pd.DataFrame:
    """(movie frames x concepts) similarity: an image-text model's (one with ``encode_images``: CLIP) image–text
    cosine; a sentence model's cosine between the concept and the frame's reference caption (the demo's stand-in)."""
    if hasattr(model, "encode_images"):
        from neurrator.data import allen

        frames = allen.stimulus_frames(allen.open_cache(layout.allen_cache), stimulus)
        scores = model.encode_images(frames) @ model.encode(concepts).T
    else:
        from neurrator.vlm import captions

        refs = captions.read_captions(layout.captions(stimulus))
        scores = (model.encode([refs[f] for f in range(n_frames)], normalize_embeddings=True)
                  @ model.encode(concepts, normalize_embeddings=True).T)
    return pd.DataFrame(scores, columns=list(concepts))


def feature_concept_scores(tops: Mapping[str, np.ndarray], names: Sequence[str], frame_acts: np.ndarray,
                           frame_concept: pd.DataFrame, n_features: int, n_frames: int) -> pd.DataFrame:
    """One row per (population, feature) of each population's ``n_features`` top features: the mean concept
    score of the feature's ``n_frames`` most activating movie frames (features silent on the movie left out)."""
    rows = []
    for name in names:
        for f in tops[name][:n_features]:
            frames = dictionary.top_images(frame_acts, [f], n_frames)[int(f)]
            if len(frames):
                rows.append({"population": name, "feature": int(f), **frame_concept.iloc[frames].mean().to_dict()})
    return pd.DataFrame(rows)


def welch_tests(concept_scores: pd.DataFrame, assignment: Mapping[str, str]) -> pd.DataFrame:
    """Welch + BH of the top features of the populations playing the types (``assignment``: type -> population)."""
    playing = {m: t for t, m in assignment.items()}
    scores = concept_scores[concept_scores["population"].isin(playing)]
    if scores["population"].nunique() < 2:      # top features that fire on no movie frame have no scores
        return pd.DataFrame(columns=["concept", "population", "significant"])
    return dictionary.concept_validation(scores.assign(population=scores["population"].map(playing)))


def welch_passes(concept_scores: pd.DataFrame, assignment: Mapping[str, str]) -> pd.Series:
    """Per type, the concepts whose Welch test passes q < 0.05."""
    return (welch_tests(concept_scores, assignment).groupby("population")["significant"].sum()
            .reindex(list(assignment), fill_value=0))


def welch_against_controls(concept_scores: pd.DataFrame, members: Mapping[str, Sequence[str]], seed: int = 0) -> pd.DataFrame:
    """Each type's number of concepts passing q < 0.05 against its draws' in its place (one-sided), Holm."""
    return against_controls(lambda a: welch_passes(concept_scores, a), members, "greater", seed=seed)


def readable_welch(welch: pd.DataFrame) -> pd.DataFrame:
    return (welch.assign(p=welch["p"].map(lambda p: f"{p:.2g}"), **{"q (BH)": welch["q (BH)"].map(lambda q: f"{q:.2g}")})
            .set_index(["concept", "population"]).round({"mean": 2, "others' mean": 2, "t": 1}))


# the record -------------------------------------------------------------------------------------------------------
def null_record(table: pd.DataFrame, counts: bool) -> dict:
    """An against-controls table: p within the P_VALUE tolerance, the number of draws exactly, and (``counts``:
    values that are counts of SAE features) the value and the draws' mean as feature counts."""
    return results.table_record(table.round(3), {"draws": results.EXACT, "p": results.P_VALUE} | (
        dict.fromkeys(["value", "control mean"], results.FEATURES) if counts else {}))


def record_tables(quality: pd.DataFrame, profile_table: pd.DataFrame, cell_type_null: pd.DataFrame,
                  stability: pd.DataFrame, cell_types: Sequence[str], stability_null: pd.DataFrame, welch: pd.DataFrame,
                  welch_null: pd.DataFrame, pseudo_null: pd.DataFrame, planted: pd.DataFrame,
                  leaning_null: pd.DataFrame) -> dict[str, dict]:
    """Chapter 07's headline tables, each with the tolerance its values are compared with across runs."""
    tables = {"SAE quality": results.table_record(quality.round(3), {"R²": results.COSINE, "silent features": results.COSINE,
                                                                     "active per token": results.COUNT, "tokens": results.EXACT}),
              "profiles": results.table_record(profile_table.round(3), dict.fromkeys(profile_table.columns, results.FEATURES) | {
                  "units": results.EXACT}),
              "profiles against the controls": null_record(cell_type_null, counts=True),
              # the cell types' rows, mean and median: over tens of blocks the 5 % quantile, the minimum and the features
              # "in every resample" (a 100 % threshold) move by whole features between fits (seen: SST 6 vs 0), and a single
              # control draw is one random population, compared as a whole in "stability against the controls"
              "bootstrap": results.table_record(stability.loc[list(cell_types)].round(3), {
                  "mean": results.FRACTION, "50%": results.FRACTION, "top-k": results.EXACT}, n_column="top-k"),
              "stability against the controls": null_record(stability_null, counts=False),
              # per test only the means are compared across runs: over 10 features whose scores differ by a few
              # thousandths, t (and with it q) moves by several units between two fits of the SAE on the same tokens
              # (seen: t -20.2 vs -11.9, q 0.005 vs ~0.07); how many tests pass is compared against the controls, as a count
              "Welch": results.table_record(welch.set_index(["concept", "population"])[["n", "mean", "others' mean"]].round(3),
                                            {"n": results.EXACT, "mean": results.SBERT_MEAN, "others' mean": results.SBERT_MEAN}),
              "Welch passes against the controls": null_record(welch_null, counts=True)}
    if len(pseudo_null):   # the check's verdict (its p); the counts of a random set move by whole features (seen: 6 vs 11)
        tables["pseudo cell types against the controls"] = null_record(pseudo_null, counts=False)
    if len(planted):
        # the statistics are in each variable's own units (luminance: 0-255), so the p-values carry them
        tables["planted truth"] = results.table_record(planted.set_index("planted").round(3), {
            "unique features": results.FEATURES, "p vs random sets": results.P_VALUE, "p vs controls": results.P_VALUE})
        tables["leanings against the controls"] = null_record(leaning_null, counts=False)
    return tables
