"""``protxai validate``: the planted-signal self-check of the engine and the statistics."""
