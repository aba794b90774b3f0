"""Training machinery: data loader, metrics, learning-rate schedule, fitting."""
