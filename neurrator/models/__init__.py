"""Spike encoders, their training (the SpikeDecoder estimator) and the sparse autoencoder."""
