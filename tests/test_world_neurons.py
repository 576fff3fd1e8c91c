"""The planted codes of :mod:`neurrator.world.neurons` on tiny hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurrator.world.neurons import WORK_SHAPE, StimulusDrives, unit_drives

MIDLEVEL = (80, 14, 14)


def hva_units(xy, sigma_px=8.0) -> pd.DataFrame:
    """Higher-area units at receptive-field centres ``xy`` (working pixels), reading channel 0 only,
    plus a last PV unit (the pools need one unit of that code)."""
    xy = np.vstack([np.asarray(xy, float), [WORK_SHAPE[1] / 2, WORK_SHAPE[0] / 2]])
    return pd.DataFrame({"code": ["hva_midlevel"] * (len(xy) - 1) + ["pv_contrast"], "rf_x": xy[:, 0], "rf_y": xy[:, 1], "rf_sigma_px": sigma_px,
                         "on_centre": True, "orientation": 0.0, "wavelength_px": 6.0,
                         "readout_channels": [(0,)] * len(xy), "readout_weights": [(1.0,)] * len(xy)})


def drives_from_midlevel(midlevel: np.ndarray) -> StimulusDrives:
    n = len(midlevel)
    return StimulusDrives(np.zeros((n, *WORK_SHAPE), np.float32), midlevel.astype(np.float16),
                          np.zeros(n, bool), np.zeros(n))


def test_hva_bottom_half_drive_reaches_bottom_half_receptive_fields():
    """A feature that exists only in the bottom half of the frame drives units whose receptive
    fields lie there, and not units in the top half."""
    midlevel = np.zeros((1, *MIDLEVEL))
    midlevel[0, 0, 7:] = 1.0                                   # bottom half of the 14 rows
    top, bottom = 0.2 * WORK_SHAPE[0], 0.8 * WORK_SHAPE[0]
    units = hva_units([(40, top), (110, top), (40, bottom), (110, bottom)])
    out = unit_drives(units, drives_from_midlevel(midlevel))[0, :-1]
    assert np.all(out[2:] > 0.9), out
    assert np.all(out[:2] < 0.1), out


def test_hva_unit_at_a_feature_cell_responds_most_to_it():
    """Each axis of the frame maps onto the 14 x 14 feature map with its own scale: a drive in one
    feature-map cell is read best by the unit whose receptive field sits at that cell's place."""
    rows, cols = MIDLEVEL[1:]
    xs = np.linspace(4, WORK_SHAPE[1] - 5, 9)
    ys = np.linspace(4, WORK_SHAPE[0] - 5, 9)
    grid = np.array([(x, y) for y in ys for x in xs])
    units = hva_units(grid)
    for row, col in [(11, 3), (2, 10), (9, 12)]:
        midlevel = np.zeros((1, *MIDLEVEL))
        midlevel[0, 0, row, col] = 1.0
        out = unit_drives(units, drives_from_midlevel(midlevel))[0, :-1]
        best_x, best_y = grid[np.argmax(out)]
        # the cell's place in working pixels, to within half a grid step
        assert abs(best_x - col * WORK_SHAPE[1] / cols) <= (xs[1] - xs[0]) / 2 + 1e-9, (row, col, best_x, best_y)
        assert abs(best_y - row * WORK_SHAPE[0] / rows) <= (ys[1] - ys[0]) / 2 + 1e-9, (row, col, best_x, best_y)
