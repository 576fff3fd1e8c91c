"""SpikeDecoder on a tiny synthetic movie whose frames are encoded in the spikes (no files from the notebooks)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from neurrator.artifacts import ArtifactError
from neurrator.data.binning import BinnedStimulus
from neurrator.models.encoder import RetrievalEncoder, info_nce_loss
from neurrator.evaluation.metrics import mean_patch_cosine
from neurrator import profiles
from neurrator.models.training import ArrayTargets, EncoderConfig, SpikeDecoder, TrainConfig
from neurrator.data.windows import SpikeWindows, regime_windows

N_FRAMES, BINS_PER_FRAME, REPEATS, N_UNITS = 60, 4, 6, 16
TINY = EncoderConfig(d_model=32, conv_channels=8, heads=4, temporal_layers=1, patch_layers=1, dropout=0.1)
FAST = TrainConfig(lr=3e-3, batch_size=32, max_epochs=4, patience=10, windows_per_epoch=768, val_windows=128, seed=0)


def synthetic_movie(seed=0):
    """A smooth 4-d latent drives the units' rates and (linearly) the target grids: a decodable movie."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(N_FRAMES) / N_FRAMES
    latent = np.stack([np.sin(phase), np.cos(phase), np.sin(2 * phase), np.cos(3 * phase)], 1)
    rates = np.exp(latent @ rng.normal(0, 0.8, (4, N_UNITS)))
    frame = np.tile(np.repeat(np.arange(N_FRAMES), BINS_PER_FRAME), REPEATS).astype(np.int32)
    repeat = np.repeat(np.arange(REPEATS), N_FRAMES * BINS_PER_FRAME).astype(np.int32)
    counts = rng.poisson(rates[frame]).astype(np.uint8)
    n = len(frame)
    bin_start = np.arange(n) / 120.0 + repeat * 1.0                 # a gap between repeats
    binned = BinnedStimulus("movie", np.arange(N_UNITS), counts, bin_start, frame, repeat, np.zeros(n, np.int16),
                            (np.arange(n) // BINS_PER_FRAME).astype(np.int32), (np.arange(n) % BINS_PER_FRAME).astype(np.int16))
    targets = (latent @ rng.normal(0, 1, (4, 3 * 8))).reshape(N_FRAMES, 3, 8).astype(np.float32)
    return binned, ArrayTargets(targets)


@pytest.fixture(scope="module")
def movie():
    binned, targets = synthetic_movie()
    return regime_windows(binned, "sparse_random", seed=0), targets


@pytest.fixture(scope="module")
def fitted(movie):
    data, targets = movie
    return SpikeDecoder("patches", TINY, FAST, progress=False).fit(data.train, data.val, targets)


def weights(decoder):
    return torch.cat([p.detach().flatten() for p in decoder.model_.parameters()])


def test_batch_equals_stacked_items(movie):
    data, _ = movie
    data.train.set_epoch(3)
    index = np.array([0, 5, 17, 40, 41])
    x, frames = data.train.batch(index)
    items = [data.train[i] for i in index]
    assert torch.equal(x, torch.stack([item[0] for item in items]))
    assert frames.tolist() == [item[1] for item in items]


def test_learns_held_out_frames_better_than_shuffled(movie, fitted):
    data, targets = movie
    history = fitted.history_
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert history["val_score"].iloc[-1] > history["val_score"].iloc[0]
    frame_ids, grids = fitted.predict(data.test, by_frame=True)
    held = set(np.flatnonzero(data.split.held_out))
    assert set(frame_ids) <= held and len(frame_ids) >= len(held) - 1   # frame 1 opens each run: no full window
    true = targets.rows(frame_ids)
    assert mean_patch_cosine(grids, true) > mean_patch_cosine(grids, true[::-1]) + 0.1


def test_same_seed_same_model_and_history(movie, fitted):
    data, targets = movie
    again = SpikeDecoder("patches", TINY, FAST, progress=False).fit(data.train, data.val, targets)
    assert torch.equal(weights(again), weights(fitted))
    assert again.history_["val_score"].tolist() == fitted.history_["val_score"].tolist()
    other = SpikeDecoder("patches", TINY, replace(FAST, seed=1), progress=False).fit(data.train, data.val, targets)
    assert not torch.equal(weights(other), weights(fitted))


def test_a_truncated_checkpoint_is_set_aside_named_and_training_starts_over(movie, fitted, tmp_path):
    data, targets = movie
    SpikeDecoder("patches", TINY, FAST, checkpoint_dir=tmp_path, progress=False).fit(data.train, data.val, targets)
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])       # cut short (a full disk, a killed copy)
    with pytest.warns(UserWarning, match=r"checkpoint .*last.pt is unreadable .*moved to last.pt.unreadable, training starts over"):
        again = SpikeDecoder("patches", TINY, FAST, checkpoint_dir=tmp_path, progress=False).fit(data.train, data.val, targets)
    assert torch.equal(weights(again), weights(fitted))          # trained from the start, to the same weights
    assert (tmp_path / "last.pt.unreadable").stat().st_size == 1000 and checkpoint.is_file()


def test_interrupted_run_resumes_to_the_same_weights(movie, fitted, tmp_path):
    data, targets = movie
    per_epoch = -(-len(data.train) // FAST.batch_size) + 1          # training batches + one validation read

    class Interrupting(ArrayTargets):
        calls = 0

        def rows(self, frame_indices):
            Interrupting.calls += 1
            if Interrupting.calls == per_epoch + 3:          # inside epoch 2
                raise KeyboardInterrupt
            return super().rows(frame_indices)

    with pytest.raises(KeyboardInterrupt):
        SpikeDecoder("patches", TINY, FAST, checkpoint_dir=tmp_path, progress=False).fit(
            data.train, data.val, Interrupting(targets.array))
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["state"]["epoch"] == 1 and not saved["state"]["finished"]
    resumed = SpikeDecoder("patches", TINY, FAST, checkpoint_dir=tmp_path, progress=False).fit(data.train, data.val, targets)
    assert torch.equal(weights(resumed), weights(fitted))
    assert resumed.history_["val_score"].tolist() == fitted.history_["val_score"].tolist()

    class Counting(ArrayTargets):
        calls = 0

        def rows(self, frame_indices):
            Counting.calls += 1
            return super().rows(frame_indices)

    done = SpikeDecoder("patches", TINY, FAST, checkpoint_dir=tmp_path, progress=False).fit(
        data.train, data.val, Counting(targets.array))
    assert Counting.calls == 0                                  # a finished checkpoint is loaded, not retrained
    assert torch.equal(weights(done), weights(fitted))
    with pytest.raises(ArtifactError, match="other data or settings"):
        SpikeDecoder("patches", TINY, replace(FAST, lr=1e-3), checkpoint_dir=tmp_path, progress=False).fit(
            data.train, data.val, targets)
    # same shape, other content: the checkpoint is keyed by the targets' content, not their shape
    with pytest.raises(ArtifactError, match="other data or settings"):
        SpikeDecoder("patches", TINY, FAST, checkpoint_dir=tmp_path, progress=False).fit(
            data.train, data.val, ArrayTargets(targets.array[::-1]))


def test_early_stopping_on_a_flat_validation_score(movie):
    data, targets = movie
    frozen = SpikeDecoder("patches", TINY, replace(FAST, lr=0.0, max_epochs=10, patience=2), progress=False)
    frozen.fit(data.train, data.val, targets)
    assert len(frozen.history_) == 3                            # best at epoch 1, then 2 epochs without progress
    assert frozen.history_["best"].tolist() == [True, False, False]


def test_min_delta_stops_a_run_whose_gains_are_too_small(movie):
    """With a rate so small that every epoch changes the score by far less than min_delta, the run stops after
    ``patience`` epochs without counted progress; the same run with min_delta 0 keeps going on tiny gains."""
    data, targets = movie
    slow = replace(FAST, lr=1e-6, max_epochs=8, patience=2)
    stopped = SpikeDecoder("patches", TINY, replace(slow, min_delta=0.05), progress=False).fit(data.train, data.val, targets)
    assert len(stopped.history_) == 3
    scores = stopped.history_["val_score"]
    assert float(scores.max() - scores.min()) < 0.05               # the gains were there, just below min_delta
    best = int(scores.idxmax())
    assert stopped.history_["best"].iloc[best]                   # the kept weights are the best epoch's
    plain = SpikeDecoder("patches", TINY, slow, progress=False).fit(data.train, data.val, targets)
    assert len(plain.history_) > 3


def test_save_load_round_trip(movie, fitted, tmp_path):
    data, _ = movie
    path = fitted.save(tmp_path / "decoder.pt", made_by="03_train", params={"regime": "sparse_random"})
    loaded = SpikeDecoder.load(path, device="cpu", made_by="03_train")
    assert np.array_equal(loaded.predict(data.test), fitted.predict(data.test))
    assert loaded.history_["val_score"].tolist() == fitted.history_["val_score"].tolist()
    with pytest.raises(ArtifactError, match="05_scaling"):   # the reader names the notebook that makes what it reads
        SpikeDecoder.load(tmp_path / "missing.pt", made_by="05_scaling")
    with pytest.raises(RuntimeError, match="not fitted"):
        SpikeDecoder().predict(data.test)


def test_saving_the_same_decoder_twice_writes_the_same_bytes(fitted, tmp_path):
    """Sweep points are keyed by the decoder file's SHA-256: a decoder saved again (as a resumed, finished run
    does) must hash the same, whatever temporary file the atomic write went through."""
    from neurrator.artifacts import sha256_file

    loaded = SpikeDecoder.load(fitted.save(tmp_path / "decoder.pt", made_by="03_train"), device="cpu", made_by="03_train")
    first, again = loaded.save(tmp_path / "a" / "decoder.pt", made_by="03_train"), loaded.save(tmp_path / "b" / "decoder.pt", made_by="03_train")
    assert sha256_file(first) == sha256_file(again)


def test_predict_by_frame_subsets_and_zscore_check(movie, fitted):
    data, _ = movie
    per_window = fitted.predict(data.test, batch_size=7)
    frame_ids, by_frame = fitted.predict(data.test, by_frame=True, batch_size=7)
    frames = data.test.frames[data.test.centres]
    for i, f in enumerate(frame_ids):
        assert np.allclose(by_frame[i], per_window[frames == f].mean(0), atol=1e-5)
    mask = np.zeros(N_UNITS)
    mask[:8] = 1
    assert not np.allclose(fitted.predict(data.test, neuron_mask=mask), per_window)
    other = SpikeWindows(data.test.counts, data.test.frames, data.test.centres, data.test.mean + 1, data.test.std)
    with pytest.raises(ValueError, match="z-scored with statistics other than the training ones"):
        fitted.predict(other)


@pytest.mark.parametrize("objective", ["infonce", "classifier"])
def test_retrieval_variants(movie, objective):
    data, targets = movie
    decoder = SpikeDecoder(objective, TINY, replace(FAST, max_epochs=3), progress=False).fit(data.train, data.val, targets)
    train_frames = np.unique(data.train.frames[data.train.centres])
    assert np.array_equal(decoder.classes_, train_frames)
    out = decoder.predict(data.val)
    assert out.shape == (len(data.val), targets.shape[-1] if objective == "infonce" else len(train_frames))
    assert decoder.history_["val_score"].iloc[-1] > decoder.history_["val_score"].iloc[0]
    if objective == "classifier":
        val_frames = data.val.frames[data.val.centres]
        accuracy = np.mean(decoder.classes_[out.argmax(1)] == val_frames)
        assert accuracy > 3 / len(train_frames)                  # well above chance on frames seen in training


def test_info_nce_and_retrieval_mask():
    candidates = torch.eye(4)
    assert info_nce_loss(candidates * 5, candidates, torch.arange(4), temperature=0.01).item() < 1e-6
    assert info_nce_loss(candidates.roll(1, 0), candidates, torch.arange(4), temperature=0.01).item() > 10
    torch.manual_seed(0)
    model = RetrievalEncoder(6, 3, d_model=16, conv_channels=4, heads=2).eval()
    x, mask = torch.randn(2, 20, 6), torch.tensor([1.0, 1, 1, 0, 0, 0])
    changed = x.clone()
    changed[..., 3:] = 9.0
    assert torch.allclose(model(x, mask), model(changed, mask), atol=1e-6)


def test_presets_and_bad_input(movie):
    encoder, train = profiles.get("demo").encoder_preset(max_epochs=3, d_model=64)
    assert (encoder.d_model, train.max_epochs) == (64, 3)
    assert profiles.get("paper").encoder_preset() == (EncoderConfig(), TrainConfig())
    with pytest.raises(ValueError, match="unknown training option"):
        profiles.get("demo").encoder_preset(learning_rate=1)
    with pytest.raises(ValueError, match="unknown objective"):
        SpikeDecoder("captions")
    data, targets = movie
    with pytest.raises(ValueError, match="same .training. statistics"):
        bad_val = SpikeWindows(data.val.counts, data.val.frames, data.val.centres, data.val.mean * 2, data.val.std)
        SpikeDecoder("patches", TINY, FAST, progress=False).fit(data.train, bad_val, targets)
    with pytest.raises(ValueError, match="pass zscore"):
        regime_windows(synthetic_movie()[0], "zero_shot")


def test_background_prefetch_yields_the_same_batches(movie):
    from neurrator.models.solver import _prefetched

    data, targets = movie
    order = np.random.default_rng(0).permutation(len(data.train))[:100]
    inline = list(_prefetched(data.train, order, 32, targets, background=False))
    threaded = list(_prefetched(data.train, order, 32, targets, background=True))
    assert len(inline) == len(threaded) == 4
    for (x1, f1, y1), (x2, f2, y2) in zip(inline, threaded):
        assert torch.equal(x1, x2) and np.array_equal(f1, f2) and torch.equal(y1, y2)


def test_fit_leaves_the_callers_torch_rng_as_it_was(movie):
    data, targets = movie
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    SpikeDecoder("classifier", TINY, replace(FAST, max_epochs=1), progress=False).fit(data.train, data.val, targets)
    assert torch.equal(torch.rand(4), expected)


def test_unknown_objective_names_the_choices():
    with pytest.raises(ValueError, match="patches, infonce, classifier"):
        SpikeDecoder("contrastive")


def test_predict_by_frame_streams_blocks_of_frames(movie, fitted):
    data, _ = movie
    frame_ids, whole = fitted.predict(data.test, by_frame=True)
    ids, blocks = fitted.predict_by_frame(data.test, batch_size=5, chunk_frames=3)
    blocks = list(blocks)
    assert ids.tolist() == frame_ids.tolist() and {len(b) for b in blocks[:-1]} == {3}
    assert np.allclose(np.concatenate(blocks), whole, atol=1e-5)


def test_training_summary_reports_where_each_run_ended(movie, fitted):
    from neurrator.models.training import training_summary

    data, targets = movie
    flat = SpikeDecoder("patches", TINY, replace(FAST, lr=0.0, max_epochs=10, patience=2), progress=False)
    flat.fit(data.train, data.val, targets)
    table = training_summary({"trained": fitted, "flat": flat}, plateaus={"trained": 0.99})
    assert table.loc["trained", "epochs run"] == FAST.max_epochs and not table.loc["trained", "stopped early"]
    assert table.loc["trained", "best epoch"] == int(fitted.history_["val_score"].idxmax()) + 1
    assert table.loc["trained", "best validation"] == pytest.approx(fitted.history_["val_score"].max())
    assert table.loc["trained", "below plateau"] == pytest.approx(0.99 - fitted.history_["val_score"].max())
    assert table.loc["flat", "stopped early"] and table.loc["flat", "epochs run"] == 3
    assert np.isnan(table.loc["flat", "plateau"])                # no plateau measured for that one
    with pytest.raises(ValueError, match="no training history"):
        training_summary({"unfitted": SpikeDecoder()})


def test_subsample_training_draws_a_seeded_subset_and_keeps_the_rest(movie):
    from neurrator.data.splits import TRAIN
    from neurrator.data.windows import subsample_training

    data, _ = movie
    small = subsample_training(data, 100, seed=0)
    assert len(small.train) == 100 and set(small.train.centres) <= set(data.train.centres)
    np.testing.assert_array_equal(small.train.centres, subsample_training(data, 100, seed=0).train.centres)
    assert not np.array_equal(small.train.centres, subsample_training(data, 100, seed=1).train.centres)
    np.testing.assert_array_equal(small.split.centres[TRAIN], small.train.centres)
    assert small.test is data.test and small.val is data.val
    assert (small.train.jitter, small.train.neuron_dropout) == (data.train.jitter, data.train.neuron_dropout)
    assert len(data.train) > 100                                    # the original is untouched
    with pytest.raises(ValueError, match="cannot draw"):
        subsample_training(data, len(data.train) + 1)
