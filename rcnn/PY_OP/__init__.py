"""Python custom operators of the train graph (registered with MXNet on import)."""
