"""Suite-wide set-up.

The suite uses pytest's default import mode, which puts only a test file's own folder on
`sys.path`. Each folder's one helper module of test-only code (`proxy_helpers`,
`replay_helpers`, `recorder_helpers`, ...) has a unique name, so every top-level folder is
appended here and any test can import any folder's helpers by name. Appended, never
prepended: the real packages win. Factories shared with benchmarks live in the packages'
testing modules (`recorder.testing`, `grader.testing`, ...); tests/test_layout.py holds the rules.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

for _folder in sorted(Path(__file__).parent.iterdir()):
    if _folder.is_dir() and not _folder.name.startswith((".", "_")) \
            and str(_folder) not in sys.path:
        sys.path.append(str(_folder))


@pytest.fixture
def corpus_path(tmp_path: Path) -> str:
    """The replayer tests' known corpus (22 turns in three sessions), for the replayer's tests
    and the `deploysim replay` command's."""
    from replay_helpers import write_test_corpus  # imported here: most folders never need it

    return write_test_corpus(tmp_path)


@pytest.fixture(scope="session")
def deploysim_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An isolated deploysim config dir (redaction key, mitmproxy CA) for the rest of the
    session, so recording tests never touch the real ~/.config."""
    path = str(tmp_path_factory.mktemp("deploysim-config"))
    saved = {k: os.environ.get(k) for k in ("DEPLOYSIM_CONFIG_DIR", "DEPLOYSIM_REDACTION_KEY")}
    os.environ["DEPLOYSIM_CONFIG_DIR"] = path
    os.environ["DEPLOYSIM_REDACTION_KEY"] = "proxy-tests-redaction-key-0123456789"
    yield path
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
