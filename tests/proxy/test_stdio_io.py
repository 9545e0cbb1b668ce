"""proxy.stdio_io: which descriptors get pipe transports, and the thread reader and writer."""

from __future__ import annotations

import os

from proxy.stdio_io import pollable, thread_reader, thread_writer


def test_only_pipes_and_sockets_are_pollable(tmp_path):
    r, w = os.pipe()
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with open(path, "rb") as f, open(os.devnull, "rb") as null:
        assert pollable(r) and pollable(w)
        assert not pollable(f.fileno())  # epoll refuses regular files
        assert not pollable(null.fileno())  # and /dev/null
    os.close(r)
    os.close(w)
    assert not pollable(r)  # a closed descriptor is not watched either


async def test_thread_reader_reads_a_file_to_the_end_and_dev_null_at_once(tmp_path):
    path = tmp_path / "in"
    path.write_bytes(b"a" * 100_000)
    with open(path, "rb") as f:
        read = thread_reader(f.fileno())
        got = b""
        while chunk := await read():
            got += chunk
    assert got == b"a" * 100_000
    with open(os.devnull, "rb") as null:
        assert await thread_reader(null.fileno())() == b""


async def test_thread_writer_writes_every_byte(tmp_path):
    path = tmp_path / "out"
    with open(path, "wb") as f:
        await thread_writer(f.fileno())(b"b" * 200_000)
    assert path.read_bytes() == b"b" * 200_000
