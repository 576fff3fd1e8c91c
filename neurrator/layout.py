"""Every path the chain reads or writes, in one object: :class:`DataLayout`.

One data directory holds one folder per profile, and profiles never share a folder::

    <data>/<profile>/
        allen_cache/              the Allen cache (demo: the simulated world; paper: pass cache_dir)
        recordings/session_<id>.npz            processed copy of each session (01_preprocess)
        binned/session_<id>_<stimulus>.npz     spike counts per bin (01_preprocess)
        optotagging.csv                        optotagging table (01_preprocess)
        targets/                               patch-target store (02_targets)
        captions/<stimulus>.json               reference captions (02_targets)
        splits/session_<id>/<stimulus>_<regime>.npz    the split a decoder was trained on (03_train);
                                               a pseudo-mouse has its name instead of session_<id> (05_scaling)
        encoders/session_<id>/<stimulus>_<regime>_<objective>.pt
        checkpoints/session_<id>/<stimulus>_<regime>_<objective>/last.pt
        predictions/session_<id>/<stimulus>_<regime>_<objective>.npz
        narrations/<name>.csv                  narrations and scores (04_narrate_heldout)
        sweeps/<sweep>/<point>.csv             one point of a grid (05_scaling: pool x size x draw)
        cell_types/populations.csv             PV / SST / VIP columns and their controls (06_cell_types)
        sae/<stimulus>_<space>.pt              the sparse autoencoder of a target space (07_sae_concepts)
        results/<chapter>.json                 headline results of each chapter
        models/                                model caches (the demo narrator's sentence cache)

The data directory comes from, in order: an explicit argument, ``$NEURRATOR_DATA``, or ``data/`` under
the project root (see :func:`neurrator.config.resolve_data_dir`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from neurrator.config import check_profile, resolve_data_dir


#: the two reference captions a narration is scored against (see :meth:`DataLayout.captions`)
REFERENCES = ("model", "content")


@dataclass(frozen=True)
class DataLayout:
    """Paths of one profile's artifacts under one data directory (nothing is created but the data directory)."""

    data_dir: Path
    profile: str
    cache_dir: Path | None = None  # an Allen cache outside the layout (the real one on the paper profile)

    @classmethod
    def resolve(cls, data_dir: str | os.PathLike | None = None, profile: str = "demo",
                cache_dir: str | os.PathLike | None = None, create: bool = True) -> "DataLayout":
        """The layout for ``profile`` under the resolved data directory (``None`` / "" mean the defaults). With
        ``create`` the data directory is made; the profile's folder appears with its first artifact (a run that
        fails before writing anything leaves no empty ``<data>/<profile>/`` behind)."""
        return cls(resolve_data_dir(data_dir, create=create), check_profile(profile),
                   Path(cache_dir).expanduser().resolve() if cache_dir not in (None, "") else None)

    # ------------------------------------------------------------------ folders
    @property
    def root(self) -> Path:
        return self.data_dir / self.profile

    @property
    def allen_cache(self) -> Path:
        return self.cache_dir or self.root / "allen_cache"

    @property
    def manifest(self) -> Path:
        return self.allen_cache / "manifest.json"

    @property
    def targets(self) -> Path:
        return self.root / "targets"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    @property
    def optotagging(self) -> Path:
        return self.root / "optotagging.csv"

    # ------------------------------------------------------------------ files
    def recording(self, session_id: int) -> Path:
        return self.recordings / f"session_{int(session_id)}.npz"

    def binned(self, session_id: int, stimulus: str) -> Path:
        return self.root / "binned" / f"session_{int(session_id)}_{stimulus}.npz"

    def recorded_sessions(self) -> list[int]:
        """Sessions chapter 01 read from the Allen cache (a processed recording each), in id order."""
        return sorted(int(p.stem[len("session_"):]) for p in self.recordings.glob("session_*.npz")
                      if p.stem[len("session_"):].isdigit())

    def processed_sessions(self, stimulus: str) -> list[int]:
        """Sessions whose ``stimulus`` chapter 01 binned, in id order."""
        suffix = f"_{stimulus}.npz"
        return sorted(int(p.name[len("session_"):-len(suffix)]) for p in (self.root / "binned").glob(f"session_*{suffix}")
                      if p.name[len("session_"):-len(suffix)].isdigit())

    def captions(self, stimulus: str, reference: str = "model") -> Path:
        """Reference captions of a stimulus: ``model`` (the oracle narrator or BLIP-2) or ``content``
        (what the frame shows, written by a person: the demo world's source descriptions, or a user's file)."""
        if reference not in REFERENCES:
            raise ValueError(f"unknown reference {reference!r}; choose from {', '.join(REFERENCES)}")
        return self.root / "captions" / (f"{stimulus}.json" if reference == "model" else f"{stimulus}_{reference}.json")

    @staticmethod
    def population_folder(session_id: int | str) -> str:
        """``session_<id>`` for a recorded session, the name itself for a pseudo-mouse (e.g. ``pan_session``)."""
        if isinstance(session_id, str) and not session_id.isdigit():
            if not session_id.replace("_", "").isalnum() or session_id.startswith("session_"):
                raise ValueError(f"a pseudo-mouse name must be letters, digits and '_' (not 'session_...'), got {session_id!r}")
            return session_id
        return f"session_{int(session_id)}"

    def _trained(self, kind: str, session_id: int | str, stimulus: str, regime: str, suffix: str) -> Path:
        return self.root / kind / self.population_folder(session_id) / f"{stimulus}_{regime}{suffix}"

    def split(self, session_id: int | str, stimulus: str, regime: str) -> Path:
        return self._trained("splits", session_id, stimulus, regime, ".npz")

    def decoder(self, session_id: int | str, stimulus: str, regime: str, objective: str = "patches") -> Path:
        return self._trained("encoders", session_id, stimulus, regime, f"_{objective}.pt")

    def checkpoints(self, session_id: int | str, stimulus: str, regime: str, objective: str = "patches") -> Path:
        return self._trained("checkpoints", session_id, stimulus, regime, f"_{objective}")

    def predictions(self, session_id: int | str, stimulus: str, regime: str, objective: str = "patches") -> Path:
        return self._trained("predictions", session_id, stimulus, regime, f"_{objective}.npz")

    def trained_sessions(self) -> list[int]:
        """Sessions with held-out predictions, in id order."""
        folder = self.root / "predictions"
        return sorted(int(p.name.split("_")[1]) for p in folder.glob("session_*")) if folder.is_dir() else []

    def trained_session(self, session_id: int | None = None) -> int:
        """``session_id``, or else the one session chapter 03 trained (an error naming the fix when there are none
        or several)."""
        from neurrator.artifacts import ArtifactError

        if session_id is not None:
            return int(session_id)
        trained = self.trained_sessions()
        if len(trained) != 1:
            raise ArtifactError(f"expected the held-out predictions of one session in "
                                f"{self.show(self.root / 'predictions')}, found {len(trained)} "
                                f"({', '.join(map(str, trained)) or 'none'}): run notebook 03_train first, or set session_id")
        return trained[0]

    def example_paths(self, session_id: int, stimulus: str, regime: str) -> dict[str, str]:
        """Where each kind of artifact of one session, stimulus and regime lives (shown relative to the data dir)."""
        paths = {"Allen cache": self.allen_cache, "processed session": self.recording(session_id),
                 "binned counts": self.binned(session_id, stimulus), "target store": self.targets,
                 "reference captions": self.captions(stimulus), "split": self.split(session_id, stimulus, regime),
                 "trained encoder": self.decoder(session_id, stimulus, regime),
                 "held-out predictions": self.predictions(session_id, stimulus, regime),
                 "narrations": self.narrations(), "headline results": self.results("03_train")}
        return {kind: self.show(path) for kind, path in paths.items()}

    def narrations(self, name: str = "heldout") -> Path:
        return self.root / "narrations" / f"{name}.csv"

    def sweep_point(self, sweep: str, point: str) -> Path:
        """One point's artifact of a parameter grid (each point is computed, and reused, on its own)."""
        return self.root / "sweeps" / sweep / f"{point}.csv"

    @property
    def scene_probes(self) -> Path:
        """The demo scene narrator's attribute probes (fitted once on the labelling corpus)."""
        return self.models / "scene_probes.json"

    @property
    def cell_type_routes(self) -> Path:
        """Chapter 06's planted truth route by route (chapter 07 adds the dictionary's route)."""
        return self.root / "cell_types" / "planted_routes.csv"

    @property
    def cell_type_populations(self) -> Path:
        """The cell-type populations of the pan-session pseudo-mouse and their size-matched controls."""
        return self.root / "cell_types" / "populations.csv"

    def sae(self, name: str) -> Path:
        """A sparse autoencoder trained on one target space (``name`` says which tokens it saw)."""
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"an SAE name must be letters, digits, '-' and '_', got {name!r}")
        return self.root / "sae" / f"{name}.pt"

    def results(self, chapter: str) -> Path:
        return self.root / "results" / f"{chapter}.json"

    # ------------------------------------------------------------------ display
    def show(self, path: str | os.PathLike) -> str:
        """``path`` relative to the data directory (``<data>/...``): what the book prints, never a machine's path."""
        path = Path(path)
        try:
            return str(Path("<data>") / path.resolve().relative_to(self.data_dir))
        except ValueError:
            return str(path)
