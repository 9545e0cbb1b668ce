"""What `@pytest.mark.deploysim(...)` asks for, checked in one place: the cassette folder, the
mode, the real upstreams to record from and the replay's profile, seed and miss policy.

>>> spec = CassetteSpec.from_marker({"cassette": "cassettes/weather", "mode": "once",
...                                  "upstreams": {"/": "http://127.0.0.1:8000",
...                                                "weather": "http://127.0.0.1:9000/mcp"}},
...                                 base_dir="/repo/tests")
>>> spec.cassette, spec.upstream_specs()
('/repo/tests/cassettes/weather', ['http://127.0.0.1:8000', 'weather=http://127.0.0.1:9000/mcp'])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from recorder.errors import UsageError

Mode = Literal["replay", "once", "record"]
MODES: tuple[Mode, ...] = ("replay", "once", "record")
"""`replay`: answer from the cassette, never contact an upstream; `once`: record when the
cassette folder holds no cassette yet, else replay; `record`: record afresh every run."""

KEYS = ("cassette", "mode", "upstreams", "profile", "seed", "miss", "fallbacks",
        "session_header")
"""The keyword arguments the marker takes."""


class MarkerError(UsageError):
    """A `@pytest.mark.deploysim(...)` with arguments the plugin cannot use."""


@dataclass(frozen=True)
class CassetteSpec:
    """One test's cassette and how to serve it."""

    cassette: str
    """The cassette folder (absolute; a relative marker path is taken from the test file's
    folder, so the cassettes live beside the tests in the repository)."""
    mode: Mode = "replay"
    upstreams: dict[str | None, str] = field(default_factory=dict)
    """Route name (None: the unnamed route `/`) → the real upstream URL, used when recording."""
    profile: str = "none"
    seed: int = 0
    miss: str = "error"
    fallbacks: tuple[str, ...] = ()
    """None by default: a test wants every unrecorded call to fail, not a nearest answer."""
    session_header: str = "X-Deploysim-Session"

    @classmethod
    def from_marker(cls, kwargs: Mapping[str, Any], *, base_dir: str,
                    args: tuple[Any, ...] = (), test: str = "the test") -> CassetteSpec:
        """The marker's arguments (one positional cassette path allowed) → a spec, or a
        `MarkerError` naming the test and the argument."""
        where = f"@pytest.mark.deploysim on {test}"
        if len(args) > 1 or (args and "cassette" in kwargs):
            raise MarkerError(f"{where} takes the cassette folder once, e.g. "
                              "@pytest.mark.deploysim(cassette=\"cassettes/x\").")
        unknown = sorted(set(kwargs) - set(KEYS))
        if unknown:
            raise MarkerError(f"{where} has the unknown argument {unknown[0]!r}; it takes "
                              f"{', '.join(KEYS)}.")
        cassette = args[0] if args else kwargs.get("cassette")
        if not isinstance(cassette, (str, os.PathLike)) or not str(cassette):
            raise MarkerError(f"{where} needs cassette=\"FOLDER\", the folder its cassettes "
                              "are kept in (relative to the test file).")
        mode = kwargs.get("mode", "replay")
        if mode not in MODES:
            raise MarkerError(f"{where} has mode={mode!r}; use replay, once (record when the "
                              "cassette is missing) or record.")
        seed = kwargs.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise MarkerError(f"{where} has seed={seed!r}; give an integer.")
        miss = kwargs.get("miss", "error")
        if miss not in ("error", "continue"):
            raise MarkerError(f"{where} has miss={miss!r}; use error (an unrecorded call "
                              "fails the test) or continue (the agent gets the tool's error, "
                              "the test goes on).")
        fallbacks = _fallbacks(kwargs.get("fallbacks", ()), where)
        profile = kwargs.get("profile", "none")
        if not isinstance(profile, str) or not profile:
            raise MarkerError(f"{where} has profile={profile!r}; name a profile (none, flaky, "
                              "degraded, hostile, chaos) or a profile file.")
        if profile.endswith(".toml") and not os.path.isabs(profile):
            profile = os.path.join(base_dir, profile)  # a profile file beside the tests
        path = os.fspath(cassette)
        path = path if os.path.isabs(path) else os.path.join(base_dir, path)
        return cls(cassette=os.path.normpath(path), mode=mode,
                   upstreams=_upstreams(kwargs.get("upstreams"), where), profile=profile,
                   seed=seed, miss=miss, fallbacks=fallbacks,
                   session_header=str(kwargs.get("session_header", "X-Deploysim-Session")))

    def recorded(self) -> bool:
        """Whether the cassette folder holds at least one cassette."""
        from recorder.writer import SUFFIX

        return os.path.isdir(self.cassette) and any(
            name.endswith(SUFFIX) for name in os.listdir(self.cassette))

    def upstream_specs(self) -> list[str]:
        """The upstreams as `deploysim record --upstream` spells them."""
        return [url if name is None else f"{name}={url}" for name, url in self.upstreams.items()]


def _upstreams(value: Any, where: str) -> dict[str | None, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        items = [(None if k in ("", "/") else str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = []
        for spec in value:
            head, sep, tail = str(spec).partition("=")
            items.append((head or None, tail) if sep and "://" not in head else (None, spec))
    else:
        raise MarkerError(f"{where} has upstreams={value!r}; give a dict of route name to URL, "
                          "e.g. {\"/\": \"http://127.0.0.1:8000\", \"weather\": URL}.")
    out: dict[str | None, str] = {}
    for name, url in items:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MarkerError(f"{where} has the upstream {url!r} for route "
                              f"{name or '/'}; give an http(s) URL.")
        out[name] = url
    return out


def _fallbacks(value: Any, where: str) -> tuple[str, ...]:
    from stubs.errors import StubConfigError
    from stubs.miss_policy import parse_fallbacks

    try:
        return parse_fallbacks(value, "fallbacks")
    except StubConfigError as err:
        raise MarkerError(f"{where}: {err}") from None
