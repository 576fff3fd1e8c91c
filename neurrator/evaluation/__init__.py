"""Metrics, narration scoring, SBERT, held-out narration and headline results."""
