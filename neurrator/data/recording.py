"""A session loaded once from an Allen cache, with no SDK object left behind.

:func:`neurrator.data.allen.load_recording` fills it through allensdk; everything later (binning, splits,
optotagging) reads only this. ``save``/``load`` keep a processed copy in the data directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NATURAL_STIMULI = ("natural_movie_one", "natural_movie_three", "natural_scenes")


@dataclass
class Recording:
    """One session: units, spike times, stimulus presentations and optogenetic epochs.

    - ``units``: index ``unit_id``; columns ``region`` (the unit's ``ecephys_structure_acronym``),
      ``probe``, ``channel_id``, the Allen quality metrics (``amplitude_cutoff``, ``presence_ratio``,
      ``isi_violations``, ``quality``), ``firing_rate``; every unit the NWB holds, QC applied later.
    - ``spike_times``: ``unit_id -> sorted float64 seconds``.
    - ``presentations``: one row per presentation of the loaded stimuli, in time order:
      ``stimulus_name``, ``start_time``, ``stop_time``, ``frame`` (int; -1 = natural-scenes blank),
      ``stimulus_block`` (int), ``repeat`` (int, inferred per stimulus: a repeat starts where the frame
      returns to 0 or a new block starts; each natural-scenes presentation of an image is one repeat of it).
    - ``optogenetic_epochs``: ``start_time``, ``stop_time``, ``duration``, ``level``, ``condition``,
      ``stimulus_name``.
    """

    session_id: int
    genotype: str
    units: pd.DataFrame
    spike_times: dict[int, np.ndarray]
    presentations: pd.DataFrame
    optogenetic_epochs: pd.DataFrame
    extra: dict = field(default_factory=dict)

    def stimulus(self, name: str) -> pd.DataFrame:
        """Presentations of one stimulus (a clear error names the stimuli this session has)."""
        table = self.presentations[self.presentations["stimulus_name"] == name]
        if table.empty:
            have = sorted(self.presentations["stimulus_name"].unique())
            raise KeyError(f"session {self.session_id} has no presentations of {name!r}; it has: {', '.join(have)}")
        return table
