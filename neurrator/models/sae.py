"""A TopK sparse autoencoder over patch tokens (Gao et al. 2024, "Scaling and evaluating sparse autoencoders").

Why our own and not a library: ``overcomplete`` 0.3.0 (the dictionary-learning toolbox for vision
models) imports torchvision and ``matplotlib.cm.get_cmap`` (removed in matplotlib 3.9) in its package
``__init__``, so it cannot import in this project's environment; the other SAE libraries cannot be
installed beside allensdk. This module follows the paper's recipe and is cross-checked against
``overcomplete.sae.TopKSAE`` wherever that imports (``tests/test_sae.py`` skips otherwise;
``benchmarks/sae_throughput.py`` gives the side environment where it does):

- ``z = TopK(ReLU(W_enc (x - b_pre) + b_enc))``, ``x_hat = W_dec z + b_pre``;
- ``b_pre`` starts at the data mean, ``W_enc`` starts as ``W_dec^T`` (tied initialisation);
- decoder atoms (rows of ``W_dec``) have unit norm; after each step they are renormalised and the
  gradient component parallel to each atom is removed first;
- loss: normalised MSE plus ``aux_weight`` times the AuxK loss, which reconstructs the residual
  from the ``aux_k`` largest pre-activations of latents that have not fired for ``dead_after`` tokens;
- Adam (``eps`` 6.25e-10 as in the paper), inputs scaled so that the mean squared norm equals the
  dimension (one scalar, stored with the model).

Facade in the style of CEBRA: :class:`SparseAutoencoder` with ``fit`` / ``transform`` /
``reconstruct`` / ``save`` / ``load``. Every random draw comes from a generator seeded by ``seed``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from neurrator.artifacts import ArtifactError, array_digest, check_artifact, write_artifact

MADE_BY = "07_sae_concepts"


@dataclass(frozen=True)
class SAEConfig:
    """Dictionary size, sparsity and optimisation of a TopK SAE."""

    n_features: int = 4096
    k: int = 32
    aux_k: int = 256            # latents used by the AuxK loss (Gao et al.: d_model / 2)
    aux_weight: float = 1 / 32  # weight of the AuxK loss
    dead_after: int = 100_000   # tokens without firing before a latent counts as dead
    lr: float = 2e-4
    batch_size: int = 1024
    epochs: int = 10

    def __post_init__(self):
        if not 0 < self.k <= self.n_features:
            raise ValueError(f"k must be in 1..n_features ({self.n_features}), got {self.k}")
        if self.aux_k < 0 or self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ValueError(f"invalid SAE optimisation settings: {self}")


class TopKSAE(nn.Module):
    """The network: encoder, TopK, unit-norm decoder atoms, shared pre-encoder/decoder bias."""

    def __init__(self, d_input: int, n_features: int, k: int):
        super().__init__()
        self.d_input, self.n_features, self.k = int(d_input), int(n_features), int(k)
        self.b_pre = nn.Parameter(torch.zeros(d_input))
        self.W_enc = nn.Parameter(torch.empty(n_features, d_input))
        self.b_enc = nn.Parameter(torch.zeros(n_features))
        self.W_dec = nn.Parameter(torch.empty(n_features, d_input))

    def initialise(self, mean: torch.Tensor, generator: torch.Generator) -> None:
        """Random unit atoms, tied encoder, ``b_pre`` at the data mean."""
        with torch.no_grad():
            atoms = torch.randn(self.n_features, self.d_input, generator=generator)
            self.W_dec.copy_(atoms / atoms.norm(dim=1, keepdim=True))
            self.W_enc.copy_(self.W_dec)
            self.b_enc.zero_()
            self.b_pre.copy_(mean)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - self.b_pre) @ self.W_enc.T + self.b_enc)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Sparse codes: the ``k`` largest (non-negative) pre-activations of each row, zeros elsewhere."""
        return topk_codes(self.pre_activations(x), self.k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_dec + self.b_pre

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pre = self.pre_activations(x)
        z = topk_codes(pre, self.k)
        return pre, z, self.decode(z)

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Project out the component of each atom's gradient along the atom (keeps norms at 1)."""
        if self.W_dec.grad is not None:
            along = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
            self.W_dec.grad.sub_(along * self.W_dec)


def topk_codes(pre: torch.Tensor, k: int) -> torch.Tensor:
    top = torch.topk(pre, k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, top.values)


def normalised_mse(x: torch.Tensor, x_hat: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """MSE divided by the MSE of predicting the mean (``1 - R^2`` of the batch)."""
    return (x_hat - x).square().sum() / (x - mean).square().sum().clamp_min(1e-12)


def auxk_loss(x: torch.Tensor, x_hat: torch.Tensor, pre: torch.Tensor, dead: torch.Tensor,
              W_dec: torch.Tensor, aux_k: int) -> torch.Tensor:
    """Reconstruct the residual ``x - x_hat`` from the top ``aux_k`` dead latents (zero if none are dead)."""
    n_dead = int(dead.sum())
    if aux_k == 0 or n_dead == 0:
        return x.new_zeros(())
    masked = torch.where(dead, pre, torch.zeros_like(pre))
    z_aux = topk_codes(masked, min(aux_k, n_dead))
    residual = (x - x_hat).detach()
    return normalised_mse(residual, z_aux @ W_dec, residual.mean(0))


def reconstruction_r2(x: np.ndarray | torch.Tensor, x_hat: np.ndarray | torch.Tensor) -> float:
    """Fraction of variance explained, pooled over all dimensions: ``1 - SSE / SS(x - mean)``."""
    x, x_hat = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(x_hat, dtype=torch.float64)
    return float(1 - (x - x_hat).square().sum() / (x - x.mean(0)).square().sum())


class SparseAutoencoder:
    """Fit a :class:`TopKSAE` on token rows ``(n_tokens, d)``; encode, reconstruct, save, load."""

    def __init__(self, config: SAEConfig = SAEConfig(), seed: int = 0, device: str = "cpu", progress: bool = True):
        self.config, self.seed, self.device, self.progress = config, int(seed), torch.device(device), progress

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this SparseAutoencoder is not fitted: call fit(tokens) or SparseAutoencoder.load(path)")

    def _scaled(self, tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(tokens), dtype=torch.float32)
        if x.ndim != 2:
            raise ValueError(f"tokens must be a 2-D array (n_tokens, dim), got shape {tuple(x.shape)}")
        if hasattr(self, "model_") and x.shape[1] != self.model_.d_input:
            raise ValueError(f"tokens have dimension {x.shape[1]}, this SAE was fitted on {self.model_.d_input}")
        if not torch.isfinite(x).all():
            raise ValueError("tokens contain NaN or infinite values")
        return x * self.scale_ if hasattr(self, "scale_") else x

    def fit(self, tokens: np.ndarray | torch.Tensor) -> "SparseAutoencoder":
        """Train from scratch; ``history_`` has one row per epoch (loss, R², dead fraction, tokens/s)."""
        cfg = self.config
        x = torch.as_tensor(np.asarray(tokens), dtype=torch.float32)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"tokens must be a 2-D array with at least 2 rows, got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("tokens contain NaN or infinite values")
        self.scale_ = float(np.sqrt(x.shape[1] / x.double().square().sum(1).mean().clamp_min(1e-24)))
        x = (x * self.scale_).to(self.device)
        generator = torch.Generator().manual_seed(self.seed)
        model = TopKSAE(x.shape[1], cfg.n_features, cfg.k)
        model.initialise(x.mean(0).cpu(), generator)
        model = model.to(self.device)
        optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=6.25e-10)
        since_fired = torch.zeros(cfg.n_features, dtype=torch.long, device=self.device)
        rows = []
        bar = tqdm(range(cfg.epochs), desc="SAE", unit="epoch", disable=not self.progress, mininterval=2.0)
        for epoch in bar:
            start, sums = time.perf_counter(), np.zeros(3)
            order = torch.randperm(len(x), generator=generator).to(self.device)
            for i in range(0, len(x), cfg.batch_size):
                batch = x[order[i:i + cfg.batch_size]]
                pre, z, x_hat = model(batch)
                dead = since_fired >= cfg.dead_after
                mse = normalised_mse(batch, x_hat, batch.mean(0))
                aux = auxk_loss(batch, x_hat, pre, dead, model.W_dec, cfg.aux_k)
                loss = mse + cfg.aux_weight * aux
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                model.remove_parallel_gradient()
                optimiser.step()
                model.normalise_decoder()
                fired = (z > 0).any(0)
                since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + len(batch))
                sums += [loss.item() * len(batch), mse.item() * len(batch), aux.item() * len(batch)]
            seconds = time.perf_counter() - start
            rows.append({"epoch": epoch + 1, "loss": sums[0] / len(x), "nmse": sums[1] / len(x),
                         "auxk": sums[2] / len(x), "dead_fraction": float((since_fired >= cfg.dead_after).float().mean()),
                         "tokens_per_s": len(x) / seconds})
            bar.set_postfix(nmse=f"{rows[-1]['nmse']:.3f}")
        self.model_ = model.eval()
        self.history_ = pd.DataFrame(rows)
        return self

    @torch.no_grad()
    def transform(self, tokens: np.ndarray | torch.Tensor, chunk: int = 8192) -> np.ndarray:
        """Sparse codes ``(n_tokens, n_features)`` in float32, computed ``chunk`` rows at a time."""
        self._check_fitted()
        x = self._scaled(tokens)
        return np.concatenate([self.model_.encode(x[i:i + chunk].to(self.device)).cpu().numpy()
                               for i in range(0, len(x), chunk)]) if len(x) else np.zeros((0, self.config.n_features), np.float32)

    @torch.no_grad()
    def reconstruct(self, tokens: np.ndarray | torch.Tensor, chunk: int = 8192) -> np.ndarray:
        """Reconstructions in the tokens' own units."""
        self._check_fitted()
        x = self._scaled(tokens)
        out = [self.model_(x[i:i + chunk].to(self.device))[2].cpu() for i in range(0, len(x), chunk)]
        return (torch.cat(out) / self.scale_).numpy() if out else np.zeros((0, self.model_.d_input), np.float32)

    def quality(self, tokens: np.ndarray | torch.Tensor) -> dict[str, float]:
        """Reconstruction R², fraction of features that never fire on ``tokens``, mean active features per token."""
        codes = self.transform(tokens)
        return {"r2": reconstruction_r2(tokens, self.reconstruct(tokens)),
                "dead_fraction": float((~(codes > 0).any(0)).mean()),
                "mean_active": float((codes > 0).sum(1).mean())}

    @property
    def dictionary(self) -> np.ndarray:
        """Decoder atoms ``(n_features, d)``, unit norm (in the scaled space)."""
        self._check_fitted()
        return self.model_.W_dec.detach().cpu().numpy()

    def save(self, path: str | os.PathLike, *, params: Mapping[str, Any] | None = None,
             inputs: Mapping[str, str | os.PathLike] | None = None) -> Path:
        """One ``.pt`` file (weights, config, scale, history), written atomically with a sidecar."""
        self._check_fitted()
        body = {"config": asdict(self.config), "seed": self.seed, "scale": self.scale_,
                "d_input": self.model_.d_input,
                "model": {k: v.cpu() for k, v in self.model_.state_dict().items()},
                "history": self.history_.to_dict(orient="list")}
        return write_artifact(path, lambda tmp: torch.save(body, tmp), made_by=MADE_BY,
                              params={**asdict(self.config), "seed": self.seed, **dict(params or {})}, inputs=inputs)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu",
             params: Mapping[str, Any] | None = None) -> "SparseAutoencoder":
        """A fitted SAE from :meth:`save` (a missing or mismatched file names the notebook that makes it)."""
        check_artifact(path, made_by=MADE_BY, params=params)
        body = torch.load(path, map_location="cpu", weights_only=True)
        sae = cls(SAEConfig(**body["config"]), seed=body["seed"], device=device, progress=False)
        model = TopKSAE(body["d_input"], sae.config.n_features, sae.config.k)
        model.load_state_dict(body["model"])
        sae.model_, sae.scale_ = model.to(sae.device).eval(), float(body["scale"])
        sae.history_ = pd.DataFrame(body["history"])
        return sae


def fit_or_load(tokens: np.ndarray, path: str | os.PathLike, config: SAEConfig, *, seed: int = 0, device: str = "cpu",
                retrain: bool = False, params: Mapping[str, Any] | None = None, progress: bool = True,
                given: str | os.PathLike | None = None) -> tuple[SparseAutoencoder, bool]:
    """``(sae, trained)``: the SAE at ``path`` when it was fitted with this config and seed on exactly these
    ``tokens`` (their content hash) and ``params``, else one fitted now and saved there.

    ``given``: an SAE saved elsewhere (e.g. on a GPU runner) on the same target space, used as it is instead (its
    own config; it must read tokens of this dimension)."""
    if given:
        sae = SparseAutoencoder.load(given, device=device)
        if sae.model_.d_input != np.shape(tokens)[1]:
            raise ValueError(f"the SAE at {given} reads {sae.model_.d_input}-d tokens; these targets are "
                             f"{np.shape(tokens)[1]}-d: pass an SAE trained on this target space")
        return sae, False
    key = {"tokens": array_digest(np.asarray(tokens)), "n_tokens": int(len(tokens)), **dict(params or {})}
    if not retrain:
        try:
            return SparseAutoencoder.load(path, device=device, params={**asdict(config), "seed": int(seed), **key}), False
        except ArtifactError:
            pass
    sae = SparseAutoencoder(config, seed=seed, device=device, progress=progress).fit(tokens)
    sae.save(path, params=key)
    return SparseAutoencoder.load(path, device=device), True
