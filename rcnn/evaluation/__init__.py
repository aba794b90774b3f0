"""WIDER FACE evaluation: average precision per difficulty, reports and PR plots (no MXNet)."""
