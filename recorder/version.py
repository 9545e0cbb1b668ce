"""The deploysim version, read from the installed distribution."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deploysim")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
