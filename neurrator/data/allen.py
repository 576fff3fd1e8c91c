"""Allen Visual Coding Neuropixels sessions: load once through allensdk, keep a processed copy.

- :func:`open_cache` / :func:`list_sessions` over an Allen cache (the real one or ``neurrator simulate``'s).
- :func:`load_recording` reads one session through the SDK *once* (every unit, no QC) into a
  :class:`~neurrator.data.recording.Recording`; :func:`save_recording` / :func:`read_recording` keep it as one
  compact ``.npz`` per session in the data directory, which reopens far faster and lighter than the SDK.
- Unit QC (:data:`QC_DEFAULTS`, :func:`passes_qc`) and region pools (:data:`REGION_POOLS`,
  :func:`select_units`) are defined here and nowhere else.

allensdk deletes a cached NWB it fails to read and tries to download it again, so a session file is
checked (exists, opens as HDF5, names its session) before the SDK ever sees it.
"""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from neurrator.allen_format import MANIFEST_NAME, MOVIE_NUMBERS, SESSION_TYPE
from neurrator.artifacts import ArtifactError, check_artifact, sha256_file, write_artifact
from neurrator.data.recording import NATURAL_STIMULI, Recording

PREPROCESS_NOTEBOOK = "01_preprocess"
RECORDING_FORMAT = 1

#: the SDK's default unit QC thresholds (``allensdk.brain_observatory.ecephys.UNIT_FILTER_DEFAULTS``)
QC_DEFAULTS = dict(amplitude_cutoff_maximum=0.1, presence_ratio_minimum=0.95, isi_violations_maximum=0.5)
#: threshold name -> (metric column, "max" or "min")
_QC_METRICS = {"amplitude_cutoff_maximum": ("amplitude_cutoff", "max"),
               "presence_ratio_minimum": ("presence_ratio", "min"),
               "isi_violations_maximum": ("isi_violations", "max")}

VISUAL_CORTEX = ["VISp", "VISl", "VISal", "VISrl", "VISam", "VISpm"]
#: pool name -> structure acronyms (None: every unit inside the brain)
REGION_POOLS: dict[str, list[str] | None] = {
    "VISp": ["VISp"],
    "higher visual": ["VISl", "VISal", "VISrl", "VISam", "VISpm"],
    "LGd": ["LGd"],
    "visual cortex": list(VISUAL_CORTEX),
    "hippocampus": ["CA1", "CA2", "CA3", "DG", "SUB", "ProS"],
    "all": None,
}
#: the pools that split a session's units without overlap, in visual-hierarchy order (rasters group units by them)
DISJOINT_POOLS = ("LGd", "VISp", "higher visual", "hippocampus")


def region_pool(region: str | None) -> str:
    """The :data:`DISJOINT_POOLS` pool a brain region belongs to ("other" for none, e.g. LP or white matter)."""
    return next((pool for pool in DISJOINT_POOLS if region in REGION_POOLS[pool]), "other")

#: unit columns kept from the SDK's units table (those present), after the renames below
_UNIT_RENAMES = {"ecephys_structure_acronym": "region", "probe_description": "probe",
                 "peak_channel_id": "channel_id"}
_UNIT_COLUMNS = [
    "region", "probe", "probe_id", "channel_id", "valid_data", "probe_vertical_position",
    "probe_horizontal_position", "anterior_posterior_ccf_coordinate", "dorsal_ventral_ccf_coordinate",
    "left_right_ccf_coordinate", "quality", "firing_rate", "amplitude_cutoff", "presence_ratio",
    "isi_violations", "snr", "isolation_distance", "L_ratio", "d_prime", "nn_hit_rate", "nn_miss_rate",
    "max_drift", "cumulative_drift", "silhouette_score", "waveform_duration", "waveform_halfwidth",
    "waveform_PT_ratio", "waveform_repolarization_slope", "waveform_recovery_slope", "waveform_amplitude",
    "waveform_spread", "waveform_velocity_above", "waveform_velocity_below",
]
PRESENTATION_COLUMNS = ["stimulus_name", "start_time", "stop_time", "frame", "stimulus_block", "repeat"]
OPTO_COLUMNS = ["start_time", "stop_time", "duration", "level", "condition", "stimulus_name"]


class SessionFileError(RuntimeError):
    """A session's NWB in the cache cannot be handed to allensdk (it would delete it)."""


# ------------------------------------------------------------------------------------ cache --
def open_cache(cache_dir):
    """The allensdk ``EcephysProjectCache`` over ``cache_dir`` (its ``manifest.json``), or over a
    :class:`~neurrator.layout.DataLayout`'s cache; no request is made. A missing cache names the fix: on a layout
    of a real-data profile (``paper``), the ``cache_dir`` parameter; else ``neurrator simulate``."""
    real_data = getattr(cache_dir, "profile", "demo") != "demo"
    path = Path(getattr(cache_dir, "allen_cache", cache_dir)).expanduser()
    manifest = path if path.name == MANIFEST_NAME and path.is_file() else path / MANIFEST_NAME
    if not manifest.is_file():
        what = "does not exist" if not path.exists() else f"has no {MANIFEST_NAME}"
        if real_data:
            raise FileNotFoundError(
                f"Allen cache {path} {what}: the paper profile reads a real Allen Visual Coding Neuropixels cache; "
                f"pass it with -p cache_dir /path/to/cache (the folder holding {MANIFEST_NAME})")
        raise FileNotFoundError(
            f"Allen cache {path} {what}: run `neurrator simulate` to write the demo cache there, or point "
            f"cache_dir at an Allen Visual Coding Neuropixels cache (the folder holding {MANIFEST_NAME})")
    from allensdk.brain_observatory.ecephys.ecephys_project_cache import EcephysProjectCache

    return EcephysProjectCache.from_warehouse(manifest=str(manifest))


def short_genotype(full_genotype) -> str:
    """``"wt/wt"`` -> ``"wt"``, ``"Pvalb-IRES-Cre/wt;Ai32(...)/wt"`` -> ``"Pvalb"`` (the driver line)."""
    if not isinstance(full_genotype, str) or not full_genotype.strip():
        return "unknown"
    return full_genotype.strip().split(";")[0].split("/")[0].split("-")[0]


@contextmanager
def _allensdk_dtype_warning():
    """Silence two named FutureWarnings of allensdk 2.16.2, only around the calls that raise them.

    Its project cache (``get_grouped_uniques``) groups with ``apply`` over the grouping columns and
    writes arrays of structure acronyms into an int column; pandas >= 2.1 warns that pandas 3 will
    refuse both, one reason this project stays on pandas 2.
    """
    with warnings.catch_warnings():
        for message in ("Setting an item of incompatible dtype", "DataFrameGroupBy.apply operated on the grouping"):
            warnings.filterwarnings("ignore", message=message, category=FutureWarning, module="allensdk")
        yield


def list_sessions(cache) -> pd.DataFrame:
    """Brain Observatory 1.1 sessions: session_id, genotype (short), full_genotype, session_type, unit_count.

    ``unit_count`` is the cache's own count (units passing the SDK's default QC).
    """
    with _allensdk_dtype_warning():
        table = cache.get_session_table()
    table = table[table["session_type"] == SESSION_TYPE]
    out = pd.DataFrame({
        "session_id": table.index.to_numpy(dtype=np.int64),
        "genotype": [short_genotype(g) for g in table["full_genotype"]],
        "full_genotype": table["full_genotype"].to_numpy(),
        "session_type": table["session_type"].to_numpy(),
        "unit_count": table["unit_count"].to_numpy(dtype=np.int64),
    })
    return out.sort_values("session_id", ignore_index=True)


def select_sessions(table: pd.DataFrame, sessions: Sequence[int] | int | None = None) -> pd.DataFrame:
    """The rows of :func:`list_sessions` to process: every session (``None``), the ``N`` sessions with the
    most units (an int), or the listed session ids (in the given order; an unknown id is an error)."""
    if sessions is None:
        return table
    if isinstance(sessions, (int, np.integer)) and not isinstance(sessions, bool):
        if sessions < 1:
            raise ValueError(f"sessions={sessions}: ask for at least one session")
        return table.sort_values(["unit_count", "session_id"], ascending=[False, True]).head(int(sessions)) \
                    .sort_values("session_id", ignore_index=True)
    ids = [int(s) for s in sessions]
    unknown = sorted(set(ids) - set(table["session_id"]))
    if unknown:
        raise ValueError(f"session(s) {unknown} are not Brain Observatory 1.1 sessions of this cache; "
                         f"it lists {len(table)}, e.g. {table['session_id'].head(3).tolist()}")
    return table.set_index("session_id").loc[ids].reset_index()


def session_nwb_path(cache, session_id: int) -> Path:
    """Where ``cache`` keeps (or would download) one session's NWB."""
    return Path(cache.get_cache_path(None, cache.SESSION_NWB_KEY, int(session_id), int(session_id)))


def check_session_file(path: str | os.PathLike, session_id: int) -> None:
    """Refuse a session NWB that is missing or unreadable as HDF5, before allensdk could delete it."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"session {session_id}: {path} is not in the cache, and allensdk would try to download it here. "
            f"Download it first with allensdk (EcephysProjectCache.from_warehouse(manifest=...)"
            f".get_session_data({session_id}), about 2 GB), leave it out with the `sessions` parameter, "
            f"or run `neurrator simulate` for the demo cache")
    try:
        with h5py.File(path, "r") as handle:
            identifier = handle["identifier"][()] if "identifier" in handle else None
            has_units = "units" in handle
            has_spikes = has_units and "spike_times" in handle["units"]
    except Exception as err:  # h5py raises OSError for garbage, truncated or locked files
        raise SessionFileError(
            f"session {session_id}: {path} does not open as HDF5 ({type(err).__name__}: {err}). allensdk would "
            f"delete this file and re-download it, so it was not called; replace the file (re-run "
            f"`neurrator simulate` or re-download the session)") from err
    if isinstance(identifier, bytes):
        identifier = identifier.decode()
    if identifier is None or not has_units or str(identifier) != str(int(session_id)):
        raise SessionFileError(
            f"session {session_id}: {path} is HDF5 but not this session's NWB (identifier {identifier!r}, "
            f"units table {'present' if has_units else 'missing'}). allensdk would delete this file and "
            f"re-download it, so it was not called; replace the file")
    if not has_spikes:
        raise SessionFileError(
            f"session {session_id}: {path} is this session's NWB but its units table has no spike times (a partial "
            f"or stripped file); replace it (re-run `neurrator simulate` or re-download the session)")


# ------------------------------------------------------------------------------------- load --
def load_recording(cache, session_id: int, stimuli: Sequence[str] = NATURAL_STIMULI,
                   progress: bool = True) -> Recording:
    """Read one session through allensdk once: every unit (QC applied later), spikes, presentations, opto.

    Raises FileNotFoundError / :class:`SessionFileError` for a missing or unreadable NWB (the SDK is not
    called), KeyError for a stimulus the session lacks, ValueError for unsorted spike times, and
    RuntimeError naming the session and file for any other SDK/NWB failure.
    """
    from tqdm import tqdm

    session_id = int(session_id)
    stimuli = [stimuli] if isinstance(stimuli, str) else list(stimuli)
    path = session_nwb_path(cache, session_id)
    check_session_file(path, session_id)
    steps = tqdm(total=5, desc=f"session {session_id}", unit="step", disable=not progress, leave=False)
    io, missing = None, []
    try:
        try:
            steps.set_postfix_str("opening")
            session, io = _open_session(cache, session_id)
            have = sorted(str(n) for n in session.stimulus_names)
            missing = [name for name in stimuli if name not in have]
            steps.update()
            if not missing:
                steps.set_postfix_str("units and spikes")
                sdk_units, spikes = _units_and_spikes(session)
                units = _unit_table(sdk_units)
                spike_times = {int(u): np.array(spikes.get(u, ()), dtype=np.float64) for u in units.index}
                steps.update(2)
                steps.set_postfix_str("stimuli")
                raw = session.get_stimulus_table(stimuli)
                steps.update()
                steps.set_postfix_str("optotagging")
                has_opto = session.api.nwbfile.processing.get("optotagging") is not None
                opto = session.optogenetic_stimulation_epochs if has_opto else None
                full_genotype, session_type = session.full_genotype, session.session_type
                steps.update()
        except Exception as err:
            raise RuntimeError(f"allensdk could not read session {session_id} from {path} "
                               f"({type(err).__name__}: {err})") from err
        finally:
            if io is not None:
                io.close()
    finally:
        steps.close()
    if missing:
        raise KeyError(f"session {session_id} has no {', '.join(map(repr, missing))} presentations; "
                       f"it has: {', '.join(have)}")
    check_spike_times(spike_times)
    return Recording(
        session_id=session_id, genotype=short_genotype(full_genotype), units=units, spike_times=spike_times,
        presentations=_presentation_table(raw), optogenetic_epochs=_opto_table(opto),
        extra=dict(full_genotype=full_genotype, session_type=session_type, stimuli=stimuli,
                   cache_dir=str(Path(cache.manifest_path).parent.resolve()), nwb_path=str(path.resolve()),
                   nwb_sha256=session_file_identity(path)),
    )


def _open_session(cache, session_id: int):
    """The SDK session, with its NWB read once (the SDK re-reads the file for every property otherwise).

    ``fetch_tries`` is 0 during the call, so a failed read raises instead of deleting and downloading.
    """
    import pynwb

    tries, cache.fetch_tries = cache.fetch_tries, 0
    try:
        with _allensdk_dtype_warning():
            session = cache.get_session_data(
                session_id, filter_by_validity=False, filter_out_of_brain_units=False,
                amplitude_cutoff_maximum=np.inf, presence_ratio_minimum=-np.inf, isi_violations_maximum=np.inf)
    finally:
        cache.fetch_tries = tries
    io = pynwb.NWBHDF5IO(str(session.api.path), "r", load_namespaces=True)
    try:
        session.api._nwbfile = io.read()
    except Exception:
        io.close()
        raise
    return session, io


def _units_and_spikes(session) -> tuple[pd.DataFrame, dict]:
    """The SDK's units table (as ``session.units`` builds it, every unit) and spike times from ONE pass of
    its probe reader; ``session.units`` and ``session.spike_times`` would each make their own pass."""
    from allensdk.brain_observatory.ecephys.probes import Probes

    probes = Probes.from_nwb(nwbfile=session.api.nwbfile)
    table = probes.get_units_table(filter_by_validity=False, filter_out_of_brain_units=False,
                                   amplitude_cutoff_maximum=np.inf, presence_ratio_minimum=-np.inf,
                                   isi_violations_maximum=np.inf)
    return session._build_units_table(table), probes.spike_times


def _unit_table(sdk_units: pd.DataFrame) -> pd.DataFrame:
    units = sdk_units.rename(columns=_UNIT_RENAMES)
    units = units[[c for c in _UNIT_COLUMNS if c in units.columns]].copy()
    units.index = pd.Index(units.index.to_numpy(dtype=np.int64), name="unit_id")
    units["region"] = [r if _is_region(r) else None for r in units["region"]]
    return units


def _presentation_table(raw: pd.DataFrame) -> pd.DataFrame:
    table = raw.sort_values("start_time", kind="stable")
    out = pd.DataFrame(index=pd.Index(table.index.to_numpy(dtype=np.int64), name="stimulus_presentation_id"))
    out["stimulus_name"] = table["stimulus_name"].astype(str).to_numpy()
    out["start_time"] = table["start_time"].to_numpy(dtype=np.float64)
    out["stop_time"] = table["stop_time"].to_numpy(dtype=np.float64)
    for column in ("frame", "stimulus_block"):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            names = sorted(set(out["stimulus_name"].to_numpy()[bad]))
            raise ValueError(f"{bad.sum()} presentations of {', '.join(names)} have a non-integer {column} "
                             f"(e.g. {table[column].to_numpy()[bad][0]!r})")
        out[column] = values.astype(np.int64)
    out["repeat"] = infer_repeats(out)
    return out


def _opto_table(opto: pd.DataFrame | None) -> pd.DataFrame:
    if opto is None:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("condition", "stimulus_name") else np.float64)
                             for c in OPTO_COLUMNS}).rename_axis("id")
    opto = opto.sort_values("start_time", kind="stable")
    return opto[[c for c in OPTO_COLUMNS if c in opto.columns]].copy()


def check_spike_times(spike_times: Mapping[int, np.ndarray]) -> None:
    """Raise ValueError naming the first unit whose spike times are non-finite or decrease."""
    for unit_id, times in spike_times.items():
        times = np.asarray(times)
        if not np.isfinite(times).all():
            raise ValueError(f"unit {unit_id}: spike times contain NaN or inf")
        if len(times) > 1 and (np.diff(times) < 0).any():
            where = int(np.flatnonzero(np.diff(times) < 0)[0])
            raise ValueError(f"unit {unit_id}: spike times are not sorted (spike {where + 1} at {times[where + 1]} s "
                             f"comes after {times[where]} s)")


# ---------------------------------------------------------------------------------- repeats --
def _is_movie(stimulus_name: str) -> bool:
    return "movie" in str(stimulus_name)


def infer_repeats(presentations: pd.DataFrame) -> np.ndarray:
    """Repeat index of every presentation (in the input's row order), per stimulus.

    Movies: a repeat starts where the frame decreases (returns to 0) or a new ``stimulus_block`` starts;
    repeats are numbered 0.. in time order across blocks. Other stimuli (natural scenes): the k-th
    presentation of a frame (image, or blank -1) is its repeat k.
    """
    n = len(presentations)
    order = np.argsort(presentations["start_time"].to_numpy(dtype=np.float64), kind="stable")
    names = presentations["stimulus_name"].astype(str).to_numpy()[order]
    frames = pd.to_numeric(presentations["frame"], errors="coerce").to_numpy(dtype=np.float64)[order]
    if "stimulus_block" in presentations.columns:
        blocks = pd.to_numeric(presentations["stimulus_block"], errors="coerce").to_numpy(dtype=np.float64)[order]
    else:
        blocks = np.zeros(n)
    repeats = np.zeros(n, dtype=np.int64)
    for name in pd.unique(names):
        rows = np.flatnonzero(names == name)
        f, b = frames[rows], np.nan_to_num(blocks[rows], nan=-1.0)
        if _is_movie(name):
            starts = np.r_[True, (np.diff(f) < 0) | (np.diff(b) != 0)]
            repeats[order[rows]] = np.cumsum(starts) - 1
        else:
            repeats[order[rows]] = pd.Series(np.nan_to_num(f, nan=-(2.0**53))).groupby(
                np.nan_to_num(f, nan=-(2.0**53))).cumcount().to_numpy()
    return repeats


# ------------------------------------------------------------------------------- QC, pools --
def _is_region(value) -> bool:
    """Inside the brain: a structure acronym, not None / "None" / NaN / empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    return str(value).strip() not in ("", "None", "nan", "NaN")


def _thresholds(overrides: Mapping) -> dict:
    unknown = sorted(set(overrides) - set(QC_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown QC threshold(s) {unknown}: use {sorted(QC_DEFAULTS)}")
    return {**QC_DEFAULTS, **overrides}


def passes_qc(units: pd.DataFrame, **thresholds) -> pd.Series:
    """Allen's default unit QC: metric thresholds (:data:`QC_DEFAULTS`, ``None`` disables one),
    ``quality == "good"``, a region inside the brain and (when the column exists) a valid channel."""
    limits = _thresholds(thresholds)
    keep = units["quality"].eq("good") & units["region"].map(_is_region).astype(bool)
    if "valid_data" in units.columns:
        keep &= units["valid_data"].fillna(False).astype(bool)
    for name, value in limits.items():
        if value is None:
            continue
        column, kind = _QC_METRICS[name]
        keep &= units[column] <= value if kind == "max" else units[column] >= value
    return keep.rename("passes_qc")


def select_units(units: pd.DataFrame, pool: str | Iterable[str] = "all", qc: bool = True,
                 **thresholds) -> pd.Index:
    """Ids of the units in a region pool (a :data:`REGION_POOLS` name or a list of acronyms), QC'd by default.

    Raises ValueError naming the pool, the QC thresholds and the regions present when none remain.
    """
    if isinstance(pool, str):
        if pool not in REGION_POOLS:
            raise ValueError(f"unknown region pool {pool!r}: use one of {', '.join(map(repr, REGION_POOLS))} "
                             f"or a list of structure acronyms")
        regions = REGION_POOLS[pool]
    else:
        regions = list(pool)
    in_pool = units["region"].map(_is_region).astype(bool)
    if regions is not None:
        in_pool &= units["region"].isin(regions)
    keep = in_pool & passes_qc(units, **thresholds) if qc else in_pool
    if not keep.any():
        present = units.loc[units["region"].map(_is_region).astype(bool), "region"]
        passing = present[passes_qc(units, **thresholds)[present.index]] if qc else present
        counts = ", ".join(f"{r} {n}" for r, n in passing.value_counts().sort_index().items()) or "none"
        rule = (f"QC {_thresholds(thresholds)} and quality 'good'" if qc else "no QC")
        raise ValueError(f"no units in pool {pool!r} (regions {regions if regions is not None else 'all'}) "
                         f"after {rule}; units per region{' passing QC' if qc else ''}: {counts}")
    return units.index[keep.to_numpy()]


def units_per_pool(units: pd.DataFrame, pools: Iterable[str] | None = None, qc: bool = True) -> pd.Series:
    """Number of (QC-passing) units in each region pool, 0 where a pool is empty (never raises)."""
    pools = list(pools or REGION_POOLS)
    in_brain = units["region"].map(_is_region).astype(bool)
    keep = in_brain & passes_qc(units) if qc else in_brain
    return pd.Series({pool: int((keep & (units["region"].isin(REGION_POOLS[pool]) if REGION_POOLS[pool] is not None
                                         else True)).sum()) for pool in pools}, name="units")


def session_pools(layout) -> pd.DataFrame:
    """QC'd units per region pool of every processed session of ``layout`` (one row per session id), plus
    ``visual units`` (visual cortex + LGd): chapter 03 trains, by default, on the session with the most."""
    sessions = layout.recorded_sessions()
    if not sessions:
        raise FileNotFoundError(f"no processed sessions in {layout.recordings}: run notebook 01_preprocess first")
    pools = pd.DataFrame({s: units_per_pool(read_recording(layout.recording(s)).units) for s in sessions}).T
    pools["visual units"] = pools["visual cortex"] + pools["LGd"]
    return pools.rename_axis("session")


# ------------------------------------------------------------------------- processed copy --
def session_file_identity(path: str | os.PathLike) -> str:
    """What a processed copy is keyed by: the content of the session's NWB (SHA-256, first 16 hex digits), not
    where the cache is, so a moved data directory is reused and a re-simulated world is not."""
    return sha256_file(path)[:16]


def recording_params(recording: Recording) -> dict:
    """The sidecar parameters of a recording's processed copy."""
    return dict(format=RECORDING_FORMAT, session_id=int(recording.session_id),
                source=recording.extra.get("nwb_sha256"), stimuli=list(recording.extra.get("stimuli") or []))


def _pack_table(table: pd.DataFrame, prefix: str, arrays: dict) -> dict:
    """Numeric/bool columns become npz arrays (exact); text/object columns JSON lists in the schema."""
    schema = {"index": table.index.name, "columns": []}
    columns = [("__index__", table.index)] + [(c, table[c]) for c in table.columns]
    for i, (name, values) in enumerate(columns):
        data = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
        entry = {"name": str(name), "dtype": str(values.dtype)}
        if data.dtype.kind in "biufcmM":
            arrays[f"{prefix}_{i}"] = data
            entry["key"] = f"{prefix}_{i}"
        else:
            entry["values"] = [None if v is None else v.item() if isinstance(v, np.generic) else v for v in data]
        schema["columns"].append(entry)
    return schema


def _unpack_table(schema: dict, arrays) -> pd.DataFrame:
    columns = {}
    for entry in schema["columns"]:
        if "key" in entry:
            values = pd.Series(arrays[entry["key"]])
        else:
            values = pd.Series(entry["values"], dtype=object)
            if entry["dtype"] != "object":
                try:
                    values = values.astype(entry["dtype"])
                except (TypeError, ValueError) as err:
                    raise ArtifactError(
                        f"column {entry['name']!r} of a processed recording cannot be restored as {entry['dtype']} "
                        f"({err}): the copy is damaged or from another version; rerun notebook "
                        f"{PREPROCESS_NOTEBOOK} to remake it") from None
        columns[entry["name"]] = values
    index = pd.Index(columns.pop("__index__"), name=schema["index"])
    table = pd.DataFrame({name: values.to_numpy() for name, values in columns.items()}, index=index)
    return table.reindex(columns=list(columns))


def save_recording(recording: Recording, path: str | os.PathLike) -> Path:
    """Write the processed copy (one ``.npz``: packed spike times + tables) atomically with its sidecar."""
    check_spike_times(recording.spike_times)
    unit_ids = np.array(list(recording.spike_times), dtype=np.int64)
    trains = [np.asarray(recording.spike_times[u], dtype=np.float64) for u in unit_ids]
    arrays = {"unit_ids": unit_ids,
              "spike_offsets": np.r_[0, np.cumsum([len(t) for t in trains])].astype(np.int64),
              "spike_times": np.concatenate(trains) if trains else np.zeros(0)}
    meta = dict(format=RECORDING_FORMAT, session_id=int(recording.session_id), genotype=recording.genotype,
                extra=recording.extra, tables={
                    name: _pack_table(getattr(recording, name), name, arrays)
                    for name in ("units", "presentations", "optogenetic_epochs")})
    arrays["meta"] = np.array(json.dumps(meta, default=str))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return write_artifact(path, write, made_by=PREPROCESS_NOTEBOOK, params=recording_params(recording))


def read_recording(path: str | os.PathLike, params: Mapping | None = None) -> Recording:
    """Reopen a processed copy; raises :class:`ArtifactError` (naming 01_preprocess) if missing or partial.

    With ``params`` the sidecar must also record exactly these parameters (see :func:`recording_params`).
    """
    path = Path(path)
    check_artifact(path, made_by=PREPROCESS_NOTEBOOK, params=params)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            tables = {name: _unpack_table(schema, arrays) for name, schema in meta["tables"].items()}
            unit_ids, offsets, flat = arrays["unit_ids"], arrays["spike_offsets"], arrays["spike_times"]
    except Exception as err:
        raise ArtifactError(f"{path} cannot be read ({type(err).__name__}: {err}): "
                            f"run notebook {PREPROCESS_NOTEBOOK} to make it again") from err
    spike_times = {int(u): flat[a:b] for u, a, b in zip(unit_ids, offsets[:-1], offsets[1:])}
    return Recording(session_id=int(meta["session_id"]), genotype=meta["genotype"], units=tables["units"],
                     spike_times=spike_times, presentations=tables["presentations"],
                     optogenetic_epochs=tables["optogenetic_epochs"], extra=meta["extra"])


def ensure_recording(layout, session_id: int, stimuli: Sequence[str] = NATURAL_STIMULI,
                     progress: bool = True) -> Recording:
    """The processed copy of a session (``layout.recording``) when it is valid for these parameters;
    else load it once from ``layout.allen_cache`` and save it."""
    path = layout.recording(session_id)
    cache = open_cache(layout)
    nwb = session_nwb_path(cache, session_id)
    params = dict(format=RECORDING_FORMAT, session_id=int(session_id),
                  source=session_file_identity(nwb) if nwb.is_file() else None, stimuli=list(stimuli))
    try:
        return read_recording(path, params=params)
    except ArtifactError:
        recording = load_recording(cache, session_id, stimuli=stimuli, progress=progress)
        save_recording(recording, path)
        return recording


ALLEN_SCENE_COUNT = 118


def stimulus_frames(cache, stimulus: str, n_scenes: int | None = None) -> np.ndarray:
    """uint8 frames of a stimulus from the cache's own templates: movies ``(frames, H, W)``, scenes ``(images, H, W)``.

    The number of scenes defaults to the templates present locally (the Allen set has 118).
    """
    if stimulus in MOVIE_NUMBERS:
        frames = cache.get_natural_movie_template(MOVIE_NUMBERS[stimulus])
    elif stimulus == "natural_scenes":
        if n_scenes is None:
            local = Path(cache.manifest_path).parent / "natural_scene_templates"
            n_scenes = len(list(local.glob("natural_scene_*.tiff"))) or ALLEN_SCENE_COUNT
        frames = np.stack([np.asarray(cache.get_natural_scene_template(i)) for i in range(n_scenes)])
    else:
        raise KeyError(f"no templates for {stimulus!r}; choose from {[*MOVIE_NUMBERS, 'natural_scenes']}")
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        frames = np.clip(np.round(frames), 0, 255).astype(np.uint8)
    return frames
