"""Output folders and files are checked by trying, before a command does anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploysim.outputs import check_out_dir, check_out_file
from recorder.errors import UsageError


@pytest.fixture
def file(tmp_path: Path) -> Path:
    path = tmp_path / "file"
    path.write_text("keep me")
    return path


def test_usable_folders_pass_and_nothing_is_created(tmp_path: Path) -> None:
    check_out_dir(str(tmp_path))
    check_out_dir(str(tmp_path / "new" / "deeper"))
    check_out_file(str(tmp_path / "new" / "report.html"), option="--report")
    check_out_dir("memory://anything")  # a store checks its own writes
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("target", "message"), [
    ("{file}", "--out {file} is a file, not a folder"),
    ("{file}/sub", "cannot be written: {file} is a file, not a folder"),
    ("{file}/sub/deeper", "cannot be written: {file} is a file, not a folder"),
    ("/proc/deploysim-out", "cannot be written (No such file or directory in /proc)"),
])
def test_unusable_folders_are_one_sentence(target: str, message: str, file: Path) -> None:
    target, message = (s.replace("{file}", str(file)) for s in (target, message))
    with pytest.raises(UsageError, match="^" + "--out " + r".*\.$") as caught:
        check_out_dir(target)
    assert message in str(caught.value)
    assert file.read_text() == "keep me"


def test_unusable_files(tmp_path: Path, file: Path) -> None:
    with pytest.raises(UsageError, match="is a folder, not a file"):
        check_out_file(str(tmp_path), option="--report")
    with pytest.raises(UsageError, match=r"--report .*/file/r.html cannot be written"):
        check_out_file(str(file / "r.html"), option="--report")
    with pytest.raises(UsageError, match=r"OUT /proc/x\.cassette cannot be written"):
        check_out_file("/proc/x.cassette", option="OUT")
