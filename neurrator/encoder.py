"""NeurratorEncoder: a window of spikes from any set of neurons -> the VLM's patch grid.

Architecture (DESIGN.md, as the paper): window (20 bins x N neurons) -> multi-scale 1-D convolution
over time (kernels 3, 7, 15; 128 channels each) -> linear + LayerNorm to d_model 384 -> 2-layer
transformer over time (8 heads, FF 2x) -> learned patch queries cross-attend to it -> 2-layer
self-attention among patches -> linear to the patch dimension. Dropout 0.2, GELU.

Querying a subset of neurons: inputs are z-scored, so a silent-at-mean neuron is 0; ``neuron_mask``
zeroes the neurons left out, exactly what 10 % neuron dropout does during training. A masked neuron
has no influence at all on the output (tested), so the same trained encoder answers for any subset.
"""

from __future__ import annotations

import torch
from torch import nn

KERNELS = (3, 7, 15)


class NeurratorEncoder(nn.Module):
    def __init__(self, n_neurons: int, n_patches: int, patch_dim: int, d_model: int = 384, conv_channels: int = 128,
                 heads: int = 8, temporal_layers: int = 2, patch_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        self.n_neurons, self.n_patches, self.patch_dim = n_neurons, n_patches, patch_dim
        self.convs = nn.ModuleList(nn.Conv1d(n_neurons, conv_channels, k, padding=k // 2) for k in KERNELS)
        self.project = nn.Sequential(nn.GELU(), nn.Linear(conv_channels * len(KERNELS), d_model), nn.LayerNorm(d_model))
        layer = dict(d_model=d_model, nhead=heads, dim_feedforward=2 * d_model, dropout=dropout, activation="gelu",
                     batch_first=True, norm_first=True)
        self.temporal = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), temporal_layers, enable_nested_tensor=False)
        self.queries = nn.Parameter(torch.randn(n_patches, d_model) * 0.02)
        self.cross = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.cross_norm = nn.LayerNorm(d_model)
        self.patches = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), patch_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, patch_dim))

    def forward(self, windows: torch.Tensor, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``windows``: (batch, time, neurons) z-scored; ``neuron_mask``: (neurons,) or (batch, neurons) of 0/1.
        Returns (batch, patches, patch_dim)."""
        if windows.shape[-1] != self.n_neurons:
            raise ValueError(f"the encoder was built for {self.n_neurons} neurons, got windows with {windows.shape[-1]}")
        if neuron_mask is not None:
            mask = neuron_mask.to(windows.dtype)
            windows = windows * (mask[:, None, :] if mask.ndim == 2 else mask)
        x = windows.transpose(1, 2)                                        # (batch, neurons, time)
        x = torch.cat([conv(x) for conv in self.convs], dim=1).transpose(1, 2)
        memory = self.temporal(self.project(x))                            # (batch, time, d_model)
        queries = self.queries.expand(len(windows), -1, -1)
        attended, _ = self.cross(queries, memory, memory, need_weights=False)
        return self.head(self.patches(self.cross_norm(queries + attended)))


def patch_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * MSE + 0.5 * (1 - cosine), per patch, averaged."""
    mse = torch.mean((predicted - target) ** 2)
    cosine = torch.nn.functional.cosine_similarity(predicted, target, dim=-1, eps=1e-8).mean()
    return 0.5 * mse + 0.5 * (1 - cosine)
