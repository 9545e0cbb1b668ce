"""Cassette I/O benchmark: write/read throughput, streaming memory, and load time vs VCR.py.

    python bench/cassette_io.py                      # full size (100k records, 1 GB corpus)
    python bench/cassette_io.py --records 2000 --corpus-mb 20 --vcr 100,1000   # smoke size

Prints a table and writes bench/results/cassette_io.json. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recorder import CassetteReader, CassetteWriter, Corpus, Exchange, HttpRequest, HttpResponse

RESULTS = Path(__file__).parent / "results" / "cassette_io.json"


def body(i: int, size: int = 2048) -> bytes:
    """A ~2 KB JSON chat-completion-like body, different per record."""
    text = f"lorem ipsum dolor sit amet {i} " * (size // 30)
    doc = {"id": f"chatcmpl-{i}", "object": "chat.completion", "model": "gpt-x",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text[: size - 160]},
                        "finish_reason": "stop"}]}
    return json.dumps(doc).encode()


def exchange(i: int) -> Exchange:
    return Exchange(
        id=f"ex-{i:08d}", route="openai", started_at=1.7e9 + i, ended_at=1.7e9 + i + 0.3,
        request=HttpRequest(method="POST", url="https://api.openai.com/v1/chat/completions",
                            headers=[("content-type", "application/json")],
                            body=b'{"model":"gpt-x","messages":[{"role":"user","content":"q%d"}]}'
                            % i),
        response=HttpResponse(status=200, headers=[("content-type", "application/json")],
                              body=body(i)),
    )


def bench_write_read(n: int, tmp: Path) -> dict[str, float]:
    records = [exchange(i) for i in range(n)]
    path = str(tmp / "wr.cassette")
    t0 = time.perf_counter()
    with CassetteWriter(path, durability="close") as w:
        for r in records:
            w.write(r)
    t_write = time.perf_counter() - t0
    mb = os.path.getsize(path) / 1e6
    t0 = time.perf_counter()
    typed = sum(1 for _ in CassetteReader(path))
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    raw = sum(1 for _ in CassetteReader(path).iter_objs())
    t_raw = time.perf_counter() - t0
    assert typed == raw == n
    return {"records": n, "file_mb": round(mb, 1),
            "write_records_per_s": round(n / t_write), "write_mb_per_s": round(mb / t_write, 1),
            "read_typed_records_per_s": round(n / t_read), "read_typed_mb_per_s":
            round(mb / t_read, 1), "read_raw_records_per_s": round(n / t_raw),
            "read_raw_mb_per_s": round(mb / t_raw, 1)}


# Peak RSS is read from VmHWM (this address space only): ru_maxrss would also count the
# parent's high-water mark, which a forked child inherits.
STREAM_CHILD = """
import re, sys, time
from recorder import Corpus
t0 = time.perf_counter()
n = sum(1 for _ in Corpus(sys.argv[1]).records())
dt = time.perf_counter() - t0
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(n, dt, hwm)
"""


def bench_streaming_rss(target_mb: int, tmp: Path) -> dict[str, float]:
    folder = tmp / "big"
    w = CassetteWriter(str(folder / "rec.cassette"), durability="close", rotate_bytes=256 << 20)
    written = 0
    i = 0
    template = [exchange(k) for k in range(1000)]
    while written < target_mb * 1e6:
        for r in template:
            w.write(r.model_copy(update={"id": f"ex-{i}"}))
            i += 1
        written = sum(os.path.getsize(p) for p in w.paths)
    w.close()
    out = subprocess.run([sys.executable, "-c", STREAM_CHILD, str(folder)], capture_output=True,
                         text=True, check=True).stdout.split()
    n, dt, rss_kb = int(out[0]), float(out[1]), int(out[2])
    shutil.rmtree(folder)
    return {"corpus_mb": round(written / 1e6), "records": n, "seconds": round(dt, 1),
            "mb_per_s": round(written / 1e6 / dt, 1), "peak_rss_mb": round(rss_kb / 1024, 1)}


def write_vcr_cassette(path: Path, n: int) -> None:
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.request import Request
    from vcr.serializers import yamlserializer

    requests, responses = [], []
    for i in range(n):
        ex = exchange(i)
        requests.append(Request("POST", ex.request.url, ex.request.body,
                                {"content-type": "application/json"}))
        responses.append({"status": {"code": 200, "message": "OK"},
                          "headers": {"content-type": ["application/json"]},
                          "body": {"string": ex.response.body}})  # type: ignore[union-attr]
    FilesystemPersister.save_cassette(str(path), {"requests": requests, "responses": responses},
                                      serializer=yamlserializer)


def bench_vs_vcr(n: int, tmp: Path, rounds: int = 3) -> dict[str, float]:
    from vcr.cassette import Cassette

    vcr_path = tmp / f"vcr-{n}.yaml"
    write_vcr_cassette(vcr_path, n)
    ds_path = str(tmp / f"ds-{n}.cassette")
    with CassetteWriter(ds_path, durability="close") as w:
        w.write_many(exchange(i) for i in range(n))
    vcr_t, typed_t, plain_t = [], [], []
    for _ in range(rounds):  # interleaved, so machine noise hits both sides alike
        t0 = time.perf_counter()
        c = Cassette.load(path=str(vcr_path), record_mode="none")
        assert len(c) == n
        vcr_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        recs = list(Corpus(ds_path).exchanges())
        assert len(recs) == n
        typed_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        objs = list(Corpus(ds_path).objs())
        assert len(objs) == n
        plain_t.append(time.perf_counter() - t0)
    v, d, p = (statistics.median(x) for x in (vcr_t, typed_t, plain_t))
    # VCR.py's load yields plain dicts (and Request objects); `plain` is the like-for-like
    # figure, `typed` additionally validates every record into pydantic models.
    return {"interactions": n, "vcr_load_s": round(v, 4), "deploysim_typed_load_s": round(d, 4),
            "deploysim_plain_load_s": round(p, 4), "speedup_typed": round(v / d, 1),
            "speedup_plain": round(v / p, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--corpus-mb", type=int, default=1024)
    ap.add_argument("--vcr", default="1000,10000")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dsbench-"))
    try:
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "command": "python " + " ".join(sys.argv),
            "write_read": bench_write_read(args.records, tmp),
            "streaming": bench_streaming_rss(args.corpus_mb, tmp),
            "vs_vcr": [bench_vs_vcr(int(n), tmp) for n in args.vcr.split(",")],
            "bench_process_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
