"""``benchmarks/gpu_check.py`` in its CPU smoke mode: every step runs and records finite numbers, the narrator
equivalence holds within its tolerance, and the equivalence checks can fail (a corrupted injection is caught)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gpu_check = _load_gpu_check()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gpu_check") / "gpu_check.json"
    returned = gpu_check.main(["--cpu-smoke", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["steps"].keys() == returned["steps"].keys()
    return written


def _numbers(value, path="") -> list[tuple[str, float]]:
    """Every number in a JSON value, with where it is."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [(path, value)]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return [found for key, item in items for found in _numbers(item, f"{path}/{key}")]


def test_smoke_runs_every_step_ok_on_the_cpu(smoke):
    assert smoke["mode"] == "cpu-smoke" and "cpu" in smoke["device_label"]
    assert list(smoke["steps"]) == list(gpu_check.STEP_NAMES)
    failed = {name: step["error"] for name, step in smoke["steps"].items() if step["status"] != "ok"}
    assert not failed
    for name in ("train_gpu", "train_cpu", "predict_metrics", "determinism"):
        assert smoke["steps"][name]["device"] == "cpu"      # the "GPU" side ran on the CPU, and says so


def test_every_number_is_finite(smoke):
    numbers = _numbers(smoke)
    assert len(numbers) > 50
    assert [(where, n) for where, n in numbers if not math.isfinite(n)] == []


def test_training_rates_and_the_paper_projection(smoke):
    gpu, cpu = smoke["steps"]["train_gpu"], smoke["steps"]["train_cpu"]
    for side in (gpu, cpu):
        assert side["steps_per_s"] > 0 and side["windows_per_s"] > 0 and side["median_steps_per_s"] > 0
        assert len(side["step_seconds"]) == side["timed_steps"] >= 2
    assert cpu["gpu_over_cpu_steps_per_s"] > 0
    assert gpu["data_only_steps_per_s"] > 0 and gpu["val_forward_windows_per_s"] > 0
    schedule = gpu["paper_schedule"]
    assert schedule["epochs"] == 60 and schedule["movie_repeats"] == 20 and schedule["training_repeats"] == 14
    assert schedule["steps_per_epoch"] == math.ceil(schedule["train_windows"] / gpu["batch_size"])
    assert schedule["total_hours"] > 0 and "windows per epoch" in schedule["assumption"]
    assert len(schedule["alternatives"]) == 3


def test_paper_windows_are_counted_from_the_split():
    """14 training repeats of 3600 bins; a 20-bin window fits wholly inside training bins, so each contiguous run of
    training bins loses at most 19 centres (fewer runs when training repeats are adjacent)."""
    counted = gpu_check.paper_windows(20, "repeat")
    assert counted["training_repeats"] == 14
    assert 14 * (3600 - 19) <= counted["train_windows"] <= 14 * 3600 - 19
    held_out = gpu_check.paper_windows(20, "sparse_random")
    assert 0 < held_out["train_windows"] < counted["train_windows"]     # held-out frames cut training windows


def test_predictions_and_metrics(smoke):
    step = smoke["steps"]["predict_metrics"]
    assert step["windows"] == 2 * step["frames"]
    assert step["predict_and_write_seconds"] > 0 and step["metrics_seconds"] >= 0
    assert -1 <= step["metrics"]["patch_cosine"] <= 1 and step["metrics"]["retrieval_items"] == step["frames"]


def test_narrator_equivalence_within_tolerance(smoke):
    llava, blip2 = smoke["steps"]["llava_equivalence"], smoke["steps"]["blip2_equivalence"]
    for step, diffs in ((llava, ("targets", "projected_features")), (blip2, ("first_step_logits",))):
        assert step["passed"] and step["prompt_ids_equal"] and not step["corrupted"]
        for name in diffs:
            assert 0 <= step[f"{name}_max_abs_diff"] <= step[f"{name}_tolerance"]
    assert llava["tokens_equal"] and llava["frames_with_equal_tokens"] == llava["frames"]
    assert blip2["captions_equal"] and blip2["frames_with_equal_captions"] == blip2["frames"]


def test_determinism_is_recorded(smoke):
    step = smoke["steps"]["determinism"]
    assert step["bitwise_equal"] is True and step["max_abs_weight_diff"] == 0.0 and step["history_equal"]


@pytest.mark.parametrize("check, diff", [("llava_equivalence", "targets"), ("blip2_equivalence", "first_step_logits")])
def test_a_corrupted_equivalence_is_detected(tmp_path, check, diff):
    """Injecting another frame's patches (LLaVA) or captioning another frame (BLIP-2) must fail the check."""
    result = getattr(gpu_check, check)(tmp_path / "work", device="cpu", corrupt=True)
    assert result["passed"] is False and result["corrupted"]
    assert result[f"{diff}_max_abs_diff"] > 100 * result[f"{diff}_tolerance"]
    assert diff in result["mismatch"]
    report, out = {"started_unix": 0.0, "steps": {}}, tmp_path / "report.json"
    recorded = gpu_check.run_step(report, check, lambda: result, out)
    assert recorded["status"] == "failed" and diff in recorded["error"]
    assert json.loads(out.read_text())["steps"][check]["status"] == "failed"


def test_each_step_is_recorded_alone_and_written_at_once(tmp_path):
    report, out = {"started_unix": 0.0, "steps": {}}, tmp_path / "partial.json"

    def broken():
        raise RuntimeError("out of memory")

    def skipped():
        raise gpu_check.Skip("no CUDA device")

    gpu_check.run_step(report, "broken", broken, out)
    assert json.loads(out.read_text())["steps"]["broken"]["status"] == "failed"   # on disk before the next step
    gpu_check.run_step(report, "skipped", skipped, out)
    gpu_check.run_step(report, "fine", lambda: {"value": 1.5}, out)
    steps = json.loads(out.read_text())["steps"]
    assert steps["broken"]["error"] == "RuntimeError: out of memory" and "Traceback" in steps["broken"]["traceback"]
    assert steps["skipped"] == {"status": "skipped", "error": "no CUDA device", "seconds": steps["skipped"]["seconds"]}
    assert steps["fine"]["status"] == "ok" and steps["fine"]["value"] == 1.5
    assert not list(tmp_path.glob(".partial.json.*"))                             # no temporary file left behind
