"""Utilities every layer may use: checkpoint sets, image reading, safe writes, the JSON-lines
store, command-line helpers."""
