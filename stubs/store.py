"""Prebuilt stub indexes (`deploysim stubs build CORPUS --out FILE`).

The file is one zstd-compressed map (`recorder.codec`): format name and version, the hash of the
corpus it was built from, the stub configuration, the tools, and every packed row in recorded
order.
Loading re-keys the rows (fast: no cassette parsing, no session threading) and checks that the
corpus and configuration are the ones the caller expects, so an index never silently answers
for a different recording.
"""

from __future__ import annotations

from typing import Any

import zstandard

from recorder import codec, storage
from recorder.version import __version__
from stubs.errors import BadIndexFile, IndexMismatch, StubConfigError
from stubs.index import StubIndex
from stubs.stub_config import StubConfig

FORMAT = "deploysim-stubs-index"
VERSION = 1
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def save_index(index: StubIndex, path: str, *, corpus_hash: str | None,
               corpus_paths: list[str] | None = None) -> dict[str, Any]:
    """Write a prebuilt index; returns its header (what `stubs build` prints)."""
    header = {
        "format": FORMAT, "version": VERSION, "deploysim_version": __version__,
        "corpus_hash": corpus_hash, "corpus": list(corpus_paths or []),
        "config": index.config.spec(), "config_hash": index.config.hash(),
        "index_hash": index.content_hash(), "calls": len(index),
        "tools": [[t.tool.kind, t.tool.server, t.tool.name] for t in index.tables],
    }
    payload = codec.pack({**header, "rows": index.blobs})
    data = zstandard.ZstdCompressor(level=3).compress(payload)
    with storage.open_binary(path, "wb") as f:
        f.write(data)
    return header


def is_index_file(path: str) -> bool:
    try:
        with storage.open_binary(path, "rb") as f:
            return f.read(4) == _ZSTD_MAGIC
    except (OSError, ValueError):
        return False


def read_header(path: str) -> dict[str, Any]:
    doc = _read(path)
    doc.pop("rows", None)
    return doc


def _read(path: str) -> dict[str, Any]:
    if not storage.exists(path):
        raise BadIndexFile(f"The stub index {path} does not exist; build it with `deploysim "
                           "stubs build CORPUS --out FILE`.")
    with storage.open_binary(path, "rb") as f:
        data = f.read()
    try:
        doc = codec.unpack(zstandard.ZstdDecompressor().decompress(data))
    except Exception:
        raise BadIndexFile(f"{path} is not a prebuilt stub index (it does not decode); build "
                           "one with `deploysim stubs build CORPUS --out FILE`.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BadIndexFile(f"{path} is not a prebuilt stub index; build one with `deploysim "
                           "stubs build CORPUS --out FILE`.")
    if doc.get("version", 0) > VERSION:
        raise BadIndexFile(f"The stub index {path} has format version {doc.get('version')}, "
                           f"newer than this deploysim reads ({VERSION}); upgrade deploysim or "
                           "rebuild the index.")
    return doc


def load_index(path: str, *, expect_corpus: str | None = None,
               expect_config: StubConfig | None = None) -> StubIndex:
    """Read a prebuilt index; `expect_corpus` (a corpus content hash) and `expect_config` make
    sure it matches what the caller is replaying."""
    doc = _read(path)
    built_from = doc.get("corpus_hash")
    if expect_corpus is not None and built_from != expect_corpus:
        raise IndexMismatch(
            f"The stub index {path} was built from a different corpus version (corpus hash "
            f"{str(built_from)[:12]}…, the corpus now hashes to {expect_corpus[:12]}…); rebuild "
            "it with `deploysim stubs build CORPUS --out FILE`.")
    try:
        config = StubConfig.from_dict(doc["config"], where=f"the stub index {path}")
    except StubConfigError as exc:
        raise BadIndexFile(f"The stub index {path} holds a configuration this deploysim cannot "
                           f"use ({exc}); rebuild it.") from None
    if expect_config is not None and expect_config.hash() != config.hash():
        raise IndexMismatch(f"The stub index {path} was built with a different stub "
                            "configuration; rebuild it with the same --stub-config, or drop "
                            "--stub-index.")
    index = StubIndex(config)
    for kind, server, name in doc["tools"]:
        index.table_for(kind, server, name)
    if len(index.tables) != len(doc["tools"]):
        raise IndexMismatch(f"The stub index {path} was built by an older deploysim that split "
                            "function tools by server; rebuild it with `deploysim stubs build`.")
    for blob in doc["rows"]:
        index.add_blob(blob)
    if index.content_hash() != doc.get("index_hash"):
        raise BadIndexFile(f"The stub index {path} is damaged (its content does not match its "
                           "hash); rebuild it with `deploysim stubs build`.")
    return index
