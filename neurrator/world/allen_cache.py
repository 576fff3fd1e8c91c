"""Write simulated sessions as an Allen Visual Coding Neuropixels cache that allensdk 2.16.2 reads.

Layout under the cache directory (as ``allensdk`` reads it)::

    manifest.json                                   (what EcephysProjectCache.build_manifest writes)
    sessions.csv  probes.csv  channels.csv  units.csv
    session_<id>/session_<id>.nwb
    natural_movie_templates/natural_movie_<1|3>.h5  (np.save bytes despite the .h5 name)
    natural_scene_templates/natural_scene_<i>.tiff  (2-D grayscale, read with SimpleITK)

Every file is written to a temporary path and renamed into place. Each NWB is opened with
allensdk before it is published, because the SDK deletes (and tries to re-download) a cached file
it cannot read. The cache is then read through the SDK's own
``EcephysProjectCache.from_warehouse(manifest=...)``, which makes no request for files that exist.
"""

from __future__ import annotations

import datetime
import os
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from neurrator.artifacts import atomic_path
from neurrator.world.session import SimulatedSession

from neurrator.allen_format import MANIFEST_NAME, MOVIE_NUMBERS, session_file
SCENES_KEY = "natural_scenes"

#: samples per mean waveform (as in the Allen files); the simulation has no waveforms, so the
#: written ``waveform_mean`` is a zero placeholder of WAVEFORM_CHANNELS x WAVEFORM_SAMPLES per unit
WAVEFORM_SAMPLES = 82
WAVEFORM_CHANNELS = 1

SESSION_COLUMNS = ["date_of_acquisition", "isi_experiment_id", "published_at", "specimen_id",
                   "session_type", "age_in_days", "sex", "genotype", "has_nwb"]
PROBE_COLUMNS = ["ecephys_session_id", "name", "phase", "sampling_rate", "lfp_sampling_rate",
                 "lfp_temporal_subsampling_factor", "has_lfp_data"]
CHANNEL_COLUMNS = ["ecephys_probe_id", "local_index", "probe_horizontal_position",
                   "probe_vertical_position", "anterior_posterior_ccf_coordinate",
                   "dorsal_ventral_ccf_coordinate", "left_right_ccf_coordinate",
                   "ecephys_structure_id", "ecephys_structure_acronym"]
#: units.csv holds the warehouse's raw metric names; the cache renames them to waveform_*
UNIT_CSV_RENAMES = {"waveform_duration": "duration", "waveform_halfwidth": "halfwidth"}
UNIT_CSV_DROPPED = ["local_index", "cluster_id"]

#: EcephysSession options under which every written unit is visible (no QC, no channel filter)
_ALL_UNITS = {"filter_by_validity": False, "filter_out_of_brain_units": False,
              "amplitude_cutoff_maximum": None, "presence_ratio_minimum": None,
              "isi_violations_maximum": None}


class AllenCacheError(RuntimeError):
    """A session cannot be written in a form allensdk reads back."""


# ------------------------------------------------------------------------------------- NWB --
def write_session_nwb(session: SimulatedSession, path: str | os.PathLike, validate: bool = True) -> Path:
    """Write one session's NWB, validate it with allensdk, and only then rename it onto ``path``.

    Raises :class:`AllenCacheError` (leaving nothing at ``path``) if allensdk cannot read it back.
    ``validate=False`` skips the read-back (about 30 s a session, mostly allensdk's channel tables):
    :func:`~neurrator.world.simulate.simulate_world` checks the first session of a world, whose
    siblings are written by the same code.
    """
    import pynwb

    path = Path(path)
    _check_stimulus_table(session.stimulus_table)
    nwbfile = build_nwbfile(session)
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The file path provided", category=UserWarning)
            # allensdk's EcephysSpecimen extension declares an unnamed required attribute that no writer can set
            warnings.filterwarnings("ignore", message="EcephysSpecimen 'subject' is missing required value")
            with pynwb.NWBHDF5IO(str(tmp), "w") as io:  # the temporary name does not end in .nwb
                io.write(nwbfile, cache_spec=True)
        if validate:
            validate_session_nwb(tmp, session, final_path=path)
    return path


def build_nwbfile(session: SimulatedSession):
    """The in-memory ``pynwb.NWBFile`` for one session, laid out as the Allen VCN files are."""
    import pynwb

    nwbfile = pynwb.NWBFile(
        session_description="Data and metadata for an Ecephys session",
        identifier=str(int(session.session_id)),
        session_id=str(int(session.session_id)),
        session_start_time=_parse_time(session.date_of_acquisition),
        institution="Allen Institute (simulated by neurrator)",
        stimulus_notes=session.session_type,
    )
    nwbfile.subject = _subject(session)
    _add_stimulus_presentations(nwbfile, session.stimulus_table)
    _add_optotagging(nwbfile, session.optogenetic_stimulation)
    _add_probes_and_electrodes(nwbfile, session.probes, session.channels)
    _add_units(nwbfile, session.units, session.spike_times)
    return nwbfile


def validate_session_nwb(path: str | os.PathLike, session: SimulatedSession,
                         final_path: str | os.PathLike | None = None) -> None:
    """Open ``path`` with ``EcephysSession.from_nwb_path`` and check it holds ``session``.

    Raises :class:`AllenCacheError` naming the allensdk error or the mismatch.
    """
    import pynwb
    from allensdk.brain_observatory.ecephys.ecephys_session import EcephysSession

    outcome = f"; nothing was written to {final_path}" if final_path is not None else ""
    try:
        loaded = EcephysSession.from_nwb_path(str(path), api_kwargs=dict(_ALL_UNITS))
        with pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            # allensdk re-reads the whole file for every property (~0.5 s each); read it once,
            # exactly as its NwbApi.nwbfile does, and close it before the file is renamed
            loaded.api._nwbfile = io.read()
            problems = _compare_loaded(loaded, session)
    except Exception as err:  # allensdk raises anything from KeyError to TypeError
        raise AllenCacheError(
            f"allensdk cannot read the NWB written for session {session.session_id} "
            f"({type(err).__name__}: {err}){outcome}") from err
    if problems:
        raise AllenCacheError(
            f"the NWB written for session {session.session_id} reads back differently: "
            f"{'; '.join(problems)}{outcome}")


def _compare_loaded(loaded, session: SimulatedSession) -> list[str]:
    """Touch what users read (units, spikes, stimuli, optotagging) and list any mismatch."""
    problems = []
    if int(loaded.ecephys_session_id) != int(session.session_id):
        problems.append(f"session id {loaded.ecephys_session_id}")
    unit_ids = set(loaded.units.index.tolist())
    if unit_ids != set(session.units["id"].tolist()):
        problems.append(f"{len(unit_ids)} units instead of {len(session.units)}")
    n_spikes = sum(len(times) for times in loaded.spike_times.values())
    n_expected = sum(len(session.spike_times[u]) for u in session.units["id"])
    if n_spikes != n_expected:
        problems.append(f"{n_spikes} spikes instead of {n_expected}")
    if len(loaded.stimulus_presentations) != len(session.stimulus_table):
        problems.append(f"{len(loaded.stimulus_presentations)} stimulus presentations "
                        f"instead of {len(session.stimulus_table)}")
    if len(loaded.optogenetic_stimulation_epochs) != len(session.optogenetic_stimulation):
        problems.append(f"{len(loaded.optogenetic_stimulation_epochs)} optogenetic epochs "
                        f"instead of {len(session.optogenetic_stimulation)}")
    return problems


def _check_stimulus_table(stimulus_table: pd.DataFrame) -> None:
    """Refuse numeric columns allensdk would coerce to bool (non-null values all in {0, 1})."""
    for column in stimulus_table.columns:
        if column in ("start_time", "stop_time", "stimulus_index"):
            continue
        values = stimulus_table[column]
        if not pd.api.types.is_numeric_dtype(values):
            continue
        present = set(values.dropna().unique().tolist())
        if present and present <= {0, 1}:
            raise AllenCacheError(
                f"stimulus table column {column!r} holds only the values {sorted(present)}: allensdk "
                f"reads such a column as bool. Use three or more distinct values "
                f"(e.g. stimulus_block 0, 1, 2).")


def _parse_time(text: str) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def _subject(session: SimulatedSession):
    from allensdk.brain_observatory.ecephys.nwb import EcephysSpecimen

    line = session.genotype.split("/")[0]
    return EcephysSpecimen(
        subject_id=str(int(session.specimen_id)),
        specimen_name=f"{line}-{int(session.specimen_id)}",
        age_in_days=float(session.age_in_days),
        age=f"P{int(session.age_in_days)}D",
        genotype=session.genotype,
        sex=session.sex,
        strain="C57BL/6J",
        species="Mus musculus",
    )


def _timeseries_columns(n_rows: int, timeseries, start_indices: np.ndarray, tag: str) -> list:
    """The ``tags`` and ``timeseries`` columns real Allen interval tables carry (one ref per row)."""
    from hdmf.common import VectorData, VectorIndex
    from pynwb.base import TimeSeriesReferenceVectorData

    rows = np.arange(1, n_rows + 1)
    refs = TimeSeriesReferenceVectorData(
        name="timeseries", description="index into timeseries data",
        data=[(int(i), 1, timeseries) for i in start_indices])
    tags = VectorData(name="tags", description="user-defined tags", data=[tag] * n_rows)
    return [tags, VectorIndex(name="tags_index", data=rows, target=tags),
            refs, VectorIndex(name="timeseries_index", data=rows, target=refs)]


def _time_intervals(name: str, description: str, table: pd.DataFrame, timeseries,
                    rows_in_series: np.ndarray, tag: str):
    """A ``TimeIntervals`` with start/stop, tags/timeseries and every other column of ``table``.

    ``rows_in_series[i]`` is the sample of ``timeseries`` that row ``i`` of ``table`` refers to.
    """
    from hdmf.common import VectorData
    from pynwb.epoch import TimeIntervals

    columns = [VectorData(name=c, description=c, data=table[c].to_numpy(dtype=np.float64))
               for c in ("start_time", "stop_time")]
    columns += _timeseries_columns(len(table), timeseries, rows_in_series, tag)
    for column in table.columns.drop(["start_time", "stop_time"]):
        values = table[column].to_numpy()
        if values.dtype == object:
            values = np.array([str(v) for v in values], dtype=object)
        columns.append(VectorData(name=column, description=column, data=values))
    return TimeIntervals(name=name, description=description, columns=columns,
                         id=np.arange(len(table)))


def _add_stimulus_presentations(nwbfile, stimulus_table: pd.DataFrame) -> None:
    """A ``stimulus/timestamps`` series and one ``<name>_presentations`` table per stimulus."""
    import pynwb
    from pynwb.base import TimeSeries

    table = stimulus_table.sort_values("start_time", kind="stable").reset_index(drop=True)
    starts = table["start_time"].to_numpy(dtype=np.float64)
    timestamps = TimeSeries(name="timestamps", data=starts, timestamps=starts, unit="s")
    module = pynwb.ProcessingModule("stimulus", "Stimulus Times processing")
    nwbfile.add_processing_module(module)
    module.add(timestamps)
    for name, rows in table.groupby("stimulus_name", sort=True):
        rows = rows.dropna(axis=1, how="all")  # e.g. spontaneous has no block or frame
        nwbfile.add_time_intervals(_time_intervals(
            f"{name}_presentations", f"Presentation times and stimuli details for '{name}' stimuli",
            rows, timestamps, rows.index.to_numpy(), "stimulus_time_interval"))


def _add_optotagging(nwbfile, optogenetic_stimulation: pd.DataFrame) -> None:
    """Processing module ``optotagging`` with the ``optogenetic_stimulation`` epochs."""
    import pynwb
    from pynwb.base import TimeSeries

    table = optogenetic_stimulation.reset_index(drop=True)
    series = TimeSeries(name="optotagging", timestamps=table["start_time"].to_numpy(dtype=np.float64),
                        data=table["duration"].to_numpy(dtype=np.float64), unit="seconds")
    module = pynwb.ProcessingModule("optotagging", "optogenetic stimulution data")
    module.add(series)
    module.add(_time_intervals(
        "optogenetic_stimulation", "optogenetic stimulation", table, series,
        np.arange(len(table)), "optical_stimulation"))
    nwbfile.add_processing_module(module)


_ELECTRODE_COLUMNS = {  # name -> description, after pynwb's location / group / group_name
    "x": "the x coordinate of the position (+x is posterior)",
    "y": "the y coordinate of the position (+y is inferior)",
    "z": "the z coordinate of the position (+z is right)",
    "imp": "the impedance of the electrode, in ohms",
    "filtering": "description of hardware filtering, including the filter name and frequency cutoffs",
    "probe_vertical_position": "Length-wise position of electrode/channel on device (microns)",
    "probe_horizontal_position": "Width-wise position of electrode/channel on device (microns)",
    "probe_id": "The unique id of this electrode's/channel's device",
    "local_index": "The local index of electrode/channel on device",
    "valid_data": "Whether data from this electrode/channel is usable",
}


def _add_probes_and_electrodes(nwbfile, probes: pd.DataFrame, channels: pd.DataFrame) -> None:
    """An EcephysProbe device + EcephysElectrodeGroup per probe, and the electrodes table."""
    from allensdk.brain_observatory.ecephys.nwb import EcephysElectrodeGroup, EcephysProbe

    groups = {}
    for probe in probes.itertuples(index=False):
        device = EcephysProbe(name=probe.name, description="Neuropixels 1.0 Probe", manufacturer="imec",
                              probe_id=int(probe.id), sampling_rate=float(probe.sampling_rate))
        groups[probe.id] = EcephysElectrodeGroup(
            name=probe.name, description="Ecephys Electrode Group", probe_id=int(probe.id),
            location="See electrode locations", device=device,
            lfp_sampling_rate=float(probe.lfp_sampling_rate) / float(probe.lfp_temporal_subsampling_factor),
            has_lfp_data=bool(probe.has_lfp_data))
        nwbfile.add_device(device)
        nwbfile.add_electrode_group(groups[probe.id])
    nwbfile.electrodes = _electrodes_table(channels[channels["ecephys_probe_id"].isin(groups)], groups)


def _electrodes_table(channels: pd.DataFrame, groups: dict):
    """The electrodes table built column by column (pynwb's add_electrode costs ~2 ms a row)."""
    from hdmf.common import DynamicTable, VectorData

    group = [groups[p] for p in channels["ecephys_probe_id"]]
    values = {
        "location": [_location(a) for a in channels["ecephys_structure_acronym"]],
        "group": group,
        "group_name": [g.name for g in group],
        "x": channels["anterior_posterior_ccf_coordinate"].to_numpy(dtype=np.float64),
        "y": channels["dorsal_ventral_ccf_coordinate"].to_numpy(dtype=np.float64),
        "z": channels["left_right_ccf_coordinate"].to_numpy(dtype=np.float64),
        "imp": np.full(len(channels), np.nan),
        "filtering": ["AP band: 500 Hz high-pass; LFP band: 1000 Hz low-pass"] * len(channels),
        "probe_vertical_position": channels["probe_vertical_position"].to_numpy(dtype=np.int64),
        "probe_horizontal_position": channels["probe_horizontal_position"].to_numpy(dtype=np.int64),
        "probe_id": channels["ecephys_probe_id"].to_numpy(dtype=np.int64),
        "local_index": channels["local_index"].to_numpy(dtype=np.int64),
        "valid_data": channels["valid_data"].to_numpy(dtype=bool),
    }
    descriptions = {"location": "the location of channel within the subject e.g. brain region",
                    "group": "a reference to the ElectrodeGroup this electrode is a part of",
                    "group_name": "the name of the ElectrodeGroup this electrode is a part of",
                    **_ELECTRODE_COLUMNS}
    return DynamicTable(name="electrodes", description="metadata about extracellular electrodes",
                        id=channels["id"].to_numpy(dtype=np.int64),
                        columns=[VectorData(name=n, description=descriptions[n], data=v)
                                 for n, v in values.items()])


def _location(acronym) -> str:
    """Electrode location as the Allen files store it: the acronym, or "None" outside the brain."""
    return "None" if acronym is None or (isinstance(acronym, float) and np.isnan(acronym)) else str(acronym)


def _add_units(nwbfile, units: pd.DataFrame, spike_times: dict) -> None:
    """The units table: metric columns, ragged spike_times / spike_amplitudes / waveform_mean.

    ``ecephys_channel_id`` becomes ``peak_channel_id``; every other column is written as given, so a
    column allensdk does not know makes validation fail instead of vanishing silently.
    """
    import pynwb
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import VectorData, VectorIndex

    table = units.rename(columns={"ecephys_channel_id": "peak_channel_id"}).set_index("id")
    ids = table.index.to_numpy(dtype=np.int64)
    trains = [np.asarray(spike_times[u], dtype=np.float64) for u in ids]
    ends = np.cumsum([len(t) for t in trains]).astype(np.int64)
    flat = np.concatenate(trains) if trains else np.zeros(0)
    amplitudes = _spike_amplitudes(table, trains)
    waveforms = np.zeros((len(ids) * WAVEFORM_CHANNELS, WAVEFORM_SAMPLES), dtype=np.float32)

    columns = []
    for column in table.columns:
        values = table[column].to_numpy()
        if values.dtype == object:
            values = np.array([str(v) for v in values], dtype=object)
        columns.append(VectorData(name=column, description=column, data=values))
    for name, data, index, description in [
        ("spike_times", flat, ends, "times (s) of detected spiking events"),
        ("spike_amplitudes", H5DataIO(amplitudes, compression="gzip"), ends,
         "amplitude (V) of detected spiking events"),
        ("waveform_mean", H5DataIO(waveforms, compression="gzip"),
         np.arange(1, len(ids) + 1) * WAVEFORM_CHANNELS, "mean waveforms on peak channels (placeholder)"),
    ]:
        vector = VectorData(name=name, description=description, data=data)
        columns += [vector, VectorIndex(name=f"{name}_index", data=index, target=vector)]
    nwbfile.units = pynwb.misc.Units(name="units", id=ids, columns=columns,
                                     description="simulated sorted units")


def _spike_amplitudes(table: pd.DataFrame, trains: list[np.ndarray]) -> np.ndarray:
    """Per-spike amplitudes in volts: each unit's ``amplitude`` metric (µV), 100 µV if absent."""
    if "amplitude" in table.columns:
        per_unit = table["amplitude"].fillna(100.0).to_numpy(dtype=np.float64) * 1e-6
    else:
        per_unit = np.full(len(trains), 1e-4)
    if not trains:
        return np.zeros(0, dtype=np.float32)
    return np.repeat(per_unit, [len(t) for t in trains]).astype(np.float32)


# ----------------------------------------------------------------------------------- cache --
def write_cache(cache_dir: str | os.PathLike, sessions: list[SimulatedSession],
                templates: dict[str, np.ndarray], progress: bool = True) -> Path:
    """Write a whole cache and return its manifest path.

    The CSV tables are replaced by exactly the given ``sessions`` (NWB files of other session ids
    already in ``cache_dir`` stay on disk but are no longer listed). The manifest is written last.
    """
    from tqdm import tqdm

    cache_dir = Path(cache_dir)
    ids = [int(s.session_id) for s in sessions]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate session ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    for session in tqdm(sessions, desc="writing sessions", unit="session", disable=not progress):
        write_session_nwb(session, session_nwb_path(cache_dir, session.session_id))
    write_templates(cache_dir, templates)
    write_tables(cache_dir, sessions)
    return write_manifest(cache_dir)


def session_nwb_path(cache_dir: str | os.PathLike, session_id: int) -> Path:
    """Where the cache keeps one session's NWB."""
    return session_file(cache_dir, session_id)


def write_manifest(cache_dir: str | os.PathLike) -> Path:
    """``manifest.json`` with the content ``EcephysProjectCache.build_manifest`` writes (0.3.0)."""
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    path = Path(cache_dir) / MANIFEST_NAME
    # build_manifest only needs the class's path layout, not a configured (networked) instance
    builder = EcephysProjectCache.__new__(EcephysProjectCache)
    with atomic_path(path) as tmp:
        builder.build_manifest(str(tmp))
    return path


def write_tables(cache_dir: str | os.PathLike, sessions: Iterable[SimulatedSession]) -> None:
    """sessions.csv, probes.csv, channels.csv and units.csv for exactly these sessions."""
    sessions = list(sessions)
    cache_dir = Path(cache_dir)
    for name, table in [("sessions", sessions_table(sessions)),
                        ("probes", _concat([s.probes for s in sessions], PROBE_COLUMNS)),
                        ("channels", _concat([s.channels for s in sessions], CHANNEL_COLUMNS)),
                        ("units", units_csv_table(sessions))]:
        with atomic_path(cache_dir / f"{name}.csv") as tmp:
            table.to_csv(tmp)


def sessions_table(sessions: list[SimulatedSession]) -> pd.DataFrame:
    """The warehouse's sessions table (``genotype`` is the cache's ``full_genotype``)."""
    rows = [dict(id=int(s.session_id), date_of_acquisition=s.date_of_acquisition,
                 isi_experiment_id=int(s.session_id), published_at=s.date_of_acquisition,
                 specimen_id=int(s.specimen_id), session_type=s.session_type,
                 age_in_days=float(s.age_in_days), sex=s.sex, genotype=s.genotype, has_nwb=True)
            for s in sessions]
    return pd.DataFrame(rows, columns=["id", *SESSION_COLUMNS]).set_index("id")


def units_csv_table(sessions: list[SimulatedSession]) -> pd.DataFrame:
    """The warehouse's units table: raw metric names, ``ecephys_channel_id``, no per-probe indices.

    Only units whose peak channel is valid and inside the brain are listed, as the session's own
    default filter does: units.csv carries no structure column, so the cache could not drop them.
    The session NWB keeps every unit.
    """
    frames = [s.units[s.units["ecephys_channel_id"].isin(_listed_channel_ids(s))] for s in sessions]
    units = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id"])
    units = units.drop(columns=[c for c in UNIT_CSV_DROPPED if c in units.columns])
    return units.rename(columns=UNIT_CSV_RENAMES).set_index("id")


def _listed_channel_ids(session: SimulatedSession) -> np.ndarray:
    """Channels that are valid and inside the brain (a structure id)."""
    channels = session.channels
    keep = channels["ecephys_structure_id"].notna() & channels["valid_data"].astype(bool)
    return channels.loc[keep, "id"].to_numpy()


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", *columns])
    return table[["id", *columns]].set_index("id")


# ------------------------------------------------------------------------------- templates --
def write_templates(cache_dir: str | os.PathLike, templates: dict[str, np.ndarray]) -> None:
    """Movie templates (``natural_movie_one``/``three``: frames x H x W) and scenes (n x H x W), uint8."""
    unknown = set(templates) - set(MOVIE_NUMBERS) - {SCENES_KEY}
    if unknown:
        raise ValueError(f"unknown template keys {sorted(unknown)}; expected "
                         f"{sorted(MOVIE_NUMBERS) + [SCENES_KEY]}")
    cache_dir = Path(cache_dir)
    for key, number in MOVIE_NUMBERS.items():
        if key in templates:
            write_movie_template(cache_dir / "natural_movie_templates" / f"natural_movie_{number}.h5",
                                 templates[key])
    if SCENES_KEY in templates:
        for index, image in enumerate(_uint8_stack(templates[SCENES_KEY], SCENES_KEY)):
            write_scene_template(cache_dir / "natural_scene_templates" / f"natural_scene_{index}.tiff", image)


def write_movie_template(path: str | os.PathLike, frames: np.ndarray) -> Path:
    """np.save bytes (what allensdk's ``read_movie`` loads) under the cache's ``.h5`` name."""
    frames = _uint8_stack(frames, Path(path).name)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, frames, allow_pickle=False)
    return Path(path)


def link_movie_template(path: str | os.PathLike, npy_file: str | os.PathLike) -> Path:
    """Publish an existing uint8 ``.npy`` movie as a template without a second copy (hard link; copy if
    the file system cannot link). The bytes are exactly what :func:`write_movie_template` writes."""
    import shutil

    frames = np.load(npy_file, mmap_mode="r")
    _uint8_stack(frames[:1], Path(path).name)
    with atomic_path(path) as tmp:
        tmp.unlink()
        try:
            os.link(npy_file, tmp)
        except OSError:
            shutil.copyfile(npy_file, tmp)
    return Path(path)


def write_scene_template(path: str | os.PathLike, image: np.ndarray) -> Path:
    """One 2-D uint8 grayscale TIFF, as allensdk's ``read_scene`` (SimpleITK) reads it."""
    import SimpleITK as sitk

    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"{Path(path).name}: a scene must be 2-D uint8, got {image.dtype} {image.shape}")
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("TIFFImageIO")  # the temporary name has no .tiff suffix to infer it from
    with atomic_path(path) as tmp:
        writer.SetFileName(str(tmp))
        writer.Execute(sitk.GetImageFromArray(image))
    return Path(path)


def _uint8_stack(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 3 or values.dtype != np.uint8:
        raise ValueError(f"{what}: expected a uint8 array (n, H, W), got {values.dtype} {values.shape}")
    return values
