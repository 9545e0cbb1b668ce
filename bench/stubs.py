"""Stub benchmark: exact lookups on a big index, index build time and memory, and answering
recorded HTTP interactions in order, deploysim stubs vs VCR.py.

    .venv/bin/python bench/stubs.py                                  # 1M calls, 10k HTTP
    .venv/bin/python bench/stubs.py --calls 20000 --http 500 --vcr-stride 1   # smoke size

1. index: N recorded calls of 6 tools (function, MCP and HTTP; 8 calls a session, a third of
   them repeats) are streamed into a `StubIndex`; build time (generation time subtracted) and
   the resident memory the index adds.
2. lookups: exact lookups in process, from the call as the agent sent it (fresh argument
   dicts with their keys in another order than recorded, drawn uniformly from the index):
   - lookup — what the index does (`StubIndex.lookup_call`): the tool, the canonical key of
     the arguments, and the recorded responses for it in recorded order, the replayed
     session's own first (provenance `session` or `exact`). An in-process micro figure:
     its target (200k/s on a 1M-call index) is retired (issue 19), the end-to-end figures
     are the replay proxy's (`bench/serve.py`) and the replayer's.
   - answer — what the replayer and `deploysim serve` call for every recorded call
     (`StubEngine.answer(ToolQuery)`): the lookup, then the repeat position, the row
     unpacked and rendered as the transport's answer (`StubAnswer`: the model-visible
     result with provenance, the MCP result or HTTP reply).
   Each is timed `--repeat` times over the same queries (a fresh engine for every answer
   run: no repeat positions carried over), in CPU seconds; medians are reported.
3. vs VCR.py: the same HTTP interactions recorded as a deploysim cassette (raw exchanges, as the
   recording proxy writes them) and as a VCR.py YAML cassette; each side loads its cassette and
   answers every request in recorded order — VCR.py through its own `Cassette.load` +
   `play_response` (match_on = VCR's default: method, scheme, host, port, path, query),
   deploysim through `StubEngine.from_corpus` (or a prebuilt index) + `answer`.
   VCR.py scans the cassette from the start for every request, so answering request i costs
   i + 1 comparisons whatever was played before; with `--vcr-stride K` only the middle request
   of every block of K is answered (in order) and the total is extrapolated as K x that time
   (checked against a full run at `--vcr-check` interactions). Both sides are timed in CPU
   seconds of this process (the host is shared; wall time would measure the neighbours).

Prints a table and writes bench/results/stubs.json. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recorder.recorded_tool_call import HttpReply, RecordedToolCall
from recorder.session import ToolResult
from stubs.api import ToolQuery
from stubs.engine import StubEngine
from stubs.index import StubIndex

RESULTS = Path(__file__).parent / "results" / "stubs.json"
HEADERS = [("content-type", "application/json")]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def call(i: int, n: int) -> RecordedToolCall:
    """The i-th recorded call; a third of the calls repeat an earlier call's arguments."""
    j = i if i % 3 else (i * 7919) % max(1, n // 3)
    kind = j % 6
    session = f"s{i // 8}"
    construct = RecordedToolCall.model_construct
    if kind == 0:
        args: Any = {"city": f"city-{j % 50000}", "units": "metric" if j % 2 else "imperial",
                     "days": 1 + j % 7}
        text = (f'{{"city": "city-{j % 50000}", "temp_c": {j % 35}, "conditions": "sunny", '
                f'"forecast": [{{"day": 0, "high": {j % 30}}}, {{"day": 1, "high": '
                f'{(j + 1) % 30}}}, {{"day": 2, "high": {(j + 2) % 30}}}]}}')
        return construct(kind="function", server=None, name="get_weather", arguments=args,
                         result=ToolResult.model_construct(content=text),
                         session_id=session, index=i % 8)
    if kind == 1:
        args = {"query": f"how to configure feature {j}", "limit": 10}
        text = '{"results": [' + ", ".join(
            f'{{"title": "Result {j}-{k}", "url": "https://e.x/{j}/{k}"}}' for k in range(3)) + "]}"
        return construct(kind="function", server=None, name="search_web", arguments=args,
                         result=ToolResult.model_construct(content=text),
                         session_id=session, index=i % 8)
    if kind in (2, 3):
        name = "search_issues" if kind == 2 else "read_file"
        args = {"repo": f"org/repo-{j % 500}", "query": f"bug {j}", "state": "open"} \
            if kind == 2 else {"path": f"/srv/data/file-{j}.txt"}
        text = f'{{"total": {j % 9}, "items": [{{"id": {j}, "title": "Issue {j}"}}]}}' \
            if kind == 2 else f"contents of file {j}\n" * 3
        mcp = {"content": [{"type": "text", "text": text}], "isError": False}
        return construct(kind="mcp", server="github" if kind == 2 else "fs", name=name,
                         arguments=args, result=ToolResult.model_construct(content=text),
                         session_id=session, index=i % 8, mcp_result=mcp)
    name = "GET /v1/orders" if kind == 4 else "POST /v1/contacts"
    args = {"query": {"id": f"A{j}"}, "body": None} if kind == 4 else \
        {"query": {}, "body": {"email": f"user{j}@example.com", "name": f"User {j}"}}
    raw = f'{{"id": "A{j}", "status": "paid", "total": {j % 1000 / 10}}}'.encode()
    return construct(kind="http", server="shop", name=name, arguments=args,
                     result=ToolResult.model_construct(content=raw.decode()), session_id=session,
                     index=i % 8, http=HttpReply.model_construct(status=200, headers=HEADERS,
                                                                 body=raw))


def calls(n: int) -> Iterator[RecordedToolCall]:
    return (call(i, n) for i in range(n))


def calibration() -> dict[str, float]:
    """What basic Python operations cost on this machine right now (a shared host's speed
    varies by the minute): a 5-argument call of an empty function, `json.dumps` of a
    3-key dict. Compare runs through these."""
    def nop(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
        return None

    doc = {"city": "Paris", "units": "metric", "days": 3}
    out = {}
    for name, fn in (("ns_per_call", lambda: nop(1, 2, 3, 4, 5)),
                     ("ns_per_json_dumps", lambda: json.dumps(doc))):
        best = float("inf")
        for _ in range(5):
            t = time.process_time()
            for _ in range(100_000):
                fn()
            best = min(best, time.process_time() - t)
        out[name] = round(best / 100_000 * 1e9, 1)
    return out


def bench_index(n: int, lookups: int, repeat: int) -> dict[str, Any]:
    calib = calibration()
    t0 = time.process_time()
    for _ in calls(n):
        pass
    gen_s = time.process_time() - t0
    gc.collect()
    before = rss_mb()
    t0, w0 = time.process_time(), time.perf_counter()
    index = StubIndex.build(calls(n))
    total_s, total_wall = time.process_time() - t0, time.perf_counter() - w0
    gc.collect()
    index_mb = rss_mb() - before
    # queries: recorded calls drawn uniformly (distinct positions; a third of the calls repeat
    # an earlier call's arguments, so a few queries share a key), their arguments as fresh dicts
    # with the keys in another order than recorded — the tool call as the agent sent it
    rnd = random.Random(0)
    queries = []
    for i in rnd.sample(range(n), min(lookups, n)):
        c = call(i, n)
        args = json.loads(json.dumps(c.arguments))
        if isinstance(args, dict):
            args = dict(reversed(list(args.items())))
        queries.append(ToolQuery(kind=c.kind, name=c.name, arguments=args, server=c.server,
                                 session_id=c.session_id, call_index=c.index,
                                 trajectory_id=c.session_id))

    # the lookup: the index's job (tool, canonical key, recorded rows in order with the
    # session's own first); nothing is cached between runs
    lookup_call = index.lookup_call

    def lookup_all() -> tuple[float, float]:
        found = 0
        t, w = time.process_time(), time.perf_counter()
        for q in queries:
            found += lookup_call(q.kind, q.server, q.name, q.arguments, q.session_id)[2] \
                is not None
        dt, dw = time.process_time() - t, time.perf_counter() - w
        assert found == len(queries), found
        return dt, dw

    # the answer: what the replayer and `deploysim serve` do for every recorded call, from
    # the call as it arrives to the rendered recorded response
    async def answer_all(engine: StubEngine) -> tuple[float, float]:
        answer = engine.answer
        hits = 0
        t, w = time.process_time(), time.perf_counter()
        for q in queries:
            a = await answer(q)
            hits += a.provenance in ("exact", "session")
        dt, dw = time.process_time() - t, time.perf_counter() - w
        assert hits == len(queries), hits
        return dt, dw

    lookups, answers = [], []
    for _ in range(repeat):  # interleaved, so a noisy minute hits both alike
        gc.collect()
        lookups.append(lookup_all())
        gc.collect()
        answers.append(asyncio.run(answer_all(StubEngine(index))))  # a fresh engine a run
    times = [r[0] for r in lookups]
    answer_times = [r[0] for r in answers]
    med = statistics.median(times)
    return {"calibration": {**calib, "loadavg": os.getloadavg()},
            "calls": n, "tools": len(index.tables),
            "distinct_keys": sum(len(t.keys) for t in index.tables),
            "generate_cpu_s": round(gen_s, 2), "build_cpu_s": round(total_s - gen_s, 2),
            "build_wall_s_incl_generation": round(total_wall, 2),
            "build_calls_per_s": round(n / max(total_s - gen_s, 1e-9)),
            "index_mb": round(index_mb, 1), "bytes_per_call": round(index_mb * 1e6 / n),
            "lookups": len(queries), "repeat": repeat,
            "lookup": "StubIndex.lookup_call (tool, canonical key, recorded rows in order, "
                      "the session's own first)",
            "lookup_cpu_s_runs": [round(t, 3) for t in times],
            "lookup_wall_s_runs": [round(r[1], 3) for r in lookups],
            "lookups_per_s": round(len(queries) / med),
            "lookups_per_s_best": round(len(queries) / min(times)),
            "lookups_per_s_wall": round(len(queries) / statistics.median(r[1] for r in lookups)),
            "us_per_lookup": round(med / len(queries) * 1e6, 2),
            "answer": "StubEngine.answer (exact/session hits, no perturbation profile): the "
                      "lookup, repeat position, row unpacked, rendered StubAnswer",
            "answer_cpu_s_runs": [round(t, 3) for t in answer_times],
            "answer_wall_s_runs": [round(r[1], 3) for r in answers],
            "answers_per_s": round(len(queries) / statistics.median(answer_times)),
            "answers_per_s_best": round(len(queries) / min(answer_times)),
            "us_per_answer": round(statistics.median(answer_times) / len(queries) * 1e6, 2)}


# -- vs VCR.py -----------------------------------------------------------------------------------

def http_calls(n: int) -> list[RecordedToolCall]:
    from stubs.testing import http_call

    out = []
    for i in range(n):
        route = ["/v1/orders", "/v1/customers", "/v1/items", "/v1/invoices"][i % 4]
        out.append(http_call("shop", "GET", route, query={"id": f"X{i}", "expand": "lines"},
                             response={"id": f"X{i}", "status": "ok", "amount": i % 997,
                                       "lines": [{"sku": f"S{i % 50}", "qty": 1 + i % 3}]},
                             session=None, index=i))
    return out


def write_cassettes(recorded: list[RecordedToolCall], tmp: Path) -> tuple[str, str, str]:
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.request import Request
    from vcr.serializers import yamlserializer

    from recorder.corpus import Corpus
    from recorder.writer import CassetteWriter
    from stubs.source import corpus_calls
    from stubs.store import save_index
    from stubs.testing import call_exchange

    ours = str(tmp / "http.cassette")
    with CassetteWriter(ours, durability="close") as w:
        for i, c in enumerate(recorded):
            w.write(call_exchange(c, f"ex-{i:06d}", 1.7e9 + i))
    corpus = Corpus(ours)
    idx = str(tmp / "http.idx")
    save_index(StubIndex.build(corpus_calls(corpus)), idx, corpus_hash=corpus.content_hash())
    requests, responses = [], []
    for c in recorded:
        ex = call_exchange(c, "x", 0)
        requests.append(Request(ex.request.method, ex.request.url, ex.request.body or None,
                                {"accept": "application/json"}))
        responses.append({"status": {"code": ex.response.status, "message": "OK"},
                          "headers": {k: [v] for k, v in ex.response.headers},
                          "body": {"string": ex.response.body.decode()}})
    vcr_path = str(tmp / "http.yaml")
    FilesystemPersister.save_cassette(vcr_path, {"requests": requests, "responses": responses},
                                      serializer=yamlserializer)
    return ours, idx, vcr_path


def run_vcr(vcr_path: str, recorded: list[RecordedToolCall], stride: int) -> dict[str, float]:
    from vcr import matchers
    from vcr.cassette import Cassette
    from vcr.request import Request

    from stubs.testing import call_exchange

    wanted = [call_exchange(c, "x", 0).request for c in recorded]
    t0 = time.process_time()
    cassette = Cassette.load(path=vcr_path, record_mode="none", match_on=(
        matchers.method, matchers.scheme, matchers.host, matchers.port, matchers.path,
        matchers.query))
    load_s = time.process_time() - t0
    t0 = time.process_time()
    answered = 0
    # the middle request of every block of `stride`: its cost stands for the block's mean
    for i in range(stride // 2, len(wanted), stride):
        r = wanted[i]
        response = cassette.play_response(Request(r.method, r.url, r.body or None,
                                                  {"accept": "application/json"}))
        assert response["status"]["code"] == 200
        answered += 1
    play_s = time.process_time() - t0
    return {"load_s": round(load_s, 3), "answered": answered,
            "play_s_measured": round(play_s, 3), "play_s": round(play_s * stride, 3),
            "total_s": round(load_s + play_s * stride, 3)}


def run_deploysim(corpus: str, idx: str | None, recorded: list[RecordedToolCall]) -> float:
    from stubs.store import load_index

    queries = [ToolQuery(kind="http", name=c.name, server=c.server, arguments=c.arguments,
                         call_index=i) for i, c in enumerate(recorded)]

    async def go() -> float:
        t0 = time.process_time()
        engine = StubEngine(load_index(idx)) if idx else StubEngine.from_corpus(corpus)
        for q in queries:
            a = await engine.answer(q)
            assert a.http is not None and a.http.status == 200, a.provenance
        return time.process_time() - t0

    return asyncio.run(go())


def bench_vs_vcr(n: int, stride: int, check: int, repeat: int, tmp: Path) -> dict[str, Any]:
    calib = calibration()
    recorded = http_calls(n)
    ours, idx, vcr_path = write_cassettes(recorded, tmp)
    corpus_s = statistics.median(run_deploysim(ours, None, recorded) for _ in range(repeat))
    index_s = statistics.median(run_deploysim(ours, idx, recorded) for _ in range(repeat))
    vcr = run_vcr(vcr_path, recorded, stride)
    out: dict[str, Any] = {
        "calibration": {**calib, "loadavg": os.getloadavg()},
        "interactions": n, "vcr": vcr, "vcr_stride": stride,
        "deploysim_corpus_s": round(corpus_s, 3), "deploysim_index_s": round(index_s, 3),
        "speedup_corpus": round(vcr["total_s"] / corpus_s, 1),
        "speedup_index": round(vcr["total_s"] / index_s, 1),
        "cassette_bytes": {"deploysim": os.path.getsize(ours), "index": os.path.getsize(idx),
                           "vcr_yaml": os.path.getsize(vcr_path)}}
    if stride > 1 and check:
        small = http_calls(check)
        sub = tmp / "check"
        sub.mkdir()
        _, _, small_vcr = write_cassettes(small, sub)
        full = run_vcr(small_vcr, small, 1)
        sampled = run_vcr(small_vcr, small, stride)
        out["extrapolation_check"] = {"interactions": check, "full_play_s": full["play_s"],
                                      "extrapolated_play_s": sampled["play_s"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000, help="recorded calls in the index")
    ap.add_argument("--lookups", type=int, default=200_000, help="exact lookups timed")
    ap.add_argument("--http", type=int, default=10_000, help="HTTP interactions vs VCR.py")
    ap.add_argument("--vcr-stride", type=int, default=100,
                    help="answer every K-th request with VCR.py and extrapolate (1 = all)")
    ap.add_argument("--vcr-check", type=int, default=1000,
                    help="interactions of the full-vs-extrapolated VCR.py check (0 = skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parts", default="index,vcr", help="which parts to run (index, vcr)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    vs = previous.get("vs_vcr")
    if "vcr" in parts:
        with tempfile.TemporaryDirectory() as d:
            vs = bench_vs_vcr(args.http, args.vcr_stride, args.vcr_check, min(args.repeat, 3),
                              Path(d))
    idx = bench_index(args.calls, args.lookups, args.repeat) if "index" in parts \
        else previous.get("index")
    if idx is None or vs is None:
        sys.exit("run both parts once (the other part's figures come from the last run)")
    result = {"machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "command": " ".join(["bench/stubs.py", *sys.argv[1:]]), "index": idx,
              "vs_vcr": vs}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]

    def calib(c: dict[str, Any]) -> str:
        if not c:
            return ""
        return (f"[load {c['loadavg'][0]:.1f}; an empty call {c['ns_per_call']} ns, "
                f"json.dumps of 3 keys {c['ns_per_json_dumps']} ns]")

    print(f"machine: {m['nproc']} CPUs, Python {m['python']}")
    print(f"index of {idx['calls']:,} calls ({idx['distinct_keys']:,} distinct, "
          f"{idx['tools']} tools) {calib(idx.get('calibration', {}))}")
    print(f"  build           {idx['build_cpu_s']:>10} s   CPU ({idx['build_calls_per_s']:,} "
          f"calls/s; generating the calls took {idx['generate_cpu_s']} s more)")
    print(f"  memory          {idx['index_mb']:>10} MB  ({idx['bytes_per_call']} bytes/call)")
    print(f"  exact lookups   {idx['lookups_per_s']:>10,} /s  per CPU second "
          f"(StubIndex.lookup_call, {idx['us_per_lookup']} us), median of {idx['repeat']}; "
          f"best {idx['lookups_per_s_best']:,} /s; {idx['lookups_per_s_wall']:,} /s wall clock")
    if "answers_per_s" in idx:
        print(f"  exact answers   {idx['answers_per_s']:>10,} /s  per CPU second "
              f"(StubEngine.answer: + repeat position, unpack, render; "
              f"{idx['us_per_answer']} us); best {idx['answers_per_s_best']:,} /s")
    v = vs["vcr"]
    print(f"{vs['interactions']:,} HTTP interactions answered in order (load + answer) "
          f"{calib(vs.get('calibration', {}))}")
    how = "measured" if vs["vcr_stride"] == 1 else \
        f"extrapolated from every {vs['vcr_stride']}th request"
    print(f"  VCR.py          {v['total_s']:>10} s   (load {v['load_s']} s; answers {how})")
    print(f"  deploysim       {vs['deploysim_corpus_s']:>10} s   from the cassette "
          f"({vs['speedup_corpus']}x)")
    print(f"  deploysim       {vs['deploysim_index_s']:>10} s   from a prebuilt index "
          f"({vs['speedup_index']}x)")
    if "extrapolation_check" in vs:
        c = vs["extrapolation_check"]
        print(f"  check at {c['interactions']}: VCR.py answers measured {c['full_play_s']} s, "
              f"extrapolated {c['extrapolated_play_s']} s")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
