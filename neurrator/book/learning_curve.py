"""The measured learning curve (``benchmarks/learning_curve.py``) that chapters show beside their own models."""

from __future__ import annotations

from pathlib import Path

from neurrator.config import read_benchmark

LEARNING_CURVE = Path("benchmarks") / "results" / "learning_curve.json"


def load(root: str | Path | None = None) -> dict | None:
    """``benchmarks/learning_curve.py``'s results (None where the project has none, e.g. an installed package)."""
    return read_benchmark(LEARNING_CURVE, root)


def other_world(measured: dict | None) -> int | None:
    """The demo world version a benchmark's results were measured on, where it is not this book's (None: the current
    world, or nothing measured). A record without ``world_version`` was measured before the benchmarks recorded
    it, on version 2."""
    from neurrator.world.simulate import WORLD_VERSION

    version = None if measured is None else int(measured.get("world_version", 2))
    return None if version == WORLD_VERSION else version


def world_note(root: str | Path | None = None) -> str:
    """Which demo world the learning curve was measured on (:func:`other_world`), in words, where it is not the
    current one; "" where it is current or not measured."""
    from neurrator.world.simulate import WORLD_VERSION

    version = other_world(load(root))
    if version is None:
        return ""
    return (f"measured on world version {version}, before the world's calibration (this book's world is version "
            f"{WORLD_VERSION}); its plateau is that world's: re-run benchmarks/learning_curve.py to measure this one")


def plateaus(session_id: int | str, root: str | Path | None = None) -> dict[str, float]:
    """The measured plateau (the best validation patch cosine of any run) per split, for the splits the
    learning curve measured on ``session_id`` (a session id, or ``"pan_session"`` for chapter 05's pseudo-mouse,
    whose splits are named ``"pan_session <regime>"``), keyed by regime; ``{}`` where none was measured."""
    measured = load(root)
    if not measured:
        return {}
    out = {}
    for split, summary in measured["summary"].items():
        sessions = {str(row["session"]) for row in measured["results"].values() if row["regime"] == split}
        if sessions == {str(session_id)}:
            out[split.rpartition(" ")[2]] = float(summary["plateau_val_cosine"])
    return out


def measured_run(split: str, config, root: str | Path | None = None) -> dict | None:
    """The learning curve's run of ``split`` (``"sparse_random"``, ``"pan_session sparse_random"``, ...) with
    ``config``'s recipe (a :class:`~neurrator.models.training.TrainConfig`: batch size, learning rate, epochs,
    windows per epoch), or None where that recipe was not measured."""
    measured = load(root)
    recipe = {"lr": config.lr, "batch_size": config.batch_size, "max_epochs": config.max_epochs,
              "windows_per_epoch": config.windows_per_epoch}
    for row in (measured or {}).get("results", {}).values():
        if row["regime"] == split and all(row["recipe"].get(k) == v for k, v in recipe.items()):
            return row
    return None


def converged_comparison(root: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Held-out patch cosine per single-session split of the encoder's longest run (trained to convergence) and
    of ridge and PCA + KNN fitted on the same windows; ``{}`` where the curve was not measured."""
    measured = load(root)
    if not measured:
        return {}
    out = {}
    for split, summary in measured["summary"].items():
        runs = [r for r in measured["results"].values() if r["regime"] == split]
        if " " in split or not runs:          # pseudo-mouse splits have no baselines
            continue
        longest = max(runs, key=lambda r: r["optimiser_steps"])
        out[split] = {"encoder (converged)": longest["heldout_patch_cosine"],
                      **{name: b["heldout_patch_cosine"] for name, b in summary["baselines"].items() if isinstance(b, dict)}}
    return out


def contrast_text(root: str | Path | None = None) -> str:
    """:func:`converged_comparison` in words, for a chapter's prose."""
    comparison = converged_comparison(root)
    if not comparison:
        return "not measured in this project (run benchmarks/learning_curve.py)"
    note = world_note(root)
    return "; ".join(f"{split.replace('_', ' ')}: " + ", ".join(f"{name} {value:.2f}" for name, value in row.items())
                     for split, row in comparison.items()) + (f" ({note})" if note else "")


POPULATION_ENCODERS = Path("benchmarks") / "results" / "population_encoders.json"


def own_schedule_evidence(epochs: int, root: str | Path | None = None) -> str:
    """What ``benchmarks/population_encoders.py`` measured for an own encoder fine-tuned ``epochs`` epochs against one
    trained from scratch with the full schedule, in words; says so where it was not measured."""
    measured = read_benchmark(POPULATION_ENCODERS, root)
    how = f"fine-tuned, {epochs} epochs"
    rows = {name: row for name, row in (measured or {}).get("rows", {}).items() if how in row}
    if not rows:
        return f"a {epochs}-epoch fine-tuning schedule was not measured against training from scratch here"
    parts = [f"{name.rpartition(':')[0]} {row[how]['held-out patch cosine']:.2f} against {row['from scratch']['held-out patch cosine']:.2f} "
             f"in {row['from scratch']['seconds'] / row[how]['seconds']:.1f}x less time" for name, row in rows.items()]
    from neurrator.world.simulate import WORLD_VERSION

    version = other_world(measured)
    where = "" if version is None else (f" (measured on world version {version}, before the calibration of "
                                        f"version {WORLD_VERSION})")
    return "held-out patch cosine fine-tuned against from scratch" + where + ": " + "; ".join(parts)
