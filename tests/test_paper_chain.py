"""The ``paper`` profile's chain, 00 -> 08, executed end to end through ``neurrator run`` on stand-ins.

A smoke run of the code path, not of the science: every notebook of the chain must complete on the
``paper`` profile, reading a tiny simulated Allen cache and tiny randomly initialised LLaVA-1.5,
BLIP-2 and SBERT checkpoints saved with ``save_pretrained`` into a temporary folder and passed as
the notebooks' model-id parameters, so the real ``from_pretrained`` loading code runs, offline.
Nothing the stand-ins produce means anything (random weights narrate noise); what is checked is that
every notebook ran, that each wrote what the next one reads under ``<data>/paper/`` (profiles never
share a folder), and that the demo data were not touched. Each new chapter joins the chain here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neurrator.layout import DataLayout
from tiny_llava import build_tiny_llava
from tiny_models import build_tiny_blip2, build_tiny_clip, build_tiny_sbert

ROOT = Path(__file__).resolve().parents[1]
CHAIN = ["00_setup", "01_preprocess", "02_targets", "03_train", "04_narrate_heldout", "05_scaling", "06_cell_types",
         "07_sae_concepts", "08_baselines", "09_frame_by_frame"]
#: the paper preset shrunk so that each encoder trains in seconds on a CPU
TRAIN_OPTIONS = {"max_epochs": 1, "windows_per_epoch": 128, "val_windows": 64, "d_model": 32, "conv_channels": 16,
                 "heads": 2, "temporal_layers": 1, "patch_layers": 1, "batch_size": 32}


#: a dictionary small enough to train in a second
TINY_SAE = {"n_features": 64, "k": 4, "aux_k": 8, "dead_after": 5000, "batch_size": 256, "epochs": 1}


def _image_folder(path: Path, n: int = 6) -> Path:
    """A folder of image files, as a user's ImageNet validation folder would be (never shown as stimuli)."""
    import numpy as np
    from PIL import Image

    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path / f"ILSVRC2012_val_{i:08d}.JPEG")
    return path


def _scene_descriptions(path: Path, config) -> Path:
    """A content caption file for the scenes, as a user would write one (frame, caption)."""
    import pandas as pd

    pd.DataFrame({"frame": range(config.n_scenes),
                  "caption": [f"a photograph number {i} of a quiet place" for i in range(config.n_scenes)]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def paper_run(small_world, tmp_path_factory):
    """The chain on the shared small world (wt, Pvalb and Sst sessions of 100 units; 4 repeats of movie one,
    24 scenes shown 3 times)."""
    work = tmp_path_factory.mktemp("paper_chain")
    cache_dir = small_world[0]
    params = {
        "profile": "paper", "cache_dir": str(cache_dir), "sessions": None, "check_steps": 20,   # 06 needs the Cre lines
        "llava_model_id": str(build_tiny_llava(work / "tiny_llava")),
        "blip2_model_id": str(build_tiny_blip2(work / "tiny_blip2")),
        "sbert_model_id": str(build_tiny_sbert(work / "tiny_sbert")),
        "train_options": TRAIN_OPTIONS, "narration_batch_size": 8, "caption_max_new_tokens": 4,
        # 03/04: the second movie (60 frames) has no contiguous middle; one person-written content file
        "second_stimulus_regimes": ["sparse_random"],
        "content_caption_files": {"natural_scenes": str(_scene_descriptions(work / "scenes.csv", small_world[1]))},
        # 05_scaling: a small grid (the sweep's code path, not its statistics)
        "pools": ["VISp", "all"], "sizes": [5], "draws": 2, "windows_per_frame": 1, "retrain_sizes": [5], "n_boot": 20,
        # 06_cell_types: CLIP's text tower embeds the concepts; few controls and permutations
        "clip_model_id": str(build_tiny_clip(work / "tiny_clip")), "controls": 2, "permutations": 10, "examples": 3,
        "own_controls": 1, "own_epochs": 1,
        # 07_sae_concepts: a tiny SAE, a folder corpus (as ImageNet validation images would be), few resamples
        "corpus_dir": str(_image_folder(work / "corpus")), "sae_options": TINY_SAE, "bootstrap": 20, "null_sets": 50,
        "top_k": 5, "concept_features": 3, "frames_per_feature": 2, "images_per_feature": 3,
        # 08_baselines: a few CEBRA steps at one small dimension, two sessions for Table A3
        "cebra_dimensions": [4], "cebra_iterations": 5, "frame_id_sessions": 2, "pca_components": 4, "knn_k": 3,
        # 09_frame_by_frame: strips of the conditions this chain has (the second movie's sparse-random frames)
        "strip_conditions": ["contiguous_middle", "second_movie"], "strip_length": 3,
    }
    parameters = work / "paper.yml"
    parameters.write_text(yaml.safe_dump(params))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "neurrator"), "run", *CHAIN, "-f", str(parameters), "--data-dir", str(work / "data"),
         "--runs-dir", str(work / "runs"), "--project", str(ROOT), "--quiet"],
        capture_output=True, text=True, env=env, timeout=1500, cwd=ROOT)
    return work, done


def test_every_notebook_of_the_chain_completes(paper_run):
    work, done = paper_run
    assert done.returncode == 0, f"the paper chain failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    assert sorted(p.stem for p in (work / "runs" / "paper").glob("*.ipynb")) == CHAIN


def test_each_stage_wrote_its_artifacts_in_the_paper_folder(paper_run):
    work, done = paper_run
    assert done.returncode == 0, "see test_every_notebook_of_the_chain_completes"
    layout = DataLayout(work / "data", "paper")
    assert set(os.listdir(work / "data")) == {"paper"}           # nothing under another profile's folder
    (session,) = layout.trained_sessions()
    targets = json.loads((layout.targets / "natural_movie_one.npy.meta.json").read_text())
    assert targets["params"]["backend"]["model_id"].endswith("tiny_llava")
    assert targets["params"]["backend"]["field_of_view"] == "pad"
    assert layout.captions("natural_movie_one").is_file()
    # paper: a content reference only where the user gave a file
    assert layout.captions("natural_scenes", "content").is_file() and not layout.captions("natural_movie_one", "content").exists()
    for regime in ("sparse_random", "contiguous_middle", "front_only", "sparse_random_guard15"):
        assert layout.decoder(session, "natural_movie_one", regime).is_file()
        assert layout.predictions(session, "natural_movie_one", regime).is_file()
    assert layout.decoder(session, "natural_movie_three", "sparse_random").is_file()     # the second movie's own
    assert layout.predictions(session, "natural_movie_three", "zero_shot").is_file()     # and the transfer
    assert layout.narrations().is_file()
    table_a1 = json.loads(layout.results("04_narrate_heldout").read_text())["tables"]["Table A1"]["rows"]
    assert "scene_identity / Neurrator / content" in table_a1 and "second_movie / Neurrator / model" in table_a1
    assert not any(row.startswith("sparse_random / ") and row.endswith("/ content") for row in table_a1)
    assert layout.decoder("pan_session", "natural_movie_one", "sparse_random").is_file()
    points = list((layout.root / "sweeps" / "scaling_sparse_random").glob("*.csv"))
    assert len(points) >= 2 and all((p.parent / f"{p.name}.meta.json").is_file() for p in points)
    assert layout.results("05_scaling").is_file()
    assert layout.decoder("pan_session", "natural_scenes", "repeat").is_file()          # 06: the scene encoder
    for folder in ("cell_types_natural_movie_one_sparse_random", "cell_types_natural_scenes_repeat"):
        points = {p.stem.split("_n")[0] for p in (layout.root / "sweeps" / folder).glob("*.csv")}
        assert {"PV", "SST", "PV-control", "SST-control"} <= points, points
    recorded = json.loads(layout.results("06_cell_types").read_text())["tables"]
    assert {"optotagging rules", "pairwise", "classifier", "own encoders"} <= set(recorded)
    assert layout.decoder("pan_session_own_SST_control_0", "natural_movie_one", "sparse_random").is_file()   # 06 §10
    assert not layout.scene_probes.exists()             # paper: LLaVA reads lighting and layout itself
    assert layout.cell_type_routes.is_file()            # 06 hands its routes to 07 (empty: no planted truth)
    populations = pd.read_csv(layout.cell_type_populations)                         # 06 hands them to 07
    assert {"PV", "SST", "PV control", "SST control"} <= set(populations["population"])
    assert layout.sae("paper_patch_tokens").is_file()                                   # 07: the dictionary
    recorded = json.loads(layout.results("07_sae_concepts").read_text())["tables"]
    assert {"SAE quality", "profiles", "bootstrap", "Welch"} <= set(recorded)
    assert "labelling corpus (targets)" in recorded["SAE quality"]["rows"]
    recorded = json.loads(layout.results("08_baselines").read_text())["tables"]           # 08: the baselines
    assert {"Table A1", "Table A2", "Table A3"} <= set(recorded)
    frame_by_frame = (work / "runs" / "paper" / "09_frame_by_frame.ipynb").read_text()       # 09: strips and explorer
    assert frame_by_frame.count("image/png") >= 2 and "narration-explorer" in frame_by_frame and "SST cells" in frame_by_frame
    assert "sparse_random / CEBRA + KNN" in recorded["Table A1"]["rows"]
    assert layout.decoder(session, "natural_movie_one", "sparse_random", "mlp_patches").is_file()
