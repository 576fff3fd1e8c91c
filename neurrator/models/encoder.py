"""Spikes -> the VLM's patch grid (NeurratorEncoder) and the retrieval variant, on one shared front end.

Front end (as the paper): window (20 bins x N neurons) -> multi-scale 1-D convolution over
time (kernels 3, 7, 15; 128 channels each) -> linear + LayerNorm to d_model 384 -> 2-layer transformer
over time (8 heads, FF 2x). Dropout 0.2, GELU.

- :class:`NeurratorEncoder`: learned patch queries cross-attend to the front end -> 2-layer
  self-attention among patches -> linear to the patch dimension. Loss :func:`patch_loss`.
- :class:`RetrievalEncoder`: the front end, mean-pooled over time -> linear to one vector. With
  ``objective="infonce"`` the vector is an embedding trained by :func:`info_nce_loss` against the
  frames' pooled target embeddings; with ``"classifier"`` it is logits over the training images.

Querying a subset of neurons: inputs are z-scored, so a neuron at its mean is 0; ``neuron_mask``
zeroes the neurons left out, exactly what 10 % neuron dropout does during training. A masked neuron
has no influence at all on the output (tested), so the same trained encoder answers for any subset.
"""

from __future__ import annotations

import torch
from torch import nn

KERNELS = (3, 7, 15)


def _layer(d_model: int, heads: int, dropout: float) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(d_model=d_model, nhead=heads, dim_feedforward=2 * d_model, dropout=dropout,
                                      activation="gelu", batch_first=True, norm_first=True)


class SpikeFrontEnd(nn.Module):
    """(batch, time, neurons) z-scored spikes -> (batch, time, d_model) temporal features."""

    def __init__(self, n_neurons: int, d_model: int = 384, conv_channels: int = 128, heads: int = 8,
                 temporal_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        self.n_neurons = n_neurons
        self.convs = nn.ModuleList(nn.Conv1d(n_neurons, conv_channels, k, padding=k // 2) for k in KERNELS)
        self.project = nn.Sequential(nn.GELU(), nn.Linear(conv_channels * len(KERNELS), d_model), nn.LayerNorm(d_model))
        self.temporal = nn.TransformerEncoder(_layer(d_model, heads, dropout), temporal_layers, enable_nested_tensor=False)

    def forward(self, windows: torch.Tensor, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        if windows.shape[-1] != self.n_neurons:
            raise ValueError(f"the encoder was built for {self.n_neurons} neurons, got windows with {windows.shape[-1]}")
        if (neuron_mask is not None and neuron_mask.ndim == 1 and bool(neuron_mask.any())
                and bool(((neuron_mask == 0) | (neuron_mask == 1)).all())):
            # one 0/1 mask for the whole batch: convolve the kept neurons only (the zeroed ones add nothing),
            # so a query of 10 neurons costs a 10-neuron convolution
            keep = torch.nonzero(neuron_mask, as_tuple=True)[0]
            x = windows[..., keep].transpose(1, 2)
            x = torch.cat([nn.functional.conv1d(x, conv.weight[:, keep], conv.bias, padding=conv.padding)
                           for conv in self.convs], dim=1).transpose(1, 2)
            return self.temporal(self.project(x))
        if neuron_mask is not None:
            mask = neuron_mask.to(windows.dtype)
            windows = windows * (mask[:, None, :] if mask.ndim == 2 else mask)
        x = windows.transpose(1, 2)                                        # (batch, neurons, time)
        x = torch.cat([conv(x) for conv in self.convs], dim=1).transpose(1, 2)
        return self.temporal(self.project(x))


class NeurratorEncoder(nn.Module):
    """Spike window -> (batch, n_patches, patch_dim): the grid the backend's vision tower would produce."""

    def __init__(self, n_neurons: int, n_patches: int, patch_dim: int, d_model: int = 384, conv_channels: int = 128,
                 heads: int = 8, temporal_layers: int = 2, patch_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.n_neurons, self.n_patches, self.patch_dim = n_neurons, n_patches, patch_dim
        self.front = SpikeFrontEnd(n_neurons, d_model, conv_channels, heads, temporal_layers, dropout)
        self.queries = nn.Parameter(torch.randn(n_patches, d_model) * 0.02)
        self.cross = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.cross_norm = nn.LayerNorm(d_model)
        self.patches = nn.TransformerEncoder(_layer(d_model, heads, dropout), patch_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, patch_dim))

    def forward(self, windows: torch.Tensor, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``windows``: (batch, time, neurons) z-scored; ``neuron_mask``: (neurons,) or (batch, neurons) of 0/1."""
        memory = self.front(windows, neuron_mask)                          # (batch, time, d_model)
        queries = self.queries.expand(len(windows), -1, -1)
        attended, _ = self.cross(queries, memory, memory, need_weights=False)
        return self.head(self.patches(self.cross_norm(queries + attended)))


class RetrievalEncoder(nn.Module):
    """Spike window -> one vector (``out_dim``): an embedding (InfoNCE) or logits over training images."""

    def __init__(self, n_neurons: int, out_dim: int, d_model: int = 384, conv_channels: int = 128, heads: int = 8,
                 temporal_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.n_neurons, self.out_dim = n_neurons, out_dim
        self.front = SpikeFrontEnd(n_neurons, d_model, conv_channels, heads, temporal_layers, dropout)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Dropout(dropout), nn.Linear(d_model, out_dim))

    def forward(self, windows: torch.Tensor, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.front(windows, neuron_mask).mean(1))


class MLPPatchEncoder(nn.Module):
    """The paper's "MLP-Patches" baseline: the flattened window -> one hidden layer -> the patch grid.

    No convolution, attention or patch queries: what the encoder's architecture adds is measured against it
    (chapter 08). ``neuron_mask`` zeroes the neurons left out, as in :class:`NeurratorEncoder`."""

    def __init__(self, n_neurons: int, n_patches: int, patch_dim: int, window: int, hidden: int = 768,
                 dropout: float = 0.2):
        super().__init__()
        self.n_neurons, self.n_patches, self.patch_dim, self.window = n_neurons, n_patches, patch_dim, window
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(window * n_neurons, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_patches * patch_dim))

    def forward(self, windows: torch.Tensor, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        if windows.shape[1:] != (self.window, self.n_neurons):
            raise ValueError(f"the MLP was built for windows of {self.window} bins x {self.n_neurons} neurons, "
                             f"got {tuple(windows.shape[1:])}")
        if neuron_mask is not None:
            mask = neuron_mask.to(windows.dtype)
            windows = windows * (mask[:, None, :] if mask.ndim == 2 else mask)
        return self.net(windows).view(len(windows), self.n_patches, self.patch_dim)


def patch_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * MSE + 0.5 * (1 - cosine), per patch, averaged."""
    mse = torch.mean((predicted - target) ** 2)
    cosine = torch.nn.functional.cosine_similarity(predicted, target, dim=-1, eps=1e-8).mean()
    return 0.5 * mse + 0.5 * (1 - cosine)


def info_nce_loss(embedding: torch.Tensor, candidates: torch.Tensor, labels: torch.Tensor,
                  temperature: float = 0.07) -> torch.Tensor:
    """Cross-entropy of cosine/temperature over ``candidates`` (frames x dim); ``labels`` index the true frame.

    Candidates are every training frame's embedding, not the other items of the batch: a movie batch
    holds several windows of the same frame, which in-batch negatives would count as wrong."""
    logits = nn.functional.normalize(embedding, dim=-1) @ nn.functional.normalize(candidates, dim=-1).T
    return nn.functional.cross_entropy(logits / temperature, labels)
