"""Tests of recorder.importers (a package: its test modules share names with other folders')."""
