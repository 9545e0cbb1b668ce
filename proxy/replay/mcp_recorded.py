"""What a recorded MCP server answered to everything but `tools/call`, and how a replay answers
those methods from it: lists (tools, resources, resource templates, prompts), reads
(`resources/read`, `prompts/get`), `completion/complete`, and the JSON-RPC errors it gave.

An answer is, in order:

1. the recorded reply to the same method and parameters (`_meta` left out; absent, null and
   empty parameters are the same), result or error alike;
2. a method the server answered only with "Method not found" gets that error again, whatever
   the parameters; a method never recorded whose capability the server did not declare
   (when its capabilities are known) gets it too, as a server without it says;
3. a fallback of the method's own (`FALLBACKS`), built from the server's recorded replies:
   a list with an unknown cursor gets the first page; `resources/read` of an unrecorded URI
   that matches a recorded resource template gets a recorded read of that template with the
   template's variables put in; `prompts/get` with other arguments gets the same prompt
   recorded with the closest arguments (rendered, else its error), the argument values put
   in; `completion/complete` gets the values recorded for the same argument that start with
   what was typed; an unknown resource or prompt gets a not-found error worded as the server
   worded one, else as the specification words it;
4. a list method never recorded (its capability declared, or the capabilities unknown): an
   empty list.

`None` means none of these applies: the caller says "Method not found".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Reply = dict[str, Any]
"""A recorded reply: `{"result": {...}}` or `{"error": {...}}`."""

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND = -32002
"""The specification's code for `resources/read` of an unknown URI."""

LIST_METHODS = {"tools/list": ("tools", "tools"), "resources/list": ("resources", "resources"),
                "resources/templates/list": ("resourceTemplates", "resources"),
                "prompts/list": ("prompts", "prompts")}
"""List method → (the result's list key, the capability that promises it)."""
CAPABILITY = {**{m: cap for m, (_, cap) in LIST_METHODS.items()},
              "resources/read": "resources", "resources/subscribe": "resources",
              "resources/unsubscribe": "resources", "prompts/get": "prompts",
              "completion/complete": "completions"}
"""Method → the capability a server declares when it serves the method."""


def canonical_params(params: Any) -> dict[str, Any]:
    """A request's parameters as matching sees them: no `_meta`, no null or empty values at
    the top (clients differ in sending `params: null`, `{}` or `{"arguments": {}}`)."""
    if not isinstance(params, dict):
        return {}
    return {k: v for k, v in params.items() if k != "_meta" and v is not None and v != {}}


def params_key(method: str, params: Any) -> str:
    """Canonical text of a request's method and params (see `canonical_params`)."""
    return method + " " + json.dumps(canonical_params(params), sort_keys=True,
                                     separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass
class McpRecorded:
    """The recorded non-`tools/call` replies of one MCP server (see the module docstring)."""

    by_method: dict[str, dict[str, tuple[dict[str, Any], Reply]]] = field(default_factory=dict)
    """method → `params_key` → (canonical params, the last reply recorded for them); the
    same request recorded many times is kept once."""
    tool_errors: dict[str, Reply] = field(default_factory=dict)
    """Tool name → the first error its `tools/call` got (an `isError` result or a JSON-RPC
    error): how this server words a failure (`proxy.replay.mcp_miss`)."""

    def add(self, method: str, params: Any, reply: Reply) -> None:
        self.by_method.setdefault(method, {})[params_key(method, params)] = (
            canonical_params(params), reply)

    def add_tool_error(self, name: str, reply: Reply) -> None:
        """Keep one error per tool (memory stays bounded by the number of tool names)."""
        self.tool_errors.setdefault(name, reply)

    def answer(self, method: str, params: Any,
               capabilities: Mapping[str, Any] | None) -> Reply | None:
        """The reply to `method(params)` (see the module docstring), or None."""
        recorded = self.by_method.get(method, {})
        exact = recorded.get(params_key(method, params))
        if exact is not None:
            return exact[1]
        if recorded and all(_code(r) == METHOD_NOT_FOUND for _, r in recorded.values()):
            return next(iter(recorded.values()))[1]
        if not recorded and capabilities is not None and method in CAPABILITY \
                and CAPABILITY[method] not in capabilities:
            return {"error": {"code": METHOD_NOT_FOUND, "message": "Method not found"}}
        fallback = FALLBACKS.get(method)
        found = fallback(self, canonical_params(params)) if fallback is not None else None
        if found is None and method in LIST_METHODS:
            return {"result": {LIST_METHODS[method][0]: []}}
        return found

    def results(self, method: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The recorded successful (params, result) pairs of `method`."""
        return [(p, r["result"]) for p, r in self.by_method.get(method, {}).values()
                if isinstance(r.get("result"), dict)]

    def errors(self, method: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(p, r["error"]) for p, r in self.by_method.get(method, {}).values()
                if isinstance(r.get("error"), dict)]


# -- fallbacks, one per method --------------------------------------------------------------

Fallback = Callable[[McpRecorded, dict[str, Any]], Reply | None]


def _first_page(method: str) -> Fallback:
    def first_page(rec: McpRecorded, params: dict[str, Any]) -> Reply | None:
        # A cursor this server never issued (or a first page asked differently): the
        # servers we stand in for restart a listing they cannot continue at the start.
        for p, result in rec.results(method):
            if "cursor" not in p:
                return {"result": result}
        return None
    return first_page


def _read_resource(rec: McpRecorded, params: dict[str, Any]) -> Reply | None:
    uri = params.get("uri")
    if not isinstance(uri, str):
        return None
    for template in _templates(rec):
        values = _match_template(template, uri)
        if values is None:
            continue
        for p, result in rec.results("resources/read"):
            recorded = _match_template(template, str(p.get("uri", "")))
            if recorded is not None:
                pairs = [(recorded[k], values[k]) for k in values if k in recorded]
                return {"result": substitute(result, [(str(p["uri"]), uri), *pairs])}
    return _not_found(rec, "resources/read", "uri", uri, RESOURCE_NOT_FOUND,
                      "Resource not found")


def _get_prompt(rec: McpRecorded, params: dict[str, Any]) -> Reply | None:
    name = params.get("name")
    if not isinstance(name, str):
        return None
    args = params.get("arguments") or {}
    for kind in ("result", "error"):  # the prompt rendered, else how it failed
        same = [(p.get("arguments") or {}, r[kind]) for p, r in
                rec.by_method.get("prompts/get", {}).values()
                if p.get("name") == name and isinstance(r.get(kind), dict)]
        if same:
            recorded, value = max(same, key=lambda s: _agreement(s[0], args))
            pairs = [(str(recorded[k]), str(args[k])) for k in args
                     if k in recorded and isinstance(recorded[k], str) and recorded[k]]
            return {kind: substitute(value, pairs)}
    return _not_found(rec, "prompts/get", "name", name, INVALID_PARAMS, f"Unknown prompt: {name}")


def _complete(rec: McpRecorded, params: dict[str, Any]) -> Reply | None:
    argument = params.get("argument")
    if not isinstance(argument, dict):
        return None
    typed = str(argument.get("value") or "")
    values: list[str] = []
    for p, result in rec.results("completion/complete"):
        other = p.get("argument") or {}
        if p.get("ref") == params.get("ref") and other.get("name") == argument.get("name"):
            for v in (result.get("completion") or {}).get("values") or []:
                if isinstance(v, str) and v.lower().startswith(typed.lower()) \
                        and v not in values:
                    values.append(v)
    return {"result": {"completion": {"values": values[:100], "total": len(values),
                                      "hasMore": len(values) > 100}}}


FALLBACKS: dict[str, Fallback] = {
    **{m: _first_page(m) for m in LIST_METHODS},
    "resources/read": _read_resource,
    "prompts/get": _get_prompt,
    "completion/complete": _complete,
    # (un)subscribing has no result to recall: a server that takes it answers `{}`
    "resources/subscribe": lambda rec, params: {"result": {}},
    "resources/unsubscribe": lambda rec, params: {"result": {}},
}
"""What answers a method when no recording has these exact parameters (module docstring)."""


# -- helpers --------------------------------------------------------------------------------

def _code(reply: Reply) -> Any:
    err = reply.get("error")
    return err.get("code") if isinstance(err, dict) else None


def _not_found(rec: McpRecorded, method: str, param: str, value: str, code: int,
               message: str) -> Reply:
    """A not-found error for `value`: a recorded one for another value, reworded, if the
    server gave one; else the default."""
    for p, err in rec.errors(method):
        old = p.get(param)
        if isinstance(old, str) and old and old in json.dumps(err, ensure_ascii=False):
            return {"error": substitute(err, [(old, value)])}
    data = {"uri": value} if param == "uri" else None
    return {"error": {"code": code, "message": message, **({"data": data} if data else {})}}


def _templates(rec: McpRecorded) -> list[str]:
    out: list[str] = []
    for _, result in rec.results("resources/templates/list"):
        for t in result.get("resourceTemplates") or []:
            if isinstance(t, dict) and isinstance(t.get("uriTemplate"), str):
                out.append(t["uriTemplate"])
    return out


_VARIABLE = re.compile(r"\{([+#./;?&]?)([A-Za-z0-9_,]+)\*?\}")


def _match_template(template: str, uri: str) -> dict[str, str] | None:
    """The variables of an RFC 6570 `template` that `uri` fills, or None if it does not fit.
    Simple `{var}` stops at `/`; reserved expansions (`{+var}`, `{/var}`, ...) take the rest."""
    names: list[str] = []
    pattern, last = "", 0
    for m in _VARIABLE.finditer(template):
        pattern += re.escape(template[last:m.start()])
        prefix, name = m.group(1), m.group(2).split(",")[0]
        names.append(name)
        pattern += "([^/?#]+)" if prefix == "" else re.escape(prefix) + "?(.+)"
        last = m.end()
    if not names:
        return None
    pattern += re.escape(template[last:])
    found = re.fullmatch(pattern, uri)
    return dict(zip(names, found.groups(), strict=True)) if found else None


def _agreement(recorded: Mapping[str, Any], asked: Mapping[str, Any]) -> int:
    """How alike two argument sets are: equal values count most, shared names next."""
    return sum(2 if recorded.get(k) == v else 1 for k, v in asked.items() if k in recorded) \
        - len(set(recorded) - set(asked))


def substitute(value: Any, pairs: list[tuple[str, str]]) -> Any:
    """`value` with every recorded text in `pairs` replaced by the asked one, in every string
    inside it, as whole words (so a recorded `x` never rewrites the `x` of `export`)."""
    pairs = [(old, new) for old, new in pairs if old and old != new]
    if not pairs:
        return value
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(old)}(?!\w)"
                                  for old, _ in sorted(pairs, key=lambda p: -len(p[0]))))
    table = dict(pairs)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return pattern.sub(lambda m: table[m.group(0)], v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    return walk(value)
