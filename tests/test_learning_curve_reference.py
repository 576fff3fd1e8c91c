"""The measured learning curve (benchmarks/results) is read for the session it was measured on only."""

import json

from neurrator.book import learning_curve


def write_curve(root, session):
    path = root / learning_curve.LEARNING_CURVE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "results": {"a": {"session": session, "regime": "sparse_random"},
                    "b": {"session": session, "regime": "contiguous_middle"},
                    "c": {"session": "pan_session", "regime": "pan_session sparse_random"}},
        "summary": {"sparse_random": {"plateau_val_cosine": 0.81}, "contiguous_middle": {"plateau_val_cosine": 0.83},
                    "pan_session sparse_random": {"plateau_val_cosine": 0.7}}}))


def test_plateaus_of_the_measured_session(tmp_path):
    write_curve(tmp_path, 7)
    assert learning_curve.plateaus(7, tmp_path) == {"sparse_random": 0.81, "contiguous_middle": 0.83}
    assert learning_curve.plateaus("pan_session", tmp_path) == {"sparse_random": 0.7}
    assert learning_curve.plateaus(8, tmp_path) == {}               # another session: nothing to compare with


def test_no_measurement_no_plateaus(tmp_path):
    assert learning_curve.load(tmp_path) is None
    assert learning_curve.plateaus(7, tmp_path) == {}


def test_the_committed_learning_curve_names_a_plateau_per_split():
    measured = learning_curve.load()
    assert measured is not None, "benchmarks/results/learning_curve.json is missing: run benchmarks/learning_curve.py"
    for regime, summary in measured["summary"].items():
        runs = [r for r in measured["results"].values() if r["regime"] == regime]
        assert summary["plateau_val_cosine"] == max(r["best_val_cosine"] for r in runs)
        longest = max(runs, key=lambda r: r["optimiser_steps"])
        assert longest["val_cosine"][-1] - longest["val_cosine"][-4] < summary["margin"], "the longest run was still rising"


def test_converged_comparison_reads_the_longest_run_and_the_baselines(tmp_path):
    path = tmp_path / learning_curve.LEARNING_CURVE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "results": {"short": {"session": 7, "regime": "sparse_random", "optimiser_steps": 10, "heldout_patch_cosine": 0.5},
                    "long": {"session": 7, "regime": "sparse_random", "optimiser_steps": 99, "heldout_patch_cosine": 0.7},
                    "pan": {"session": "pan_session", "regime": "pan_session sparse_random", "optimiser_steps": 5,
                            "heldout_patch_cosine": 0.6}},
        "summary": {"sparse_random": {"baselines": {"Ridge": {"heldout_patch_cosine": 0.8}, "peak_rss_mb": 1.0}},
                    "pan_session sparse_random": {"baselines": {}}}}))
    assert learning_curve.converged_comparison(tmp_path) == {"sparse_random": {"encoder (converged)": 0.7, "Ridge": 0.8}}
    text = learning_curve.contrast_text(tmp_path)
    assert text.startswith("sparse random: encoder (converged) 0.70, Ridge 0.80 (measured on world version 2")
    assert "not measured" in learning_curve.contrast_text(tmp_path / "elsewhere")


def test_measured_run_matches_the_whole_recipe(tmp_path):
    from neurrator.models.training import TrainConfig

    path = tmp_path / learning_curve.LEARNING_CURVE
    path.parent.mkdir(parents=True)
    recipe = {"lr": 0.002, "batch_size": 16, "max_epochs": 15, "windows_per_epoch": 1024}
    path.write_text(json.dumps({"results": {
        "preset": {"regime": "sparse_random", "recipe": recipe, "best_val_cosine": 0.77},
        "longer": {"regime": "sparse_random", "recipe": {**recipe, "max_epochs": 40}, "best_val_cosine": 0.80},
        "other split": {"regime": "contiguous_middle", "recipe": recipe, "best_val_cosine": 0.78}}}))
    config = TrainConfig(lr=0.002, batch_size=16, max_epochs=15, windows_per_epoch=1024)
    assert learning_curve.measured_run("sparse_random", config, tmp_path)["best_val_cosine"] == 0.77
    assert learning_curve.measured_run("contiguous_middle", config, tmp_path)["best_val_cosine"] == 0.78
    assert learning_curve.measured_run("sparse_random", TrainConfig(lr=0.002, batch_size=64, max_epochs=15,
                                                                    windows_per_epoch=1024), tmp_path) is None
    assert learning_curve.measured_run("sparse_random", config, tmp_path / "elsewhere") is None


def test_the_demo_preset_was_measured_on_chapter_05s_pseudo_mouse():
    """Chapter 05 compares its encoder with the same recipe on one session through this record."""
    from neurrator import profiles

    config = profiles.get("demo").encoder_preset()[1]
    single = learning_curve.measured_run("sparse_random", config)
    assert single is not None, "the demo preset is not in benchmarks/results/learning_curve.json: re-run the benchmark"
    assert learning_curve.measured_run("pan_session sparse_random", config) is not None
    assert not profiles.get("demo").pan_session


def test_world_note_names_a_curve_measured_on_another_world(tmp_path):
    from neurrator.world.simulate import WORLD_VERSION

    assert learning_curve.world_note(tmp_path) == ""                      # not measured: nothing to say
    write_curve(tmp_path, 7)                                               # no world_version: measured on version 2
    assert "world version 2" in learning_curve.world_note(tmp_path)
    path = tmp_path / learning_curve.LEARNING_CURVE
    path.write_text(json.dumps({**json.loads(path.read_text()), "world_version": WORLD_VERSION}))
    assert learning_curve.world_note(tmp_path) == ""


def test_own_schedule_evidence_names_the_world_it_was_measured_on(tmp_path):
    from neurrator.world.simulate import WORLD_VERSION

    path = tmp_path / learning_curve.POPULATION_ENCODERS
    path.parent.mkdir(parents=True)
    row = {"fine-tuned, 5 epochs": {"held-out patch cosine": 0.40, "seconds": 10.0},
           "from scratch": {"held-out patch cosine": 0.41, "seconds": 77.0}}
    path.write_text(json.dumps({"rows": {"SST:tagged": row}}))          # no world_version: version 2
    assert "measured on world version 2" in learning_curve.own_schedule_evidence(5, tmp_path)
    path.write_text(json.dumps({"rows": {"SST:tagged": row}, "world_version": WORLD_VERSION}))
    text = learning_curve.own_schedule_evidence(5, tmp_path)
    assert "world version" not in text and "SST 0.40 against 0.41 in 7.7x less time" in text
