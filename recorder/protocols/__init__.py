"""Protocol parsers: one raw exchange → structured events (see `parse_exchange`)."""
