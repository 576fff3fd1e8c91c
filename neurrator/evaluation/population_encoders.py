"""Each population's own encoder: the pan-session encoder restricted to a population's units and fine-tuned on them.

Chapter 06's first route, the **masked query**, asks the pan-session encoder (trained on every unit, 10 % neuron
dropout) with 1-2 % of its inputs, a regime it never saw. The **own encoder** starts from exactly that query
(:meth:`~neurrator.models.training.SpikeDecoder.restricted_to`: same outputs before the first step) and is
fine-tuned on the population's units alone, on the same split, frames and z-scoring, for :data:`OWN_EPOCHS` epochs of
the profile's schedule. ``benchmarks/population_encoders.py`` measures this against training the population's
encoder from scratch with the full schedule. Every population and control draw is one decoder and one narration
table, each read back when its inputs are unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.artifacts import array_digest as digest
from neurrator.evaluation import scaling

MADE_BY = "06_cell_types"
#: fine-tuning epochs (of the profile's ``windows_per_epoch``): the cheapest schedule whose held-out patch cosine lies
#: within 0.03 of training from scratch with the full schedule (the rule the demo preset was chosen by), measured by
#: ``benchmarks/population_encoders.py``: one epoch, SST 0.403 vs 0.405 and a control draw 0.545 vs 0.574
OWN_EPOCHS = 1
#: size-matched control draws that get an own encoder (the first ones of the masked query's draws)
OWN_CONTROLS = 5
ROUTES = ("masked query", "own encoder")


def own_schedule(train_config, epochs: int = OWN_EPOCHS):
    """The profile's pan-session schedule, ``epochs`` long (its cosine learning rate decays over those epochs)."""
    if epochs < 1:
        raise ValueError(f"own_epochs must be at least 1, got {epochs}")
    return replace(train_config, max_epochs=int(epochs))


def encoder_name(population: str, draw: int, base: str = "pan_session") -> str:
    """The data layout's name of one population's own encoder (``pan_session_own_SST_control_3``)."""
    return f"{base}_own_{population.replace(' ', '_')}_{draw}"


def population_draws(populations: Mapping[str, np.ndarray], controls: Mapping[str, Sequence[np.ndarray]],
                     n_controls: int = OWN_CONTROLS) -> list[tuple[str, str, int, np.ndarray]]:
    """``(label, cell type, draw, columns)`` for each tagged population and its first ``n_controls`` control draws."""
    draws = []
    for cell_type, columns in populations.items():
        if len(controls[cell_type]) < n_controls:
            raise ValueError(f"{cell_type} has {len(controls[cell_type])} control draws, fewer than own_controls "
                             f"= {n_controls}: raise `controls` or lower `own_controls`")
        draws.append((cell_type, cell_type, 0, np.asarray(columns)))
        draws += [(f"{cell_type} control", cell_type, d, np.asarray(c)) for d, c in enumerate(controls[cell_type][:n_controls])]
    return draws


def fit_own_encoder(decoder, binned, split, columns: np.ndarray, *, layout, stimulus: str, regime: str, train_config,
                    name: str, targets, targets_path, start_path, seed: int = 0, retrain: bool = False,
                    made_by: str = MADE_BY):
    """``(own encoder, its windows)``: ``decoder`` restricted to ``columns`` and fine-tuned with ``train_config`` on
    those units of ``binned`` alone (``split``'s windows, the decoder's z-scoring), saved under ``name``."""
    from neurrator.data.windows import from_split
    from neurrator.models.training import fit_and_save

    columns = np.asarray(columns, dtype=np.int64)
    start = decoder.restricted_to(columns)
    data = from_split(binned.select_units(columns), split, start.zscore_, seed=seed, jitter=train_config.jitter,
                      neuron_dropout=train_config.neuron_dropout)
    own = fit_and_save(data, targets, decoder.encoder, train_config, checkpoint_dir=layout.checkpoints(name, stimulus, regime),
                       path=layout.decoder(name, stimulus, regime), name=name.replace("_", " "), retrain=retrain,
                       made_by=made_by, start=start,
                       params={"population": name, "stimulus": stimulus, "regime": regime, "columns": digest(columns),
                               "start": start.weights_digest()},
                       inputs={"start": start_path, "targets": targets_path})
    return own, data


def narrate_own_encoders(populations: Mapping[str, np.ndarray], controls: Mapping[str, Sequence[np.ndarray]], decoder,
                         binned, split, *, layout, stimulus: str, regime: str, train_config, backend, sbert_model,
                         narrator: str, sbert: str, windows_per_frame: int | None = 2, n_controls: int = OWN_CONTROLS,
                         epochs: int = OWN_EPOCHS, population: str = "pan_session", seed: int = 0, batch_size: int = 32,
                         retrain: bool = False, made_by: str = MADE_BY, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each population and its first ``n_controls`` control draws get an own encoder (:func:`fit_own_encoder`,
    starting from ``decoder``, the ``population`` encoder of ``regime``), which narrates its held-out windows
    (``windows_per_frame`` per frame). Returns the narrations (the columns of
    :func:`~neurrator.evaluation.cell_types.narrate_populations`) and one row per encoder: its epochs, validation
    patch cosine and training seconds."""
    from tqdm import tqdm

    from neurrator.data.windows import sample_per_frame
    from neurrator.vlm import captions
    from neurrator.vlm.targets import PatchTargetStore

    store = PatchTargetStore(layout.targets)
    targets = store.open(stimulus)
    inputs = scaling.scoring_inputs(backend=backend, sbert_model=sbert_model, targets=targets, batch_size=batch_size,
                                    references=captions.read_captions(layout.captions(stimulus)))
    schedule = own_schedule(train_config, epochs)
    tables, fits = [], []
    draws = population_draws(populations, controls, n_controls)
    for label, cell_type, draw, columns in tqdm(draws, desc="own encoders", unit="population", disable=not progress):
        name = encoder_name(label, draw, population)
        own, data = fit_own_encoder(decoder, binned, split, columns, layout=layout, stimulus=stimulus, regime=regime,
                                    train_config=schedule, name=name, targets=targets, targets_path=store.path(stimulus),
                                    start_path=layout.decoder(population, stimulus, regime), seed=seed, retrain=retrain,
                                    made_by=made_by)
        test = sample_per_frame(data.test, windows_per_frame)
        key = scaling.point_key(decoder_path=layout.decoder(name, stimulus, regime), windows=test,
                                captions_path=layout.captions(stimulus), targets_path=store.path(stimulus),
                                narrator=narrator, sbert=sbert)
        point = scaling.SweepPoint(label, len(columns), draw)
        tables.append(scaling.run_point(point, np.arange(len(columns)), decoder=own, windows=test, seed=seed, key=key,
                                        path=layout.sweep_point(f"cell_types_own_{stimulus}_{regime}", point.name),
                                        made_by=made_by, **inputs)
                      .rename(columns={"pool": "population"}).assign(cell_type=cell_type))
        history = own.history_
        fits.append({"population": label, "draw": draw, "units": len(columns), "epochs": len(history),
                     "validation cosine (last)": float(history["val_score"].iloc[-1]),
                     "validation cosine (best)": float(history["val_score"].max()),
                     "seconds": float(history["seconds"].sum())})
    return pd.concat(tables, ignore_index=True), pd.DataFrame(fits)


def keep_draws(table: pd.DataFrame, n_controls: int = OWN_CONTROLS) -> pd.DataFrame:
    """A narration table with the tagged populations and only the first ``n_controls`` control draws (the ones the
    own encoders have), so the two routes are compared on the same populations."""
    from neurrator.evaluation.cell_types import is_control

    return table[~is_control(table) | (table["draw"] < n_controls)].reset_index(drop=True)


def fit_summary(fits: pd.DataFrame) -> pd.DataFrame:
    """Per cell type, the own encoders' training: the tagged population's and the controls' (mean) seconds and
    validation patch cosines."""
    kind = np.where(fits["population"].str.endswith("control"), "size-matched controls", "tagged population")
    cell = fits["population"].str.replace(" control", "", regex=False)
    table = (fits.assign(cell_type=cell, kind=kind)
             .groupby(["cell_type", "kind"])[["units", "epochs", "validation cosine (best)", "seconds"]].mean()
             .round({"validation cosine (best)": 2, "seconds": 1}))
    return table.astype({"units": int, "epochs": int})


def side_by_side(by_route: Mapping[str, Mapping[str, pd.DataFrame]], populations: Sequence[str]) -> pd.DataFrame:
    """Chapter 06's results for each route, one column per route. ``by_route``: route -> ``{"movie": narrations,
    "pairwise": pairwise_agreement, "classifier": which_population's table}`` of that route."""
    from neurrator.evaluation.cell_types import fidelity

    columns = {}
    for route, results in by_route.items():
        movie, pairwise, classifier = results["movie"], results["pairwise"], results["classifier"]
        scores = fidelity(movie)
        tagged, controls = scores.xs("tagged population", level="kind"), scores.xs("size-matched controls", level="kind")
        rows = {}
        for t in populations:
            rows[("SBERT − random caption", t)] = tagged.loc[t, "matched"] - tagged.loc[t, "random_caption"]
            rows[("SBERT − size-matched controls", t)] = tagged.loc[t, "matched"] - controls.loc[t, "matched"]
            rows[("patch cosine", t)] = tagged.loc[t, "patch_cosine"]
            rows[("patch cosine, controls", t)] = controls.loc[t, "patch_cosine"]
        for pair, value in pairwise["cell types − controls"].items():
            rows[("same-frame agreement − controls", pair)] = value
        rows[("classifier accuracy", "cell types")] = classifier.loc["cell types", "accuracy"]
        rows[("classifier accuracy", "controls (mean)")] = classifier["accuracy"].iloc[1:].mean()
        columns[route] = pd.Series(rows)
    table = pd.DataFrame(columns).round(2)
    table.index.names = ["measure", "of"]
    return table


def headline(routes: pd.DataFrame, fits: pd.DataFrame, side: pd.DataFrame) -> dict:
    """The own encoders' part of chapter 06's record: the planted truth route by route, the encoders' training and
    chapter 06's results by route (:func:`side_by_side`)."""
    from neurrator.evaluation import results

    return {
        "by route": results.table_record(side, dict.fromkeys(side.columns, results.SBERT_MEAN)),
        "planted truth by route": results.table_record(routes.set_index(["planted", "route"]), {
            "frames": results.EXACT, "clips (n_eff)": results.EXACT, "ρ": results.CORRELATION, "q": results.P_VALUE},
            n_column="frames"),
        "own encoders": results.table_record(fit_summary(fits), {"units": results.EXACT, "epochs": results.EXACT,
                                                                  "validation cosine (best)": results.COSINE})}


def scene_word_routes(scene_backend, populations: Mapping[str, np.ndarray], controls: Mapping[str, Sequence[np.ndarray]],
                      decoder, windows, *, stimulus: str, regime: str, n_controls: int = OWN_CONTROLS,
                      **narration) -> dict[str, pd.DataFrame]:
    """The masked query's narrations through the scene narrator (layout and attribute words,
    :class:`~neurrator.vlm.scene_words.SceneNarrator`), scored against its own reference of each frame, for the
    populations and their first ``n_controls`` draws: route -> narration table. Empty without a scene narrator (the
    paper's LLaVA reads lighting and layout itself). ``narration``: :func:`~neurrator.evaluation.cell_types.
    narrate_populations`' layout, model and provenance arguments (its ``backend`` and ``narrator`` are replaced)."""
    from neurrator.evaluation.cell_types import narrate_populations
    from neurrator.evaluation.heldout import scene_references
    from neurrator.vlm.targets import PatchTargetStore

    if scene_backend is None:
        return {}
    store = PatchTargetStore(narration["layout"].targets)
    frames = np.arange(store.open(stimulus).shape[0])
    references = scene_references(scene_backend, store, {stimulus: frames}, batch_size=narration.get("batch_size", 32))[stimulus]
    settings = {**narration, "backend": scene_backend, "narrator": scene_backend.name}
    first = {t: list(c)[:n_controls] for t, c in controls.items()}
    masked = narrate_populations(populations, first, decoder, windows, stimulus=stimulus, regime=regime,
                                 references=references, sweep=f"cell_types_scene_{stimulus}_{regime}", **settings)
    return {"masked query + scene words": masked}
