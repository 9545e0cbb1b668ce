"""Tests of recorder.protocols (a package: its test modules share names with other folders')."""
