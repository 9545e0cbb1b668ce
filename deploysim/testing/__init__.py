"""deploysim in an agent's own test suite: the pytest plugin (`plugin`, entry point
`pytest11`), the marker's arguments (`spec`) and the proxy a test's agent talks to (`proxy`).
"""

from deploysim.testing.proxy import CassetteProxy
from deploysim.testing.spec import MODES, CassetteSpec, MarkerError

__all__ = ["MODES", "CassetteProxy", "CassetteSpec", "MarkerError"]
