"""The end-to-end benchmarks `bench/ab.py` re-measures, as a table: for each one, the script,
its arguments at the two sizes (`full`: the default run; `quick`: a smoke test), where the
script writes its JSON, and how to read docs/performance.md's headline figures out of it.

A script's command line can change between the two trees being compared (the before tree is
older); such differences are handled here, per benchmark, never by failing the whole run:
`args_for` may look at the tree, and `borrow_script` runs the other tree's copy of a script the
tree lacks (the harness only: the product under test still comes from the tree, see ab.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Extract = Callable[[Any], float | None]
"""Reads one figure from a benchmark's JSON document (None: not in this document)."""


def at(*path: str | int | tuple[str, str]) -> Extract:
    """A path into the JSON: dict keys, list indexes, or (key, value) to pick the row of a list
    whose `key` equals `value`. Missing anywhere gives None (an older script may lack it)."""

    def extract(doc: Any) -> float | None:
        node = doc
        for step in path:
            if isinstance(step, tuple):
                key, value = step
                node = next((r for r in node if isinstance(r, dict) and r.get(key) == value),
                            None) if isinstance(node, list) else None
            elif isinstance(step, int):
                node = node[step] if isinstance(node, list) and -len(node) <= step < len(node) \
                    else None
            else:
                node = node.get(step) if isinstance(node, dict) else None
            if node is None:
                return None
        return float(node) if isinstance(node, (int, float)) else None

    return extract


def scaled(extract: Extract, factor: float) -> Extract:
    def read(doc: Any) -> float | None:
        value = extract(doc)
        return None if value is None else value * factor

    return read


@dataclass(frozen=True)
class Figure:
    label: str
    unit: str
    higher_is_better: bool
    extract: Extract
    note: str = ""
    """Shown in the table's row, e.g. "micro, retired"."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    """Path of the script inside a tree, e.g. bench/grade.py."""
    args: dict[str, list[str]]
    """Arguments per size ("full", "quick"); `{out}` is replaced by the run's JSON path and
    `{scratch}` by a folder kept for this benchmark and tree across runs."""
    figures: tuple[Figure, ...]
    results: str | None = None
    """The JSON file the script always writes, relative to the tree, for scripts without an
    output flag (None: the arguments carry `{out}`)."""
    borrow_script: bool = False
    """When a tree lacks the script, run the other tree's copy of it (a harness that drives the
    product as a subprocess, so the product still comes from the tree)."""
    args_for: Callable[[Path, list[str]], list[str]] | None = field(default=None)
    """Adjusts the arguments to a tree whose script's command line differs."""


PROXY = Benchmark(
    "proxy_overhead", "bench/proxy_overhead.py",
    {"full": ["--rounds", "1", "--duration", "2", "--requests", "100"],
     # quick: streams of 200 chunks 0.5 ms apart instead of 2 ms (40 streams of 0.44 s were
     # most of a quick run); a smoke test, its figures are not the page's
     "quick": ["--rounds", "1", "--duration", "0.5", "--requests", "20", "--sse-gap", "0.0005"]},
    (Figure("gateway added p50", "ms", False, at("summary", "gateway", "added_p50_ms")),
     Figure("gateway added p99", "ms", False, at("summary", "gateway", "added_p99_ms")),
     Figure("gateway added time to first SSE chunk", "ms", False,
            at("summary", "gateway", "added_ttfc_p50_ms")),
     Figure("gateway throughput vs bare mitmproxy @32", "x", True,
            at("summary", "ratios", "gateway_vs_mitm_bare_throughput")),
     Figure("gateway throughput @32", "req/s", True, at("summary", "gateway", "throughput_rps")),
     Figure("gateway CPU a request", "ms", False,
            at("summary", "gateway", "proxy_cpu_ms_per_req"))),
    results="bench/results/proxy_overhead.json")

CASSETTE = Benchmark(
    "cassette_io", "bench/cassette_io.py",
    {"full": ["--records", "20000", "--corpus-mb", "50", "--vcr", "1000"],
     "quick": ["--records", "2000", "--corpus-mb", "5", "--vcr", "100"]},
    (Figure("records written", "records/s", True, at("write_read", "write_records_per_s")),
     Figure("records read, plain", "records/s", True,
            at("write_read", "read_raw_records_per_s")),
     Figure("records read, typed", "records/s", True,
            at("write_read", "read_typed_records_per_s")),
     Figure("streamed read peak RSS", "MB", False, at("streaming", "peak_rss_mb")),
     Figure("load vs VCR.py, plain", "x", True, at("vs_vcr", -1, "speedup_plain")),
     Figure("load vs VCR.py, typed", "x", True, at("vs_vcr", -1, "speedup_typed"))),
    results="bench/results/cassette_io.json")

SESSIONS = Benchmark(
    "sessions", "bench/sessions.py",
    {"full": ["--base", "10000", "--repeats", "1"],
     "quick": ["--base", "1000", "--repeats", "1"]},
    (*(Figure(f"exchanges derived at {s}", "per CPU-s", True,
              at("rows", ("scale", s), "derive_exchanges_per_cpu_s")) for s in ("1x", "2x", "4x")),
     Figure("cost per exchange at 4x vs 1x", "x", False,
            at("rows", ("scale", "4x"), "per_exchange_vs_1x"))),
    results="bench/results/sessions.json")

DERIVE = Benchmark(
    "derive", "bench/derive.py",
    {"full": ["--mb", "20", "--dir", "{scratch}"],
     "quick": ["--mb", "2", "--dir", "{scratch}"]},
    (Figure("in memory (derive_sessions) CPU", "s", False, at("rows", ("mode", "list"), "cpu_s")),
     Figure("streamed (SessionStream) CPU", "s", False, at("rows", ("mode", "stream"), "cpu_s")),
     Figure("`deploysim derive` (rederive) CPU", "s", False,
            at("rows", ("mode", "rederive"), "cpu_s")),
     Figure("in memory peak RSS", "MB", False, at("rows", ("mode", "list"), "peak_rss_mb")),
     Figure("streamed peak RSS", "MB", False, at("rows", ("mode", "stream"), "peak_rss_mb")),
     Figure("rederive peak RSS", "MB", False, at("rows", ("mode", "rederive"), "peak_rss_mb"))),
    results="bench/results/derive.json")

STUBS = Benchmark(
    "stubs", "bench/stubs.py",
    {"full": ["--calls", "200000", "--lookups", "200000", "--repeat", "3", "--http", "2000",
              "--vcr-stride", "100", "--vcr-check", "0"],
     "quick": ["--calls", "20000", "--lookups", "20000", "--repeat", "1", "--http", "200",
               "--vcr-stride", "20", "--vcr-check", "0"]},
    (Figure("whole answers (StubEngine.answer)", "answers/s", True,
            at("index", "answers_per_s"),
            note="in-process: the serve rows are its end-to-end figure"),
     Figure("exact lookups (StubIndex.lookup_call)", "lookups/s", True,
            at("index", "lookups_per_s"), note="micro, retired"),
     Figure("vs VCR.py, from the cassette", "x", True, at("vs_vcr", "speedup_corpus")),
     Figure("vs VCR.py, from a prebuilt index", "x", True, at("vs_vcr", "speedup_index"))),
    results="bench/results/stubs.json")

SERVE = Benchmark(
    "serve", "bench/serve.py",
    {"full": ["--rounds", "1", "--seconds", "2", "--out", "{out}"],
     "quick": ["--rounds", "1", "--seconds", "0.5", "--out", "{out}"]},
    tuple(f for kind, name in (("http", "HTTP"), ("mcp", "MCP")) for f in (
        Figure(f"{name}: throughput vs mitmdump --server-replay @32", "x", True,
               at("serve_vs_mitmdump", kind, "throughput_ratio_median")),
        Figure(f"{name}: throughput @32", "req/s", True, at("cells", f"deploysim serve|{kind}",
                                                              "rps")),
        Figure(f"{name}: p50 at concurrency 1", "ms", False,
               scaled(at("cells", f"deploysim serve|{kind}", "c1_p50_us"), 1e-3)))))

REPLAY = Benchmark(
    "replay_endpoint", "bench/replay_endpoint.py",
    {"full": ["--latency", "0.2", "--concurrency", "256", "--turns", "10000", "--repeat", "1",
              "--results", "{out}"],
     "quick": ["--latency", "0.2", "--concurrency", "64", "--turns", "500", "--repeat", "1",
               "--results", "{out}"]},
    (Figure("turns/s, whole command", "turns/s", True, at("rows", 0, "turns_per_s")),
     Figure("turns/s, execution phase", "turns/s", True, at("rows", 0, "run_turns_per_s")),
     Figure("CPU a turn, whole command", "ms", False, at("rows", 0, "cpu_ms_per_turn")),
     Figure("CPU a turn, execution phase", "ms", False, at("rows", 0, "run_cpu_ms_per_turn"))),
    # the script came with the fork pool's retirement; in an older tree it still measures that
    # tree's `deploysim replay` (a subprocess), with the fake model from the tree that has it
    borrow_script=True)

GRADE = Benchmark(
    "grade", "bench/grade.py",
    {"full": ["--n", "5000", "--repeat", "3", "--out", "{out}"],
     "quick": ["--n", "500", "--repeat", "1", "--detect-n", "200", "--out", "{out}"]},
    (Figure("trajectories graded end to end", "per CPU-s", True,
            at("rows", "grade", "per_s_cpu")),))

BENCHMARKS: tuple[Benchmark, ...] = (PROXY, CASSETTE, SESSIONS, DERIVE, STUBS, SERVE, REPLAY,
                                     GRADE)
"""In the order they run within a repeat."""
