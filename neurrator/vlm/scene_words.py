"""Scene words for the demo narrator: where the named object is and how the scene is lit, read from a patch grid.

The demo narrator (:class:`~neurrator.vlm.demo.DemoBackend`) names ImageNet objects from the patch-averaged grid, so
lighting, contrast and layout have no words. A LLaVA reads them from its patch tokens; this module gives the demo's
frozen vision tower the same two abilities, as a design of the instrument:

- **layout** (:func:`object_positions`): class evidence read per position of the 7 x 7 grid with the frozen ImageNet
  head (class-activation style: the head is linear, so the pooled logit is the mean of the positions' logits); the
  named object is placed in the third of the frame (top / middle / bottom x left / centre / right) where its evidence
  is highest;
- **attributes** (:class:`AttributeProbes`): frozen ridge probes from the pooled grid to generic scene statistics of
  the pixels, trained on a labelling corpus the world never shows (grey-scale stimuli, so brightness and contrast:
  colourfulness has no meaning here), validated on corpus images held out whole, and turned into words at the
  corpus's terciles ("dimly lit", "high in contrast"; the middle third says nothing).

:class:`SceneNarrator` writes the object sentence exactly as the object-only narrator does (same language model, same
cached sentence per label set) and adds the layout and attribute words by a fixed grammar, so the words it adds are
the probes' and the head's, not the language model's.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

#: the pixel statistic behind each attribute (frames as uint8 grey levels)
ATTRIBUTES = {"brightness": "mean luminance of the frame, 0-1",
              "contrast": "RMS contrast: standard deviation of the luminance, 0-1"}
#: words for the lowest and the highest third of the corpus's values
WORDS = {"brightness": ("dimly lit", "brightly lit"), "contrast": ("low in contrast", "high in contrast")}
ROWS, COLUMNS = ("top", "middle", "bottom"), ("left", "centre", "right")
PROBE_MADE_BY = "the demo scene narrator (neurrator.vlm.scene_words)"
LOG_RANGE = float(np.log(2.0))     # relighting: gain and contrast scale between 1/2 and 2


def probe_texts(probes: "AttributeProbes | None") -> dict[str, str]:
    """Words for the book: the probes' held-out quality (``probe_quality``), their corpus (``probe_corpus``)."""
    if probes is None:
        return {"probe_quality": "n/a (the profile's narrator reads lighting and layout itself)", "probe_corpus": "n/a"}
    q = probes.quality
    return {"probe_quality": ", ".join(f"{name} R² {q[name]:.2f}" for name in probes.names)
            + f" ({q['folds']}-fold, whole photographs held out)",
            "probe_corpus": f"{q['images']} photographs ({q['frames']} relit crops)"}


def probe_sources(probes: "AttributeProbes | None", width: int = 40) -> pd.DataFrame:
    """One row per package the probe corpus came from: photographs, crops and licence notes (the first two, each cut
    to ``width`` characters for the page; the probes' file keeps them all, whole)."""
    rows = (probes.quality.get("sources", []) if probes is not None else [])
    table = pd.DataFrame(rows, columns=["package", "images", "crops", "licence"]).set_index("package")
    notes = [str(v).split(" | ") for v in table["licence"]]
    table["licence"] = [" | ".join(textwrap.shorten(n, width, placeholder=" …") for n in v[:2])
                        + (f" | {len(v) - 2} more notes in the probes' file" if len(v) > 2 else "") for v in notes]
    return table


def pixel_attributes(frames: np.ndarray) -> pd.DataFrame:
    """Each attribute of :data:`ATTRIBUTES` for uint8 frames ``(N, H, W)``: what the probes learn to read."""
    x = np.asarray(frames, dtype=np.float64).reshape(len(frames), -1) / 255.0
    return pd.DataFrame({"brightness": x.mean(1), "contrast": x.std(1)})


def photometric_variants(frames: np.ndarray, per_frame: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_frame`` relit copies of each frame (seeded): a gain and a contrast scaling about the frame's mean, each
    log-uniform between 1/2 and 2 (symmetric, so the corpus is centred on the photographs as taken), so it spans dim
    and bright, flat and contrasty scenes. Returns the frames and the index of each one's source."""
    rng = np.random.default_rng(seed)
    out, source = [], []
    for k, frame in enumerate(np.asarray(frames, dtype=np.float64)):
        mean = frame.mean()
        for _ in range(per_frame):
            gain, scale = np.exp(rng.uniform(-LOG_RANGE, LOG_RANGE, 2))
            out.append(np.clip(np.round(mean * gain + (frame - mean) * scale), 0, 255).astype(np.uint8))
            source.append(k)
    return np.stack(out), np.asarray(source)


@dataclass
class AttributeProbes:
    """Ridge probes from the pooled grid (mean over patches) to :data:`ATTRIBUTES`, and the corpus terciles that turn
    their readings into words. ``quality``: held-out R² per attribute (corpus images held out whole)."""

    names: list[str]
    coef: np.ndarray                   # (features, attributes)
    intercept: np.ndarray              # (attributes,)
    low: np.ndarray                    # (attributes,) the corpus's lower tercile
    high: np.ndarray                   # (attributes,) the corpus's upper tercile
    alpha: list[float] = field(default_factory=list)
    quality: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, grids: np.ndarray, values: pd.DataFrame, groups: Sequence, folds: int = 5,
            alphas: Sequence[float] = (1.0, 10.0, 100.0, 1000.0)) -> "AttributeProbes":
        """Fit on pooled ``grids`` ``(N, patches, dim)`` and their ``values`` (:func:`pixel_attributes`); ``groups``
        (the source image of each row) keep an image's crops and variants on one side of every held-out fold."""
        from sklearn.linear_model import RidgeCV
        from sklearn.metrics import r2_score
        from sklearn.model_selection import GroupKFold, cross_val_predict

        pooled = _pooled(grids)
        y = values[list(ATTRIBUTES)].to_numpy(np.float64)
        groups = np.asarray(groups)
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise ValueError(f"the probes need corpus images from at least 2 sources to hold some out, got {n_groups}")
        model = RidgeCV(alphas=tuple(alphas), alpha_per_target=True)
        held_out = cross_val_predict(model, pooled, y, groups=groups, cv=GroupKFold(min(folds, n_groups)))
        quality = {name: round(float(r2_score(y[:, k], held_out[:, k])), 3) for k, name in enumerate(ATTRIBUTES)}
        model.fit(pooled, y)
        quality.update(images=int(n_groups), frames=int(len(y)), folds=int(min(folds, n_groups)))
        return cls(list(ATTRIBUTES), model.coef_.T.astype(np.float64), np.asarray(model.intercept_, np.float64),
                   np.quantile(y, 1 / 3, axis=0), np.quantile(y, 2 / 3, axis=0),
                   [float(a) for a in np.atleast_1d(model.alpha_)], quality)

    def predict(self, grids: np.ndarray) -> pd.DataFrame:
        """Each attribute's reading from ``grids`` ``(N, patches, dim)``."""
        return pd.DataFrame(_pooled(grids) @ self.coef + self.intercept, columns=self.names)

    def words(self, readings: pd.DataFrame) -> list[list[str]]:
        """Per row of :meth:`predict`, the words of the attributes in their lowest or highest third."""
        out = []
        for row in readings[self.names].to_numpy(np.float64):
            said = [WORDS[n][0] if v < lo else WORDS[n][1] if v > hi else None
                    for n, v, lo, hi in zip(self.names, row, self.low, self.high)]
            out.append([w for w in said if w])
        return out

    def digest(self) -> str:
        """sha256 (12 hex digits) of what decides the words: the weights and the thresholds."""
        import hashlib
        import json

        body = {k: v for k, v in self.to_json().items() if k in ("names", "coef", "intercept", "low", "high")}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]

    def to_json(self) -> dict:
        body = asdict(self)
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in body.items()}

    @classmethod
    def from_json(cls, body: dict) -> "AttributeProbes":
        arrays = {k: np.asarray(body[k], np.float64) for k in ("coef", "intercept", "low", "high")}
        return cls(body["names"], alpha=body.get("alpha", []), quality=body.get("quality", {}), **arrays)

    def save(self, path: str | os.PathLike, *, params: dict, inputs: dict | None = None) -> None:
        from neurrator.artifacts import write_json_artifact

        write_json_artifact(path, self.to_json(), made_by=PROBE_MADE_BY, params=params, inputs=inputs)

    @classmethod
    def load(cls, path: str | os.PathLike, *, params: dict | None = None) -> "AttributeProbes":
        import json

        from neurrator.artifacts import check_artifact

        check_artifact(path, made_by=PROBE_MADE_BY, params=params)
        return cls.from_json(json.loads(open(path, encoding="utf-8").read()))


def _pooled(grids: np.ndarray) -> np.ndarray:
    grids = np.asarray(grids, dtype=np.float32)
    if grids.ndim != 3:
        raise ValueError(f"expected grids of shape (N, patches, dim), got {grids.shape}")
    return grids.mean(1, dtype=np.float64)


def object_positions(grids: np.ndarray, weight: np.ndarray, bias: np.ndarray, classes: Sequence[int],
                     side: int = 7) -> list[tuple[int, int]]:
    """Per grid, the (row, column) third of the frame where ``classes[i]``'s evidence is highest: the linear head
    (``weight`` (classes, dim), ``bias``) applied to each of the ``side x side`` positions, averaged within each third."""
    grids = np.asarray(grids, dtype=np.float64)
    if grids.shape[1] != side * side:
        raise ValueError(f"expected {side * side} patches per grid, got {grids.shape[1]}")
    edges = np.array_split(np.arange(side), 3)
    out = []
    for grid, c in zip(grids, classes):
        evidence = (grid @ weight[c] + bias[c]).reshape(side, side)
        thirds = np.array([[evidence[np.ix_(r, k)].mean() for k in edges] for r in edges])
        row, column = np.unravel_index(int(np.argmax(thirds)), thirds.shape)
        out.append((int(row), int(column)))
    return out


def where(row: int, column: int) -> str:
    """Words for a third of the frame: "at the top left", "in the centre", "on the right" (each followed by "of the
    frame" in a sentence)."""
    if (row, column) == (1, 1):
        return "in the centre"
    if row == 1:
        return f"on the {COLUMNS[column]}"
    if column == 1:
        return f"at the {ROWS[row]}"
    return f"at the {ROWS[row]} {COLUMNS[column]}"


def compose(sentence: str, place: str, attributes: Sequence[str]) -> str:
    """The object sentence with the layout and attribute words added by a fixed grammar (one sentence):
    "The photo shows a tram, on the left of the frame, dimly lit and high in contrast." """
    body = sentence.rstrip().rstrip(".!?") + f", {place} of the frame"
    if attributes:
        body += ", " + " and ".join(attributes)
    return body + "."


#: how the probes' corpus is made from the labelling corpus (part of the probes' key; ``version``: raise it when the
#: fitting code changes what is saved)
PROBE_RECIPE = {"version": 2, "variants_per_frame": 2, "seed": 0, "folds": 5, "alphas": [1.0, 10.0, 100.0, 1000.0],
                "relighting": "gain and contrast scale each log-uniform in [1/2, 2]"}


def ensure_probes(path: str | os.PathLike, backend, corpus: Callable[[], tuple[np.ndarray, pd.DataFrame]], corpus_key: dict,
                  recipe: dict | None = None, progress: bool = False) -> AttributeProbes:
    """The probes at ``path`` when they were fitted on this corpus (``corpus_key``: what identifies it) with this
    backend and recipe; else fitted now on ``corpus()``'s frames (each one's ``image`` column names its source) and
    their :func:`photometric_variants`, and saved."""
    from neurrator.artifacts import ArtifactError

    recipe = {**PROBE_RECIPE, **(recipe or {})}
    params = {"backend": backend.target_spec(), "corpus": corpus_key, "recipe": recipe}
    try:
        return AttributeProbes.load(path, params=params)
    except ArtifactError:
        pass
    frames, table = corpus()
    relit, source = photometric_variants(frames, recipe["variants_per_frame"], recipe["seed"])
    grids = backend.compute_targets(relit)
    probes = AttributeProbes.fit(grids, pixel_attributes(relit), table["image"].to_numpy()[source], folds=recipe["folds"],
                                 alphas=recipe["alphas"])
    probes.quality["sources"] = [
        {"package": package, "images": int(rows["image"].nunique()), "crops": int(len(rows)),
         "licence": " | ".join(dict.fromkeys(rows["licence"].astype(str)))}
        for package, rows in table.assign(package=table["package"].str.rpartition(" ")[0]).groupby("package", sort=False)]
    probes.save(path, params=params)
    return AttributeProbes.load(path, params=params)   # the same values whether fitted now or read back


class SceneNarrator:
    """The object-only demo narrator (``backend``, a :class:`~neurrator.vlm.demo.DemoBackend`) with layout and
    attribute words: same vision tower and targets, same object sentence, then :func:`compose`."""

    def __init__(self, backend, probes: AttributeProbes):
        self.backend, self.probes = backend, probes
        #: names the probes too: narrations cached under this name are redone when the probes change
        self.name = f"{backend.name}+scene-{probes.digest()}"
        self.field_of_view = backend.field_of_view

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.backend.grid_shape

    def target_spec(self) -> dict:
        return self.backend.target_spec()

    def compute_targets(self, frames: np.ndarray) -> np.ndarray:
        return self.backend.compute_targets(frames)

    def scene(self, grids: np.ndarray) -> pd.DataFrame:
        """Per grid: the named object, where it is, the probes' readings and their words (the narrator's inputs)."""
        from neurrator.vlm.base import check_grids
        from neurrator.vlm.efficientnet import imagenet_class_names

        grids = check_grids(grids, self.grid_shape)
        labels = self.backend.labels(grids)
        index = {name: k for k, name in enumerate(imagenet_class_names())}
        head = self.backend.vision.model._fc
        weight, bias = head.weight.detach().double().cpu().numpy(), head.bias.detach().double().cpu().numpy()
        places = [where(*p) for p in object_positions(grids, weight, bias, [index[l[0]] for l in labels])]
        readings = self.probes.predict(grids)
        return readings.assign(labels=labels, place=places, words=self.probes.words(readings))

    def narrate(self, grids: np.ndarray, batch_size: int = 32, progress: bool = False) -> list[str]:
        scene = self.scene(grids)
        sentences = self.backend.writer.write(scene["labels"].tolist(), batch_size=batch_size, progress=progress)
        return [compose(s, place, words) for s, place, words in zip(sentences, scene["place"], scene["words"])]

    def narrate_frames(self, frames: np.ndarray, batch_size: int = 32) -> list[str]:
        return self.narrate(self.compute_targets(frames), batch_size=batch_size)
