"""Probes, channels and units of one simulated session, with each unit's planted code.

Six probes enter one visual cortical area each (VISam, VISpm, VISp, VISl, VISal, VISrl) and pass
on through hippocampus (CA1, CA3, DG) into thalamus (LGd, LP), so that region pooling works as on
real data. Channel positions, CCF-like coordinates and structure acronyms follow the Allen tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurrator.world.neurons import CELL_TYPE_CODE, DEG_PER_PIXEL, LATENCY_MS, REGION_CODE, RF_SIGMA_DEG, WORK_SHAPE
from neurrator.world.session import STRUCTURE_IDS

PROBE_NAMES = ("probeA", "probeB", "probeC", "probeD", "probeE", "probeF")
#: structures along each probe, top (cortex) to bottom, with the fraction of in-brain depth each takes
PROBE_TRACKS = (
    (("VISam", 0.40), ("CA1", 0.25), ("DG", 0.35)),
    (("VISpm", 0.40), ("CA1", 0.25), ("CA3", 0.35)),
    (("VISp", 0.40), ("CA1", 0.20), ("LGd", 0.40)),
    (("VISl", 0.40), ("CA1", 0.20), ("LGd", 0.40)),
    (("VISal", 0.40), ("CA1", 0.25), ("LP", 0.35)),
    (("VISrl", 0.40), ("CA3", 0.25), ("DG", 0.35)),
)
#: share of a session's units per structure (normalised over the structures present)
UNIT_SHARE = {"VISp": 0.16, "VISl": 0.09, "VISal": 0.08, "VISrl": 0.07, "VISam": 0.07, "VISpm": 0.08,
              "CA1": 0.12, "CA3": 0.05, "DG": 0.06, "LGd": 0.14, "LP": 0.08}
#: retinotopic centre (working pixels) of each structure's receptive fields
RF_CENTRE = {"VISp": (76, 38), "VISl": (52, 44), "VISal": (62, 30), "VISrl": (84, 26), "VISam": (96, 40),
             "VISpm": (104, 50), "LGd": (72, 38), "LP": (76, 40)}
CORTEX = ("VISp", "VISl", "VISal", "VISrl", "VISam", "VISpm")
#: interneuron shares of cortical units in every mouse; in a Cre line that type is also tagged
INTERNEURON_SHARE = {"PV": 0.12, "SST": 0.07, "VIP": 0.05}
GENOTYPE_CELL_TYPE = {"Pvalb": "PV", "Sst": "SST", "Vip": "VIP", "wt": None}
BASELINE_HZ = {"cortex": 4.0, "PV": 12.0, "SST": 5.0, "VIP": 6.0, "LGd": 9.0, "LP": 6.0, "hippocampus": 2.0}
#: range of each family's gain (the drive's weight in the log rate; drawn uniformly per unit). World version 3
#: calibrates it to one published statistic, the movie's mean non-peak / peak rate of movie-tuned Allen units
#: (Purandare & Mehta 2023, eLife 12:RP85069: 0.35 in V1, 0.37 in AM-PM, 0.57 in LGN; the quotes are in
#: neurrator.evaluation.calibration.PUBLISHED), measured by neurrator.data.unit_statistics over 20 repeats as in
#: the Brain Observatory (benchmarks/calibration_gain.py):
#: - cortex 0.6-1.1 -> 0.2-0.4 (V1 0.13 -> 0.36, AM-PM 0.14 -> 0.38); LP, with no published value, as cortex;
#: - LGd 0.6-1.1 -> 0.2-0.4 (0.15 -> 0.38, not 0.57): the gain that reads 0.57 (0.05-0.2) leaves only 0.65 of LGd
#:   units responsive in 20 repeats (0.44 in the demo's 8), against 0.97 published for LGN, V1 and AM-PM units,
#:   so the two published values cannot both hold here; LGd takes the cortical range, which keeps it responsive;
#: - PV, SST, VIP keep 0.6-1.1: no published value for a Cre line (the published units are putatively excitatory);
#: - hippocampus 0: the world's non-visual control (real hippocampus is partly movie-tuned: chapter 01, section 5)
GAIN_RANGE = {"cortex": (0.2, 0.4), "LP": (0.2, 0.4), "LGd": (0.2, 0.4), "PV": (0.6, 1.1), "SST": (0.6, 1.1),
              "VIP": (0.6, 1.1), "hippocampus": (0.0, 0.0)}
#: the ranges before the calibration (world version 2), for the book's before/after table
GAIN_RANGE_V2 = {family: (0.0, 0.0) if family == "hippocampus" else (0.6, 1.1) for family in GAIN_RANGE}
CHANNELS_PER_PROBE = 384
QC_FAIL_SHARE = 0.12


def build_probes_and_channels(session_id: int, index: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six probes and their channels; ids are unique across the ``index``-th session of a world and,
    like Allen's, fit NWB's 32-bit element ids (probes 8xx..., channels 85x..., units 95x...)."""
    probes, channels = [], []
    for p, (name, track) in enumerate(zip(PROBE_NAMES, PROBE_TRACKS)):
        probe_id = 800_000_000 + index * 10 + p
        probes.append(dict(id=probe_id, ecephys_session_id=session_id, name=name, phase="3a",
                           sampling_rate=30000.0, lfp_sampling_rate=2500.0,
                           lfp_temporal_subsampling_factor=2.0, has_lfp_data=False))
        bounds = np.cumsum([0.0] + [share for _, share in track])
        for c in range(CHANNELS_PER_PROBE):
            depth = 1.0 - c / (CHANNELS_PER_PROBE - 1)          # channel 0 is the tip (deepest)
            in_brain = depth * 1.08 - 0.08                      # the top 8 % of the shank is outside the brain
            structure = None
            if in_brain >= 0:
                k = min(np.searchsorted(bounds, in_brain, side="right") - 1, len(track) - 1)
                structure = track[k][0]
            channels.append(dict(
                id=850_000_000 + index * 10_000 + p * 1_000 + c, ecephys_probe_id=probe_id, local_index=c,
                probe_horizontal_position=(43, 11, 59, 27)[c % 4], probe_vertical_position=20 * (c // 2 + 1),
                anterior_posterior_ccf_coordinate=8000.0 + 150 * p + 2.0 * c,
                dorsal_ventral_ccf_coordinate=4200.0 - 10.0 * c,
                left_right_ccf_coordinate=7800.0 + 120 * p,
                ecephys_structure_id=float(STRUCTURE_IDS[structure]) if structure else np.nan,
                ecephys_structure_acronym=structure, valid_data=True))
    return pd.DataFrame(probes), pd.DataFrame(channels)


def _region_counts(n_units: int, structures: list[str]) -> dict[str, int]:
    shares = np.array([UNIT_SHARE[s] for s in structures])
    raw = shares / shares.sum() * n_units
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: n_units - counts.sum()]] += 1
    return dict(zip(structures, counts))


def _qc_metrics(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Allen unit metrics; about QC_FAIL_SHARE of units fail the default QC through one metric."""
    fail = rng.random(n) < QC_FAIL_SHARE
    which = rng.integers(0, 3, n)
    m = pd.DataFrame({
        "amplitude_cutoff": np.where(fail & (which == 0), rng.uniform(0.15, 0.5, n), rng.uniform(0.0, 0.08, n)),
        "presence_ratio": np.where(fail & (which == 1), rng.uniform(0.5, 0.9, n), rng.uniform(0.96, 1.0, n)),
        "isi_violations": np.where(fail & (which == 2), rng.uniform(0.8, 3.0, n), rng.uniform(0.0, 0.3, n)),
        "snr": rng.uniform(1.5, 6.0, n), "isolation_distance": rng.uniform(20, 120, n), "l_ratio": rng.uniform(0, 0.05, n),
        "d_prime": rng.uniform(2, 8, n), "nn_hit_rate": rng.uniform(0.7, 1.0, n), "nn_miss_rate": rng.uniform(0, 0.03, n),
        "max_drift": rng.uniform(0, 40, n), "cumulative_drift": rng.uniform(0, 250, n), "silhouette_score": rng.uniform(0, 0.2, n),
        "waveform_halfwidth": rng.uniform(0.1, 0.4, n), "PT_ratio": rng.uniform(0.2, 0.8, n),
        "repolarization_slope": rng.uniform(0.1, 1.0, n), "recovery_slope": rng.uniform(-0.3, 0.0, n),
        "amplitude": rng.uniform(60, 300, n), "spread": rng.uniform(30, 120, n),
        "velocity_above": rng.uniform(-1, 1, n), "velocity_below": rng.uniform(-1, 1, n),
    })
    m["passes_qc"] = (m["amplitude_cutoff"] <= 0.1) & (m["presence_ratio"] >= 0.95) & (m["isi_violations"] <= 0.5)
    return m


def unit_family(units: pd.DataFrame) -> np.ndarray:
    """Each unit's family, the key of :data:`BASELINE_HZ` and :data:`GAIN_RANGE`: its cell type if it has one, else
    cortex, LGd, LP or hippocampus by its ``structure``."""
    return np.where(units["cell_type"].ne(""), units["cell_type"],
                    np.where(units["structure"].isin(CORTEX), "cortex",
                             np.where(units["structure"].isin(["LGd", "LP"]), units["structure"], "hippocampus")))


def build_units(index: int, genotype: str, channels: pd.DataFrame, n_units: int,
                rng: np.random.Generator) -> pd.DataFrame:
    """Units with their location, planted code and code parameters (the ground truth), plus QC metrics."""
    tagged_type = GENOTYPE_CELL_TYPE[genotype]
    in_brain = channels.dropna(subset=["ecephys_structure_acronym"])
    structures = sorted(in_brain["ecephys_structure_acronym"].unique(), key=list(UNIT_SHARE).index)
    rows = []
    for structure, count in _region_counts(n_units, structures).items():
        candidates = in_brain.loc[in_brain["ecephys_structure_acronym"] == structure, "id"].to_numpy()
        for channel in rng.choice(candidates, size=count, replace=True):
            cell_type = ""
            if structure in CORTEX:
                draw = rng.random()
                edges = np.cumsum(list(INTERNEURON_SHARE.values()))
                k = np.searchsorted(edges, draw)
                cell_type = list(INTERNEURON_SHARE)[k] if k < len(edges) else ""
            code = CELL_TYPE_CODE.get(cell_type, REGION_CODE[structure])
            rows.append(dict(structure=structure, channel=int(channel), cell_type=cell_type, code=code))
    units = pd.DataFrame(rows)
    n = len(units)
    units.insert(0, "id", 950_000_000 + index * 10_000 + np.arange(n) + 1)
    units["tagged"] = units["cell_type"].eq(tagged_type) if tagged_type else False

    # receptive fields, tuning and timing
    centre = np.array([RF_CENTRE.get(s, (WORK_SHAPE[1] / 2, WORK_SHAPE[0] / 2)) for s in units["structure"]], float)
    xy = centre + rng.normal(0, [18, 10], size=(n, 2))
    units["rf_x"] = np.clip(xy[:, 0], 4, WORK_SHAPE[1] - 5).round(1)
    units["rf_y"] = np.clip(xy[:, 1], 4, WORK_SHAPE[0] - 5).round(1)
    sigma_deg = np.array([rng.uniform(*RF_SIGMA_DEG[c]) for c in units["code"]])
    units["rf_sigma_px"] = np.where(units["code"].eq("lgd_dog"), rng.choice([2.0, 3.0, 4.0], n), (sigma_deg / DEG_PER_PIXEL).round(1))
    units["rf_sigma_deg"] = (units["rf_sigma_px"] * DEG_PER_PIXEL).round(2)
    units["on_centre"] = rng.random(n) < 0.5
    units["orientation"] = rng.integers(0, 8, n) * np.pi / 8
    units["wavelength_px"] = rng.choice([6.0, 12.0], n)
    units["readout_channels"] = [tuple(sorted(rng.choice(80, 3, replace=False))) for _ in range(n)]
    units["readout_weights"] = [tuple(np.round(rng.dirichlet(np.ones(3)), 3)) for _ in range(n)]
    units["latency_ms"] = [round(rng.uniform(*LATENCY_MS[c]), 1) for c in units["code"]]
    family = unit_family(units)
    units["baseline_hz"] = np.array([BASELINE_HZ[f] for f in family]) * rng.lognormal(0, 0.4, n)
    low, high = (np.array([GAIN_RANGE[f][i] for f in family]) for i in (0, 1))
    units["gain"] = np.where(units["code"].eq("hpc_drift"), 0.0, low + (high - low) * rng.random(n))
    units["planted_concept"] = units["code"].map({"sst_vehicle": "vehicle", "vip_luminance": "global luminance",
                                                  "pv_contrast": "local contrast"}).fillna("")
    return pd.concat([units, _qc_metrics(rng, n)], axis=1)
