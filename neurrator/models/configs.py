"""The two configs of :class:`~neurrator.models.training.SpikeDecoder`: the network's widths (:class:`EncoderConfig`)
and the optimisation (:class:`TrainConfig`). Both go whole (``asdict``) into the training checkpoint's signature
and the saved decoder, so a field added here needs a default that reproduces the runs made before it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture widths (the defaults are the paper's)."""

    d_model: int = 384
    conv_channels: int = 128
    heads: int = 8
    temporal_layers: int = 2
    patch_layers: int = 2
    dropout: float = 0.2


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (the defaults are the paper's).

    ``windows_per_epoch``: a seeded sample of the training windows per epoch (None: all of them);
    ``val_windows``: a fixed seeded subset of the validation windows (None: all of them);
    ``threads``: CPU threads used while training and predicting (fixed, so results do not depend on the machine's
    cores; one: a second thread made the demo encoder's training slower, alone and beside other work, and cost more
    CPU, benchmarks/training_threads.py);
    ``min_delta``: early stopping counts an epoch as progress only when the validation score beats the last
    counted score by more than this (0: any gain, the paper's rule); the weights kept are always the best epoch's.
    """

    lr: float = 3e-4
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 60
    patience: int = 12
    min_delta: float = 0.0
    grad_clip: float = 1.0
    jitter: int = 2
    neuron_dropout: float = 0.1
    windows_per_epoch: int | None = None
    val_windows: int | None = None
    temperature: float = 0.07
    seed: int = 0
    amp: bool = True
    device: str = "auto"
    threads: int | None = 1
