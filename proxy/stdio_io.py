"""Async access to this process's stdin and stdout, for the stdio relays (`record-stdio`,
`serve --stdio`): pipe transports where epoll can watch the descriptor, threads elsewhere.

>>> read, write, close = await open_stdio()                         # doctest: +SKIP
>>> data = await read()          # b"" at end of input
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
import threading
from collections.abc import Awaitable, Callable

READ_SIZE = 64 * 1024

Writer = Callable[[bytes], Awaitable[None]]
Reader = Callable[[], Awaitable[bytes]]


async def open_stdio() -> tuple[Reader, Writer, Callable[[], None]]:
    """Async reads of our stdin and writes to our stdout, and a function closing them: pipe
    transports for pipes and sockets, threads for everything else (see `pollable`)."""
    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    closers: list[Callable[[], None]] = []
    reader = await _pipe_reader(in_fd, closers) if pollable(in_fd) else None
    writer = await _pipe_writer(out_fd, closers) if pollable(out_fd) else None

    def close() -> None:
        for c in closers:
            with contextlib.suppress(Exception):
                c()

    return reader or thread_reader(in_fd), writer or thread_writer(out_fd), close


async def _pipe_reader(fd: int, closers: list[Callable[[], None]]) -> Reader | None:
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=READ_SIZE)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream), os.fdopen(fd, "rb", closefd=False))
    except (ValueError, OSError):  # the loop refuses it after all: read on a thread
        return None
    closers.append(transport.close)

    async def read() -> bytes:
        return await stream.read(READ_SIZE)

    return read


async def _pipe_writer(fd: int, closers: list[Callable[[], None]]) -> Writer | None:
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", closefd=False))
    except (ValueError, OSError):
        return None
    closers.append(transport.close)
    out = asyncio.StreamWriter(transport, protocol, None, loop)

    async def write(data: bytes) -> None:
        out.write(data)
        await out.drain()

    return write


def pollable(fd: int) -> bool:
    """True for pipes and sockets. Everything else (a file, /dev/null, a terminal) is read
    and written on a thread: epoll refuses files and /dev/null, and asyncio would only say so
    later, from a callback, leaving the relay waiting for input that never comes."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def thread_reader(fd: int, name: str = "deploysim-stdin") -> Reader:
    """Reads `fd` on a daemon thread (so a blocked read never holds up the process's exit);
    works for pipes, files and /dev/null alike. An empty chunk means end of input."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def pump() -> None:
        while True:
            try:
                data = os.read(fd, READ_SIZE)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(chunks.put_nowait, data)
            if not data:
                return

    threading.Thread(target=pump, name=name, daemon=True).start()
    return chunks.get


def thread_writer(fd: int) -> Writer:
    """Writes to `fd` on a worker thread, so a slow reader never stalls the event loop."""

    async def write(data: bytes) -> None:
        await asyncio.to_thread(write_all, fd, data)

    return write


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to the blocking `fd`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
