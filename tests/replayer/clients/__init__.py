"""Tests of replayer.clients (a package: its tests import tests/replayer's helpers)."""
