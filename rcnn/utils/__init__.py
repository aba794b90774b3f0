"""Utilities shared by the scripts: roidb loading, checkpoints."""
