"""mitmproxy embedded in deploysim: a forward proxy (regular, upstream or reverse mode) whose
flows are recorded by `RecordAddon`.

The CA mitmproxy signs with lives in the deploysim config dir (`ca_dir()`:
`$DEPLOYSIM_CONFIG_DIR/mitmproxy`, default `~/.config/deploysim/mitmproxy`), so `deploysim ca`
and every recording share one CA that users trust once.

>>> rec = MitmRecorder(sink, metrics, listen=("127.0.0.1", 8080))   # doctest: +SKIP
>>> host, port = await rec.start()
>>> await rec.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from proxy.capture import DEFAULT_MAX_CAPTURE, CaptureOptions
from proxy.errors import BadUpstream, ProxyError
from proxy.metrics import Metrics
from proxy.sink import Sink
from runtime.tasks import spawn

log = logging.getLogger("deploysim.proxy")

CA_BASENAME = "mitmproxy"
CA_KEY_SIZE = 2048


def ca_dir() -> str:
    """Where deploysim keeps the mitmproxy CA (not created)."""
    from recorder.redact_key import config_dir

    return os.path.join(config_dir(), "mitmproxy")


def ca_cert_path() -> str:
    """The CA certificate clients must trust (PEM)."""
    return os.path.join(ca_dir(), f"{CA_BASENAME}-ca-cert.pem")


def ensure_ca() -> str:
    """Create the CA on first use; returns the certificate path."""
    from mitmproxy.certs import CertStore

    path = ca_dir()
    os.makedirs(path, exist_ok=True)
    CertStore.from_store(path, CA_BASENAME, CA_KEY_SIZE)
    return ca_cert_path()


def parse_mode(mode: str) -> str:
    """Validate a mode: `regular`, `upstream:URL` or `reverse:URL` (mitmproxy's spelling)."""
    kind, _, url = mode.partition(":")
    if kind == "regular" and not url:
        return mode
    if kind in ("upstream", "reverse") and url.startswith(("http://", "https://")):
        return mode
    raise BadUpstream(f"The proxy mode {mode!r} is not one of regular, upstream:URL or "
                      "reverse:URL; write e.g. --mitm-mode reverse:https://api.openai.com.")


class _Ready:
    """Tells the runner when mitmproxy has brought its servers up."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def running(self) -> None:
        self.event.set()


class MitmRecorder:
    """mitmproxy in this process and event loop, recording through `sink`.

    `addon=False` runs mitmproxy with no deploysim addon (the bare peer in benchmarks).
    `upstream_ca` is a PEM bundle trusted for upstream TLS (self-signed test servers).
    """

    def __init__(
        self,
        sink: Sink | None,
        metrics: Metrics,
        *,
        listen: tuple[str, int] = ("127.0.0.1", 8080),
        mode: str = "regular",
        upstream_ca: str | None = None,
        ssl_insecure: bool = False,
        session_header: str = "X-Deploysim-Session",
        segment_header: str = "X-Deploysim-Segment",
        max_capture: int = DEFAULT_MAX_CAPTURE,
        addon: bool = True,
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        self.listen = listen
        self.mode = parse_mode(mode)
        self.upstream_ca = upstream_ca
        self.ssl_insecure = ssl_insecure
        self.session_header = session_header
        self.segment_header = segment_header
        self.max_capture = max_capture
        self.addon = addon
        self.master: Any = None
        self.address: tuple[str, int] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> tuple[str, int]:
        """Bring mitmproxy up; returns the address it listens on."""
        from mitmproxy import addons, options
        from mitmproxy.master import Master

        from proxy.mitm_addon import RecordAddon

        confdir = os.path.dirname(ensure_ca())
        opts = options.Options()
        master = Master(opts)
        master.addons.add(*addons.default_addons())
        ready = _Ready()
        master.addons.add(ready)
        if self.addon:
            capture = CaptureOptions(self.session_header, self.segment_header, self.max_capture)
            master.addons.add(RecordAddon(self.sink, self.metrics, capture))
        update: dict[str, Any] = {
            "listen_host": self.listen[0], "listen_port": self.listen[1],
            "mode": [self.mode], "confdir": confdir, "ssl_insecure": self.ssl_insecure,
        }
        if self.upstream_ca:
            update["ssl_verify_upstream_trusted_ca"] = self.upstream_ca
        try:
            opts.update(**update)
        except Exception as exc:
            raise ProxyError(f"mitmproxy refused its options ({exc}); check --mitm-mode and "
                             "--upstream-ca.") from exc
        self.master = master
        self._task = spawn(master.run(), name="mitmproxy")
        waiter = spawn(ready.event.wait(), name="mitmproxy-ready")
        await asyncio.wait([self._task, waiter], return_when=asyncio.FIRST_COMPLETED)
        addrs = master.addons.get("proxyserver").listen_addrs()
        if not addrs:
            await self.stop()
            raise ProxyError(f"mitmproxy could not listen on {self.listen[0]}:{self.listen[1]} "
                             "(see the log above); choose another --listen address.")
        self.address = (str(addrs[0][0]), int(addrs[0][1]))
        return self.address

    async def stop(self) -> None:
        """Shut mitmproxy down and wait for it."""
        if self.master is not None:
            self.master.shutdown()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=10)
            self._task = None

    def banner(self, extra: str = "") -> str:
        """One line: where the proxy listens and how to point the agent at it."""
        host, port = self.address or self.listen
        url = f"http://{host}:{port}"
        if self.mode.startswith("reverse:"):
            how = f"point the agent's base URL at {url} (→ {self.mode[8:]})"
        else:
            how = (f"set HTTPS_PROXY={url} HTTP_PROXY={url} and trust the CA {ca_cert_path()} "
                   "(`deploysim ca` tells how)")
        line = f"deploysim record --mitm ({self.mode}): listening on {url}; {how}"
        return line + (f"; {extra}" if extra else "")
