"""Cell-type populations of a pan-session pseudo-mouse: optotagged PV / SST / VIP columns and their controls.

A Cre line's population is the tagged cortical units of every session of that line, lined up frame by
frame (a pseudo-mouse); in the pan-session pseudo-mouse those are simply columns, so one trained
encoder can be queried with each population by a neuron mask. A size-matched control draws, from
each of the same sessions, as many *untagged* cortical units as the population has there: a
difference between a population and its controls is not one of size or of session.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import pandas as pd

from neurrator.artifacts import check_artifact, write_artifact
from neurrator.data.optotagging import CORTICAL_PREFIX

MADE_BY = "06_cell_types"

#: Cre driver line (the genotype's short name) -> the cell type its ChR2 tags
CRE_LINES = {"Pvalb": "PV", "Sst": "SST", "Vip": "VIP"}
CELL_TYPES = tuple(CRE_LINES.values())


def label_units(units: pd.DataFrame, tagged: pd.DataFrame, genotypes: dict[int, str]) -> pd.DataFrame:
    """``units`` (a pseudo-mouse's: ``session_id``, ``unit_id``, ``column``, ``region``) with ``genotype``,
    ``cortical``, ``tagged`` and ``cell_type`` (the Cre line's type for a tagged unit, else "").

    ``tagged``: ``session_id``, ``unit_id`` and bool ``tagged`` (units absent from it are untagged);
    ``genotypes``: session id -> short genotype (``"wt"``, ``"Pvalb"``, ...).
    """
    missing = sorted(set(units["session_id"]) - set(genotypes))
    if missing:
        raise KeyError(f"no genotype for session(s) {missing}: pass every session of the pseudo-mouse")
    out = units.copy()
    out["genotype"] = out["session_id"].map(genotypes)
    out["cortical"] = out["region"].astype(str).str.startswith(CORTICAL_PREFIX)
    flags = tagged.set_index(["session_id", "unit_id"])["tagged"].astype(bool)
    keys = pd.MultiIndex.from_frame(out[["session_id", "unit_id"]])
    out["tagged"] = flags.reindex(keys, fill_value=False).to_numpy(bool) & out["cortical"].to_numpy()
    out["cell_type"] = np.where(out["tagged"], out["genotype"].map(CRE_LINES).fillna(""), "")
    return out


def population_columns(labelled: pd.DataFrame) -> dict[str, np.ndarray]:
    """Cell type -> sorted columns of its tagged units (only the types present)."""
    return {t: np.sort(labelled.loc[labelled["cell_type"] == t, "column"].to_numpy(np.int64))
            for t in CELL_TYPES if (labelled["cell_type"] == t).any()}


def size_matched_control(labelled: pd.DataFrame, columns: np.ndarray, draw: int, seed: int = 0) -> np.ndarray:
    """Untagged cortical units, as many from each session as ``columns`` has there (draw ``draw``).

    A session with fewer untagged cortical units than needed is an error (the control would not be
    size-matched)."""
    chosen = labelled.set_index("column").loc[np.asarray(columns, dtype=np.int64)]
    pool = labelled[labelled["cortical"] & ~labelled["tagged"]]
    picked = []
    for session_id, n in chosen.groupby("session_id").size().items():
        candidates = np.sort(pool.loc[pool["session_id"] == session_id, "column"].to_numpy(np.int64))
        if len(candidates) < n:
            raise ValueError(f"session {session_id} has {len(candidates)} untagged cortical units, fewer than the "
                             f"{n} a size-matched control needs")
        rng = np.random.default_rng([seed, zlib.crc32(b"control"), int(session_id), int(n), draw])
        picked.append(rng.choice(candidates, n, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def tagged_populations(units: pd.DataFrame, light: pd.DataFrame, rule: str, genotypes: dict[int, str], controls: int,
                       seed: int = 0, chr2: pd.Series | None = None):
    """The populations of the units that rule ``rule`` tags in ``light`` (an optotagging
    :func:`~neurrator.data.optotagging.light_table`): ``(labelled, populations, control_columns)``, the units
    labelled (:func:`label_units`; with ``ChR2`` from ``chr2``, bool by unit id, where given), cell type ->
    columns, and cell type -> ``controls`` size-matched control draws. Fewer than two populations is an error."""
    tagged = light.reset_index()[["session_id", "unit_id"]].assign(tagged=light[rule].to_numpy())
    labelled = label_units(units, tagged, genotypes)
    if chr2 is not None:
        labelled["ChR2"] = chr2.reindex(labelled["unit_id"], fill_value=False).astype(bool).to_numpy()
    populations = population_columns(labelled)
    if len(populations) < 2:
        raise ValueError(f"the {rule} rule tags cells of {len(populations)} Cre line(s) ({', '.join(populations) or 'none'}) "
                         "in these sessions; this chapter compares at least two: process sessions of more Cre lines "
                         "(notebook 01_preprocess) or loosen `criteria`")
    control_columns = {t: [size_matched_control(labelled, cols, d, seed) for d in range(controls)]
                       for t, cols in populations.items()}
    return labelled, populations, control_columns


def population_summary(labelled: pd.DataFrame, populations: dict[str, np.ndarray],
                       controls: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """Per population: its sessions and units; with a ``ChR2`` column in ``labelled`` also the fraction of its
    units, and the mean fraction of its control draws' units, that truly carry ChR2 (2 decimals)."""
    by_column = labelled.set_index("column")
    truth = "ChR2" in by_column
    return pd.DataFrame([{
        "population": t, "sessions": by_column.loc[cols, "session_id"].nunique(), "units": len(cols),
        **({"truly ChR2": round(float(by_column.loc[cols, "ChR2"].mean()), 2)} if truth else {}),
        **({"controls truly ChR2": round(float(np.mean([by_column.loc[c, "ChR2"].mean() for c in controls[t]])), 2)}
           if truth else {})} for t, cols in populations.items()]).set_index("population")


def population_table(labelled: pd.DataFrame, populations: dict[str, np.ndarray],
                     controls: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """One row per (population, unit): ``population`` ("PV", or "PV control"), ``cell_type``, ``draw``
    (0 for the tagged population, the control's draw otherwise), ``column``, ``session_id``, ``unit_id``."""
    by_column = labelled.set_index("column")
    parts = []
    for t, cols in populations.items():
        for label, draw, units in [(t, 0, cols)] + [(f"{t} control", d, c) for d, c in enumerate(controls.get(t, []))]:
            units = np.asarray(units, dtype=np.int64)
            parts.append(pd.DataFrame({"population": label, "cell_type": t, "draw": draw, "column": units,
                                       "session_id": by_column.loc[units, "session_id"].to_numpy(np.int64),
                                       "unit_id": by_column.loc[units, "unit_id"].to_numpy(np.int64)}))
    columns = ["population", "cell_type", "draw", "column", "session_id", "unit_id"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def split_population_table(table: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, list[np.ndarray]]]:
    """The inverse of :func:`population_table`: (cell type -> columns, cell type -> control draws' columns)."""
    missing = {"population", "cell_type", "draw", "column"} - set(table.columns)
    if missing:
        raise ValueError(f"not a population table: columns {sorted(missing)} are missing")
    tagged = table["population"] == table["cell_type"]
    populations = {t: np.sort(g["column"].to_numpy(np.int64)) for t, g in table[tagged].groupby("cell_type", sort=False)}
    controls = {t: [np.sort(g["column"].to_numpy(np.int64)) for _, g in table[~tagged & (table["cell_type"] == t)]
                    .groupby("draw", sort=True)] for t in populations}
    return populations, controls


def write_populations(path: str | os.PathLike, table: pd.DataFrame, **meta) -> None:
    """Save a :func:`population_table` atomically with its sidecar (``meta``: ``params``, ``inputs``)."""
    write_artifact(path, lambda tmp: table.to_csv(tmp, index=False), made_by=MADE_BY, **meta)


def read_populations(path: str | os.PathLike) -> pd.DataFrame:
    """The population table chapter 06 saved (a missing or partial file names that notebook)."""
    check_artifact(path, made_by=MADE_BY)
    return pd.read_csv(path)
