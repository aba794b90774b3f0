"""Command-line tools and evaluators (WIDER FACE evaluation)."""
