"""Cell-type populations of a pan-session pseudo-mouse: optotagged PV / SST / VIP columns and their controls.

A Cre line's population is the tagged cortical units of every session of that line, lined up frame by
frame (a pseudo-mouse); in the pan-session pseudo-mouse those are simply columns, so one trained
encoder can be queried with each population by a neuron mask. A size-matched control draws, from
each of the same sessions, as many *untagged* cortical units as the population has there: a
difference between a population and its controls is not one of size or of session.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from neurrator.data.optotagging import CORTICAL_PREFIX

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
