"""Suite-wide set-up.

The suite uses pytest's default import mode, which puts only a test file's own folder on
`sys.path`. Each folder's shared helper modules (`proxy_helpers`, `gate_factories`,
`replay_helpers`, ...) have unique names, so every folder is appended here and any test can
import any folder's helpers by name. Appended, never prepended: the real packages win.
"""

from __future__ import annotations

import sys
from pathlib import Path

for _folder in sorted(Path(__file__).parent.iterdir()):
    if _folder.is_dir() and not _folder.name.startswith((".", "_")) \
            and str(_folder) not in sys.path:
        sys.path.append(str(_folder))
