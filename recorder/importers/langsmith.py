"""`langsmith`: LangSmith run exports → sessions.

Reads runs as LangSmith exports them (`list_runs` / the UI / bulk export): JSONL, a JSON array,
`{"runs": [...]}`, or run trees whose children sit in `child_runs` (older exports, without
`trace_id` / `dotted_order`).
- `llm` runs are model calls. `inputs`: `{"messages": [[...]]}` (LangChain chat models,
  serialized `{"lc": 1, ...}` or `{"type": "human", "data": {...}}` messages),
  `{"messages": [...], "model": ..., "tools": [...]}` (wrapped OpenAI / Anthropic clients), or
  `{"prompts": [...]}`; `outputs`: `{"generations": [[{"message": ...}]], "llm_output":
  {...}}`, a chat completion, an Anthropic message or a message dict. `extra.invocation_params`
  and `extra.metadata.ls_*` give model and parameters; `error` a failed call.
- `tool` runs give the matching tool result its latency and error flag.
- `chain`, `prompt`, `parser` runs are structure; `retriever`, `embedding` and other types are
  counted as unmapped.
Calls are grouped by `extra.metadata` `session_id` / `thread_id` / `conversation_id` (else by
trace) and ordered by `dotted_order` (else `start_time`); scalar metadata and tags become labels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from recorder.importers import ImportResult
from recorder.importers.chat_messages import conversation
from recorder.importers.langfuse import outputs as logged_outputs
from recorder.importers.trace_helpers import (
    Calls,
    as_obj,
    json_items,
    scalar_labels,
    timestamp,
    tool_defs,
)
from recorder.protocols import anthropic_messages
from recorder.protocols.light import LMessage
from recorder.protocols.parsed import LlmCall

WHAT = "LangSmith runs (one per line, a JSON array, or run trees)"
_STRUCTURE = {"chain", "prompt", "parser"}
_GROUP_KEYS = ("session_id", "thread_id", "conversation_id")
_DOTTED = re.compile(r"^(\d{8}T\d{6})(\d*)Z([0-9a-fA-F-]{36})")
_PARAM_KEYS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop",
               "tool_choice", "seed", "presence_penalty", "frequency_penalty", "reasoning_effort")


def _flatten(run: dict[str, Any], trace: str | None, parent: str | None
             ) -> Iterator[dict[str, Any]]:
    """A run and its `child_runs` (older exports nest them), each knowing its trace."""
    rid = str(run.get("id") or "")
    flat = {k: v for k, v in run.items() if k != "child_runs"}
    dotted = _DOTTED.match(str(run.get("dotted_order") or ""))
    if not flat.get("trace_id"):  # the first dotted_order segment names the root run
        flat["trace_id"] = dotted.group(3) if dotted else trace or rid
    if parent and not flat.get("parent_run_id"):
        flat["parent_run_id"] = parent
    yield flat
    for child in run.get("child_runs") or []:
        if isinstance(child, dict):
            yield from _flatten(child, str(flat["trace_id"]), rid)


def _runs(path: str) -> Iterator[tuple[str, Any]]:
    for at, item in json_items(path, WHAT, "runs"):
        if not isinstance(item, dict):
            yield at, None
            continue
        for run in _flatten(item, item.get("trace_id"), None):
            yield (at if run is item or run.get("id") == item.get("id")
                   else f"{at} (run {run.get('id')})"), run


def _start(run: dict[str, Any]) -> float | None:
    started = timestamp(run.get("start_time"))
    if started is None and isinstance(run.get("dotted_order"), str):
        m = _DOTTED.match(run["dotted_order"].rsplit(".", 1)[-1])
        if m:
            frac = m.group(2) or "0"
            started = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(
                tzinfo=UTC).timestamp() + int(frac) / 10 ** len(frac)
    return started


def _own_group(run: dict[str, Any]) -> str | None:
    meta = as_obj(as_obj(run.get("extra")).get("metadata"))
    return next((str(meta[k]) for k in _GROUP_KEYS if meta.get(k)), None)


def _groups(runs: list[tuple[str, dict[str, Any] | None]]) -> dict[str, str]:
    """Conversation id per trace: the first run of the trace that names one (metadata set on
    the root is not always copied to its children in exports)."""
    out: dict[str, str] = {}
    for _, run in runs:
        group = _own_group(run) if run is not None else None
        if group and run is not None and run.get("trace_id"):
            out.setdefault(str(run["trace_id"]), group)
    return out


def _group(run: dict[str, Any], traces: dict[str, str]) -> str | None:
    trace = str(run.get("trace_id") or "")
    return _own_group(run) or traces.get(trace) or trace or None


def _labels(run: dict[str, Any]) -> dict[str, str]:
    extra = as_obj(run.get("extra"))
    meta = as_obj(extra.get("metadata"))
    labels = {k: v for k, v in scalar_labels(meta).items() if not k.startswith("ls_")}
    if isinstance(run.get("tags"), list) and run["tags"]:
        labels["tags"] = ",".join(str(t) for t in run["tags"])
    return labels


def _request(inputs: Any, call: LlmCall, unmapped: Any) -> None:
    if not isinstance(inputs, dict):
        call.messages = conversation(inputs, unmapped) if inputs is not None else []
        return
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages and all(isinstance(m, list) for m in messages):
        if len(messages) > 1:
            unmapped("llm run with several message lists (batched prompts; the first is kept)")
        messages = messages[0]
    if isinstance(messages, list):
        call.messages = conversation(messages, unmapped)
        if isinstance(inputs.get("system"), str | list) and inputs["system"]:
            parts = anthropic_messages._text_of(inputs["system"])[0]
            call.messages.insert(0, LMessage(role="system", content=parts))
    elif isinstance(inputs.get("prompts"), list):
        call.messages = conversation([str(p) for p in inputs["prompts"][:1]], unmapped)
    elif isinstance(inputs.get("prompt") or inputs.get("input"), str):
        call.messages = conversation(inputs.get("prompt") or inputs.get("input"), unmapped)
    else:
        unmapped("llm run inputs without `messages` or `prompts`")
    call.tools = tool_defs(inputs.get("tools") or inputs.get("functions"))


def _answer(outputs: Any, unmapped: Any) -> list[LMessage]:
    if isinstance(outputs, dict) and isinstance(outputs.get("generations"), list):
        gens = outputs["generations"]
        first = gens[0] if gens and isinstance(gens[0], list) else gens
        gen = first[0] if first and isinstance(first[0], dict) else {}
        if gen.get("message") is not None:
            msgs = logged_outputs(gen["message"], unmapped)
        else:
            msgs = logged_outputs(gen.get("text"), unmapped)
        info = gen.get("generation_info") or {}
        if msgs and isinstance(info, dict) and info.get("finish_reason") \
                and not msgs[0].finish_reason:
            msgs[0].finish_reason = str(info["finish_reason"])
        llm_output = outputs.get("llm_output") or {}
        usage = llm_output.get("token_usage") or llm_output.get("usage") \
            if isinstance(llm_output, dict) else None
        if msgs and isinstance(usage, dict) and not msgs[0].usage:
            msgs[0].usage = {k: int(v) for k, v in usage.items()
                             if isinstance(v, int) and not isinstance(v, bool)}
        return msgs
    if isinstance(outputs, dict) and set(outputs) == {"output"}:
        return logged_outputs(outputs["output"], unmapped)
    return logged_outputs(outputs, unmapped)


def _llm(run: dict[str, Any], where: str, stem: str, calls: Calls,
         result: ImportResult, group: str | None) -> None:
    def unmapped(what: str) -> None:
        result.unmapped_item(what, where)

    extra = as_obj(run.get("extra"))
    invocation = as_obj(extra.get("invocation_params"))
    meta = as_obj(extra.get("metadata"))
    inputs = run.get("inputs")
    model = (invocation.get("model") or invocation.get("model_name") or meta.get(
        "ls_model_name") or (inputs.get("model") if isinstance(inputs, dict) else None))
    params = {k: invocation[k] for k in _PARAM_KEYS if k in invocation}
    if isinstance(inputs, dict):
        params.update({k: inputs[k] for k in _PARAM_KEYS if k in inputs})
    if model:
        params["model"] = model
    call = LlmCall(api="langsmith", model=str(model) if model else None, messages=[],
                   params=params)
    _request(inputs, call, unmapped)
    if not call.tools:
        call.tools = tool_defs(invocation.get("tools") or invocation.get("functions"))
    call.outputs = _answer(run.get("outputs"), unmapped) if run.get("outputs") else []
    if not call.outputs:
        call.error = str(run.get("error") or "the run has no outputs")
    if not call.messages and not call.outputs:
        unmapped("llm run with neither inputs nor outputs")
        return
    labels = _labels(run)
    if model:
        labels["model"] = str(model)
    calls.add(f"{stem}:{run.get('dotted_order') or run.get('id') or where}", call,
              started=_start(run), ended=timestamp(run.get("end_time")), group=group,
              labels=labels)


def import_langsmith(path: str) -> ImportResult:
    """Sessions from a LangSmith runs export."""
    result = ImportResult()
    calls = Calls("langsmith")
    stem = os.path.basename(path)
    runs = list(_runs(path))
    traces = _groups(runs)
    for where, run in runs:
        if run is None or not isinstance(run.get("run_type"), str):
            result.unmapped_item("entry that is not a LangSmith run (no `run_type`)", where)
            continue
        kind = run["run_type"]
        if kind == "llm":
            _llm(run, where, stem, calls, result, _group(run, traces))
        elif kind == "tool":
            started, ended = _start(run), timestamp(run.get("end_time"))
            extra = as_obj(run.get("extra"))
            meta = as_obj(extra.get("metadata"))
            inputs = as_obj(run.get("inputs"))
            call_id = meta.get("tool_call_id") or inputs.get("tool_call_id")
            calls.add_tool(str(run.get("name") or ""), group=_group(run, traces),
                           started=started, ended=ended,
                           is_error=bool(run.get("error")) or run.get("status") == "error",
                           call_id=call_id, where=where)
        elif kind not in _STRUCTURE:
            result.unmapped_item(f"{kind} run", where)
    result.sessions = calls.sessions(result)
    return result
