"""The calibration world's page names the cells where predict misses the issue's targets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.fidelity.report import _target_misses
from bench.fidelity.scoring import score, summarize


def _cell(behavior: str, true: float, before: float, est: float,
          interval: tuple[float, float]) -> dict[str, Any]:
    up = "up" if true > before else "down"
    return {"pair": "a->b", "behavior": behavior, "true": true, "true_n": 1000,
            "true_before": before, "true_direction": up, "moved": True, "informative": True,
            "predict": score(est, interval, before, true, 1000, "up")}


def test_the_page_lists_cells_outside_their_interval_and_wrong_directions() -> None:
    cells = [_cell("fine", 0.02, 0.01, 0.019, (0.015, 0.025)),
             _cell("missed", 0.004, 0.01, 0.03, (0.006, 0.14))]
    text = " ".join(_target_misses({"summary": {"predict": summarize(cells, "predict")},
                                    "cells": cells}))
    assert "Outside the interval: a->b missed (true 0.0040" in text
    assert "Wrong direction: a->b missed (true down, predicted up" in text
    assert "a->b fine" not in text
    assert _target_misses({"summary": {}, "cells": cells}) == []


def test_each_miss_says_what_the_bounds_read_there() -> None:
    cells = [_cell("fine", 0.02, 0.01, 0.019, (0.015, 0.025)),
             _cell("missed", 0.004, 0.01, 0.03, (0.006, 0.14))]
    cells[1]["bound_replay"] = score(0.028, None, 0.01, 0.004, 1000)  # wrong, as predict
    cells[1]["bound_known_traffic"] = score(0.005, None, 0.01, 0.004, 1000)  # right
    summary = {name: summarize(cells, name)
               for name in ("predict", "bound_replay", "bound_known_traffic")}
    text = " ".join(_target_misses({"summary": summary, "cells": cells}))
    assert "replay bound 7.00×, direction wrong; known-traffic bound 1.25×, direction right" \
        in text
    # the summary over the cells that have them (here one)
    assert ("bounds (bound_replay 7.00×, direction 0.00 of 1; bound_known_traffic 1.25×, "
            "direction 1.00 of 1)") in text
