"""deploysim: the application shell (CLI, config, demo) over recorder, stubs, proxy, replayer
and grader."""

from recorder.version import __version__

__all__ = ["__version__"]
