"""The planted neural codes of the demo world.

Every simulated unit has one documented code, computed from the stimulus pixels (or its
provenance), never from the decoding targets:

============  =====================================================================================
code          drive of the unit's firing rate
============  =====================================================================================
lgd_dog       LGd: centre–surround (difference of Gaussians) luminance contrast at its receptive
              field, ON or OFF; fastest latency
v1_energy     V1 (VISp): oriented-edge energy (quadrature Gabor pair) at its receptive field, at a
              preferred orientation and spatial frequency
hva_midlevel  higher visual areas: a sparse readout of mid-level deep-net features (an intermediate
              EfficientNet-Lite0 stage, 14 x 14 x 80, *not* the final 7 x 7 x 1280 target grid) at
              its receptive field
hpc_drift     hippocampus (CA1, CA3, DG): no stimulus-locked drive, a slow random drift only
pv_contrast   PV interneurons: local RMS contrast at the receptive field
sst_vehicle   SST interneurons: the planted semantic concept "a vehicle is on screen", taken from the
              stimulus provenance (the clip or photograph shows bicycles, cars, a motorcycle ...)
vip_luminance VIP interneurons: global luminance (lighting) of the frame
============  =====================================================================================

Drives are z-scored per unit over all frames, passed through an exponential nonlinearity around
the unit's baseline rate (with a gain per unit family, calibrated to published values:
:data:`neurrator.world.population.GAIN_RANGE`), and smoothed in time; trial-to-trial variability and Poisson spiking are
added by :mod:`neurrator.world.simulate`.

The same seed gives the same spikes on any x86-64 machine. Matrix products, FFTs and the
EfficientNet stage run on kernels that each processor (and thread count) picks for itself, so
their last bits differ between machines. Here they run in float64, whose differences (about
1e-15) are then rounded away: mid-level features are stored as float16 and the z-scored drives
are rounded to :data:`DRIVE_STEP` (:func:`quantize_drive`) before anything random depends on
them. A rounding can still flip only if a value lies within ~1e-15 of a rounding boundary, about
one chance in 10^4 per world; ``tests/test_world_reproducible.py`` checks it under other kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

#: working resolution of the low-level filters (the 304 x 608 frames downsampled 4x)
WORK_SHAPE = (76, 152)
#: degrees of visual angle per working pixel (Allen monitor: ~120 degrees across 1920 px; 608 px frames upsampled)
DEG_PER_PIXEL = 120.0 / WORK_SHAPE[1]
#: resolution of z-scored drives (in units of a unit's drive s.d.): rounding away machine-dependent last bits
DRIVE_STEP = 2.0**-10
#: frames filtered at a time (bounds the FFT buffers: ~50 MB per 128 frames in complex128)
FILTER_CHUNK = 128

CODES = ("lgd_dog", "v1_energy", "hva_midlevel", "hpc_drift", "pv_contrast", "sst_vehicle", "vip_luminance")
CELL_TYPE_CODE = {"PV": "pv_contrast", "SST": "sst_vehicle", "VIP": "vip_luminance"}
REGION_CODE = {"LGd": "lgd_dog", "VISp": "v1_energy", "VISl": "hva_midlevel", "VISal": "hva_midlevel",
               "VISrl": "hva_midlevel", "VISam": "hva_midlevel", "VISpm": "hva_midlevel", "LP": "hva_midlevel",
               "CA1": "hpc_drift", "CA3": "hpc_drift", "DG": "hpc_drift", "APN": "hpc_drift"}
#: response latency range (ms) per code: LGd fastest, then V1, then higher areas
LATENCY_MS = {"lgd_dog": (30, 40), "v1_energy": (40, 55), "hva_midlevel": (55, 85), "hpc_drift": (0, 0),
              "pv_contrast": (38, 50), "sst_vehicle": (60, 90), "vip_luminance": (45, 65)}
#: receptive-field size (Gaussian sigma, degrees) per code
RF_SIGMA_DEG = {"lgd_dog": (1.5, 3.0), "v1_energy": (2.0, 4.0), "hva_midlevel": (6.0, 12.0), "hpc_drift": (0, 0),
                "pv_contrast": (3.0, 6.0), "sst_vehicle": (0, 0), "vip_luminance": (0, 0)}


def working_luminance(frames: np.ndarray) -> np.ndarray:
    """float32 (N, 76, 152) luminance in [0, 1], 4x4 block-averaged from (N, 304, 608) uint8 frames."""
    n, h, w = frames.shape
    fh, fw = h // WORK_SHAPE[0], w // WORK_SHAPE[1]
    blocks = frames[:, : WORK_SHAPE[0] * fh, : WORK_SHAPE[1] * fw].reshape(n, WORK_SHAPE[0], fh, WORK_SHAPE[1], fw)
    return (blocks.mean(axis=(2, 4)) / 255.0).astype(np.float32)


def quantize_drive(z: np.ndarray) -> np.ndarray:
    """Round z-scored drives to multiples of :data:`DRIVE_STEP` (float64), so that machine-dependent
    last bits of the float64 computation cannot change a rate or a random draw."""
    return np.round(np.asarray(z, np.float64) / DRIVE_STEP) * DRIVE_STEP


def _gaussian_weights(centres_xy: np.ndarray, sigma_px: np.ndarray, shape: tuple[int, int],
                      spacing: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """(units, H*W) normalised float64 Gaussian pooling weights centred on each unit's receptive field,
    on a grid of ``shape`` whose rows and columns lie ``spacing`` (y, x) working pixels apart."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    ys, xs = ys * spacing[0], xs * spacing[1]
    dx = xs[None] - centres_xy[:, 0, None, None]
    dy = ys[None] - centres_xy[:, 1, None, None]
    w = np.exp(-(dx**2 + dy**2) / (2 * np.maximum(sigma_px, 0.5)[:, None, None] ** 2))
    w /= w.sum(axis=(1, 2), keepdims=True)
    return w.reshape(len(centres_xy), -1)


class FrameSpectra:
    """The 2-D FFT (complex128) of every frame, computed once and reused for every filter (zero padding ``pad`` pixels)."""

    def __init__(self, lum: np.ndarray, pad: int = 64):
        from scipy import fft

        self.shape = lum.shape[1:]
        self.size = (self.shape[0] + pad, self.shape[1] + pad)
        self.spectra = fft.fft2(lum.astype(np.complex128), s=self.size, workers=-1)

    def filter(self, kernel: np.ndarray) -> np.ndarray:
        """Same-size convolution of every frame with ``kernel`` (real or complex), as complex128."""
        from scipy import fft

        kh, kw = kernel.shape
        if kh > self.size[0] - self.shape[0] or kw > self.size[1] - self.shape[1]:
            raise ValueError(f"kernel {kernel.shape} needs more padding than {self.size}")
        full = fft.ifft2(self.spectra * fft.fft2(kernel.astype(np.complex128), s=self.size)[None], workers=-1)
        return full[:, kh // 2: kh // 2 + self.shape[0], kw // 2: kw // 2 + self.shape[1]]


def dog_kernel(sigma_px: float) -> np.ndarray:
    half = int(np.ceil(2.5 * 3 * sigma_px))
    ys, xs = np.mgrid[-half:half + 1, -half:half + 1]
    r2 = xs**2 + ys**2
    centre = np.exp(-r2 / (2 * sigma_px**2)) / (2 * np.pi * sigma_px**2)
    surround = np.exp(-r2 / (2 * (3 * sigma_px) ** 2)) / (2 * np.pi * (3 * sigma_px) ** 2)
    return centre - surround


def gabor_quadrature(theta: float, wavelength_px: float) -> np.ndarray:
    """Complex Gabor (even + i odd): the modulus of its response is the oriented-edge energy."""
    even, odd = gabor_pair(theta, wavelength_px)
    return even + 1j * odd


def gabor_pair(theta: float, wavelength_px: float) -> tuple[np.ndarray, np.ndarray]:
    sigma = 0.5 * wavelength_px
    half = int(np.ceil(3 * sigma))
    ys, xs = np.mgrid[-half:half + 1, -half:half + 1]
    xr = xs * np.cos(theta) + ys * np.sin(theta)
    envelope = np.exp(-(xs**2 + ys**2) / (2 * sigma**2))
    even = envelope * np.cos(2 * np.pi * xr / wavelength_px)
    odd = envelope * np.sin(2 * np.pi * xr / wavelength_px)
    even -= even.mean()
    return even / np.abs(even).sum(), odd / np.abs(odd).sum()


class ShiftedDepthwiseConv(torch.nn.Module):
    """A depthwise (groups = channels) convolution as k x k shifted multiply-adds.

    Same result as the wrapped ``Conv2dStaticSamePadding``; torch runs float64 grouped convolutions
    one group at a time, about 10x slower than this.
    """

    def __init__(self, conv: torch.nn.Module):
        super().__init__()
        if conv.groups != conv.in_channels or conv.in_channels != conv.out_channels or tuple(conv.dilation) != (1, 1):
            raise ValueError(f"not a depthwise convolution without dilation: {conv}")
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        x = conv.static_padding(x)
        if any(conv.padding):
            x = torch.nn.functional.pad(x, (conv.padding[1], conv.padding[1], conv.padding[0], conv.padding[0]))
        (kh, kw), (sh, sw) = conv.kernel_size, conv.stride
        n, c, h, w = x.shape
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        out = torch.zeros(n, c, oh, ow, dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                out.addcmul_(x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw],
                             conv.weight[:, 0, i, j].view(1, c, 1, 1))
        return out if conv.bias is None else out + conv.bias.view(1, c, 1, 1)


def midlevel_features(frames: np.ndarray, chunk: int = 1) -> np.ndarray:
    """float16 (N, 80, 14, 14): the output of EfficientNet-Lite0's 14 x 14 x 80 stage (blocks 0-7),
    computed in float64 so that the float16 result does not depend on the machine's kernels.

    One frame at a time: its float64 activations stay in the CPU cache, about 3x faster than 32 frames
    a pass (``benchmarks/vision_chunks.py``); every frame's result is independent of ``chunk``."""
    from neurrator.vlm.efficientnet import load_efficientnet_lite0, preprocess

    model = load_efficientnet_lite0().double()
    for block in model._blocks[:8]:
        block._depthwise_conv = ShiftedDepthwiseConv(block._depthwise_conv)
    out = []
    with torch.inference_mode():
        for start in range(0, len(frames), chunk):
            x = preprocess(frames[start:start + chunk], dtype=torch.float64)
            x = model._swish(model._bn0(model._conv_stem(x)))
            for block in model._blocks[:8]:
                x = block(x)
            out.append(x.numpy().astype(np.float16))
    return np.concatenate(out)


@dataclass
class StimulusDrives:
    """Per-stimulus inputs of the codes: working luminance, mid-level features and provenance tags."""

    luminance: np.ndarray          # (N, 76, 152) float32
    midlevel: np.ndarray           # (N, 80, 14, 14) float16
    vehicle: np.ndarray            # (N,) bool
    mean_luminance: np.ndarray     # (N,) float64 in [0, 1]

    @classmethod
    def from_frames(cls, frames: np.ndarray, vehicle: np.ndarray) -> "StimulusDrives":
        lum = working_luminance(frames)
        return cls(lum, midlevel_features(frames), np.asarray(vehicle, bool), lum.mean(axis=(1, 2), dtype=np.float64))


def unit_drives(units: pd.DataFrame, drives: StimulusDrives, chunk: int = FILTER_CHUNK) -> np.ndarray:
    """Raw float64 (frames, units) drive of every unit for one stimulus, following each unit's ``code``.

    ``units`` needs: code, rf_x, rf_y (working pixels), rf_sigma_px, on_centre (LGd), orientation,
    wavelength_px (V1), readout_channels / readout_weights (higher areas). Frames are filtered
    ``chunk`` at a time; every frame's result is independent of the chunking.
    """
    n = len(drives.luminance)
    out = np.zeros((n, len(units)), dtype=np.float64)
    pools = _receptive_field_pools(units, drives.midlevel.shape[-2:])
    for start in range(0, n, chunk):
        frames = slice(start, min(start + chunk, n))
        out[frames] = _chunk_drives(units, pools, drives.luminance[frames], drives.midlevel[frames])
    codes = units["code"].to_numpy()
    idx = np.flatnonzero(codes == "sst_vehicle")
    out[:, idx] = drives.vehicle.astype(np.float64)[:, None]
    idx = np.flatnonzero(codes == "vip_luminance")
    out[:, idx] = drives.mean_luminance.astype(np.float64)[:, None]
    return out  # hpc_drift columns stay 0: no stimulus drive


def _receptive_field_pools(units: pd.DataFrame, midlevel_shape: tuple[int, int]) -> dict:
    """Per code: (unit columns, grouping keys, Gaussian pooling weights) that do not depend on the frames."""
    codes = units["code"].to_numpy()
    xy = units[["rf_x", "rf_y"]].to_numpy()
    sigma = units["rf_sigma_px"].to_numpy()
    pools = {}
    idx = np.flatnonzero(codes == "lgd_dog")
    pools["lgd_dog"] = []
    for s in np.unique(sigma[idx]):
        sel = idx[sigma[idx] == s]
        pools["lgd_dog"].append((sel, s, _gaussian_weights(xy[sel], np.full(len(sel), 0.75), WORK_SHAPE)))
    idx = np.flatnonzero(codes == "v1_energy")
    keys = units.iloc[idx][["orientation", "wavelength_px"]].drop_duplicates().to_numpy()
    pools["v1_energy"] = []
    for theta, wavelength in keys:
        sel = idx[(units["orientation"].to_numpy()[idx] == theta) & (units["wavelength_px"].to_numpy()[idx] == wavelength)]
        pools["v1_energy"].append((sel, (theta, wavelength), _gaussian_weights(xy[sel], sigma[sel] * 0.5, WORK_SHAPE)))
    idx = np.flatnonzero(codes == "pv_contrast")
    pools["pv_contrast"] = (idx, _gaussian_weights(xy[idx], sigma[idx], WORK_SHAPE))
    idx = np.flatnonzero(codes == "hva_midlevel")
    spacing = (WORK_SHAPE[0] / midlevel_shape[0], WORK_SHAPE[1] / midlevel_shape[1])  # each axis its own scale
    pools["hva_midlevel"] = (idx, _gaussian_weights(xy[idx], sigma[idx], midlevel_shape, spacing))
    return pools


def _chunk_drives(units: pd.DataFrame, pools: dict, luminance: np.ndarray, midlevel: np.ndarray) -> np.ndarray:
    """float64 (frames, units) drives of the filter-based codes for a chunk of frames."""
    n = len(luminance)
    out = np.zeros((n, len(units)), dtype=np.float64)
    flat = luminance.reshape(n, -1).astype(np.float64)
    needs_filters = pools["lgd_dog"] or pools["v1_energy"]
    spectra = FrameSpectra(luminance) if needs_filters else None

    for sel, sigma, centre in pools["lgd_dog"]:
        response = spectra.filter(dog_kernel(sigma)).real.reshape(n, -1)
        sign = np.where(units["on_centre"].to_numpy()[sel], 1.0, -1.0)
        out[:, sel] = np.maximum(response @ centre.T * sign, 0)

    for sel, (theta, wavelength), pool in pools["v1_energy"]:
        energy = np.abs(spectra.filter(gabor_quadrature(theta, wavelength))).reshape(n, -1)
        out[:, sel] = energy @ pool.T

    idx, pool = pools["pv_contrast"]
    if len(idx):
        mean = flat @ pool.T
        out[:, idx] = np.sqrt(np.maximum((flat**2) @ pool.T - mean**2, 0))

    idx, pool = pools["hva_midlevel"]
    if len(idx):
        feats = midlevel.astype(np.float64).reshape(n, midlevel.shape[1], -1)   # (frames, channels, positions)
        pooled = np.matmul(feats, pool.T).transpose(0, 2, 1)                  # (frames, units, channels)
        weights = np.zeros((len(idx), midlevel.shape[1]), np.float64)
        for row, (channels, w) in enumerate(zip(units["readout_channels"].to_numpy()[idx], units["readout_weights"].to_numpy()[idx])):
            weights[row, list(channels)] = w
        out[:, idx] = np.maximum((pooled * weights[None]).sum(-1), 0)
    return out
