"""Compiled helpers (built in place by ``make``): box overlaps, NMS on CPU and GPU, anchor planes."""
