"""The child process that serves the local model with llama.cpp's own C++ server (xllamacpp).

    python -m deploysim.realmodel.llama_child --model PATH [--slots 2] [--ctx-per-slot 8192]
                                        [--max-tokens 512] [--threads N]

Prints `{"url": "http://127.0.0.1:PORT"}` as one line once the server listens, then serves
until its stdin closes. It runs in its own process because xllamacpp's server has no stop call:
ending the process is the one clean way to free its threads, its port and its memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m deploysim.realmodel.llama_child")
    ap.add_argument("--model", required=True)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--ctx-per-slot", type=int, default=8192)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    ap.add_argument("--alias", default=None)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)

    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = args.model
    if args.alias:
        p.model_alias = args.alias
    p.hostname = "127.0.0.1"
    # 0: the OS picks a free port and we print it; a restart asks for the same one again
    p.port = args.port
    # llama.cpp splits n_ctx between the slots: each conversation gets ctx_per_slot tokens
    p.n_parallel = args.slots
    p.n_ctx = args.slots * args.ctx_per_slot
    # a request without max_tokens would otherwise generate until its slot's context is full:
    # minutes of CPU for a small model that lost its way
    p.n_predict = args.max_tokens
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    # Jinja chat templates are what make `tools` and `tool_choice` work at all
    p.use_jinja = True
    p.warmup = False
    p.endpoint_metrics = True
    server = xllamacpp.Server(p)
    print(json.dumps({"url": server.listening_address}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    sys.stdout.flush()
    # The C++ server's threads would keep a normal interpreter exit waiting; nothing of ours
    # needs flushing, so leave at once
    os._exit(0)


if __name__ == "__main__":
    main()
