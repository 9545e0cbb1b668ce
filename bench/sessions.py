"""Sessions benchmark: parse and thread recorded exchanges (exchanges/s) and linear scaling.

    python bench/sessions.py                         # 25k, 50k, 100k exchanges (1x, 2x, 4x)
    python bench/sessions.py --base 2000 --repeats 1 # smoke size

The workload is a recorded production mix: concurrent agent sessions (interleaved in time)
speaking OpenAI Chat (JSON and SSE), Anthropic Messages (SSE) and the Responses API (JSON,
chained by previous_response_id), each turn calling an MCP tool (`tools/call`) or a REST tool,
with retries. Side by side in the same run: the floor (only `json.loads` of every body), parse
only (`parse_exchange`), and parse + thread + attach (`derive`). Prints a table and writes
bench/results/sessions.json. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from recorder.derive import derive
from recorder.exchange import Exchange
from recorder.protocols import parse_exchange
from recorder.testing import make_exchange, sse_events
from recorder.turns import counted_turns

RESULTS = Path(__file__).parent / "results" / "sessions.json"
SYSTEM = "You are a support agent for ACME. Be precise, cite the tools you used. " * 3


def _pieces(text: str) -> list[str]:
    """The text as streamed tokens (word by word, spaces kept)."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def _chat_sse(text: str, call: dict[str, Any] | None) -> bytes:
    events: list[Any] = [{"id": "c", "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    if call:
        events.append({"id": "c", "object": "chat.completion.chunk", "choices": [{
            "index": 0, "delta": {"tool_calls": [{"index": 0, "id": call["id"],
                                                  "type": "function", "function": {
                                                      "name": call["name"], "arguments": ""}}]},
            "finish_reason": None}]})
        args = call["arguments"]
        for i in range(0, len(args), 8):
            events.append({"id": "c", "object": "chat.completion.chunk", "choices": [{
                "index": 0, "delta": {"tool_calls": [{"index": 0, "function": {
                    "arguments": args[i:i + 8]}}]}, "finish_reason": None}]})
    for piece in _pieces(text):
        events.append({"id": "c", "object": "chat.completion.chunk", "choices": [{
            "index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    events.append({"id": "c", "object": "chat.completion.chunk", "choices": [{
        "index": 0, "delta": {}, "finish_reason": "tool_calls" if call else "stop"}]})
    return sse_events(events, done=True)


def _anthropic_sse(text: str, call: dict[str, Any] | None) -> bytes:
    ev: list[Any] = [{"type": "message_start", "message": {
        "id": "msg", "type": "message", "role": "assistant", "content": [], "model": "claude",
        "usage": {"input_tokens": 50, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text",
                                                                       "text": ""}}]
    for piece in _pieces(text):
        ev.append({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": piece}})
    ev.append({"type": "content_block_stop", "index": 0})
    if call:
        ev.append({"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}})
        ev.append({"type": "content_block_delta", "index": 1, "delta": {
            "type": "input_json_delta", "partial_json": call["arguments"]}})
        ev.append({"type": "content_block_stop", "index": 1})
    ev += [{"type": "message_delta", "delta": {"stop_reason": "tool_use" if call else
                                               "end_turn"}, "usage": {"output_tokens": 30}},
           {"type": "message_stop"}]
    return sse_events(ev, named=True)


class World:
    """Generates the exchanges of one session at a time, deterministically from a seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"ex-{self.n:09d}"

    def session(self, k: int, t0: float) -> list[Exchange]:
        rng = self.rng
        api = rng.choice(["chat", "chat", "chat_sse", "anthropic", "responses"])
        turns = rng.randint(1, 5)
        hist: list[Any] = []
        out: list[Exchange] = []
        t = t0
        prev_id: str | None = None
        for turn in range(turns):
            question = f"Customer {k} asks about order {rng.randint(1000, 9999)} (turn {turn})."
            hist.append({"role": "user", "content": question})
            call = {"id": f"call_{k}_{turn}", "name": rng.choice(["orders", "crm"]),
                    "arguments": json.dumps({"order": rng.randint(1000, 9999), "k": k})}
            result = f"Order status for session {k} turn {turn}: shipped, ETA 2 days."
            for step in range(2):
                final = step == 1
                text = ("Your order has shipped and arrives in two days." if final
                        else "Let me look that up.")
                c = None if final else call
                ex = self._llm(api, hist, text, c, t, prev_id, k, turn, step)
                out.append(ex)
                if rng.random() < 0.03:  # a retry of the same request
                    out.append(ex.model_copy(update={"id": self._id(), "started_at": t + 0.1}))
                t += rng.uniform(0.5, 2.0)
                if api == "responses":
                    prev_id = f"resp_{k}_{turn}_{step}"
                if final:
                    hist.append({"role": "assistant", "content": text})
                    break
                hist.append({"role": "assistant", "content": text, "tool_calls": [{
                    "id": call["id"], "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]}}]})
                out.append(self._tool(call, result, t))
                t += rng.uniform(0.1, 0.5)
                hist.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        return out

    def _tool(self, call: dict[str, Any], result: str, t: float) -> Exchange:
        if call["name"] == "orders":
            return make_exchange("http://mcp.internal/mcp", id=self._id(), route="orders",
                                 started_at=t, duration=0.1, request_json={
                                     "jsonrpc": "2.0", "id": self.n, "method": "tools/call",
                                     "params": {"name": "orders",
                                                "arguments": json.loads(call["arguments"])}},
                                 response_json={"jsonrpc": "2.0", "id": self.n, "result": {
                                     "content": [{"type": "text", "text": result}],
                                     "isError": False}})
        return make_exchange("http://crm.internal/crm/orders?" + "q=" + call["id"],
                             id=self._id(), route="crm", method="GET", started_at=t,
                             duration=0.1, response_body=result.encode(),
                             response_headers=[("content-type", "text/plain")])

    def _llm(self, api: str, hist: list[Any], text: str, call: dict[str, Any] | None, t: float,
             prev_id: str | None, k: int, turn: int, step: int) -> Exchange:
        if api in ("chat", "chat_sse"):
            req = {"model": "gpt-prod", "messages": [{"role": "system", "content": SYSTEM},
                                                     *hist], "stream": api == "chat_sse"}
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if call:
                msg["tool_calls"] = [{"id": call["id"], "type": "function", "function": {
                    "name": call["name"], "arguments": call["arguments"]}}]
            if api == "chat":
                return make_exchange("https://api.openai.com/v1/chat/completions", id=self._id(),
                                     started_at=t, request_json=req, response_json={
                                         "id": "c", "object": "chat.completion", "choices": [{
                                             "index": 0, "message": msg, "finish_reason":
                                             "tool_calls" if call else "stop"}],
                                         "usage": {"prompt_tokens": 100, "completion_tokens": 20,
                                                   "total_tokens": 120}})
            return make_exchange("https://api.openai.com/v1/chat/completions", id=self._id(),
                                 started_at=t, request_json=req,
                                 chunks=_split(_chat_sse(text, call)))
        if api == "anthropic":
            msgs = [_to_anthropic(m) for m in hist]
            req = {"model": "claude-prod", "max_tokens": 1024, "system": SYSTEM,
                   "messages": msgs, "stream": True}
            return make_exchange("https://api.anthropic.com/v1/messages", id=self._id(),
                                 started_at=t, request_json=req,
                                 chunks=_split(_anthropic_sse(text, call)))
        last = hist[-1]
        if last["role"] == "tool":
            inp: Any = [{"type": "function_call_output", "call_id": last["tool_call_id"],
                         "output": last["content"]}]
        else:
            inp = last["content"]
        req = {"model": "gpt-prod", "instructions": SYSTEM, "input": inp}
        if prev_id:
            req["previous_response_id"] = prev_id
        output: list[Any] = [{"type": "message", "id": "m", "role": "assistant",
                              "content": [{"type": "output_text", "text": text}]}]
        if call:
            output.append({"type": "function_call", "id": "fc", "call_id": call["id"],
                           "name": call["name"], "arguments": call["arguments"]})
        return make_exchange("https://api.openai.com/v1/responses", id=self._id(), started_at=t,
                             request_json=req, response_json={
                                 "id": f"resp_{k}_{turn}_{step}", "object": "response",
                                 "status": "completed", "output": output})


def _to_anthropic(m: dict[str, Any]) -> dict[str, Any]:
    if m["role"] == "tool":
        return {"role": "user", "content": [{"type": "tool_result",
                                             "tool_use_id": m["tool_call_id"],
                                             "content": m["content"]}]}
    if m.get("tool_calls"):
        c = m["tool_calls"][0]
        return {"role": "assistant", "content": [
            {"type": "text", "text": m["content"]},
            {"type": "tool_use", "id": c["id"], "name": c["function"]["name"],
             "input": json.loads(c["function"]["arguments"])}]}
    if m["role"] == "assistant":
        return {"role": "assistant", "content": [{"type": "text", "text": m["content"]}]}
    return m


def _split(data: bytes, size: int = 512) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def workload(n: int, seed: int = 7) -> list[Exchange]:
    """About n exchanges from interleaved sessions (50 in flight at a time)."""
    world = World(seed)
    out: list[Exchange] = []
    k = 0
    while len(out) < n:
        out.extend(world.session(k, 1.7e9 + (k // 50) * 30.0 + (k % 50) * 0.37))
        k += 1
    out = out[:n]
    out.sort(key=lambda e: e.id)  # file order ≠ time order, as with several proxies writing
    return out


def _time(fn: Any, repeats: int) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) over `repeats` runs. CPU time is what one core spent,
    so it stays meaningful on a shared, loaded machine; wall time is reported beside it."""
    cpu, wall = [], []
    for _ in range(repeats):
        gc.collect()
        gc.disable()  # as `derive` does itself: every phase is measured the same way
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        gc.enable()
    return statistics.median(cpu), statistics.median(wall)


def floor(exchanges: list[Exchange]) -> None:
    """The least any parser must do: decode every JSON body and every SSE `data:` event."""
    for ex in exchanges:
        if ex.request.body:
            json.loads(ex.request.body)
        if ex.response is None or not ex.response.body:
            continue
        if ex.response.chunks is None:
            if ex.response.body[:1] in (b"{", b"["):
                json.loads(ex.response.body)
            continue
        for line in ex.response.body.split(b"\n"):
            if line.startswith(b"data: {"):
                json.loads(line[6:])


def parse_all(exchanges: list[Exchange]) -> None:
    for ex in exchanges:
        parse_exchange(ex)


def measure(n: int, scale: str, repeats: int) -> dict[str, Any]:
    """Floor, parse and derive of an n-exchange workload, side by side."""
    exchanges = workload(n)
    t_floor, _ = _time(lambda: floor(exchanges), repeats)
    t_parse, _ = _time(lambda: parse_all(exchanges), repeats)
    holder: dict[str, Any] = {}
    t_derive, w_derive = _time(lambda: holder.update(d=derive(exchanges)), repeats)
    d = holder.pop("d")
    llm_sessions = [s for s in d.sessions if s.source.type == "recorded"]
    return {
        "scale": scale, "exchanges": n, "sessions": len(llm_sessions),
        "tool_only_sessions": len(d.sessions) - len(llm_sessions),
        "turns": sum(len(counted_turns(s)) for s in llm_sessions),
        "attached_tool_exchanges": len(d.attached),
        "floor_json_cpu_s": round(t_floor, 3), "parse_cpu_s": round(t_parse, 3),
        "derive_cpu_s": round(t_derive, 3), "derive_wall_s": round(w_derive, 3),
        "derive_exchanges_per_cpu_s": round(n / t_derive),
        "parse_exchanges_per_cpu_s": round(n / t_parse),
        "derive_vs_floor": round(t_derive / t_floor, 2),
        "cpu_us_per_exchange": round(t_derive / n * 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=int, default=25_000, help="exchanges at 1x (default 25000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per size (median)")
    args = ap.parse_args()
    rows = [measure(args.base * mult, f"{mult}x", args.repeats) for mult in (1, 2, 4)]
    base = rows[0]["cpu_us_per_exchange"]
    for r in rows:
        r["per_exchange_vs_1x"] = round(r["cpu_us_per_exchange"] / base, 3)
    header = ["scale", "exchanges", "sessions", "turns", "floor_json_cpu_s", "parse_cpu_s",
              "derive_cpu_s", "derive_wall_s", "derive_exchanges_per_cpu_s",
              "cpu_us_per_exchange", "per_exchange_vs_1x", "derive_vs_floor"]
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(str(r[h]) for h in header))
    meta = {"python": sys.version.split()[0], "nproc": os.cpu_count(),
            "loadavg_at_end": os.getloadavg()[0],
            "machine": platform.machine(), "repeats": args.repeats, "base": args.base,
            "command": " ".join(["python", *sys.argv])}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
