"""Sessions read through allensdk, binning, splits and held-out regimes, spike windows, optotagging and pseudo-mice."""
