"""api commands (being written)."""
