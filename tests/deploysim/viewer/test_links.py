"""The viewer's URL contract, as the static gate report links to it."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from deploysim.viewer.links import DEFAULT_URL, trajectory_url


def test_default_url_is_loopback_8765() -> None:
    assert DEFAULT_URL == "http://127.0.0.1:8765"


def test_trajectory_url_round_trips_awkward_ids_and_paths(tmp_path: Path) -> None:
    run, base = tmp_path / "runs/next #2", tmp_path / "runs/today&co"
    url = trajectory_url(DEFAULT_URL + "/", str(run), str(base), "s 1#t0&x=y?")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "127.0.0.1:8765", "/trajectory")
    assert parse_qs(parts.query) == {"run": [str(run)], "baseline": [str(base)],
                                     "session": ["s 1#t0&x=y?"]}
    assert list(parse_qs(parts.query)) == ["run", "baseline", "session"]


def test_relative_run_folders_become_absolute(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    q = parse_qs(urlsplit(trajectory_url(DEFAULT_URL, "runs/next", "runs/today", "s1")).query)
    assert q["run"] == [os.path.join(str(tmp_path), "runs/next")]
    assert q["baseline"] == [os.path.join(str(tmp_path), "runs/today")]
