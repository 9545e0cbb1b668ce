"""Tests of deploysim.commands (a package: its test modules share names with other folders')."""
