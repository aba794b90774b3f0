"""Training machinery: the data iterator (loader.py) and the training metrics (metric.py)."""
