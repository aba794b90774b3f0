"""Training input: image augmentation (image.py) and anchor targets (rpn.py)."""
