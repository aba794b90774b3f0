"""Helpers of the training scripts."""
