"""`inspect`: Inspect AI evaluation logs (`.eval` and `.json`) → one session per sample.

A `.eval` log is a zip of JSON (`header.json`, `samples/<id>_epoch_<n>.json`); a `.json` log is
the whole `EvalLog` (`eval`, `samples`). Per sample (and epoch):
- `messages` (ChatMessageSystem / User / Assistant / Tool: `tool_calls` `{id, function,
  arguments}`, `tool_call_id`, `function`, `error`, `reasoning` content) are the conversation;
  `attachment://` references are resolved from the sample's `attachments`;
- `model` events give the tools offered (`tools`), the parameters (`config`), the model, and
  per step the usage and stop reason (matched by message id, else in order); `tool` events
  give latency (`working_time`, else `completed - timestamp`) and errors;
- `scores` become label annotations (`score.NAME`, with answer and explanation) and labels;
  the task, epoch and the sample's scalar `metadata` (`segment`) become labels.
A sample without messages falls back to its last model event's input and output.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from typing import Any

from recorder.annotation import Annotation
from recorder.errors import UsageError
from recorder.importers import ImportResult
from recorder.importers.chat_messages import conversation, text_of
from recorder.importers.trace_helpers import as_obj, read_bytes, scalar_labels, timestamp, tool_defs
from recorder.session import Session, SessionSource

_ATTACHMENT = "attachment://"


def _json(path: str, name: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        line = getattr(exc, "lineno", 1)
        raise UsageError(f"{path} ({name}) line {line} is not valid JSON ({exc}); the log is "
                         "damaged, rewrite it with `inspect log convert`.") from exc


def _log(path: str) -> tuple[dict[str, Any], Iterator[tuple[str, Any]]]:
    """The log's header and its samples (with where each came from)."""
    data = read_bytes(path)
    if data[:2] == b"PK":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise UsageError(f"{path} is not a readable .eval log ({exc}); check the "
                             "file.") from exc
        names = zf.namelist()
        header = _json(path, "header.json", zf.read("header.json")) \
            if "header.json" in names else {}
        members = sorted(n for n in names if n.startswith("samples/") and n.endswith(".json"))

        def members_json() -> Iterator[tuple[str, Any]]:
            with zf:
                for n in members:
                    yield n, _json(path, n, zf.read(n))
        return as_obj(header), members_json()
    doc = _json(path, "the file", data)
    if not isinstance(doc, dict) or not isinstance(doc.get("samples", []), list):
        raise UsageError(f"{path} is not an Inspect log (no `eval` and `samples`); give a "
                         ".eval or .json log written by Inspect AI.")
    samples = [(f"samples[{i}]", s) for i, s in enumerate(doc.get("samples") or [])]
    return doc, iter(samples)


def _resolve(value: Any, attachments: dict[str, Any], missing: list[str]) -> Any:
    """`attachment://HASH` strings replaced by the sample's attachment content."""
    if isinstance(value, str):
        if value.startswith(_ATTACHMENT):
            key = value[len(_ATTACHMENT):]
            if key in attachments:
                return attachments[key]
            missing.append(key)
        return value
    if isinstance(value, list):
        return [_resolve(v, attachments, missing) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, attachments, missing) for k, v in value.items()}
    return value


def _step_facts(events: list[Any], raw_messages: list[Any]) -> list[dict[str, Any]]:
    """For each assistant message: the model event that produced it (usage, stop reason)."""
    model_events = [e for e in events if isinstance(e, dict) and e.get("event") == "model"]
    by_id: dict[str, dict[str, Any]] = {}
    for e in model_events:
        for choice in (e.get("output") or {}).get("choices") or []:
            mid = (choice.get("message") or {}).get("id") if isinstance(choice, dict) else None
            if mid:
                by_id[str(mid)] = {"output": e.get("output") or {}, "choice": choice}
    facts: list[dict[str, Any]] = []
    order = iter(model_events)
    for m in raw_messages:
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        fact = by_id.get(str(m.get("id")))
        if fact is None:
            step = next(order, None)
            output = (step or {}).get("output") or {}
            choices = output.get("choices") or [{}]
            fact = {"output": output, "choice": choices[0]}
        facts.append(fact)
    return facts


def import_inspect(path: str) -> ImportResult:
    """Sessions from an Inspect AI log, one per sample and epoch."""
    result = ImportResult()
    header, samples = _log(path)
    spec = as_obj(header.get("eval"))
    task = str(spec.get("task") or "inspect")
    for where, sample in samples:
        if not isinstance(sample, dict):
            result.unmapped_item("sample that is not a JSON object", where)
            continue
        session = _sample(sample, where, task, spec, result)
        if session is not None:
            result.sessions.append(session)
    return result


def _sample(sample: dict[str, Any], where: str, task: str, spec: dict[str, Any],
            result: ImportResult) -> Session | None:
    def unmapped(what: str) -> None:
        result.unmapped_item(what, where)

    missing: list[str] = []
    attachments = as_obj(sample.get("attachments"))
    raw = _resolve(sample.get("messages") or [], attachments, missing)
    events = _resolve(sample.get("events") or [], attachments, missing)
    for key in missing:
        unmapped(f"attachment reference with no attachment ({key[:12]})")
    model_events = [e for e in events if isinstance(e, dict) and e.get("event") == "model"]
    if not raw and model_events:
        last = model_events[-1]
        choices = (last.get("output") or {}).get("choices") or []
        raw = [*(last.get("input") or []),
               *[c.get("message") for c in choices[:1] if isinstance(c, dict)]]
    messages = conversation(raw, unmapped)
    if not messages:
        unmapped("sample with no messages")
        return None
    steps = iter(_step_facts(events, raw))
    for m in messages:
        if m.role != "assistant":
            continue
        fact = next(steps, None)
        if fact is None:
            continue
        usage = fact["output"].get("usage") or {}
        m.usage = {k: int(v) for k, v in usage.items()
                   if isinstance(v, int) and not isinstance(v, bool)}
        stop = fact["choice"].get("stop_reason") if isinstance(fact["choice"], dict) else None
        m.finish_reason = str(stop) if stop else None
    _tool_events(messages, events)
    tools: dict[str, Any] = {}
    for e in model_events:
        for t in tool_defs(e.get("tools")):
            tools.setdefault(t.name, t)
    model = (model_events[-1].get("model") if model_events else None) or spec.get("model")
    config = (model_events[-1].get("config") if model_events else None) \
        or spec.get("model_generate_config") or {}
    params = {k: v for k, v in config.items() if v is not None} if isinstance(
        config, dict) else {}
    if model:
        params["model"] = model
    sid = sample.get("id")
    epoch = sample.get("epoch", 1)
    labels = {**scalar_labels(sample.get("metadata")), "task": task, "epoch": str(epoch)}
    if model:
        labels["model"] = str(model)
    if sample.get("error"):
        err = sample["error"]
        labels["sample_error"] = str(err.get("message") if isinstance(err, dict) else err)
    session_id = f"{task}/{sid}#{epoch}"
    _scores(sample, session_id, labels, result)
    times = [t for e in events if isinstance(e, dict)
             for t in (timestamp(e.get("timestamp")), timestamp(e.get("completed")))
             if t is not None]
    return Session.model_validate({
        "id": session_id, "messages": [m.to_dict() for m in messages],
        "tools": list(tools.values()), "params": params, "labels": labels,
        "source": SessionSource(type="imported", importer="inspect"),
        "started_at": timestamp(sample.get("started_at")) or (min(times) if times else None),
        "ended_at": timestamp(sample.get("completed_at")) or (max(times) if times else None)})


def _tool_events(messages: list[Any], events: list[Any]) -> None:
    by_id = {str(e.get("id")): e for e in events
             if isinstance(e, dict) and e.get("event") == "tool" and e.get("id")}
    for m in messages:
        e = by_id.get(m.tool_call_id or "") if m.role == "tool" else None
        if e is None or m.result is None:
            continue
        latency = e.get("working_time")
        if latency is None:
            start, end = timestamp(e.get("timestamp")), timestamp(e.get("completed"))
            latency = end - start if start is not None and end is not None else None
        m.result.latency_ms = round(float(latency) * 1000, 3) if latency is not None else None
        m.result.is_error = m.result.is_error or bool(e.get("error"))
        if not m.result.content and e.get("result") is not None:
            m.result.content = text_of(e["result"])


def _scores(sample: dict[str, Any], session_id: str, labels: dict[str, str],
            result: ImportResult) -> None:
    scores = sample.get("scores")
    if not isinstance(scores, dict) and isinstance(sample.get("score"), dict):
        scores = {"score": sample["score"]}  # logs before scores became a dict
    for name, score in (scores or {}).items():
        if not isinstance(score, dict):
            continue
        value = score.get("value")
        if isinstance(value, str | int | float | bool):
            labels[f"score.{name}"] = str(value)
        data = {k: score[k] for k in ("answer", "explanation", "metadata")
                if score.get(k) is not None}
        result.annotations.append(Annotation(
            id=f"inspect-{session_id}-{name}", session_id=session_id, type="label",
            name=f"score.{name}", value=value, data=data, created_by="inspect_ai"))

