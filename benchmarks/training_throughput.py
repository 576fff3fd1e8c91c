"""Training throughput (windows/s) and peak memory: neurrator's training loop against the paper's reference loop.

Same data, same model (``profiles.get("demo").encoder_preset()`` widths), batch 64, seed, AdamW + cosine schedule + clipping at 1.0,
+-2-bin jitter and 10 % neuron dropout, torch threads fixed to 2; each scenario in a fresh process
(``measure.run_isolated``: peak RSS of that process alone):
- neurrator: the real ``SpikeDecoder("patches").fit`` for one epoch of ``3 + steps`` batches; windows come from
  ``SpikeWindows.batch`` (one vectorised gather) and targets stream from the float16 patch-target store
  (``StoredTargets.rows``: just the batch's rows);
- reference: a re-implementation of the reference code's loop: the whole target table in RAM as float32, a
  per-item ``Dataset`` returning ``(window, target)`` (``SpikeWindows.__getitem__``), a standard ``DataLoader``
  (shuffle, seeded generator, ``num_workers=0``, default collate), then the same forward/loss/backward/clip/step.
What is timed, identically in both: the wall time from the end of step 3 to the end of step ``3 + steps``
(a timestamp at every ``CosineAnnealingLR.step``, the last call of each optimisation step, after a CUDA sync
on GPU), i.e. batch assembly + target reads + forward + loss + backward + clip + AdamW + scheduler, warm-up
excluded; neurrator's end-of-epoch validation (64 windows) is outside it. Reported: the mean rate over the
timed steps and 64 / median step time (robust to stalls when other jobs share the machine). The input pipeline alone (the same
``steps`` batches without the model) is also timed in each process, to show how much of a step is data.

Usage: .venv/bin/python benchmarks/training_throughput.py [--steps 40] [--session 100000034] [--data-dir DIR]
       .venv/bin/python benchmarks/training_throughput.py --paper-shapes   # GPU only: synthetic paper-sized data
Inputs (demo): notebooks 01_preprocess (binned session) and 02_targets (target store ``targets/demo``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from measure import run_isolated, save

WARMUP, BATCH = 3, 64

SETUP = """
import time, numpy as np, torch
from dataclasses import replace
from neurrator import profiles
from neurrator.models.training import SpikeDecoder, EncoderConfig
from neurrator.vlm.targets import PatchTargetStore, StoredTargets
from neurrator.data.windows import SpikeWindows
from neurrator.data.splits import split_bins, zscore_stats, TRAIN, VAL
from neurrator.data.binning import BinnedStimulus
torch.set_num_threads(2)
STEPS, WARMUP, BATCH, PAPER = {steps}, {warmup}, {batch}, {paper}
enc, tr = profiles.get("demo").encoder_preset()
tr = replace(tr, max_epochs=1, windows_per_epoch=(WARMUP + STEPS) * BATCH, val_windows=BATCH, batch_size=BATCH)
if PAPER:   # synthetic: 2000 neurons, 3600 frames x 4 bins x 2 repeats, targets 576 x 1024 (written by 'prepare')
    enc = EncoderConfig()
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.3, size=(3600 * 8, 2000)).astype(np.uint8)
    frame = np.tile(np.repeat(np.arange(3600), 4), 2)
    centres = np.arange(10, len(frame) - 10)
    mean, std = zscore_stats(counts, np.ones(len(counts), bool))
    train_c, val_c = centres[centres % 10 != 0], centres[centres % 10 == 0]
    store = StoredTargets({store!r}, (3600, 576, 1024))
else:
    b = BinnedStimulus.load({binned!r})
    split = split_bins(b.frame, b.repeat, b.bin_start, regime="sparse_random", seed=tr.seed, bin_width=1 / b.bin_hz)
    counts, frame, train_c, val_c = b.counts, b.frame, split.centres[TRAIN], split.centres[VAL]
    mean, std = zscore_stats(counts, split.mask(TRAIN))
    store = PatchTargetStore({store!r}).open("natural_movie_one")
train = SpikeWindows(counts, frame, train_c, mean, std, jitter=tr.jitter, neuron_dropout=tr.neuron_dropout, seed=tr.seed)
val = SpikeWindows(counts, frame, val_c, mean, std)
cuda = torch.cuda.is_available()
STAMPS, _step = [], torch.optim.lr_scheduler.CosineAnnealingLR.step
def _stamped(self, *a, **k):   # one call per optimisation step (+ one at construction): time stamps for both loops
    _step(self, *a, **k)
    if cuda:
        torch.cuda.synchronize()
    STAMPS.append(time.perf_counter())
torch.optim.lr_scheduler.CosineAnnealingLR.step = _stamped
def timed():   # the last STEPS steps: total (mean rate) and median step (robust to stalls of a shared machine)
    step_s = np.diff(STAMPS[-1 - STEPS:])
    return dict(steps=STEPS, windows=STEPS * BATCH, seconds=round(step_s.sum(), 3), windows_per_s=round(STEPS * BATCH / step_s.sum(), 1),
                median_windows_per_s=round(BATCH / np.median(step_s), 1), step_seconds=[round(t, 3) for t in step_s])
"""

NEURRATOR = """
decoder = SpikeDecoder("patches", enc, tr, progress=False).fit(train, val, store)
_result = timed()
_result["fit_epoch_seconds_incl_validation"] = round(float(decoder.history_["seconds"].iloc[0]), 3)
order = np.random.default_rng(1).permutation(len(train))
start = time.perf_counter()
for i in range(STEPS):
    x, frames = train.batch(order[i * BATCH:(i + 1) * BATCH])
    y = store.rows(frames)
_result["data_only_windows_per_s"] = round(STEPS * BATCH / (time.perf_counter() - start), 1)
"""

REFERENCE = """
from neurrator.models.encoder import NeurratorEncoder, patch_loss
table = np.asarray(store)          # reference: every frame's grid in RAM as float32 (rows() returns float32)
assert table.dtype == np.float32

class WindowTargets(torch.utils.data.Dataset):
    def __init__(self, windows, table):
        self.windows, self.table = windows, table
    def __len__(self):
        return len(self.windows)
    def __getitem__(self, i):
        x, frame = self.windows[i]
        return x, torch.from_numpy(self.table[frame])

device = torch.device("cuda" if cuda else "cpu")
loader = torch.utils.data.DataLoader(WindowTargets(train, table), batch_size=BATCH, shuffle=True, num_workers=0,
                                     generator=torch.Generator().manual_seed(tr.seed))
torch.manual_seed(tr.seed)
model = NeurratorEncoder(counts.shape[1], *table.shape[1:], d_model=enc.d_model, conv_channels=enc.conv_channels,
                         heads=enc.heads, temporal_layers=enc.temporal_layers, patch_layers=enc.patch_layers,
                         dropout=enc.dropout).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=tr.lr, weight_decay=tr.weight_decay)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=WARMUP + STEPS)
autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and tr.amp else torch.autocast(device.type, enabled=False)
model.train()
for step, (x, y) in zip(range(WARMUP + STEPS), loader):
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    with autocast:
        loss = patch_loss(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), tr.grad_clip)
    optimizer.step()
    scheduler.step()
    total = loss.item()
_result = timed()
_result["float32_table_mb"] = round(table.nbytes / 2**20, 1)
start = time.perf_counter()
for _, (x, y) in zip(range(STEPS), loader):
    pass
_result["data_only_windows_per_s"] = round(STEPS * BATCH / (time.perf_counter() - start), 1)
"""

PREPARE = """
import numpy as np
rng = np.random.default_rng(0)
out = np.lib.format.open_memmap({store!r}, mode="w+", dtype=np.float16, shape=(3600, 576, 1024))
for s in range(0, 3600, 200):
    out[s:s + 200] = rng.standard_normal((200, 576, 1024), dtype=np.float32).astype(np.float16)
out.flush()
_result = {{}}
"""

MACHINE = """
import torch
torch.set_num_threads(2)
_result = dict(torch=torch.__version__, torch_threads=torch.get_num_threads(), cuda=torch.cuda.is_available(),
               device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--session", type=int, default=100000034)
    parser.add_argument("--steps", type=int, default=40, help="timed optimisation steps (after 3 untimed warm-up steps)")
    parser.add_argument("--paper-shapes", action="store_true", help="synthetic paper-sized data (GPU only)")
    args = parser.parse_args()
    machine = run_isolated(MACHINE)
    settings = dict(steps=args.steps, warmup_steps=WARMUP, batch_size=BATCH, regime="sparse_random", jitter=2,
                    neuron_dropout=0.1, torch_threads=2, paper_shapes=args.paper_shapes)
    if args.paper_shapes:
        if not machine["cuda"]:
            print("--paper-shapes skipped: no CUDA device (paper-sized training is only meaningful on a GPU)")
            return
        work = tempfile.mkdtemp(prefix="throughput-bench-")
        store, binned = str(Path(work) / "targets.npy"), ""
        run_isolated(PREPARE.format(store=store))
        settings.update(encoder="EncoderConfig() (paper)", neurons=2000, frames=3600, targets="576 x 1024 (random)")
    else:
        from neurrator.layout import DataLayout
        layout = DataLayout.resolve(args.data_dir, "demo", create=False)
        data = layout.data_dir
        binned = layout.binned(args.session, "natural_movie_one")
        store = layout.targets
        missing = [str(p) for p in (binned, store / "natural_movie_one.npy") if not p.is_file()]
        if missing:
            raise SystemExit(f"missing input(s): {', '.join(missing)}. Make them with notebook 01_preprocess (binned "
                             f"session {args.session}) and notebook 02_targets (demo profile target store), "
                             "or pass --data-dir.")
        binned, store = str(binned), str(store)
        settings.update(encoder='profiles.get("demo").encoder_preset()', session=args.session, stimulus="natural_movie_one", data_dir=str(data))
    setup = SETUP.format(steps=args.steps, warmup=WARMUP, batch=BATCH, paper=args.paper_shapes, store=store, binned=binned)
    results = {name: run_isolated(setup + code) for name, code in (("neurrator", NEURRATOR), ("reference", REFERENCE))}
    ours, ref = results["neurrator"], results["reference"]
    ratios = {"throughput_neurrator_over_reference": round(ours["windows_per_s"] / ref["windows_per_s"], 2),
              "median_step_throughput_neurrator_over_reference": round(ours["median_windows_per_s"] / ref["median_windows_per_s"], 2),
              "peak_rss_neurrator_over_reference": round(ours["peak_rss_mb"] / ref["peak_rss_mb"], 2),
              "data_only_throughput_neurrator_over_reference": round(ours["data_only_windows_per_s"] / ref["data_only_windows_per_s"], 2)}
    print(f"{'scenario':<10} {'windows/s':>10} {'median w/s':>11} {'s timed':>8} {'data-only w/s':>14} {'peak RSS MB':>12} {'f32 table MB':>13}")
    for name, r in results.items():
        print(f"{name:<10} {r['windows_per_s']:>10} {r['median_windows_per_s']:>11} {r['seconds']:>8} {r['data_only_windows_per_s']:>14} "
              f"{r['peak_rss_mb']:>12} {r.get('float32_table_mb', '-'):>13}")
    for key, value in ratios.items():
        print(f"{key}: {value}")
    stalls = {name: sum(t > 3 * BATCH / r["median_windows_per_s"] for t in r["step_seconds"]) for name, r in results.items()}
    if any(stalls.values()):
        print(f"warning: steps over 3x the median step time {stalls}: the machine was busy, trust the median ratio")
    notes = (f"Timed: wall time of {args.steps} optimisation steps after {WARMUP} warm-up steps, from scheduler.step "
             "time stamps (identical hook in both processes): batch + targets + forward + loss + backward + clip + AdamW "
             "+ scheduler. neurrator = the real SpikeDecoder.fit (its 64-window validation is outside the timed span but "
             "inside its peak RSS); reference = per-item Dataset + DataLoader(default collate) over a float32 table of "
             "all frames. windows/s = timed windows / timed seconds; median w/s = 64 / median step time (robust to stalls "
             "when the machine is shared). Model, optimiser and loss are identical, so where model compute dominates a step the "
             "throughput ratio tends to 1; data_only isolates the input pipeline. Peak RSS includes the Python/torch "
             "runtime common to both.")
    path = save("training_throughput_paper" if args.paper_shapes else "training_throughput",
                {"machine": machine, "settings": settings, "steps_over_3x_median": stalls, "what_is_timed": notes.split(". ")[0], **results,
                 "ratios": ratios, "notes": notes})
    print("saved", path)


if __name__ == "__main__":
    main()
