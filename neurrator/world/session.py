"""In-memory description of one simulated session, in Allen Brain Observatory terms.

This is the hand-off between the simulation (which decides what happened) and the cache writer
(which writes it in the format allensdk reads). Column names follow the Allen cache's own tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurrator.allen_format import SESSION_TYPE


#: exact Allen genotype strings, by short name
GENOTYPES = {
    "wt": "wt/wt",
    "Pvalb": "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "Sst": "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "Vip": "Vip-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
}

#: Allen CCF structure ids of the structures the demo probes pass through
STRUCTURE_IDS = {
    "VISp": 385, "VISl": 409, "VISal": 402, "VISrl": 417, "VISam": 394, "VISpm": 533,
    "LGd": 170, "LP": 218, "CA1": 382, "CA3": 463, "DG": 726, "APN": 215,
}

#: stimulus_index values of the Brain Observatory 1.1 stimulus table
STIMULUS_INDEX = {"spontaneous": 0, "natural_movie_three": 5, "natural_movie_one": 6, "natural_scenes": 8}


@dataclass
class SimulatedSession:
    """Everything the cache writer needs for one session.

    Tables (pandas DataFrames, one row per item):

    - ``probes``: id, ecephys_session_id, name, phase, sampling_rate, lfp_sampling_rate,
      lfp_temporal_subsampling_factor, has_lfp_data
    - ``channels``: id, ecephys_probe_id, local_index, probe_horizontal_position,
      probe_vertical_position, anterior_posterior_ccf_coordinate, dorsal_ventral_ccf_coordinate,
      left_right_ccf_coordinate, ecephys_structure_id (NaN outside the brain),
      ecephys_structure_acronym (None outside the brain), valid_data
    - ``units``: id, ecephys_channel_id (= peak channel), local_index, cluster_id, quality,
      firing_rate, amplitude_cutoff, presence_ratio, isi_violations, snr, isolation_distance,
      l_ratio, d_prime, nn_hit_rate, nn_miss_rate, max_drift, cumulative_drift, silhouette_score,
      waveform_duration, waveform_halfwidth, PT_ratio, repolarization_slope, recovery_slope,
      amplitude, spread, velocity_above, velocity_below
    - ``stimulus_table``: start_time, stop_time, stimulus_name, stimulus_block (float, NaN for
      spontaneous), stimulus_index (float), frame (float; -1 for natural-scenes blanks, NaN for
      spontaneous)
    - ``optogenetic_stimulation``: start_time, stop_time, condition, level, stimulus_name, duration

    ``spike_times`` maps unit id -> sorted float64 seconds.
    """

    session_id: int
    genotype: str                      # full Allen genotype string (see GENOTYPES)
    probes: pd.DataFrame
    channels: pd.DataFrame
    units: pd.DataFrame
    spike_times: dict[int, np.ndarray]
    stimulus_table: pd.DataFrame
    optogenetic_stimulation: pd.DataFrame
    specimen_id: int = 0
    age_in_days: float = 110.0
    sex: str = "M"
    date_of_acquisition: str = "2026-01-01T00:00:00+00:00"
    session_type: str = SESSION_TYPE

    @property
    def duration(self) -> float:
        return float(max(self.stimulus_table["stop_time"].max(), self.optogenetic_stimulation["stop_time"].max()
                         if len(self.optogenetic_stimulation) else 0.0))
