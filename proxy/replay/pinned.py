"""A capture whose exchange id is fixed when it is queued, not by the writer's counter.

The recording writer numbers exchanges `RUNID-000001...` in the order they reach it, with a
random run id. A serve run needs ids that are the same every time the same agent script runs,
so trajectories (which name their exchanges) come out byte-identical: the id is derived from
the run's own id and the exchange's position within its bound session.

This module is imported by the writer process when it unpickles captures; keep it tiny.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from proxy.capture import Capture
from recorder.exchange import Exchange


@dataclass(slots=True)
class PinnedCapture(Capture):
    """A `Capture` carrying the exchange id it must be written under."""

    pinned_id: str = ""

    def to_exchange(self, exchange_id: str) -> Exchange:
        """The record, under the pinned id whatever the writer proposes."""
        return Capture.to_exchange(self, self.pinned_id or exchange_id)


_FIELDS = tuple(f.name for f in dataclasses.fields(Capture))


def pin(capture: Capture, exchange_id: str) -> PinnedCapture:
    """`capture` (from the forwarder, say) as a `PinnedCapture` with `exchange_id`."""
    if isinstance(capture, PinnedCapture):
        capture.pinned_id = exchange_id
        return capture
    return PinnedCapture(**{name: getattr(capture, name) for name in _FIELDS},
                         pinned_id=exchange_id)
