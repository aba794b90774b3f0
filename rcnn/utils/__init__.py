"""Utilities shared by the scripts: checkpoints, synthetic data."""
