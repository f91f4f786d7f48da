"""partner commands (being written)."""
