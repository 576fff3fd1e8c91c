"""Chapter 06's steps: optotagged cell-type populations of the pan-session encoder narrate the movie and the
scenes, and their narrations are compared.

Each step takes the tables the one before returns: :func:`narrate_populations` (every population and each of
its size-matched controls narrates a set of windows: one table, column ``population``), :func:`fidelity`
(agreement with the reference captions), :func:`pairwise_agreement` (same-frame similarity of two populations,
against their controls'), :func:`distinctive` (log-odds words), :func:`which_population` (a frame-grouped
classifier, against chance and against the control draws), :func:`concept_axes` (concept cosines over the movie)
and :func:`planted_truth` (do the demo world's planted codes come back out?). The ``*_texts`` functions give the
values the chapter's prose quotes, by their glue names; :func:`headline` is the chapter's results record.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from neurrator.data import allen, splits
from neurrator.data.optotagging import RULES
from neurrator.evaluation import attribution, inference, results, scaling, scoring, words

MADE_BY = "06_cell_types"

#: the planted codes of the demo world: (carrier cell type, concept axis, planted per-frame variable)
PLANTED = (("SST", "a car or vehicle", "vehicle"), ("VIP", "lighting", "mean_luminance"),
           ("PV", "high contrast", "rms_contrast"))
PLANTED_ALPHA = 0.05              # family-wise, after Holm over the table's tests
PLANTED_TEST = "one-sided permutation test of Spearman ρ > 0 over source clips (frames averaged within each clip)"
PLANTED_COLUMNS = ["planted", "axis", "frames", "clips (n_eff)", "carrier ρ (frames)", "carrier ρ", "carrier p",
                   "other types ρ", "controls ρ (max)", "above the rest", "spikes ρ", "spikes p",
                   "controls spikes ρ (max)", "distinct sentences"]


def is_control(table: pd.DataFrame) -> np.ndarray:
    """Which rows of a narration table are a size-matched control's (population "PV control", ...)."""
    return table["population"].str.endswith("control").to_numpy()


# 1. optotagging ---------------------------------------------------------------------------------------------------
def read_sessions(layout, units: pd.DataFrame) -> tuple[list[int], dict, dict[int, str]]:
    """The sessions of a pseudo-mouse's ``units`` (sorted), their recordings and their short genotypes."""
    sessions = sorted(int(s) for s in units["session_id"].unique())
    recordings = {s: allen.read_recording(layout.recording(s)) for s in sessions}
    return sessions, recordings, {s: allen.short_genotype(rec.genotype) for s, rec in recordings.items()}


def planted_chr2(allen_cache) -> pd.Series:
    """The simulated world's planted truth: whether each unit (by id) carries ChR2."""
    from neurrator.world.simulate import load_ground_truth

    return load_ground_truth(allen_cache).set_index("id")["tagged"]


def describe_sessions(light: pd.DataFrame, recordings: Mapping, genotypes: Mapping[int, str]) -> str:
    """One line: cortical units, sessions, light pulses per session and sessions per genotype."""
    from neurrator.data import optotagging

    pulses = sorted({len(optotagging.light_pulse_onsets(rec.optogenetic_epochs)) for rec in recordings.values()})
    return (f"{len(light)} cortical units in {len(recordings)} sessions, {'/'.join(map(str, pulses))} pulses per session "
            f"({', '.join(f'{g}: {n}' for g, n in pd.Series(genotypes).value_counts().sort_index().items())})")


def tagging_texts(light: pd.DataFrame, tagging: pd.DataFrame) -> dict:
    """The units each rule tags in wild-type mice (``wt_tutorial``, ``wt_three``) and, against a planted truth,
    the reliability margin between ChR2 cells and the rest (``margin``)."""
    wt_false = {name: int(tagging.loc[(name, "wt"), "tagged"]) if (name, "wt") in tagging.index else 0 for name in RULES}
    if "ChR2" in light:
        margin = (f"the planted ChR2 cells respond on {light.loc[light['ChR2'], 'reliability'].min():.0%} of pulses or "
                  f"more, every other unit on at most {light.loc[~light['ChR2'], 'reliability'].max():.0%}, so any "
                  "reliability threshold between the two gives the same cells")
    else:
        margin = "there is no planted truth to check the thresholds against"
    return {"wt_tutorial": wt_false["tutorial ratio"], "wt_three": wt_false["three criteria"], "margin": margin}


# 3. narrating -----------------------------------------------------------------------------------------------------
def train_scene_encoder(layout, movie_mouse, stimulus: str, regime: str, encoder_config, train_config, *,
                        sessions: Sequence[int], population: str = "pan_session", seed: int = 0,
                        fractions: Sequence[float] = (0.7, 0.15, 0.15), retrain: bool = False, made_by: str = MADE_BY):
    """The pan-session encoder of ``stimulus`` (the scenes) trained on the ``regime`` split of the pseudo-mouse of
    ``sessions`` (or read back, as every :func:`~neurrator.models.training.fit_and_save` result), whose units must
    be those of ``movie_mouse`` (the movie's pseudo-mouse): ``(decoder, windows)``."""
    from neurrator.data.pseudomice import pan_session_mouse
    from neurrator.data.windows import regime_windows
    from neurrator.models.training import fit_and_save
    from neurrator.vlm.targets import PatchTargetStore

    mouse = pan_session_mouse(layout, stimulus, sessions)
    if not mouse.units[["session_id", "unit_id"]].equals(movie_mouse.units[["session_id", "unit_id"]]):
        raise ValueError(f"{stimulus} and {movie_mouse.stimulus} are binned with different units: bin every stimulus of "
                         "a session with the same units (notebook 01_preprocess does)")
    runs = regime_windows(mouse.as_binned(), regime, seed=seed, fractions=tuple(fractions), jitter=train_config.jitter,
                          neuron_dropout=train_config.neuron_dropout)
    store = PatchTargetStore(layout.targets)
    decoder = fit_and_save(
        runs, store.open(stimulus), encoder_config, train_config, checkpoint_dir=layout.checkpoints(population, stimulus, regime),
        path=layout.decoder(population, stimulus, regime), name=f"{population} {stimulus} {regime}", retrain=retrain,
        made_by=made_by, params={"population": population, "stimulus": stimulus, "regime": regime, "columns": None},
        inputs={**{f"binned_{s}": layout.binned(s, stimulus) for s in sessions}, "targets": store.path(stimulus)})
    return decoder, runs


def narrate_populations(populations: Mapping[str, np.ndarray], controls: Mapping[str, Sequence[np.ndarray]], decoder,
                        windows, *, layout, stimulus: str, regime: str, backend, sbert_model, narrator: str, sbert: str,
                        population: str = "pan_session", seed: int = 0, batch_size: int = 32,
                        made_by: str = MADE_BY, references: Mapping[int, str] | None = None,
                        sweep: str | None = None) -> pd.DataFrame:
    """Each population and each of its controls narrates ``windows`` of ``stimulus`` through ``decoder`` (the
    ``population`` encoder of ``regime`` in ``layout``): one table, columns ``population`` ("PV", "PV control"),
    ``cell_type``, ``draw`` and :func:`~neurrator.evaluation.scaling.run_point`'s. Every table is keyed, as
    chapter 05's sweep points, by all it depends on besides its units (``narrator``, ``sbert``: the names of
    the models), so an unchanged one is read back. ``references``: the narrator's own reference per frame (None:
    chapter 02's captions); ``sweep``: the folder of the tables (None: :func:`population_path`'s)."""
    from neurrator.vlm import captions
    from neurrator.vlm.targets import PatchTargetStore

    store = PatchTargetStore(layout.targets)
    references = captions.read_captions(layout.captions(stimulus)) if references is None else references
    inputs = scaling.scoring_inputs(backend=backend, sbert_model=sbert_model, references=references,
                                    targets=store.open(stimulus), batch_size=batch_size)
    key = scaling.point_key(decoder_path=layout.decoder(population, stimulus, regime), windows=windows,
                            captions_path=layout.captions(stimulus), targets_path=store.path(stimulus),
                            narrator=narrator, sbert=sbert)
    tables = []
    for t, cols in populations.items():
        for label, draw, units in [(t, 0, cols)] + [(f"{t} control", d, c) for d, c in enumerate(controls[t])]:
            point = scaling.SweepPoint(label, len(units), draw)
            path = (population_path(layout, stimulus, regime, point) if sweep is None
                    else layout.sweep_point(sweep, point.name))
            tables.append(scaling.run_point(point, units, decoder=decoder, windows=windows, seed=seed, made_by=made_by,
                                            path=path, key=key, **inputs)
                          .rename(columns={"pool": "population"}).assign(cell_type=t))
    return pd.concat(tables, ignore_index=True)


def population_path(layout, stimulus: str, regime: str, point: "scaling.SweepPoint"):
    """Where :func:`narrate_populations` keeps one population's (or control draw's) narrations."""
    return layout.sweep_point(f"cell_types_{stimulus}_{regime}", point.name)


def read_population_narrations(layout, stimulus: str, regime: str) -> pd.DataFrame:
    """The tagged populations' narrations of ``stimulus`` as chapter 06 saved them (no controls): columns
    ``cell_type``, ``frame``, ``narration``, ``matched`` (SBERT with the reference) and the rest of a sweep point's;
    missing ones name chapter 06."""
    from neurrator.data import celltypes

    table = celltypes.read_populations(layout.cell_type_populations)
    tagged = table[table["population"] == table["cell_type"]]
    return pd.concat([scaling.read_point(population_path(layout, stimulus, regime, scaling.SweepPoint(t, len(units), 0)),
                                         made_by=MADE_BY).assign(cell_type=t)
                      for t, units in tagged.groupby("cell_type", sort=False)], ignore_index=True)


def fidelity(table: pd.DataFrame) -> pd.DataFrame:
    """Mean SBERT with the reference, with a random caption, and patch cosine, per cell type for the tagged
    population and for its size-matched controls (2 decimals)."""
    kind = np.where(is_control(table), "size-matched controls", "tagged population")
    return (table.assign(kind=kind).groupby(["cell_type", "kind"])[["matched", "random_caption", "patch_cosine"]]
            .mean().round(2))


def fidelity_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`fidelity` of each stimulus's narration table, stacked (outer index level ``stimulus``)."""
    return pd.concat({name: fidelity(table) for name, table in tables.items()}, names=["stimulus"])


def fidelity_texts(table: pd.DataFrame, movie: pd.DataFrame, stimulus: str, populations: Sequence[str]) -> dict:
    """On ``stimulus``: each population's SBERT gap to its controls (``fidelity_gap``) and to the random-caption
    floor (``above_floor``), its distinct sentences (``distinct``) and the frames (``n_movie_frames``)."""
    tagged, controls = table.xs("tagged population", level="kind"), table.xs("size-matched controls", level="kind")
    gap = tagged["matched"] - controls["matched"]
    distinct = movie[movie["population"].isin(list(populations))].groupby("population")["narration"].nunique()
    return {"fidelity_gap": ", ".join(f"{t} {v:+.2f}" for (s, t), v in gap.items() if s == stimulus),
            "above_floor": ", ".join(f"{t} {r['matched'] - r['random_caption']:+.2f}"
                                     for (s, t), r in tagged.iterrows() if s == stimulus),
            "distinct": ", ".join(f"{t} {distinct[t]}" for t in populations),
            "n_movie_frames": movie["frame"].nunique()}


# 4. pairwise agreement --------------------------------------------------------------------------------------------
def pairwise_agreement(movie: pd.DataFrame, populations: Sequence[str], sbert_model, seed: int = 0) -> pd.DataFrame:
    """Per pair of populations ("PV–SST"): the same-frame SBERT similarity with its block-bootstrap interval, the
    same for their controls (suffix " (controls)", draw by draw), the shuffled-frames floor and the cell types'
    similarity minus the controls'."""
    tagged = {t: movie[movie["population"] == t] for t in populations}
    controls = {t: movie[movie["population"] == f"{t} control"] for t in populations}
    _, floor, same = scaling.pairwise_similarity(tagged, sbert_model, seed=seed, intervals=True)
    *_, same_controls = scaling.pairwise_similarity(controls, sbert_model, seed=seed, intervals=True)
    pairwise = same.merge(same_controls.drop(columns="frames"), on=["a", "b"], suffixes=("", " (controls)"))
    return pairwise.assign(pair=pairwise["a"] + "–" + pairwise["b"], **{
        "shuffled frames": [floor.loc[a, b] for a, b in zip(pairwise["a"], pairwise["b"])],
        "cell types − controls": pairwise["same frames"] - pairwise["same frames (controls)"]}
        ).drop(columns=["a", "b"]).set_index("pair")


def pairwise_texts(pairwise: pd.DataFrame) -> dict:
    """The cell types' agreement minus the controls' (``pair_diffs``) and minus the floor (``pair_floor``), the
    pairs whose interval lies below the controls' (``pair_separate``) and the blocks (``pair_blocks``)."""
    below = pairwise.index[pairwise["CI high"] < pairwise["CI low (controls)"]]

    def span(column):
        return f"{pairwise[column].min()}" + (f"–{pairwise[column].max()}" if pairwise[column].nunique() > 1 else "")

    return {"pair_diffs": ", ".join(f"{p} {v:+.2f}" for p, v in pairwise["cell types − controls"].items()),
            "pair_floor": ", ".join(f"{p} {v:+.2f}" for p, v in (pairwise["same frames"] - pairwise["shuffled frames"]).items()),
            "pair_separate": f"{len(below)} of {len(pairwise)} pairs" + (f" ({', '.join(below)})" if len(below) else ""),
            "pair_blocks": "; ".join(f"{who}: blocks of {span(f'block (frames){s}')} frames, n_eff {span(f'blocks (n_eff){s}')}"
                                     for who, s in [("cell types", ""), ("controls", " (controls)")])}


# 5. distinctive words ---------------------------------------------------------------------------------------------
def distinctive(table: pd.DataFrame, populations: Sequence[str], top: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`~neurrator.evaluation.words.distinctive_words` of the populations' sentences, and of their
    controls' (draw 0)."""
    tagged = {t: table.loc[table["population"] == t, "narration"].tolist() for t in populations}
    controls = {t: table.loc[(table["population"] == f"{t} control") & (table["draw"] == 0), "narration"].tolist()
                for t in populations}
    return words.distinctive_words(tagged, top=top), words.distinctive_words(controls, top=top)


def word_texts(tagged: pd.DataFrame, controls: pd.DataFrame, populations: Sequence[str]) -> dict:
    """Each population's words above z = 1.96 (``top_words``) and the largest z of the cell types and of the
    controls (``tagged_top_z``, ``control_top_z``)."""
    def above(t):
        return ", ".join(tagged.loc[(tagged["group"] == t) & (tagged["z"] > 1.96), "word"].head(4)) or "none above z = 1.96"

    return {"top_words": "; ".join(f"{t}: {above(t)}" for t in populations),
            "control_top_z": f"{controls['z'].max():.1f}" if len(controls) else "n/a",
            "tagged_top_z": f"{tagged['z'].max():.1f}" if len(tagged) else "n/a"}


# 6. which population said it? -------------------------------------------------------------------------------------
def classify(table: pd.DataFrame, sbert_model, n_permutations: int = 0, seed: int = 0) -> dict:
    """:func:`~neurrator.evaluation.attribution.which_population` of ``table``'s narrations (labels: cell type;
    folds grouped by frame)."""
    embeddings = scoring.embed_unique(sbert_model, table["narration"].tolist())
    return attribution.which_population(embeddings, table["cell_type"].to_numpy(), table["frame"].to_numpy(),
                                        n_permutations=n_permutations, seed=seed)


def which_population(movie: pd.DataFrame, populations: Sequence[str], sbert_model, permutations: int = 100,
                     seed: int = 0) -> tuple[dict, dict, pd.DataFrame]:
    """The classifier on the cell types' narrations and on each control draw's (the permutation test against
    chance on the cell types and on the first draw): ``(verdicts, against, table)``: each run's
    :func:`classify` result, the cell types' accuracy ranked among the draws'
    (:func:`~neurrator.evaluation.attribution.against_controls`), and one row per run with Holm q values."""
    control_movie = movie[is_control(movie)]
    draws = sorted(control_movie["draw"].unique())
    verdicts = {"cell types": classify(movie[movie["population"].isin(list(populations))], sbert_model, permutations, seed),
                **{f"controls, draw {d}": classify(control_movie[control_movie["draw"] == d], sbert_model,
                                                   permutations if d == draws[0] else 0, seed) for d in draws}}
    against = attribution.against_controls(verdicts["cell types"]["accuracy"],
                                           [v["accuracy"] for v in list(verdicts.values())[1:]])
    table = pd.DataFrame([{"narrations of": k, "narrations": v["n"], "frames": v["frames"], "accuracy": v["accuracy"],
                           "chance": v["chance"], "p vs chance": v["p"], **({"− controls (mean)": against["difference"],
                           "p vs controls": against["p"]} if k == "cell types" else {})} for k, v in verdicts.items()]
                         ).set_index("narrations of")
    table[["q vs chance", "q vs controls"]] = inference.correct(
        table[["p vs chance", "p vs controls"]].to_numpy(float).ravel(), "holm").reshape(-1, 2)
    return verdicts, against, table


def classifier_notes(table: pd.DataFrame, against: dict, permutations: int) -> str:
    """The lines printed with the classifier's table: the control draws' p floor and the tests' family."""
    tests = (f"p vs chance: labels permuted within frames ({permutations} permutations; n_eff: the frames); p vs "
             f"controls: the cell types' accuracy ranked among {against['draws']} control draws' (n_eff: the draws)")
    return (f"{against['draws']} control draws (the parameter `controls`): p against the controls is at least "
            f"1/{against['draws'] + 1} = {against['resolution']:.3f}; {int(np.ceil(1 / 0.05)) - 1} draws are needed "
            "to reach 0.05\n" + inference.family_note("classifier", int(table[["p vs chance", "p vs controls"]]
                                                                          .notna().sum().sum()), "holm", tests))


def classifier_p_values(table: pd.DataFrame, against: dict, permutations: int) -> pd.DataFrame:
    """The table's p and q columns as shown: formatted, at their floors (1 / (permutations + 1) against chance,
    1 / (draws + 1) against the controls)."""
    floors = {"vs chance": 1 / (permutations + 1), "vs controls": against["resolution"]}
    return pd.DataFrame({c: table[c].map(lambda p, floor=floors[c[2:]]: inference.format_p(p, floor))
                         for c in ("p vs chance", "p vs controls", "q vs chance", "q vs controls")})


def classifier_texts(verdicts: dict, against: dict, table: pd.DataFrame, shown: pd.DataFrame) -> dict:
    """The prose's values: the cell types' accuracy (``clf_cell``), the control draws' (``clf_control``), the gap
    (``clf_gap``) and chance (``chance``); ``shown``: :func:`classifier_p_values`."""
    first = table.index[1]
    controls = table["accuracy"].iloc[1:]
    return {"clf_cell": f"{verdicts['cell types']['accuracy']:.2f} (p {shown.at['cell types', 'p vs chance']}, Holm q "
                        f"{shown.at['cell types', 'q vs chance']})",
            "clf_control": f"{controls.mean():.2f} on average over {against['draws']} draws ({controls.min():.2f} to "
                           f"{controls.max():.2f}; draw {first.rsplit(' ', 1)[1]} against chance: p "
                           f"{shown.at[first, 'p vs chance']})",
            "clf_gap": f"{against['difference']:+.2f} (p {shown.at['cell types', 'p vs controls']}, Holm q "
                       f"{shown.at['cell types', 'q vs controls']}; the smallest p {against['draws']} draws can give is "
                       f"{against['resolution']:.2f})",
            "chance": f"{verdicts['cell types']['chance']:.2f}"}


# 7. concept axes --------------------------------------------------------------------------------------------------
def concept_axes(embedder, table: pd.DataFrame, concepts: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """``table`` with one column per concept (each narration's cosine with it) and, where both light concepts
    are given, ``lighting`` = "bright lighting" − "darkness or shadows"; and the names of those columns."""
    from neurrator.evaluation.concepts import concept_scores

    axes = pd.concat([table, concept_scores(embedder, table["narration"].tolist(), concepts).set_index(table.index)], axis=1)
    if {"bright lighting", "darkness or shadows"} <= set(concepts):
        axes["lighting"] = axes["bright lighting"] - axes["darkness or shadows"]
    return axes, list(concepts) + (["lighting"] if "lighting" in axes else [])


def concept_means(axes: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Each axis's mean per population, the control draws of a cell type pooled ("PV controls"; 2 decimals)."""
    pooled = axes.assign(population=np.where(is_control(axes), axes["cell_type"] + " controls", axes["population"]))
    return pooled.groupby("population")[list(names)].mean().round(2)


def axis_course(axes: pd.DataFrame, population: str, axis: str, draw: int = 0) -> pd.Series:
    """A population's (one draw's) concept axis per frame (mean over the frame's windows)."""
    part = axes[(axes["population"] == population) & (axes["draw"] == draw)]
    return part.groupby("frame")[axis].mean()


# 8. examples ------------------------------------------------------------------------------------------------------
def example_sentences(movie: pd.DataFrame, populations: Sequence[str], examples: int = 10) -> pd.DataFrame:
    """``examples`` held-out frames evenly spread over the movie (index), each population's sentence for each
    (the first of its windows) and the frame's reference caption."""
    shown = np.unique(movie["frame"])
    picks = shown[np.linspace(0, len(shown) - 1, min(examples, len(shown))).round().astype(int)]
    sentences = movie[movie["population"].isin(list(populations))].pivot_table(
        index="frame", columns="population", values="narration", aggfunc="first")
    references = movie.drop_duplicates("frame").set_index("frame")["reference"]
    return sentences.loc[picks, list(populations)].assign(reference=references.loc[picks])


# 9. planted truth -------------------------------------------------------------------------------------------------
def planted_variables(allen_cache, stimulus: str) -> pd.DataFrame:
    """The demo world's planted per-frame variables of ``stimulus`` (by frame; ``segment``: the source clip)."""
    from neurrator.world.stimuli import STIMULUS_FOLDER, read_frame_info

    return read_frame_info(allen_cache / STIMULUS_FOLDER)[stimulus].set_index("frame")


def spike_course(binned, split, zscore: tuple[np.ndarray, np.ndarray], columns: np.ndarray) -> pd.Series:
    """Per held-out frame of ``split``, the mean over its test bins and ``columns`` of the z-scored counts."""
    test_bins = split.mask(splits.TEST) & (binned.frame >= 0)
    mean, std = zscore
    z = (binned.counts[np.ix_(test_bins, columns)] - mean[columns]) / std[columns]
    return pd.Series(z.mean(1), index=binned.frame[test_bins]).groupby(level=0).mean()


def frame_rho(course: pd.Series, info: pd.DataFrame, variable: str) -> float:
    """Spearman ρ over frames of a per-frame series with the planted variable (descriptive; nan if constant)."""
    x, y = course.to_numpy(float), info.loc[course.index, variable].astype(float).to_numpy()
    return float(stats.spearmanr(x, y).statistic) if np.ptp(x) and np.ptp(y) else np.nan


def clip_rho(course: pd.Series, info: pd.DataFrame, variable: str, seed: int = 0) -> dict:
    """ρ, p and the number of clips, with course and variable averaged within each source clip
    (:func:`~neurrator.evaluation.attribution.level_correlation`)."""
    return attribution.level_correlation(course.to_numpy(float), info.loc[course.index, variable].astype(float),
                                         info.loc[course.index, "segment"], seed=seed)


def planted_truth(info: pd.DataFrame | None, movie: pd.DataFrame, axes: pd.DataFrame, populations: Mapping[str, np.ndarray],
                  controls: Mapping[str, Sequence[np.ndarray]], *, binned, split, zscore, seed: int = 0,
                  planted: Sequence[tuple[str, str, str]] = PLANTED, alpha: float = PLANTED_ALPHA) -> pd.DataFrame:
    """One row per planted code whose carrier and axis are present: the carrier's clip-level ρ (p, Holm q), the
    other types' and the controls' (max), the same for the population's spikes, its distinct sentences, and
    ``recovered`` (ρ > 0, q < ``alpha`` and above every other population and control draw). ``info``: the
    planted variables by frame (:func:`planted_variables`; None, no truth: an empty table)."""
    rows = []
    for carrier, axis, variable in (planted if info is not None else ()):
        if carrier not in populations or axis not in axes:
            continue
        own = clip_rho(axis_course(axes, carrier, axis), info, variable, seed)
        others = {t: clip_rho(axis_course(axes, t, axis), info, variable, seed)["rho"] for t in populations if t != carrier}
        ctrl = np.array([clip_rho(axis_course(axes, f"{carrier} control", axis, d), info, variable, seed)["rho"]
                         for d in range(len(controls[carrier]))])
        ctrl_max = float(np.nanmax(ctrl)) if np.isfinite(ctrl).any() else np.nan
        spikes = clip_rho(spike_course(binned, split, zscore, populations[carrier]), info, variable, seed)
        spikes_ctrl = np.nanmax([clip_rho(spike_course(binned, split, zscore, c), info, variable, seed)["rho"]
                                 for c in controls[carrier]])
        said = movie.loc[movie["population"] == carrier, "narration"]
        rows.append({"planted": f"{carrier} → {variable}", "axis": axis, "frames": int(movie["frame"].nunique()),
                     "clips (n_eff)": own["n"], "carrier ρ (frames)": frame_rho(axis_course(axes, carrier, axis), info, variable),
                     "carrier ρ": own["rho"], "carrier p": own["p"],
                     "other types ρ": ", ".join(f"{t} {v:+.2f}" for t, v in others.items()),
                     "controls ρ (max)": ctrl_max, "above the rest": bool(
                         all(own["rho"] > v for v in others.values() if np.isfinite(v)) and not own["rho"] <= ctrl_max),
                     "spikes ρ": spikes["rho"], "spikes p": spikes["p"], "controls spikes ρ (max)": float(spikes_ctrl),
                     "distinct sentences": int(said.nunique())})
    table = pd.DataFrame(rows, columns=PLANTED_COLUMNS)
    q = inference.correct(table[["carrier p", "spikes p"]].to_numpy(float).ravel(), "holm").reshape(-1, 2)
    for k, tested in enumerate(("carrier", "spikes")):
        table.insert(table.columns.get_loc(f"{tested} p") + 1, f"{tested} q", q[:, k])
    table.insert(table.columns.get_loc("other types ρ"), "recovered",
                 (table["carrier q"] < alpha) & (table["carrier ρ"] > 0) & table["above the rest"].astype(bool))
    return table


ROUTE_COLUMNS = ["planted", "route", "frames", "clips (n_eff)", "ρ", "p", "q", "recovered", "other types ρ", "controls ρ (max)",
                 "distinct sentences", "above the rest"]
ROUTES_TEST = "the planted-truth test of each route (spikes: the population's mean z-scored activity)"


def planted_routes(routes: Mapping[str, pd.DataFrame], alpha: float = PLANTED_ALPHA) -> pd.DataFrame:
    """Where each planted code is kept or lost, route by route: one row per code and route, the first route being the
    tagged cells' **spikes**, then each ``routes`` entry (route name -> :func:`planted_truth` of that route's
    narrations, e.g. the masked query and the own encoder). Every p of the table is Holm-corrected together; a
    route recovers a code when ρ > 0, q < ``alpha`` and ρ is above its controls' (and, for narrations, the other
    types')."""
    rows = []
    tables = [t for t in routes.values() if len(t)]
    for code in (tables[0]["planted"] if tables else []):
        first = tables[0].set_index("planted").loc[code]
        rows.append({"planted": code, "route": "spikes", "frames": first["frames"], "clips (n_eff)": first["clips (n_eff)"],
                     "ρ": first["spikes ρ"],
                     "p": first["spikes p"], "other types ρ": "", "controls ρ (max)": first["controls spikes ρ (max)"],
                     "above": bool(first["spikes ρ"] > first["controls spikes ρ (max)"]), "distinct sentences": np.nan})
        for route, table in routes.items():
            if not len(table) or code not in set(table["planted"]):
                continue
            r = table.set_index("planted").loc[code]
            rows.append({"planted": code, "route": route, "frames": r["frames"], "clips (n_eff)": r["clips (n_eff)"],
                         "ρ": r["carrier ρ"],
                         "p": r["carrier p"], "other types ρ": r["other types ρ"], "controls ρ (max)": r["controls ρ (max)"],
                         "above": bool(r["above the rest"]), "distinct sentences": r["distinct sentences"]})
    table = pd.DataFrame(rows, columns=[c for c in ROUTE_COLUMNS if c not in ("q", "recovered", "above the rest")] + ["above"])
    return correct_routes(table.rename(columns={"above": "above the rest"}), alpha)


def route_values(table: pd.DataFrame) -> pd.Series:
    """Each row's value in a routes table: its ρ, or where it has none its ``leaning (SD)`` (chapter 07's dictionary
    route)."""
    shown = table["ρ"].astype(float)
    return shown.fillna(table["leaning (SD)"].astype(float)) if "leaning (SD)" in table else shown


def correct_routes(table: pd.DataFrame, alpha: float = PLANTED_ALPHA) -> pd.DataFrame:
    """Holm over every p of a routes table (one family), and ``recovered``: q < ``alpha``, the route's value
    (:func:`route_values`) above 0 and above the rest. Used again when a later chapter adds a route."""
    table = table.copy()
    table["q"] = inference.correct(table["p"].to_numpy(float), "holm") if len(table) else []
    table["recovered"] = (table["q"] < alpha) & (route_values(table) > 0) & table["above the rest"].astype(bool)
    return table[[c for c in ROUTE_COLUMNS if c in table] + [c for c in table if c not in ROUTE_COLUMNS]]


def write_routes(path, routes: pd.DataFrame, params: Mapping | None = None, made_by: str = MADE_BY) -> None:
    """Chapter 06's planted truth by route, for chapter 07 to add the dictionary's route to."""
    from neurrator.artifacts import write_artifact

    write_artifact(path, lambda tmp: routes.to_csv(tmp, index=False), made_by=made_by, params=dict(params or {}))


def read_routes(path) -> pd.DataFrame:
    """:func:`write_routes`' table (a missing or partial one names chapter 06)."""
    from neurrator.artifacts import check_artifact

    check_artifact(path, made_by=MADE_BY)
    return pd.read_csv(path, keep_default_na=False, na_values={c: ["", "nan", "NaN"] for c in
                                                               ("ρ", "p", "q", "controls ρ (max)", "distinct sentences",
                                                                "frames", "clips (n_eff)")})


def route_notes(table: pd.DataFrame) -> str:
    """The family line printed with :func:`planted_routes`' table."""
    return inference.family_note("planted truth by route", int(table["p"].notna().sum()), "holm",
                                 f"{PLANTED_TEST}, for {ROUTES_TEST}")


def route_verdict(table: pd.DataFrame) -> str:
    """Per planted code: each route's ρ with ✓ (recovered) or ✗, and the first route after the spikes that loses it."""
    if not len(table):
        return "not tested: the paper profile has no planted truth"
    lines = []
    for code, rows in table.groupby("planted", sort=False):
        steps = ", ".join(f"{r['route']} " + (f"{r['ρ']:+.2f}" if pd.notna(r["ρ"]) else f"leaning {r['leaning (SD)']:+.2f} SD")
                          + f" {'✓' if r['recovered'] else '✗'}"
                          + (f" ({int(r['distinct sentences'])} sentences)" if pd.notna(r["distinct sentences"]) else "")
                          for _, r in rows.iterrows())
        kept = rows["recovered"].astype(bool).to_numpy()
        if kept.all():
            end = "kept on every route"
        elif not kept[0]:
            end = "not in the tagged cells' spikes"
        else:
            routes, first_lost = rows["route"].to_numpy(), int(np.argmin(kept))
            regained = routes[first_lost + 1:][kept[first_lost + 1:]]
            end = f"lost at the {routes[first_lost]}" + (f", recovered by the {', '.join(regained)}" if len(regained) else "")
        lines.append(f"{code}: {steps} ({end})")
    return "; ".join(lines)


def distinct_by_route(routes: Mapping[str, pd.DataFrame], populations: Sequence[str]) -> str:
    """Each population's distinct sentences on each route (``routes``: route -> narration table), e.g. "SST 14 → 3"."""
    counts = {route: table[table["population"].isin(list(populations))].groupby("population")["narration"].nunique()
              for route, table in routes.items()}
    return ", ".join(f"{t} " + " → ".join(str(int(c.get(t, 0))) for c in counts.values()) for t in populations)


def planted_notes(planted: pd.DataFrame, movie: pd.DataFrame) -> str:
    """The lines printed with the planted-truth table: what ρ is over, and the tests' family."""
    return (f"ρ, p and q over source clips (n_eff = clips among {movie['frame'].nunique()} held-out frames); "
            "ρ (frames): every held-out frame, descriptive\n"
            + inference.family_note("planted truth", int(planted[["carrier p", "spikes p"]].notna().sum().sum()), "holm",
                                    PLANTED_TEST))


def explain(row: Mapping, alpha: float = PLANTED_ALPHA) -> str:
    """Where a planted code was recovered, or lost: in the cells, or between their spikes and the sentences."""
    carrier_q, spikes_q = (inference.format_p(row[c]) or "n/a" for c in ("carrier q", "spikes q"))
    head = (f"{row['planted']} is {'recovered' if row['recovered'] else 'not recovered'} (axis ρ over "
            f"{row['clips (n_eff)']} clips {row['carrier ρ']:+.2f}, Holm q {carrier_q}; other types "
            f"{row['other types ρ']}; controls up to {row['controls ρ (max)']:+.2f})")
    if row["recovered"]:
        return head
    if row["carrier q"] < alpha and row["carrier ρ"] > 0:
        return f"{head}: the axis follows it over the clips, but not more than every other population and control draw"
    if not (row["spikes q"] < alpha and row["spikes ρ"] > 0):
        return f"{head}: the tagged cells' own activity does not follow it either (spikes ρ {row['spikes ρ']:+.2f}, q {spikes_q})"
    return (f"{head}, although the tagged cells' own activity follows it (spikes ρ {row['spikes ρ']:+.2f}, q {spikes_q}; "
            f"controls' activity up to {row['controls spikes ρ (max)']:+.2f}): the code is lost between the spikes and the "
            f"sentence ({row['distinct sentences']} distinct sentences over {row['frames']} frames)")


def planted_verdict(planted: pd.DataFrame) -> str:
    """Every planted code's :func:`explain`, or why none was tested."""
    if not len(planted):
        return "not tested: the paper profile has no planted truth"
    return "; ".join(explain(r) for _, r in planted.iterrows())


def planted_summary(planted: pd.DataFrame, alpha: float = PLANTED_ALPHA) -> str:
    """One clause for the summary: how many planted codes come back out, which, and where the others were lost."""
    if not len(planted):
        return "none was tested (the paper profile has no planted truth)"
    found = planted.loc[planted["recovered"].astype(bool), "planted"].tolist()
    text = f"{len(found)} of {len(planted)} come back out" + (f" ({', '.join(found)})" if found else "")

    def lost(row):
        if row["carrier q"] < alpha and row["carrier ρ"] > 0:
            return "its axis follows it, but no more than the other populations' and controls' do"
        if not (row["spikes q"] < alpha and row["spikes ρ"] > 0):
            return "the tagged cells' own activity does not follow it"
        return (f"the tagged cells' spikes follow it (ρ {row['spikes ρ']:+.2f} over {row['clips (n_eff)']} clips), "
                f"their {row['distinct sentences']} distinct sentences do not (axis ρ {row['carrier ρ']:+.2f})")

    return "; ".join([text, *(f"{r['planted']} is lost: {lost(r)}" for _, r in planted.iterrows() if not r["recovered"])])


def summary_texts(verdicts: dict, classifier: pd.DataFrame, planted: pd.DataFrame) -> dict:
    """The summary's values: the classifier in short (``clf_short``), the planted codes (``planted_short``) and the
    chapter's headline sentence for the book's introduction (``finding``)."""
    cell, controls = verdicts["cell types"], classifier["accuracy"].iloc[1:]
    clf_short = (f"{cell['accuracy']:.2f} for the cell types against {controls.mean():.2f} for size-matched random "
                 f"populations of the same sessions (chance {cell['chance']:.2f})")
    planted_short = planted_summary(planted)
    return {"clf_short": clf_short, "planted_short": planted_short,
            "finding": (f"Queried with only the tagged PV, SST or VIP cells, one encoder's narrations tell the cell types "
                        f"apart: a classifier names the population behind a sentence with accuracy {clf_short}; of the "
                        f"codes planted in the demo world, " + planted_short.split(";")[0] + ".")}


# the record -------------------------------------------------------------------------------------------------------
def headline(tagging: pd.DataFrame, pairwise: pd.DataFrame, classifier: pd.DataFrame, fidelity: pd.DataFrame,
             planted: pd.DataFrame) -> dict:
    """The chapter's headline tables for :func:`~neurrator.evaluation.results.record`, each with its tolerances."""
    return {
        "optotagging rules": results.table_record(tagging, dict.fromkeys(tagging.columns, results.EXACT)),
        "pairwise": results.table_record(pairwise, {
            "frames": results.EXACT, **dict.fromkeys([c for c in pairwise.columns if not c.startswith(("block", "frames"))],
                                                     results.SBERT_MEAN)}, n_column="frames"),
        # the cell types' row: one control draw is one random population (a retrained encoder reorders the draws, seen:
        # draw 9 0.63 vs 0.56); the draws enter as their mean and the cell types' rank among them
        "classifier": results.table_record(classifier.loc[~classifier.index.str.startswith("controls")], {
            "narrations": results.EXACT, "frames": results.EXACT, "accuracy": results.FRACTION, "chance": results.EXACT,
            "− controls (mean)": results.FRACTION, **dict.fromkeys(["p vs chance", "p vs controls", "q vs chance",
                                                                    "q vs controls"], results.P_VALUE)},
            n_column="narrations"),
        "fidelity": results.table_record(fidelity, {"matched": results.SBERT_MEAN, "random_caption": results.SBERT_MEAN,
                                                    "patch_cosine": results.COSINE}),
        "planted truth": results.table_record(planted.set_index("planted"), {
            "frames": results.EXACT, "clips (n_eff)": results.EXACT, "distinct sentences": results.DISTINCT,
            **dict.fromkeys(["carrier ρ (frames)", "carrier ρ", "controls ρ (max)", "spikes ρ"], results.CORRELATION),
            **dict.fromkeys(["carrier p", "carrier q", "spikes p", "spikes q"], results.P_VALUE)}, n_column="frames")}
