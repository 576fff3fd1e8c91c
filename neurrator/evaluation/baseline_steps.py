"""Chapter 08's comparison of the encoder with the field's baselines, step by step.

Every baseline reads the encoder's own split and z-scoring (:func:`read_encoders`), is fitted per regime
(:func:`fit_and_predict`; the MLP through :func:`~neurrator.models.training.fit_and_save`, so a finished run is
read back), and its held-out grids are narrated by the same frozen narrator (:func:`narrate_methods`) and
compared with the encoder's: narration (:func:`table_a1`), embeddings with and without an exclusion zone
(:func:`table_a2`), where the KNN decoders' neighbours come from (:func:`neighbour_lookup`), and frame
identification in held-out repeats over sessions (:func:`frame_identification`, :func:`table_a3`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.artifacts import ArtifactError
from neurrator.evaluation import inference, metrics, scoring
from neurrator.models.baselines import BaselineRecipe

MADE_BY = "08_baselines"
#: the chapters that make what this one reads
ENCODERS_BY, NARRATIONS_BY = "03_train", "04_narrate_heldout"
#: the columns of a narration table, one row per (regime, method, frame)
NARRATED = ["regime", "method", "frame", "narration", "reference"]


def read_targets(layout, stimulus: str):
    """The target grids of ``stimulus`` (an error naming chapter 02 when they are missing)."""
    from neurrator.vlm.targets import PatchTargetStore

    try:
        return PatchTargetStore(layout.targets).open(stimulus)
    except ArtifactError as err:
        raise ArtifactError(f"no target grids of {stimulus}: run notebook 02_targets first ({err})") from None


def read_encoders(layout, session_id: int, stimulus: str, regimes: Sequence[str], binned, *, seed: int = 0,
                  jitter: int = 2, neuron_dropout: float = 0.1, made_by: str = ENCODERS_BY) -> tuple[dict, dict]:
    """``(encoders, windows)`` per regime: chapter 03's encoder of the session and the windows of its saved split,
    z-scored with the encoder's statistics (the training windows augmented with ``jitter`` and ``neuron_dropout``)."""
    from neurrator.data import splits
    from neurrator.data.windows import from_split
    from neurrator.models.training import SpikeDecoder

    encoders, windows = {}, {}
    for regime in regimes:
        try:
            encoders[regime] = SpikeDecoder.load(layout.decoder(session_id, stimulus, regime), made_by=made_by)
            split = splits.read_split(layout.split(session_id, stimulus, regime), made_by=made_by)
        except ArtifactError as err:
            raise ArtifactError(f"chapter 03's {regime} encoder of session {session_id} is missing or stale: run notebook "
                                f"03_train first ({err})") from None
        windows[regime] = from_split(binned, split, encoders[regime].zscore_, seed=seed, jitter=jitter,
                                     neuron_dropout=neuron_dropout)
    return encoders, windows


def window_table(windows: Mapping[str, Any], n_units: int) -> pd.DataFrame:
    """Per regime: its training, validation and test windows, held-out frames and the session's units."""
    return pd.DataFrame({r: {"training windows": len(w.train), "validation windows": len(w.val),
                             "test windows": len(w.test), "held-out frames": int(w.split.held_out.sum()), "units": n_units}
                         for r, w in windows.items()}).T


def fit_mlp(data, targets, encoder_config, train_config, *, layout, session_id: int, stimulus: str, regime: str,
            retrain: bool = False, made_by: str = MADE_BY):
    """The MLP-Patches baseline of one regime: the encoder's trainer with the ``mlp_patches`` objective
    (:func:`~neurrator.models.training.fit_and_save`: a finished checkpoint is read back), saved beside the
    encoder; ``fit_seconds_`` are its training epochs' (also when read back), ``n_params_`` its weights."""
    from neurrator.models.training import fit_and_save
    from neurrator.vlm.targets import PatchTargetStore

    mlp = fit_and_save(data, targets, encoder_config, train_config, objective="mlp_patches", made_by=made_by,
                       checkpoint_dir=layout.checkpoints(session_id, stimulus, regime, "mlp_patches"),
                       path=layout.decoder(session_id, stimulus, regime, "mlp_patches"), name=f"{stimulus} {regime} (MLP)",
                       params={"session_id": session_id, "stimulus": stimulus, "regime": regime}, retrain=retrain,
                       inputs={"binned": layout.binned(session_id, stimulus),
                               "targets": PatchTargetStore(layout.targets).path(stimulus)})
    mlp.fit_seconds_ = float(mlp.history_["seconds"].sum())
    mlp.n_params_ = sum(p.numel() for p in mlp.model_.parameters())
    return mlp


def heldout_grids(model, test) -> tuple[np.ndarray, np.ndarray]:
    """``(frame ids, grids)``: a fitted decoder's or baseline's prediction of each test frame (averaged over its
    windows)."""
    from neurrator.models.training import SpikeDecoder

    if isinstance(model, SpikeDecoder):
        return model.predict(test, by_frame=True)
    return model.predict(test)


def fit_and_predict(windows: Mapping[str, Any], targets, recipe: BaselineRecipe, *, layout, session_id: int,
                    stimulus: str, encoder_config, mlp_config, retrain: bool = False, made_by: str = MADE_BY,
                    encoders_by: str = ENCODERS_BY) -> tuple[dict, dict]:
    """``(fitted, predicted)`` per regime: Ridge, MLP-Patches, CEBRA + KNN and PCA + KNN fitted on the regime's
    training windows, and every method's held-out ``(frame ids, grids)``, the encoder's ("Neurrator") read from
    chapter 03's predictions."""
    from neurrator.models.predictions import read_predictions

    fitted, predicted = {}, {}
    for regime, data in windows.items():
        fitted[regime] = {"Ridge": recipe.ridge().fit(data.train, targets),
                          "MLP-Patches": fit_mlp(data, targets, encoder_config, mlp_config, layout=layout, regime=regime,
                                                 session_id=session_id, stimulus=stimulus, retrain=retrain, made_by=made_by),
                          "CEBRA + KNN": recipe.cebra_knn().fit(data.train, targets),
                          "PCA + KNN": recipe.pca_knn().fit(data.train, targets)}
        encoder = read_predictions(layout.predictions(session_id, stimulus, regime), made_by=encoders_by)
        predicted[regime] = {"Neurrator": (encoder.frame_ids, np.asarray(encoder.outputs.rows(
            np.arange(len(encoder.frame_ids)))))}
        predicted[regime].update({name: heldout_grids(model, data.test) for name, model in fitted[regime].items()})
    return fitted, predicted


def fit_costs(fitted: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (regime, method): seconds to fit and parameters."""
    return pd.DataFrame([{"regime": r, "method": name, "fit (s)": model.fit_seconds_, "parameters": model.n_params_}
                         for r, models in fitted.items() for name, model in models.items()])


def read_encoder_narrations(layout, stimulus: str, made_by: str = NARRATIONS_BY) -> pd.DataFrame:
    """Chapter 04's narrations of the encoder's held-out frames of ``stimulus``."""
    from neurrator.evaluation.narration import read_narrations

    try:
        narrations = read_narrations(layout.narrations(), made_by=made_by)
    except (ArtifactError, FileNotFoundError) as err:
        raise ArtifactError(f"the encoder's held-out narrations are missing: run notebook 04_narrate_heldout first "
                            f"({err})") from None
    return narrations[(narrations["decoder"] == "Neurrator") & (narrations["stimulus"] == stimulus)]


def narrate_methods(backend, sbert_model, predicted: Mapping[str, Mapping[str, tuple]], encoder_narrations: pd.DataFrame,
                    references: Mapping[int, str], *, stimulus: str, session_id: int, batch_size: int = 32,
                    seed: int = 0) -> pd.DataFrame:
    """Every method's held-out grids narrated (the encoder's narrations are chapter 04's), plus the random-sentence
    floor (another frame's reference caption), each scored by SBERT against its frame's reference (``matched``)."""
    from neurrator.evaluation.narration import narrate_batch

    rng = np.random.default_rng(seed)
    pool = list(dict.fromkeys(references.values()))
    narrated = []
    for regime, methods in predicted.items():
        own = encoder_narrations[encoder_narrations["regime"] == regime]
        narrated.append(own.assign(method="Neurrator")[NARRATED])
        for name, (ids, grids) in methods.items():
            if name == "Neurrator":
                continue
            table = narrate_batch(backend, ids, grids, references=references, stimulus=stimulus, regime=regime,
                                  session_id=session_id, population=name, batch_size=batch_size)
            narrated.append(table.assign(method=name)[NARRATED])
        frames = own["frame"].to_numpy()
        floor = [rng.choice([c for c in pool if c != references[int(f)]]) for f in frames]
        narrated.append(pd.DataFrame({"regime": regime, "method": "random sentence", "frame": frames, "narration": floor,
                                      "reference": [references[int(f)] for f in frames]}))
    narrated = pd.concat(narrated, ignore_index=True)
    narrated["matched"] = scoring.score_narrations(sbert_model, narrated["narration"].tolist(), narrated["reference"].tolist(),
                                                   caption_pool=pool, seed=seed)["matched"].to_numpy()
    return narrated


def against_encoder(group: pd.DataFrame, narrated: pd.DataFrame, seed: int = 0) -> pd.Series:
    """One row of Table A1 (``group``: one regime's narrations by one method): the method's mean score with a
    block-bootstrap interval, and a two-sided sign-flip test against the encoder on the means of blocks of frames
    (block length: the longer of the two measured on the method's scores and on its difference from the encoder)."""
    regime, method = group.name
    mine = group.groupby("frame")["matched"].mean()
    theirs = narrated[(narrated["regime"] == regime) & (narrated["method"] == "Neurrator")].groupby("frame")["matched"].mean()
    common = mine.index.intersection(theirs.index)
    frames = mine.index.to_numpy()
    length = inference.frame_blocks(frames, mine.to_numpy()).length
    compared = method != "Neurrator" and len(common) > 1 and not np.allclose(mine[common], theirs[common])
    if compared:
        length = max(length, inference.frame_blocks(common.to_numpy(), (mine[common] - theirs[common]).to_numpy()).length)
    blocks = inference.frame_blocks(frames, length=length)
    low, high = inference.block_bootstrap_ci(mine.to_numpy(), blocks, seed=seed)
    p = np.nan
    if compared:
        shared = inference.frame_blocks(common.to_numpy(), length=length)
        p = inference.paired_block_test(mine[common], theirs[common], shared, alternative="two-sided", seed=seed)["p"]
    return pd.Series({"frames": len(mine), "block (frames)": length, "blocks (n_eff)": blocks.n,
                      "SBERT matched": mine.mean(), "SD": mine.std(ddof=1), "CI low": low, "CI high": high,
                      "distinct sentences": group["narration"].nunique(),
                      "distinct": scoring.fraction_distinct(group["narration"]), "p vs Neurrator": p})


def table_a1(narrated: pd.DataFrame, regimes: Sequence[str], order: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Table A1: per regime and method (in ``order``), :func:`against_encoder`, with Holm's correction over the
    table's tests."""
    table = (narrated.groupby(["regime", "method"], sort=False)[["frame", "matched", "narration"]]
             .apply(against_encoder, narrated=narrated, seed=seed)
             .reindex(pd.MultiIndex.from_product([regimes, order], names=["regime", "method"])))
    for column in ("frames", "block (frames)", "blocks (n_eff)", "distinct sentences"):
        table[column] = table[column].astype(int)
    table["q (Holm)"] = inference.correct(table["p vs Neurrator"].astype(float).to_numpy(), "holm")
    return table


def a1_family(table: pd.DataFrame) -> str:
    """The line printed with Table A1: its test and its correction over the family."""
    return inference.family_note("Table A1", int(table["p vs Neurrator"].notna().sum()), "holm",
                                 "two-sided sign-flip test of each method against the encoder on block means")


def a1_text(table: pd.DataFrame, regimes: Sequence[str]) -> str:
    """Per regime: the encoder's SBERT, the best baseline's and the floor's."""
    def best_baseline(regime):
        scores = table.loc[regime, "SBERT matched"].drop(["Neurrator", "random sentence"])
        return scores.idxmax(), scores.max()

    return "; ".join(f"{r.replace('_', ' ')}: the encoder {table.loc[(r, 'Neurrator'), 'SBERT matched']:.2f}, the best "
                     f"baseline {best_baseline(r)[0]} {best_baseline(r)[1]:.2f}, the floor "
                     f"{table.loc[(r, 'random sentence'), 'SBERT matched']:.2f}" for r in regimes)


def embedded_predictions(predicted: Mapping[str, tuple], *, layout, session_id: int, stimulus: str, regime: str, test,
                         made_by: str = ENCODERS_BY) -> tuple[dict, str | None]:
    """``(embedded, note)``: each method's patch-averaged held-out predictions and, on sparse-random, chapter 03's
    retrieval variant (InfoNCE) embedding the same windows; ``note`` says when that variant is missing."""
    from neurrator.models.training import SpikeDecoder

    embedded = {name: (ids, metrics.patch_means(grids)) for name, (ids, grids) in predicted.items()}
    try:
        infonce = SpikeDecoder.load(layout.decoder(session_id, stimulus, "sparse_random", "infonce"), made_by=made_by)
    except ArtifactError:
        return embedded, "no InfoNCE variant of chapter 03 for this session: the table goes without it"
    if regime == "sparse_random":
        embedded["retrieval variant (InfoNCE)"] = infonce.predict(test, by_frame=True)
    return embedded, None


def table_a2(embedded: Mapping[str, tuple], candidates: np.ndarray, references: Mapping[int, str],
             exclusion_frames: int) -> pd.DataFrame:
    """Table A2: per method, linear CKA and KNN purity of its embedded predictions against the true pooled targets
    (``candidates``), and the rank of the true frame among all frames, each with and without the frames within
    ``exclusion_frames`` of the true one."""
    rows, ex = {}, exclusion_frames
    for name, (ids, vectors) in embedded.items():
        plain = metrics.summarise_ranks(metrics.ranks_among(vectors, candidates, ids), len(candidates))
        excluded = metrics.summarise_ranks(metrics.ranks_among(vectors, candidates, ids, exclude_within=ex), len(candidates))
        labels = np.array([references[int(f)] for f in ids])
        k = min(5, len(ids) - 1)
        rows[name] = {"frames": len(ids), "CKA": metrics.linear_cka(vectors, candidates[ids]),
                      f"CKA (±{ex} excluded)": metrics.linear_cka(vectors, candidates[ids], positions=ids, exclude_within=ex),
                      "KNN purity": metrics.knn_purity(vectors, labels, k=k),
                      f"KNN purity (±{ex} excluded)": metrics.knn_purity(vectors, labels, k=k, positions=ids, exclude_within=ex),
                      "R@10": plain["R@10"], "median rank": plain["median_rank"],
                      f"R@10 (±{ex} excluded)": excluded["R@10"], f"median rank (±{ex} excluded)": excluded["median_rank"],
                      "candidates left": float(np.median(metrics.candidates_left(len(candidates), ids, ex)))}
    table = pd.DataFrame(rows).T
    table["frames"] = table["frames"].astype(int)
    return table


def a2_text(table: pd.DataFrame, exclusion_frames: int) -> str:
    """The lowest median rank of the true frame, with and without the exclusion zone, against the encoder's."""
    excluded = f"median rank (±{exclusion_frames} excluded)"
    return (f"the lowest median rank is {table['median rank'].idxmin()}'s ({table['median rank'].min():.1f}; the encoder "
            f"{table.at['Neurrator', 'median rank']:.1f}); with the exclusion zone, {table[excluded].idxmin()}'s "
            f"({table[excluded].min():.1f}; the encoder {table.at['Neurrator', excluded]:.1f})")


KNN_METHODS = ("PCA + KNN", "CEBRA + KNN")


def neighbour_lookup(fitted: Mapping[str, Mapping[str, Any]], windows: Mapping[str, Any],
                     exclusion_frames: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Where the KNN decoders' neighbours come from: per (regime, method), the median gap in frames between a
    held-out window's frame and its neighbours' and the fraction within ``exclusion_frames``; and every gap
    (plus one, for a log axis)."""
    gaps, lookup = [], {}
    for r, models in fitted.items():
        for name in KNN_METHODS:
            true, found = models[name].neighbour_frames(windows[r].test)
            gap = np.abs(found - true[:, None]).ravel()
            lookup[(r, name)] = {"median frame gap": float(np.median(gap)),
                                 f"neighbours within ±{exclusion_frames} frames": float(np.mean(gap <= exclusion_frames))}
            gaps.append(pd.DataFrame({"regime": r, "method": name, "frame gap": gap + 1}))
    return pd.DataFrame(lookup).T.rename_axis(["regime", "method"]), pd.concat(gaps, ignore_index=True)


def lookup_texts(lookup: pd.DataFrame, a1: pd.DataFrame, regimes: Sequence[str], regime: str,
                 exclusion_frames: int) -> dict[str, str]:
    """Chapter 08's glued sentences on the KNN decoders' neighbours (in ``regime`` and in the others) and the best
    KNN decoder's SBERT lead over the encoder per regime."""
    within = f"neighbours within ±{exclusion_frames} frames"
    near = lookup.loc[(regime, "PCA + KNN"), within]
    lead = {r: a1.loc[(r, list(KNN_METHODS)), "SBERT matched"].max() - a1.loc[(r, "Neurrator"), "SBERT matched"]
            for r in regimes}
    return {"lookup_text": f"in {regime.replace('_', ' ')}, {near:.0%} of PCA + KNN's neighbours lie within "
                           f"±{exclusion_frames} frames of the held-out frame (median gap "
                           f"{lookup.loc[(regime, 'PCA + KNN'), 'median frame gap']:.0f} frames)",
            "lookup_blocks": "; ".join(f"{r.replace('_', ' ')}: {lookup.loc[(r, 'PCA + KNN'), within]:.0%} within "
                                       f"±{exclusion_frames} frames (median gap "
                                       f"{lookup.loc[(r, 'PCA + KNN'), 'median frame gap']:.0f})"
                                       for r in regimes if r != regime) or "no other regime was run",
            "knn_lead": ", ".join(f"{r.replace('_', ' ')} {d:+.2f}" for r, d in lead.items())}


def frame_identification(layout, sessions: Sequence[int], stimulus: str, recipe: BaselineRecipe, targets,
                         candidates: np.ndarray, *, fractions: tuple = (0.7, 0.15, 0.15), seed: int = 0) -> pd.DataFrame:
    """Table A3's fits: in each session, every estimator of :meth:`BaselineRecipe.frame_id_models` fitted on the
    ``repeat`` split's training windows; per (session, method), the held-out repeats' frame R@1 and R@10 among
    ``candidates`` (the pooled targets of every frame), its parameters and fit time."""
    from tqdm.auto import tqdm

    from neurrator.data.binning import BinnedStimulus
    from neurrator.data.windows import regime_windows

    rows = []
    for sid in tqdm(sessions, desc="Table A3", unit="session"):
        binned = BinnedStimulus.of_session(layout, sid, stimulus)
        data = regime_windows(binned, "repeat", seed=seed, fractions=tuple(fractions), jitter=0, neuron_dropout=0.0)
        for name, estimator in recipe.frame_id_models().items():
            estimator.fit(data.train, targets)
            ids, pooled = estimator.predict_pooled(data.test)
            ranks = metrics.ranks_among(pooled, candidates, ids)
            rows.append({"session": sid, "units": binned.counts.shape[1], "method": name, "frames": len(ids),
                         "R@1": float(np.mean(ranks == 1)), "R@10": float(np.mean(ranks <= 10)),
                         "parameters": estimator.n_params_, "fit (s)": estimator.fit_seconds_})
    return pd.DataFrame(rows)


def table_a3(a3: pd.DataFrame, methods: Sequence[str], n_frames: int) -> pd.DataFrame:
    """Table A3: frame R@1 per method (rows, in ``methods`` order) and session, their mean, the first session's
    parameters, and a chance row (1 / ``n_frames``)."""
    table = a3.pivot(index="method", columns="session", values="R@1").reindex(list(methods))
    table["mean"] = table.mean(1)
    table["parameters (first session)"] = a3.groupby("method", sort=False)["parameters"].first()
    table.loc["chance"] = [1 / n_frames] * (table.shape[1] - 1) + [np.nan]
    return table


#: the paper's figures (NM1, Tables A1 and A2) beside which this run's are set
PAPER = pd.DataFrame({"SBERT, sparse random": {"Neurrator": 0.426, "CEBRA + KNN": 0.07, "Ridge": 0.06, "random sentence": 0.03},
                      "R@10": {"Neurrator": 0.388, "CEBRA + KNN": 0.013, "MLP-Patches": 0.21},
                      "median rank": {"Neurrator": 14, "CEBRA + KNN": 436, "MLP-Patches": 35}}).rename_axis(
    "method (reported by the paper)")


def against_paper(a1: pd.DataFrame, a2: pd.DataFrame, regime: str, order: Sequence[str]) -> pd.DataFrame:
    """The paper's figures and this run's side by side, column by column."""
    measured = pd.DataFrame({"SBERT, sparse random": a1.loc[regime, "SBERT matched"],
                             "R@10": a2["R@10"], "median rank": a2["median rank"]})
    side = PAPER.join(measured, rsuffix=" (this run)", how="outer").reindex([*order, "retrieval variant (InfoNCE)"])
    return side[[c for pair in zip(PAPER.columns, [f"{c} (this run)" for c in PAPER.columns]) for c in pair]]


def paper_texts(a1: pd.DataFrame, regimes: Sequence[str], regime: str, references: Mapping[int, str]) -> dict[str, Any]:
    """Chapter 08's glued values of section 6: the reference captions' variety, the random-sentence floor, the best
    method's margin over it in the front-only regime and the ordering by held-out SBERT."""
    pool = list(dict.fromkeys(references.values()))
    texts = {"n_distinct_captions": len(pool), "caption_example": pool[0],
             "floor_sparse": f"{a1.loc[(regime, 'random sentence'), 'SBERT matched']:.2f}", "front_gap": "(front only not run)",
             "ordering_text": " > ".join(a1.loc[regime, "SBERT matched"].sort_values(ascending=False).index)}
    if "front_only" in regimes:
        front = a1.loc["front_only", "SBERT matched"]
        texts["front_gap"] = f"{front.drop('random sentence').max() - front['random sentence']:+.2f}"
    return texts


def encoder_gap_text(summary: pd.DataFrame) -> str:
    """How far below its measured plateau each encoder stopped (``training_summary`` with plateaus)."""
    gaps = summary["below plateau"].dropna() if "below plateau" in summary else pd.Series(dtype=float)
    return ", ".join(f"{gap:.2f} ({r.replace('_', ' ')})" for r, gap in gaps.items()) or "(no plateau measured for this session)"


def headline(a1: pd.DataFrame, a2: pd.DataFrame, a3: pd.DataFrame, exclusion_frames: int) -> dict:
    """Chapter 08's headline record (:func:`~neurrator.evaluation.results.record`): Tables A1, A2 and A3."""
    from neurrator.evaluation import results

    ex = exclusion_frames
    return {
        "Table A1": results.table_record(
            a1.reset_index().assign(row=lambda t: t["regime"] + " / " + t["method"]).set_index("row")[
                ["frames", "SBERT matched", "SD", "p vs Neurrator", "q (Holm)"]].round(3),
            {"frames": results.EXACT, "SBERT matched": results.SBERT_MEAN, "SD": results.COSINE,
             "p vs Neurrator": results.P_VALUE, "q (Holm)": results.P_VALUE}, n_column="frames"),
        "Table A2": results.table_record(a2.round(3), {
            "frames": results.EXACT, "CKA": results.COSINE, "KNN purity": results.FRACTION, "R@10": results.FRACTION,
            f"CKA (±{ex} excluded)": results.COSINE, f"KNN purity (±{ex} excluded)": results.FRACTION,
            "median rank": results.RANK, f"R@10 (±{ex} excluded)": results.FRACTION,
            f"median rank (±{ex} excluded)": results.RANK, "candidates left": results.EXACT}, n_column="frames"),
        "Table A3": results.table_record(a3.assign(row=lambda t: t["session"].astype(str) + " / " + t["method"]).set_index(
            "row")[["frames", "R@1", "R@10", "parameters"]].round(3), {
            "frames": results.EXACT, "R@1": results.FRACTION, "R@10": results.FRACTION, "parameters": results.COUNT},
            n_column="frames")}


def chapter_finding(a1: pd.DataFrame, a3_table: pd.DataFrame, regime: str) -> str:
    """Chapter 08's headline sentence (display only): in ``regime``, the best baseline's held-out SBERT against the
    encoder's and the random-sentence floor's, and the best frame identification in held-out repeats (Table A3)."""
    scores = a1.loc[regime, "SBERT matched"]
    baselines = scores.drop(["Neurrator", "random sentence"])
    identified = a3_table["mean"].drop("chance")
    return (f"On the demo's {regime.replace('_', ' ')} held-out frames the best baseline, {baselines.idxmax()}, narrates "
            f"with SBERT {baselines.max():.2f} against the encoder's {scores['Neurrator']:.2f} and a random sentence's "
            f"{scores['random sentence']:.2f}; in held-out repeats {identified.idxmax()} identifies {identified.max():.1%} "
            f"of the frames (chance {a3_table.at['chance', 'mean']:.2%}).")
