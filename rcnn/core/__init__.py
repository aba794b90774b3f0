"""Training, as in the original: the crop loader and its prefetch workers, the trainer (fit,
checkpoint sets), the learning-rate schedule, the metrics, one hook per training concern, and
validation during training; the body of train.py (options.py: the command line, start.py: the
prefix and the starting point, run.py: train_net)."""
