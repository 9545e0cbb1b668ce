"""Tests of replayer.wire (a package: its test modules share names with other folders')."""
