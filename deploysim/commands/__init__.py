"""Command groups of the `deploysim` CLI; each module exposes `register(app)`."""
