"""Splits by stimulus repeat and the frame-level held-out regimes, as masks over bins.

A regime decides which *frames* are held out; the repeat split decides which repeats train and
which validate. Training (and validation) windows are centred only on bins whose whole window
(``window`` bins) lies in one contiguous run of training (validation) bins, so no held-out frame ever
enters a training window, even for windows centred next to a boundary. Test windows are centred on
held-out bins and may take their context from neighbouring bins, so a test window can share up to
half its bins with training bins of the same repeat, and neighbouring movie frames are near-duplicates.
A **guard band** (``guard_frames``) removes that: frames within the band of a held-out frame neither
train nor validate. z-score statistics come from training bins only.

In a frame-level regime every repeat of a held-out frame is a test repeat; the repeat split only
decides which repeats of the other frames train and which validate (its test share validates too).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

TRAIN, VAL, TEST, UNUSED = 0, 1, 2, -1
REGIMES = ("repeat", "sparse_random", "contiguous_middle", "front_only", "zero_shot", "scene_identity", "scene_sources")
#: regimes whose held-out frames are images, not neighbours in a movie
IMAGE_REGIMES = ("scene_identity", "scene_sources")
CONTIGUOUS_MIDDLE = (250, 450)     # frames 250-449 held out
FRONT_ONLY_TRAIN = (0, 200)        # train on frames 0-199, test the rest
WINDOW_BINS = 20                   # 167 ms at 120 Hz
ZERO_SHOT_MODEL = "sparse_random"   # zero-shot transfer: another stimulus narrated by the first movie's model of this regime


def split_repeats(repeats: np.ndarray, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0) -> dict[int, int]:
    """``repeat -> TRAIN/VAL/TEST``: a seeded shuffle of the distinct repeats cut by ``fractions``."""
    unique = np.unique(repeats)
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    n = len(unique)
    n_val = int(round(fractions[1] * n)) if fractions[1] else 0
    n_test = int(round(fractions[2] * n)) if fractions[2] else 0
    n_val, n_test = max(n_val, 1 if fractions[1] else 0), max(n_test, 1 if fractions[2] else 0)
    if n - n_val - n_test < 1:
        raise ValueError(f"{n} repeat(s) cannot be split {fractions}: at least one training repeat is needed")
    order = np.random.default_rng(seed).permutation(unique)
    split = {int(r): TRAIN for r in order[: n - n_val - n_test]}
    split.update({int(r): VAL for r in order[n - n_val - n_test: n - n_test]})
    split.update({int(r): TEST for r in order[n - n_test:]})
    return split


def held_out_frames(regime: str, frames: np.ndarray, seed: int = 0, fraction: float = 0.1,
                    groups: np.ndarray | None = None) -> np.ndarray:
    """Boolean over the distinct frame ids in ``frames``' range: which frames the regime holds out.

    ``scene_sources`` holds out whole groups (``groups[frame]``: e.g. the source photograph each scene was
    cropped from; without ``groups`` every frame is its own source), drawn at random until about ``fraction``
    of the frames are held out, so that no held-out image shares a source with a training image;
    ``scene_identity`` holds out single images (crops of a held-out source may still be in training)."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; choose from {', '.join(REGIMES)}")
    n_frames = int(frames.max()) + 1
    out = np.zeros(n_frames, bool)
    if regime == "scene_sources":
        sources = np.arange(n_frames) if groups is None else np.asarray(groups)
        if len(sources) != n_frames:
            raise ValueError(f"groups name a source for {len(sources)} frames, the stimulus has {n_frames}")
        wanted = max(1, int(round(fraction * n_frames)))
        for source in np.random.default_rng(seed).permutation(np.unique(sources)):
            if out.sum() >= wanted:
                break
            out |= sources == source
        return out
    if regime == "sparse_random":
        out[np.random.default_rng(seed).choice(n_frames, max(1, int(round(fraction * n_frames))), replace=False)] = True
    elif regime == "contiguous_middle":
        out[CONTIGUOUS_MIDDLE[0]:CONTIGUOUS_MIDDLE[1]] = True
    elif regime == "front_only":
        out[FRONT_ONLY_TRAIN[1]:] = True
    elif regime == "zero_shot":
        out[:] = True                       # a whole stimulus that its model never trained on
    elif regime == "scene_identity":
        out[np.random.default_rng(seed).choice(n_frames, max(1, int(round(fraction * n_frames))), replace=False)] = True
    return out


def contiguous_runs(bin_start: np.ndarray, bin_width: float) -> np.ndarray:
    """Run id per bin: a new run starts wherever consecutive bins are not adjacent in time."""
    gaps = np.diff(bin_start) > 1.5 * bin_width
    return np.r_[0, np.cumsum(gaps)]


def window_centres(mask: np.ndarray, runs: np.ndarray, window: int = WINDOW_BINS) -> np.ndarray:
    """Bins whose window ``[c - window//2, c + window - window//2)`` lies wholly inside ``mask`` and one run."""
    half = window // 2
    ok = mask.astype(np.int64)
    same_run = np.r_[1, (np.diff(runs) == 0).astype(np.int64)]   # bin i continues the run of bin i-1
    # a window is valid when all its bins are in the mask and no run boundary falls inside it
    bad = np.cumsum(np.r_[0, 1 - ok])
    breaks = np.cumsum(np.r_[0, 1 - same_run])
    n = len(mask)
    centres = np.arange(half, n - (window - half) + 1)
    lo, hi = centres - half, centres + window - half
    valid = (bad[hi] - bad[lo] == 0) & (breaks[hi] - breaks[lo + 1] == 0)
    return centres[valid]


@dataclass
class BinSplit:
    """Per-bin split labels of one stimulus for one regime, and the usable window centres of each part."""

    regime: str
    labels: np.ndarray                  # TRAIN / VAL / TEST / UNUSED per bin
    held_out: np.ndarray                # per distinct frame id: held out by the regime
    centres: dict[int, np.ndarray]      # split -> window-centre bin indices
    guard_frames: int = 0               # frames next to a held-out frame left out of training and validation

    def mask(self, split: int) -> np.ndarray:
        return self.labels == split

    def trained_frames(self) -> np.ndarray:
        """Frame ids a model of this split trains on: neither held out nor in the guard band."""
        return np.flatnonzero(~self.held_out & ~guarded_frames(self.held_out, self.guard_frames))

    def distance_to_training(self, frames: np.ndarray | None = None) -> np.ndarray:
        """Frames from each of ``frames`` (default: the held-out frames) to the nearest frame a model of this
        split trains on."""
        frames = np.flatnonzero(self.held_out) if frames is None else np.asarray(frames)
        return np.abs(frames[:, None] - self.trained_frames()[None]).min(1)

    def test_windows_sharing_training(self, window: int = WINDOW_BINS) -> float:
        """Share of the test windows (``window`` bins around each centre) that contain a training bin."""
        centres = self.centres[TEST]
        if not len(centres):
            return 0.0
        offsets = np.arange(-(window // 2), window - window // 2)
        bins = np.clip(centres[:, None] + offsets, 0, len(self.labels) - 1)
        return float((self.labels[bins] == TRAIN).any(1).mean())


def guarded_frames(held_out: np.ndarray, guard_frames: int) -> np.ndarray:
    """Boolean per frame id: not held out, but within ``guard_frames`` frames of a held-out frame."""
    if guard_frames < 0:
        raise ValueError(f"guard_frames is a number of frames >= 0 (0: no guard band), got {guard_frames}")
    held = np.flatnonzero(held_out)
    near = np.zeros(len(held_out), bool)
    if guard_frames and len(held):
        offsets = np.arange(-guard_frames, guard_frames + 1)
        near[np.clip((held[:, None] + offsets[None]).ravel(), 0, len(held_out) - 1)] = True
    return near & ~held_out


def split_bins(frame: np.ndarray, repeat: np.ndarray, bin_start: np.ndarray, regime: str = "repeat",
               fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0,
               window: int = WINDOW_BINS, bin_width: float = 1 / 120, holdout_fraction: float = 0.1,
               guard_frames: int = 0, frame_groups: np.ndarray | None = None) -> BinSplit:
    """Label every bin TRAIN / VAL / TEST (UNUSED: natural-scenes blanks and the guard band) for a regime;
    see module docstring. ``guard_frames``: frames this close to a held-out frame are UNUSED (movies only:
    scene ids are not neighbours in time). ``frame_groups``: the source of each frame, for ``scene_sources``."""
    shown = frame >= 0
    held = (held_out_frames(regime, frame[shown], seed=seed, fraction=holdout_fraction, groups=frame_groups)
            if shown.any() else np.zeros(0, bool))
    if guard_frames and regime in ("repeat", "zero_shot", *IMAGE_REGIMES):
        raise ValueError(f"a guard band needs held-out movie frames next to training frames; regime {regime!r} has none")
    labels = np.full(len(frame), UNUSED, dtype=np.int8)
    if regime == "zero_shot":            # all test: its repeats need no split (and may be as few as one)
        labels[shown] = TEST
    elif regime == "repeat":
        labels[shown] = np.vectorize(split_repeats(repeat, fractions, seed).get, otypes=[int])(repeat)[shown]
    else:
        # held-out frames test in every repeat, so the repeat split only separates training and validation
        train_val = (fractions[0], fractions[1] + fractions[2], 0.0)
        by_repeat = np.vectorize(split_repeats(repeat, train_val, seed).get, otypes=[int])(repeat)
        is_held, is_guard = np.zeros(len(frame), bool), np.zeros(len(frame), bool)
        is_held[shown] = held[frame[shown]]
        is_guard[shown] = guarded_frames(held, guard_frames)[frame[shown]]
        rest = shown & ~is_held & ~is_guard
        labels[shown & is_held] = TEST
        labels[rest] = np.where(by_repeat[rest] == TRAIN, TRAIN, VAL)
    runs = contiguous_runs(bin_start, bin_width)
    centres = {s: window_centres(labels == s, runs, window) for s in (TRAIN, VAL)}
    # a test window is centred on a held-out (or test-repeat) bin; its context may be any bins of the run
    anywhere = window_centres(np.ones(len(labels), bool), runs, window)
    centres[TEST] = anywhere[labels[anywhere] == TEST]
    if not len(centres[TRAIN]) and regime != "zero_shot":   # zero-shot stimuli are a test set only
        raise ValueError(f"regime {regime!r} leaves no training window of {window} bins; use more repeats or frames")
    return BinSplit(regime, labels, held, centres, int(guard_frames))


def save_split(split: BinSplit, path, *, made_by: str, params=None, inputs=None):
    """One ``.npz`` (labels, held-out frames, window centres) written atomically with a sidecar naming ``made_by``
    (the notebook that trains on it): the split a decoder was trained on, which later chapters read instead of
    recomputing it."""
    from neurrator.artifacts import write_artifact

    arrays = {"regime": np.array(split.regime), "guard_frames": np.array(split.guard_frames),
              "labels": split.labels, "held_out": split.held_out,
              **{f"centres_{part}": split.centres[part] for part in (TRAIN, VAL, TEST)}}

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return write_artifact(path, write, made_by=made_by,
                          params={"regime": split.regime, "guard_frames": split.guard_frames, **dict(params or {})},
                          inputs=inputs)


def read_split(path, *, made_by: str, params=None) -> BinSplit:
    """The split :func:`save_split` wrote (a missing or stale file names ``made_by``, the notebook that makes it)."""
    from neurrator.artifacts import check_artifact

    check_artifact(path, made_by=made_by, params=params)
    with np.load(path, allow_pickle=False) as data:
        return BinSplit(str(data["regime"]), data["labels"], data["held_out"],
                        {part: data[f"centres_{part}"] for part in (TRAIN, VAL, TEST)},
                        int(data["guard_frames"]) if "guard_frames" in data else 0)


def zscore_stats(counts: np.ndarray, train_mask: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron mean and std of the counts over TRAINING bins only (std floored at 1e-3); chunked, no float copy."""
    index = np.flatnonzero(train_mask)
    if not len(index):
        raise ValueError("no training bins: z-score statistics need training data")
    total = np.zeros(counts.shape[1])
    square = np.zeros(counts.shape[1])
    for start in range(0, len(index), chunk):
        block = counts[index[start:start + chunk]].astype(np.float64)
        total += block.sum(0)
        square += (block**2).sum(0)
    mean = total / len(index)
    std = np.sqrt(np.maximum(square / len(index) - mean**2, 0))
    return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)


@dataclass(frozen=True)
class HeldOutCondition:
    """One row of the held-out evaluation: which stimulus is narrated, under which split, by which model.

    ``key`` names its artifacts (``DataLayout.split/decoder/predictions(session, stimulus, key)``); ``model``
    is the ``(stimulus, key)`` of the model that predicts it: its own unless it is a zero-shot transfer.
    """

    name: str
    stimulus: str
    regime: str
    guard_frames: int = 0
    transfer_from: tuple[str, str] | None = None
    train_windows_as: str | None = None     # a size-matched control: as many training windows as this condition

    @property
    def key(self) -> str:
        key = f"{self.regime}_guard{self.guard_frames}" if self.guard_frames else self.regime
        return f"{key}_sized_as_{self.train_windows_as}" if self.train_windows_as else key

    @property
    def model(self) -> tuple[str, str]:
        return self.transfer_from or (self.stimulus, self.key)

    @property
    def trains(self) -> bool:
        """Whether this condition trains its own model."""
        return self.transfer_from is None

    def params(self, session_id) -> dict:
        """The sidecar parameters of this condition's artifacts (split, decoder, predictions)."""
        return {"session_id": session_id, "stimulus": self.stimulus, "regime": self.key}

    def windows(self, binned, *, seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                jitter: int = 2, neuron_dropout: float = 0.1, zscore=None, allen_cache=None):
        """This condition's train / validation / test windows of ``binned`` (its stimulus), a
        :class:`~neurrator.data.windows.RegimeWindows`. Image regimes group frames by their source photograph
        (read from ``allen_cache``); ``zscore`` (a decoder's ``zscore_``) is required for a zero-shot transfer."""
        from neurrator.data.windows import regime_windows
        from neurrator.stimulus_tables import frame_sources

        groups = frame_sources(allen_cache, self.stimulus) if self.regime in IMAGE_REGIMES and allen_cache else None
        return regime_windows(binned, self.regime, seed=seed, fractions=fractions, jitter=jitter,
                              neuron_dropout=neuron_dropout, zscore=zscore, guard_frames=self.guard_frames,
                              frame_groups=groups)

    def save_split(self, split: "BinSplit", layout, session_id, *, made_by: str):
        """Save ``split`` as the split this condition's model trains on (``layout.split(session, stimulus, key)``)."""
        return save_split(split, layout.split(session_id, self.stimulus, self.key), made_by=made_by,
                          params={"session_id": session_id}, inputs={"binned": layout.binned(session_id, self.stimulus)})

    def trained_split(self, layout, session_id, *, made_by: str) -> "BinSplit":
        """The split this condition's model was trained on (a zero-shot transfer's: the other stimulus's)."""
        return read_split(layout.split(session_id, *self.model), made_by=made_by)


def heldout_windows(conditions: dict[str, HeldOutCondition], binned: dict, *, seed: int = 0,
                    allen_cache=None, **options) -> dict:
    """The windows of every condition that trains its own model, by name (``binned``: stimulus -> binned
    stimulus; ``options``: ``fractions``, ``jitter``, ``neuron_dropout``). A size-matched control
    (``train_windows_as``) keeps as many training windows, drawn at random, as the condition it names."""
    from neurrator.data.windows import subsample_training

    runs = {}
    for name, condition in conditions.items():
        if not condition.trains:
            continue
        data = condition.windows(binned[condition.stimulus], seed=seed, allen_cache=allen_cache, **options)
        if condition.train_windows_as:
            data = subsample_training(data, len(runs[condition.train_windows_as].train), seed=seed)
        runs[name] = data
    return runs


def heldout_conditions(stimulus: str = "natural_movie_one", second_stimulus: str | None = "natural_movie_three",
                       scenes: str | None = "natural_scenes",
                       regimes: tuple[str, ...] | list[str] = ("sparse_random", "contiguous_middle", "front_only"),
                       second_stimulus_regimes: tuple[str, ...] | list[str] = ("sparse_random", "contiguous_middle"),
                       guard_frames: tuple[int, ...] | list[int] = (3, 15)) -> dict[str, HeldOutCondition]:
    """The held-out conditions of chapters 03 and 04, by name, in table order.

    ``stimulus`` (a movie) under each of ``regimes``; ``sparse_random_guard<g>``: the sparse-random split with a guard band
    of ``g`` frames; ``sparse_random_sized_as_sparse_random_guard<g>`` (for the widest band): the unguarded
    split trained on as many windows as the guarded one, which separates distance from training frames from
    the amount of training data; ``second_movie`` (and ``second_movie_<regime>``): the whole pipeline
    replicated on ``second_stimulus``, the second movie, trained on its own training frames; ``zero_shot_transfer``: the second
    movie narrated by the first movie's sparse-random model (harder than the paper's test); ``scene_identity``:
    unseen scenes whose whole source photograph is held out (regime ``scene_sources``), and
    ``scene_identity_crops``: unseen crops, whose source may be in training under another crop.
    """
    out = {regime: HeldOutCondition(regime, stimulus, regime) for regime in regimes}
    for guard in guard_frames:
        if int(guard) <= 0:
            raise ValueError(f"guard_frames lists extra sparse-random models with a guard band > 0 frames, got {guard}")
        condition = HeldOutCondition("", stimulus, "sparse_random", int(guard))
        out[condition.key] = replace(condition, name=condition.key)
    if guard_frames and "sparse_random" in regimes:
        widest = HeldOutCondition("", stimulus, "sparse_random", int(max(guard_frames))).key
        matched = HeldOutCondition("", stimulus, "sparse_random", train_windows_as=widest)
        out[matched.key] = replace(matched, name=matched.key)
    if second_stimulus is not None:
        for regime in second_stimulus_regimes:
            name = "second_movie" if regime == "sparse_random" else f"second_movie_{regime.split('_')[0]}"
            out[name] = HeldOutCondition(name, second_stimulus, regime)
        if ZERO_SHOT_MODEL in regimes:
            out["zero_shot_transfer"] = HeldOutCondition("zero_shot_transfer", second_stimulus, "zero_shot",
                                                         transfer_from=(stimulus, ZERO_SHOT_MODEL))
    if scenes is not None:
        out["scene_identity"] = HeldOutCondition("scene_identity", scenes, "scene_sources")
        out["scene_identity_crops"] = HeldOutCondition("scene_identity_crops", scenes, "scene_identity")
    for condition in out.values():
        if condition.regime not in REGIMES or condition.regime == "repeat":
            raise ValueError(f"{condition.regime!r} is not a held-out regime; choose from "
                             f"{', '.join(r for r in REGIMES if r not in ('repeat', 'zero_shot', *IMAGE_REGIMES))}")
    return out
