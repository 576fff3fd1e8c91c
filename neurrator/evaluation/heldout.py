"""The steps of chapters 03 and 04 on the held-out conditions (:func:`~neurrator.data.splits.heldout_conditions`):
train each condition's encoder, write its held-out predictions and measure them against their targets (03);
narrate them, score the narrations against each reference and look for the reason where narration fails (04).

Every reader and writer names ``made_by``: the notebook that writes the artifact (03 writes with ``"03_train"``,
04 reads ``"03_train"``'s predictions and splits).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.data.binning import frame_rates
from neurrator.data.splits import TRAIN, BinSplit, HeldOutCondition
from neurrator.evaluation import metrics, scoring
from neurrator.evaluation.narration import narrate_batch
from neurrator.models.predictions import Predictions, predict_to_file, read_predictions
from neurrator.models.training import fit_and_save
from neurrator.rowfiles import pooled_targets, select
from neurrator.stimulus_tables import frame_sources

SCORES = ["matched", "shuffled", "random_caption"]


# ----------------------------------------------------------------------------- chapter 03: train and predict
def train_condition(condition: HeldOutCondition, data, *, layout, session_id: int, store, configs, made_by: str,
                    retrain: bool = False, objective: str = "patches"):
    """Train (or read back) ``condition``'s decoder of ``objective`` on ``data`` (its windows) against the
    targets in ``store``; ``configs`` is ``(EncoderConfig, TrainConfig)``. A finished checkpoint is read back."""
    stimulus, key = condition.stimulus, condition.key
    return fit_and_save(data, store.open(stimulus), *configs, checkpoint_dir=layout.checkpoints(session_id, stimulus, key, objective),
                        path=layout.decoder(session_id, stimulus, key, objective), name=f"{stimulus} {key} ({objective})",
                        made_by=made_by, retrain=retrain, objective=objective, params=condition.params(session_id),
                        inputs={"binned": layout.binned(session_id, stimulus), "targets": store.path(stimulus)})


def predict_condition(condition: HeldOutCondition, decoder, windows, *, layout, session_id: int, made_by: str,
                      objective: str = "patches") -> Predictions:
    """Write the held-out predictions of ``condition`` (one output per frame of ``windows``, averaged over the
    frame's test windows) by ``decoder`` (its model: for a zero-shot transfer, the other stimulus's)."""
    return predict_to_file(decoder, windows, layout.predictions(session_id, condition.stimulus, condition.key, objective),
                           made_by=made_by, params=condition.params(session_id),
                           inputs={"decoder": layout.decoder(session_id, *condition.model, objective)})


def predict_conditions(conditions: Mapping[str, HeldOutCondition], decoders: Mapping[str, Any], runs: Mapping[str, Any],
                       binned: Mapping[str, Any], *, layout, session_id: int, made_by: str, **options) -> dict[str, Predictions]:
    """Every condition's held-out predictions by its model (``decoders`` by the name of the condition that trained
    it): a training condition's test windows (``runs``), a zero-shot transfer's whole stimulus z-scored with
    its model's statistics (``options``: ``seed``, ``fractions``, ``jitter``, ``neuron_dropout``)."""
    model_of = {conditions[name].model: decoder for name, decoder in decoders.items()}
    out = {}
    for name, condition in conditions.items():
        decoder = model_of[condition.model]
        windows = (runs[name] if condition.trains else
                   condition.windows(binned[condition.stimulus], zscore=decoder.zscore_, **options)).test
        out[name] = predict_condition(condition, decoder, windows, layout=layout, session_id=session_id, made_by=made_by)
    return out


def source_holdout_text(split: BinSplit, sources: np.ndarray | None) -> str:
    """How many held-out images, from how many sources, and how many of those sources train under another image."""
    held = split.held_out
    sources = np.arange(len(held)) if sources is None else sources
    shared = set(sources[held]) & set(sources[~held])
    return (f"{int(held.sum())} images from {len(set(sources[held]))} sources, "
            f"{len(shared)} of which also have an image in training")


def window_texts(conditions: Mapping[str, HeldOutCondition], runs: Mapping[str, Any], allen_cache) -> dict[str, Any]:
    """Glued words on the training windows (``runs``: :func:`~neurrator.data.splits.heldout_windows`): the
    front-only and contiguous-middle training windows and frames, the size-matched control, and the unseen
    scenes' sources (from the simulated world in ``allen_cache``)."""
    text: dict[str, Any] = {}
    for regime in [r for r in ("front_only", "contiguous_middle") if r in runs]:
        text[f"{regime}_train_windows"] = f"{len(runs[regime].train):,}"
        text[f"{regime}_train_frames"] = int((~runs[regime].split.held_out).sum())
    matched = next((c for c in conditions.values() if c.train_windows_as), None)
    text["matched_text"] = ("no size-matched control in this run" if matched is None else
                            f"`{matched.name}` trains the unguarded split on {len(runs[matched.name].train):,} windows "
                            f"drawn at random, as many as `{matched.train_windows_as}` has")
    scenes = [n for n in ("scene_identity", "scene_identity_crops") if n in runs]
    text["scene_text"] = "; ".join(
        f"`{n}`: {source_holdout_text(runs[n].split, frame_sources(allen_cache, conditions[n].stimulus))}"
        for n in scenes) or "no scenes in this run"
    return text


def learning_curve_texts(measured: Mapping | None, splits: Sequence[str] = ("sparse_random", "contiguous_middle"),
                         baselines: Mapping[str, str] | None = None) -> dict[str, str]:
    """The glued numbers of the learning curve (``benchmarks/results/learning_curve.json``, see
    :func:`neurrator.book.learning_curve.load`): per split its plateau, the longest run's held-out cosine and
    steps, and each baseline's held-out cosine; "—" for every number where there is no measurement."""
    baselines = baselines or {"Ridge": "ridge", "PCA + KNN": "pca"}
    text = {f"{split}_{what}": "—" for split in splits
            for what in ("plateau", "converged_heldout", "converged_steps", *(f"{k}_heldout" for k in baselines.values()))}
    text["curve_margin"] = "—"
    if measured is None:
        return text
    text["curve_margin"] = measured["summary"]["sparse_random"]["margin"]
    by_steps = sorted(measured["results"].values(), key=lambda r: r["optimiser_steps"])
    for split in splits:
        summary, longest = measured["summary"][split], [r for r in by_steps if r["regime"] == split][-1]
        text[f"{split}_plateau"] = f"{summary['plateau_val_cosine']:.2f}"
        text[f"{split}_converged_heldout"] = f"{longest['heldout_patch_cosine']:.2f}"
        text[f"{split}_converged_steps"] = f"{longest['optimiser_steps']:,}"
        for name, key in baselines.items():
            text[f"{split}_{key}_heldout"] = f"{summary['baselines'][name]['heldout_patch_cosine']:.2f}"
    return text


def training_texts(summary: pd.DataFrame, regimes: Sequence[str] = ("sparse_random", "contiguous_middle")) -> dict[str, str]:
    """Glued words on :func:`~neurrator.models.training.training_summary`: runs stopped early, and each regime's
    best validation score and its gap below the plateau ("—" where not measured)."""
    text = {"n_stopped_early": f"{int(summary['stopped early'].sum())} of {len(summary)}"}
    for regime in regimes:
        row = summary.loc[f"{regime} (patches)"] if f"{regime} (patches)" in summary.index else None
        text[f"{regime}_best_val"] = "—" if row is None else f"{row['best validation']:.2f}"
        text[f"{regime}_gap"] = ("—" if row is None or "below plateau" not in row or pd.isna(row["below plateau"])
                                 else f"{row['below plateau']:.2f}")
    return text


def embedding_metrics(predicted: Predictions, targets, pooled_all: np.ndarray, captions: Mapping[int, str],
                      exclude_within: int) -> tuple[dict[str, Any], np.ndarray]:
    """Held-out predicted grids against their targets, each metric with its control: patch cosine and CKA
    (against the frame half the held-out frames away), retrieval among all frames (``pooled_all``: every frame's
    patch-averaged target), KNN purity of the captions, and CKA, purity and retrieval with neighbours within
    ``exclude_within`` frames excluded. Returns the row and each frame's retrieval rank."""
    frame_ids, grids = predicted.frame_ids, predicted.outputs
    shifted = scoring.half_shift(frame_ids)     # the control: each frame against the one half the frames away
    labels = np.array([captions[f] for f in frame_ids])
    pooled, pooled_true = metrics.patch_means(grids), pooled_all[frame_ids]
    k, neighbours = exclude_within, min(5, len(labels) - 1)
    ranks = metrics.ranks_among(pooled, pooled_all, frame_ids)
    summary = metrics.summarise_ranks(ranks, len(pooled_all))
    far = metrics.summarise_ranks(metrics.ranks_among(pooled, pooled_all, frame_ids, exclude_within=k), len(pooled_all))
    excluded = dict(positions=frame_ids, exclude_within=k)
    return {"held-out frames": len(frame_ids),
            "patch cosine": metrics.mean_patch_cosine(grids, select(targets, frame_ids)),
            "patch cosine (shuffled)": metrics.mean_patch_cosine(grids, select(targets, frame_ids[shifted])),
            "CKA": metrics.linear_cka(pooled, pooled_true),
            "CKA (shuffled)": metrics.linear_cka(pooled, pooled_true[shifted]),
            "R@1": summary["R@1"], "R@10": summary["R@10"], "median rank": summary["median_rank"],
            "median rank (chance)": summary["chance_median_rank"],
            "KNN purity": metrics.knn_purity(pooled, labels, k=neighbours),
            "KNN purity (shuffled)": metrics.knn_purity(pooled, labels[shifted], k=neighbours),
            "exclusion (± frames)": k,
            "CKA (excl.)": metrics.linear_cka(pooled, pooled_true, **excluded),
            "KNN purity (excl.)": metrics.knn_purity(pooled, labels, k=neighbours, **excluded),
            "KNN purity (excl., shuffled)": metrics.knn_purity(pooled, labels[shifted], k=neighbours, **excluded),
            "R@10 (excl.)": far["R@10"], "median rank (excl.)": far["median_rank"]}, ranks


def exclusion_texts(table: pd.DataFrame, exclusion: Mapping[str, int]) -> dict[str, str]:
    """Glued words on the embedding table: purity and CKA with and without the exclusion zone, the median rank
    with and without it, and each stimulus's zone."""
    return {
        "exclusion_effect": "; ".join(
            f"{name.replace('_', ' ')}: purity {r['KNN purity']:.2f} ({r['KNN purity (shuffled)']:.2f}) → "
            f"{r['KNN purity (excl.)']:.2f} ({r['KNN purity (excl., shuffled)']:.2f}), "
            f"CKA {r['CKA']:.2f} → {r['CKA (excl.)']:.2f} ({r['CKA (shuffled)']:.2f})"
            for name, r in table.iterrows() if r["exclusion (± frames)"]),
        "rank_effect": "; ".join(
            f"{name.replace('_', ' ')}: {r['median rank']:.0f} → {r['median rank (excl.)']:.0f} ({r['median rank (chance)']:.0f})"
            for name, r in table.iterrows()),
        "exclusion_text": ", ".join(f"{name.replace('_', ' ')} {k}" for name, k in exclusion.items() if k)}


# ----------------------------------------------------------------------------- chapter 04: narrate and score
def read_heldout_predictions(conditions: Mapping[str, HeldOutCondition], *, layout, session_id: int,
                             made_by: str) -> dict[str, Predictions]:
    """Every condition's held-out predictions (patch grids), by name, as ``made_by`` (chapter 03) wrote them."""
    return {name: read_predictions(layout.predictions(session_id, c.stimulus, c.key), made_by=made_by)
            for name, c in conditions.items()}


def narrate_conditions(backend, conditions: Mapping[str, HeldOutCondition], predictions: Mapping[str, Predictions],
                       references: Mapping[str, Mapping[int, str]], *, session_id: int, batch_size: int = 32,
                       progress: bool = True) -> pd.DataFrame:
    """Narrate every condition's held-out ``predictions`` with ``backend``, each row with its frame's reference
    caption (``references``: stimulus -> frame -> caption); the ``decoder`` column says "Neurrator"."""
    tables = [narrate_batch(backend, predictions[name].frame_ids, predictions[name].outputs,
                            references=references[condition.stimulus], stimulus=condition.stimulus, regime=name,
                            session_id=session_id, population="all units", batch_size=batch_size, progress=progress)
              for name, condition in conditions.items()]
    narrations = pd.concat(tables, ignore_index=True)
    narrations["decoder"] = "Neurrator"
    return narrations


def read_content_references(layout, stimuli, *, required: bool) -> dict[str, dict[int, str]]:
    """The content reference (what each frame shows, written by a person) of each of ``stimuli`` that has one;
    ``required`` (a simulated world, which describes every source): a missing one is an error naming its maker."""
    from neurrator.vlm import captions

    content = {}
    for name in stimuli:
        path = layout.captions(name, "content")
        if path.is_file():
            content[name] = captions.read_captions(path)
        elif required:
            raise FileNotFoundError(f"no content reference for {name} at {layout.show(path)}: run notebook 02_targets")
    return content


def score_against_references(model, narrations: pd.DataFrame, references: Mapping[str, Mapping[str, Mapping[int, str]]],
                             *, seed: int = 0) -> pd.DataFrame:
    """Score each (regime, decoder) group of ``narrations`` against every reference that has captions for its
    stimulus (``references``: reference name -> stimulus -> frame -> caption), with the controls of
    :func:`~neurrator.evaluation.scoring.score_narrations`; one row per narration and reference."""
    scored = []
    for (regime, decoder), group in narrations.groupby(["regime", "decoder"], sort=False):
        stimulus = group["stimulus"].iloc[0]
        for reference, by_stimulus in references.items():
            captions_of = by_stimulus.get(stimulus)
            if captions_of is None:
                continue
            truth = [captions_of[int(f)] for f in group["frame"]]
            scores = scoring.score_narrations(model, group["narration"].tolist(), truth,
                                              caption_pool=list(captions_of.values()), seed=seed, frames=group["frame"])
            scored.append(pd.concat([group.reset_index(drop=True).assign(reference=reference, reference_caption=truth),
                                     scores], axis=1))
    return pd.concat(scored, ignore_index=True)


def with_sources(scored: pd.DataFrame, stimulus: str, sources: np.ndarray | None) -> pd.DataFrame:
    """``scored`` with a ``source`` column: for ``stimulus`` (the scenes) each frame's source photograph (its frame
    id where ``sources`` is None), the unit of resampling; None elsewhere."""
    out = scored.assign(source=None)
    is_scene = out["stimulus"] == stimulus
    frames = out.loc[is_scene, "frame"]
    out.loc[is_scene, "source"] = sources[frames.astype(int)] if sources is not None else frames.astype(str)
    return out


def _listed(rows: pd.DataFrame) -> str:
    return ", ".join(f"{r} ({d})" for r, d in zip(rows["regime"], rows["decoder"])) or "none"


def table_a1_texts(table: pd.DataFrame, partial_content: bool) -> dict[str, str]:
    """Glued words on the summary table: the word-salad sentences, the references used (``partial_content``: the content reference covers
    only some stimuli, which are named), the conditions above every control and not, per reference, and three
    conditions' matched score against shuffled."""
    text: dict[str, Any] = {"n_word_salad": len(scoring.WORD_SALAD), "references_used": " and ".join(
        f"{r}: {', '.join(sorted(set(table.loc[table['reference'] == r, 'regime'])))}"
        if r == "content" and partial_content else r for r in table["reference"].unique())}
    for reference in ("model", "content"):
        part = table[table["reference"] == reference]
        text[f"above_{reference}"] = _listed(part[part["above every control"]]) if len(part) else "not scored"
        text[f"not_above_{reference}"] = _listed(part[~part["above every control"]]) if len(part) else "not scored"
    for name in ("second_movie", "sparse_random", "zero_shot_transfer"):
        row = table[(table["regime"] == name) & (table["decoder"] == "Neurrator") & (table["reference"] == "model")]
        text[f"{name}_score"] = (f"{row['matched'].iloc[0]:.2f} against {row['shuffled'].iloc[0]:.2f}" if len(row)
                                 else "not run")
    return text


def side_by_side(table: pd.DataFrame) -> pd.DataFrame:
    """The references side by side: per (regime, decoder) the matched score, its margin over shuffling and
    whether it clears every control, for each reference."""
    wide = table.pivot_table(index=["regime", "decoder"], columns="reference", sort=False, aggfunc="first",
                             values=["matched", "matched - shuffled", "above every control"])
    return wide.reindex(columns=[c for r in table["reference"].unique()
                                 for c in [("matched", r), ("matched - shuffled", r), ("above every control", r)]])


def table_a1_shown(table: pd.DataFrame, p_columns: Sequence[str] = ("p", "q (Holm)")) -> pd.DataFrame:
    """The summary table as the chapter displays it (display only): indexed by regime, decoder and reference, p-values
    back to numbers so that the book's table formats them (:func:`neurrator.book.tables.show`)."""
    return (table.set_index(["regime", "decoder", "reference"])
            .assign(**{c: table[c].map(lambda v: scoring.parse_p(v) if v else np.nan).to_numpy() for c in p_columns}))


def table_a1(table: pd.DataFrame, p_columns: Sequence[str] = ("p", "q (Holm)")) -> pd.DataFrame:
    """The summary table as recorded (the paper's Table A1): indexed by regime, decoder and reference, p-values as
    numbers, without the columns on blocks, distinct sentences and controls cleared."""
    return (table.drop(columns=["block (frames)", "distinct sentences", "above every control"])
            .set_index(["regime", "decoder", "reference"])
            .assign(**{c: table[c].map(lambda v: scoring.parse_p(v) if v else np.nan).to_numpy() for c in p_columns}))


def examples(scores: pd.DataFrame, content_scores: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One scored narration per regime drawn at random (seeded), with the content reference of its frame
    (``content``, None where the stimulus has none) from ``content_scores``."""
    picks = pd.concat([g.sample(1, random_state=seed) for _, g in scores.groupby("regime", sort=False)], ignore_index=True)
    content_of = {(r["regime"], r["frame"]): r["reference_caption"] for _, r in content_scores.iterrows()}
    picks["content"] = [content_of.get((r, f)) for r, f in zip(picks["regime"], picks["frame"])]
    return picks


def frame_range(frames: np.ndarray) -> str:
    return f"{frames.min()}–{frames.max()}"


def by_distance(scores: pd.DataFrame, distance: np.ndarray, window: int = 15) -> pd.DataFrame:
    """The mean score and controls per distance to training (frames), smoothed by a centred rolling mean."""
    curve = scores.assign(distance=distance).groupby("distance")[SCORES].mean()
    return curve.rolling(window, center=True, min_periods=1).mean()


def distance_bands(scores: pd.DataFrame, distance: np.ndarray, edges: Sequence[int], labels: Sequence[str],
                   name: str) -> pd.DataFrame:
    """Mean score and controls (rounded to 2 places), frames and distinct sentences per band of distance to
    training (``edges``, right-closed)."""
    bands = pd.cut(distance, edges, labels=labels)
    grouped = scores.groupby(bands, observed=True)
    return grouped[SCORES].mean().round(2).assign(
        frames=grouped.size(), **{"distinct sentences": grouped["narration"].nunique()}).rename_axis(name)


def surroundings(split: BinSplit, table: pd.DataFrame, name: str) -> dict[str, Any]:
    """What condition ``name``'s held-out frames have around them under the ``split`` its model trained on: guard
    band, training windows and frames, distance to training, the test windows holding training bins, and the
    narrations' margin over shuffling per reference (from the summary ``table``)."""
    distance = split.distance_to_training()
    row = {"guard band (frames)": split.guard_frames, "training windows": len(split.centres[TRAIN]),
           "held-out frames": int(split.held_out.sum()), "frames trained on": len(split.trained_frames()),
           "median frames to training": float(np.median(distance)), "min frames to training": float(np.min(distance)),
           "test windows with training bins": round(split.test_windows_sharing_training(), 2)}
    for reference in ("model", "content"):
        picked = table[(table["regime"] == name) & (table["decoder"] == "Neurrator") & (table["reference"] == reference)]
        if len(picked):
            row[f"matched - shuffled ({reference})"] = picked["matched - shuffled"].iloc[0]
    return row


def guard_texts(around: pd.DataFrame, conditions: Mapping[str, HeldOutCondition]) -> dict[str, str]:
    """Glued words on the surroundings table: the guard bands' and the size-matched control's margins over
    shuffling against the plain sparse-random model's, and the share of its test windows with training bins."""
    plain = "sparse_random" in around.index
    guarded = [n for n in around.index if conditions[n].guard_frames]
    margin = "matched - shuffled (model)"
    text = {"guard_summary": "; ".join(
        f"with a {conditions[n].guard_frames}-frame band the margin over shuffling is "
        f"{around.loc[n, margin]:.2f} against {around.loc['sparse_random', margin]:.2f} "
        f"without it (model reference)" for n in guarded) if guarded and plain
        else "no guard band was compared with the plain sparse-random model"}
    matched = [n for n in around.index if conditions[n].train_windows_as in around.index]
    text["matched_summary"] = "; ".join(
        f"trained unguarded on as few windows ({around.loc[n, 'training windows']:,}) as `{conditions[n].train_windows_as}`, "
        f"the margin is {around.loc[n, margin]:.2f}, against "
        f"{around.loc[conditions[n].train_windows_as, margin]:.2f} with the band and "
        f"{around.loc['sparse_random', margin]:.2f} with every window" for n in matched) or "no size-matched control in this run"
    text["sparse_sharing"] = f"{around.loc['sparse_random', 'test windows with training bins']:.0%}" if plain else "n/a"
    return text


def diagnose(condition: HeldOutCondition, split: BinSplit, predicted: Predictions, *, binned: Mapping[str, Any], store,
             references: Mapping[str, Mapping[int, str]], model, seed: int = 0) -> dict[str, Any]:
    """Why narration of ``condition`` fails or not, on patch-averaged grids: the encoder's predictions (and a ridge
    read-out's, from trial-averaged rates of the training frames and repeats of ``split``) against each frame's own
    target and the mean training target, and the content ceiling: the caption of each frame's nearest training
    frame (by true target) scored against its own reference, and shuffled."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    stimulus, trained_stimulus = condition.stimulus, condition.model[0]
    train_frames = split.trained_frames()
    train_repeats = np.unique(binned[trained_stimulus].repeat[split.labels == TRAIN])
    frame_ids, pooled_pred = predicted.frame_ids, metrics.patch_means(predicted.outputs)
    pooled_true = pooled_targets(store.open(stimulus), frame_ids)
    pooled_train = pooled_targets(store.open(trained_stimulus), train_frames)
    train_mean = pooled_train.mean(0, keepdims=True)
    rates = frame_rates(binned[trained_stimulus], train_repeats)[train_frames]
    ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 13))).fit(rates, pooled_train)
    ridge_pred = ridge.predict(frame_rates(binned[stimulus])[frame_ids])
    nearest = train_frames[np.argmax(pooled_true @ pooled_train.T / np.linalg.norm(pooled_train, axis=1), axis=1)]
    ceiling = scoring.score_narrations(model, [references[trained_stimulus][int(f)] for f in nearest],
                                       [references[stimulus][int(f)] for f in frame_ids],
                                       caption_pool=list(references[stimulus].values()), seed=seed)
    return {"training frames": len(train_frames),
            "encoder: cos to own target": metrics.mean_patch_cosine(pooled_pred, pooled_true),
            "encoder: cos to training mean": metrics.mean_patch_cosine(pooled_pred, np.broadcast_to(train_mean, pooled_pred.shape)),
            "ridge: cos to own target": metrics.mean_patch_cosine(ridge_pred, pooled_true),
            "ridge: cos to training mean": metrics.mean_patch_cosine(ridge_pred, np.broadcast_to(train_mean, ridge_pred.shape)),
            "nearest training frame: matched": ceiling["matched"].mean(),
            "nearest training frame: shuffled": ceiling["shuffled"].mean()}


def failure_texts(diagnostics: pd.DataFrame, table: pd.DataFrame, coverage_margin: float) -> dict[str, str]:
    """Glued words on the diagnostics: the conditions whose narration fails against the model reference, those
    whose encoder (ridge) predictions collapse to the training mean, where ridge comes closer to the own target
    than the encoder, and the failing conditions whose content the training frames do (not) cover (the nearest
    training frame's caption beats shuffling by at least ``coverage_margin``)."""
    def names(regimes: Sequence[str]) -> str:
        return ", ".join(regimes) or "none"

    model_rows = table[(table["reference"] == "model") & (table["decoder"] == "Neurrator")].set_index("regime")
    failing = [r for r in diagnostics.index if r in model_rows.index and not model_rows.loc[r, "above every control"]]
    coverage = diagnostics["nearest training frame: matched"] - diagnostics["nearest training frame: shuffled"]
    d = diagnostics
    ridge_closer = [r for r in d.index if d.loc[r, "ridge: cos to own target"] > d.loc[r, "encoder: cos to own target"]]
    return {"failing_conditions": names(failing),
            "encoder_collapsed": names([r for r in failing if d.loc[r, "encoder: cos to training mean"]
                                        > d.loc[r, "encoder: cos to own target"]]),
            "ridge_collapsed": names([r for r in failing if d.loc[r, "ridge: cos to training mean"]
                                      > d.loc[r, "ridge: cos to own target"]]),
            "ridge_closer": f"{len(ridge_closer)} of {len(d)}", "ridge_closer_list": names(ridge_closer),
            "failing_uncovered": names([r for r in failing if coverage[r] < coverage_margin]),
            "failing_covered": names([r for r in failing if coverage[r] >= coverage_margin])}


def table_a1_record(table: pd.DataFrame, p_columns: Sequence[str] = ("p", "q (Holm)")) -> dict:
    """Table A1 as recorded, each column with its tolerance. A mean over frames, and above all a bootstrap bound over
    blocks of them, is as precise as its blocks are many (front only: 700 frames in 2 blocks; its upper bound moved
    0.30 -> 0.37 between two CPUs), so a row's n is its blocks."""
    from neurrator.evaluation import results

    p_columns = list(p_columns)
    return results.table_record(table_a1(table, p_columns), {
        "n": results.EXACT, "blocks (n_eff)": results.BLOCKS, **dict.fromkeys(p_columns, results.P_VALUE),
        "distinct": results.FRACTION,
        **dict.fromkeys(["matched", "matched CI low", "matched CI high", "shuffled", "random caption",
                         "word salad", "matched - shuffled"], results.SBERT_MEAN)}, n_column="blocks (n_eff)")


def narration_record(table: pd.DataFrame, around: pd.DataFrame, front_bands: pd.DataFrame, diagnostics: pd.DataFrame,
                     p_columns: Sequence[str] = ("p", "q (Holm)")) -> dict:
    """Chapter 04's headline tables with the tolerance each column is compared with (:func:`results.record`)."""
    from neurrator.evaluation import results

    return {
        "Table A1": table_a1_record(table, p_columns),
        "held-out surroundings": results.table_record(around, {
            "guard band (frames)": results.EXACT, "training windows": results.EXACT, "held-out frames": results.EXACT,
            "frames trained on": results.EXACT, "median frames to training": results.EXACT,
            "min frames to training": results.EXACT, "test windows with training bins": results.FRACTION,
            **dict.fromkeys([c for c in around.columns if c.startswith("matched")], results.SBERT_MEAN)}),
        # a band's mean is over its distinct sentences more than its frames (a retrained model narrating the 100
        # nearest frames moved the shuffled control by 0.06): n is the distinct sentences
        "front-only bands": results.table_record(front_bands, {
            "frames": results.EXACT, "distinct sentences": results.DISTINCT,
            **dict.fromkeys(["matched", "shuffled", "random_caption"], results.SBERT_MEAN)},
            n_column="distinct sentences"),
        "diagnostics": results.table_record(diagnostics.round(2), {
            "training frames": results.EXACT,
            **dict.fromkeys([c for c in diagnostics.columns if c.startswith(("encoder", "ridge"))], results.COSINE),
            **dict.fromkeys([c for c in diagnostics.columns if c.startswith("nearest")], results.SBERT_MEAN)}),
    }


# the scene-word ablation -----------------------------------------------------------------------------------------
SCENE_DECODER = "Neurrator + scene words"


def scene_references(scene_backend, store, frames_by_stimulus: Mapping[str, Sequence[int]], batch_size: int = 32) -> dict:
    """The scene narrator's own "model" reference: its sentence for each true grid (``store``: the target store;
    ``frames_by_stimulus``: which frames of each stimulus)."""
    out = {}
    for stimulus, frames in frames_by_stimulus.items():
        frames = [int(f) for f in frames]
        grids = store.open(stimulus).rows(np.asarray(frames))
        out[stimulus] = dict(zip(frames, scene_backend.narrate(grids, batch_size=batch_size)))
    return out


def scene_word_table(scene_backend, model, conditions: Mapping[str, HeldOutCondition], predictions: Mapping[str, Predictions],
                     *, store, references: Mapping[str, Mapping[int, str]], content: Mapping[str, Mapping[int, str]],
                     scenes: str, sources: np.ndarray | None, session_id: int, seed: int = 0,
                     batch_size: int = 32) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table A1 for the scene narrator (:class:`~neurrator.vlm.scene_words.SceneNarrator`): every condition's
    predictions narrated with layout and attribute words and scored, as Table A1 is, against the scene narrator's
    model reference (its sentence for the true grid) and the content reference. Returns ``(table, narrations)``;
    the table is its own family (Holm over its rows). Without a scene narrator (None: the paper's LLaVA reads
    lighting and layout itself) both are empty."""
    if scene_backend is None:
        return pd.DataFrame(columns=["regime", "decoder", "reference", "matched", "matched - shuffled", "distinct sentences",
                                     "above every control"]), pd.DataFrame()
    refs = scene_references(scene_backend, store, {s: sorted(r) for s, r in references.items()}, batch_size=batch_size)
    narrations = narrate_conditions(scene_backend, conditions, predictions, refs, session_id=session_id,
                                    batch_size=batch_size, progress=False).assign(decoder=SCENE_DECODER)
    scored = with_sources(score_against_references(model, narrations, {"model": refs, "content": content}, seed=seed),
                          scenes, sources)
    table = scoring.summary_table(scored, by=["regime", "decoder", "reference"], seed=seed, block_column="source")
    table["above every control"] = scoring.above_controls(table)
    return table, narrations


def scene_word_ablation(object_table: pd.DataFrame, scene_table: pd.DataFrame) -> pd.DataFrame:
    """Per condition and reference, the object-only narrator (Table A1's Neurrator rows) beside the scene narrator:
    matched score, its margin over shuffled pairing, distinct sentences and whether it clears every control."""
    columns = ["matched", "matched - shuffled", "distinct sentences", "above every control"]
    if not len(scene_table):
        return pd.DataFrame()
    sides = {"object-only": object_table[object_table["decoder"] == "Neurrator"], "scene words": scene_table}
    wide = pd.concat({name: t.set_index(["regime", "reference"])[columns] for name, t in sides.items()}, axis=1,
                     join="inner")    # the conditions both narrated (not the scene classifier's)
    return wide.reorder_levels([1, 0], axis=1)[[(c, n) for c in columns for n in sides]]


def scene_word_texts(ablation: pd.DataFrame) -> dict[str, str]:
    """The conditions where scene words raise or lower the margin over shuffling (model reference), in words."""
    if not len(ablation):
        return {"scene_gain": "not measured (the profile's narrator reads lighting and layout itself)", "scene_why": "n/a"}
    model = ablation.xs("model", level="reference")
    gain = (model[("matched - shuffled", "scene words")] - model[("matched - shuffled", "object-only")]).round(2)
    matched = (model[("matched", "scene words")] - model[("matched", "object-only")]).round(2)
    up, down = int((gain > 0.02).sum()), int((gain < -0.02).sum())
    if down and not up:
        why = (f"the scene words raise the matched score (by {matched.min():+.2f} to {matched.max():+.2f}) but the shuffled "
               "pairing's more: words most frames share (the grammar, the commonest attribute) make any two sentences "
               "closer, and the object, which carried the margin, weighs less in a longer sentence")
    elif up and not down:
        why = "the scene words follow the frames: they add to the matched score more than to the shuffled pairing's"
    else:
        why = f"they widen it in {up} conditions and narrow it in {down} (of {len(gain)})"
    return {"scene_gain": ", ".join(f"{regime.replace('_', '-')} {value:+.2f}" for regime, value in gain.items()),
            "scene_why": why}


def scene_word_examples(object_narrations: pd.DataFrame, scene_narrations: pd.DataFrame, regime: str, n: int = 3) -> pd.DataFrame:
    """The first ``n`` frames of ``regime`` as both narrators said them."""
    if not len(scene_narrations):
        return pd.DataFrame()
    pick = lambda t: t[(t["regime"] == regime) & (t["decoder"].isin(["Neurrator", SCENE_DECODER]))].head(n)  # noqa: E731
    objects, scenes = pick(object_narrations), pick(scene_narrations)
    return pd.DataFrame({"frame": objects["frame"].to_numpy(), "object-only": objects["narration"].to_numpy(),
                         "scene words": scenes["narration"].to_numpy()}).set_index("frame")


def scene_word_record(ablation: pd.DataFrame) -> dict:
    """The scene-word ablation for chapter 04's record (nothing where it was not measured)."""
    from neurrator.evaluation import results

    if not len(ablation):
        return {}
    flat = ablation.copy()
    flat.columns = [f"{measure}, {narrator}" for measure, narrator in flat.columns]
    tolerances = {c: (results.DISTINCT if c.startswith("distinct") else results.SBERT_MEAN)
                  for c in flat.columns if not c.startswith("above")}
    return {"scene words": results.table_record(flat, tolerances)}
