"""Where computation runs: the device choice that models, narrators and notebooks share (the ground floor:
it imports nothing of neurrator)."""

from __future__ import annotations


def compute_device(prefer: str | None = None) -> str:
    """``"cuda"`` when a GPU is usable (or requested), else ``"cpu"``; a request for a missing GPU is an error."""
    import torch

    if prefer not in (None, "auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {prefer!r}")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was requested but torch sees no GPU; use device='auto' or 'cpu'")
    if prefer in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return prefer
