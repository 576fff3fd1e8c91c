"""Chapter 02's figures: the stimulus frames, the structure of the target grids, frames with their reference
captions (an HTML table), and what the patch-target store costs. Each function draws one figure and returns it."""

from __future__ import annotations

import base64
import html
import io
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image


def stimulus_frames(frames: Mapping[str, np.ndarray], per_stimulus: int = 6, columns: int = 3):
    """Evenly spaced frames of each stimulus: a block of ``columns`` frames per row for each stimulus, one block
    under the other, at the column's width."""
    rows = -(-per_stimulus // columns)
    fig = plt.figure(figsize=(7.0, len(frames) * (rows * 1.45 + 0.45)), layout="constrained")
    for block, (name, stack) in zip(np.atleast_1d(fig.subfigures(len(frames), 1)), frames.items()):
        axes = np.atleast_1d(block.subplots(rows, columns)).ravel()
        for ax, index in zip(axes, np.linspace(0, len(stack) - 1, per_stimulus).astype(int)):
            ax.imshow(stack[index], cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"frame {index}", fontsize=9)
        for ax in axes:
            ax.axis("off")
        block.suptitle(name, fontweight="bold")
    return fig


def grid_structure(scenes: np.ndarray, scene_grids: np.ndarray, movie_grids: np.ndarray):
    """Four scenes over their patch-vector norms (top), and the cosine between pooled movie grids (bottom)."""
    energy = np.linalg.norm(scene_grids, axis=-1)                       # (scenes, patches)
    side = int(np.sqrt(scene_grids.shape[1]))
    pooled = movie_grids.mean(1)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    fig = plt.figure(figsize=(7.0, 7.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.35])
    axes = top.subplots(2, 4, gridspec_kw={"height_ratios": [1, 1.6]})
    for col, index in enumerate(np.linspace(0, len(scenes) - 1, 4).astype(int)):
        axes[0, col].imshow(scenes[index], cmap="gray")
        axes[0, col].set_title(f"scene {index}", fontsize=10)
        axes[1, col].imshow(energy[index].reshape(side, side), cmap="magma")
    for ax in axes.flat:
        ax.axis("off")
    top.suptitle("Four scenes and the norms of their grids' patch vectors")
    ax = bottom.subplots()
    im = ax.imshow(pooled @ pooled.T, cmap="viridis", vmin=0, vmax=1)
    ax.set(title="cosine between pooled grids of movie frames", xlabel="frame (every 5th)", ylabel="frame (every 5th)")
    bottom.colorbar(im, ax=ax, fraction=0.046)
    return fig


def captioned_frames(stack: np.ndarray, captions: list[str], name: str, shown: int = 12, columns: int = 3,
                     thumbnail_width: int = 200):
    """Evenly spaced frames of one stimulus with their captions, as an HTML table (thumbnails and text), so the
    sentences read at the text's own size."""
    from IPython.display import HTML

    cells = []
    for index in np.linspace(0, len(stack) - 1, shown).astype(int):
        image = Image.fromarray(np.asarray(stack[index], dtype=np.uint8))
        image = image.resize((thumbnail_width, round(thumbnail_width * image.height / image.width)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = base64.b64encode(buffer.getvalue()).decode()
        cells.append(f'<td style="vertical-align:top;text-align:left;width:{100 // columns}%">'
                     f'<img src="data:image/png;base64,{data}" alt="{name} frame {index}" style="width:100%"><br>'
                     f"<b>frame {index}</b>: {html.escape(captions[index])}</td>")
    rows = "".join("<tr>" + "".join(cells[i:i + columns]) + "</tr>" for i in range(0, len(cells), columns))
    caption = f"<caption>{html.escape(name)} frames with their reference captions</caption>"
    return HTML(f'<table style="table-layout:fixed;width:100%">{caption}{rows}</table>')


def storage_cost(cost: pd.DataFrame):
    """The float32 table in RAM against the float16 store on disk (:func:`neurrator.vlm.targets.storage_cost`)."""
    ax = cost[["float32 table in RAM (GB)", "float16 store on disk (GB)"]].plot.barh(figsize=(6.4, 3.0))
    ax.set(xlabel="GB", ylabel="")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    ax.set_title("Target storage: reference float32 table vs float16 store")
    return ax.figure
