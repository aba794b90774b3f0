"""Anchors, box and landmark encodings, non-maximum suppression."""
