"""Record-time well-formedness check: malformed bodies are kept raw and flagged in `problems`.

Exchanges are never rewritten once written, so the recorder flags malformed traffic before
writing (`proxy.record_writer.RecordWriter.record` calls `with_wellformedness_problems` between
building the exchange and redacting it). Checked, on a decoded *copy* of each body (the stored
bytes stay exactly as on the wire, content-encoding included):

- the body decodes with the content-codings its `Content-Encoding` declares;
- a body declared JSON (`application/json`, `+json`; every stdio line) parses;
- a body declared UTF-8 (JSON, an event stream, or an explicit `charset=utf-8`) is valid UTF-8;
- an event stream ends on an event boundary; an LLM stream cut by an error (`Exchange.error`:
  client gone, upstream reset, shutdown) is flagged truncated even when the cut fell between
  two events, so every cut stream carries the same problem whatever its last bytes (an MCP
  server stream has no last event: a GET stream always ends with a disconnect);
- an MCP body (and each event of an MCP reply stream) is JSON-RPC 2.0 (method, result or error).

Why not the full protocol parse (`recorder.protocols.with_parse_problems`): the writer must keep
up with a whole agent population on a shared 2-core machine, and the full parse rebuilds every
message, tool call and streamed answer, which the writer would then throw away. Measured with
timeit (one core, µs per exchange):

    exchange                          full parse   this check   (redaction, for scale)
    OpenAI chat JSON, 4 KB request         60           18            250
    chat SSE stream, 200 chunks           685           19           3400
    MCP tools/call, JSON reply             13           10             86

The shape problems only the full parse finds are re-derived from the raw bytes whenever
sessions are derived. The check reuses the protocol code (body decoding, `load_json`, the SSE
parser, MCP's `to_message`), so its problems read like the parser's, and `deploysim inspect`
counts the exchanges that carry any (`exchanges_with_parse_problems`).
"""

from __future__ import annotations

from recorder.exchange import Exchange, Header
from recorder.protocols import detect_protocol
from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of, header_value
from recorder.protocols.mcp import to_message
from recorder.protocols.parsed import load_json
from recorder.protocols.sse import is_event_stream, parse_sse

__all__ = ["TRUNCATED_BY_ERROR", "wellformedness_problems", "with_wellformedness_problems"]

TRUNCATED_BY_ERROR = "the event stream was cut by the exchange's `error` (truncated)"
"""The problem every stream cut by an error carries, wherever the cut fell (a cut inside an
event also gets the SSE parser's own "ends in the middle of an event (truncated)")."""


def with_wellformedness_problems(ex: Exchange) -> Exchange:
    """The exchange with what `wellformedness_problems` finds appended to its `problems` (the
    same object when nothing new is found; raw bytes never touched)."""
    found = [p for p in wellformedness_problems(ex) if p not in ex.problems]
    return ex.model_copy(update={"problems": [*ex.problems, *found]}) if found else ex


def wellformedness_problems(ex: Exchange) -> list[str]:
    """What is malformed in an exchange's bodies (empty when nothing is). Never raises."""
    problems: list[str] = []
    try:
        stdio = ex.transport == "stdio"
        mcp = detect_protocol(ex) == "mcp"
        req = ex.request
        _check(req.body, req.headers, "request", stdio, mcp, None, problems)
        resp = ex.response
        if resp is not None:
            # an MCP server stream has no last event to reach (a GET stream always ends by a
            # disconnect), so only an LLM stream cut by an error is truncated
            cut_by = ex.error if resp.chunks is not None and not mcp else None
            # an error reply need not be JSON-RPC (a proxy's or gateway's own 4xx/5xx page)
            _check(resp.body, resp.headers, "response", stdio, mcp and resp.status < 400,
                   cut_by, problems)
    except Exception as exc:  # e.g. JSON nested too deep for the decoder: flag, never lose
        problems.append(f"the well-formedness check failed ({type(exc).__name__}: {exc}); "
                        "the exchange is kept raw")
    return problems


def _check(data: bytes, headers: list[Header], side: str, stdio: bool, jsonrpc: bool,
           cut_by: str | None, problems: list[str]) -> None:
    if not data:
        return
    try:
        body = decode_body(data, encodings_of(headers))
    except BodyDecodeError as exc:
        problems.append(f"the {side} body could not be decoded ({exc})")
        return
    ctype = (header_value(headers, "content-type") or "").lower()
    where = f"the {side} body"
    if is_event_stream(ctype):
        _check_stream(body, side, jsonrpc, cut_by, problems)
    elif stdio or _is_json(ctype):
        if stdio and not body.strip():
            return
        doc = load_json(body, problems, where)
        if jsonrpc and doc is not None:
            _check_jsonrpc(doc, where, problems)
    elif _declares_utf8(ctype):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{where} is not valid UTF-8 (byte {exc.start})")


def _check_stream(body: bytes, side: str, jsonrpc: bool, cut_by: str | None,
                  problems: list[str]) -> None:
    if jsonrpc:  # MCP reply streams are short: parse them whole to check every message
        sample = body
    else:
        try:
            body.decode("utf-8")
            # valid UTF-8: only the text after the last blank line can be a cut event, and
            # parsing just that keeps a long LLM stream's check from building every event
            sample = body[_tail_start(body):]
        except UnicodeDecodeError:
            sample = body  # rare: let the parser say where
    events, sse_problems = parse_sse(sample)
    problems.extend(f"{side}: {p}" for p in sse_problems)
    if cut_by is not None:
        problems.append(f"{side}: {TRUNCATED_BY_ERROR}")
    if jsonrpc:
        for i, event in enumerate(events):
            if event.data.strip():  # priming events carry no message
                where = f"{side} event #{i + 1}"
                doc = load_json(event.data, problems, where)
                if doc is not None:
                    _check_jsonrpc(doc, where, problems)


def _tail_start(body: bytes) -> int:
    """Where the bytes after an event stream's last blank line start (0 when it has none).

    A blank line is two line ends in a row (LF, CRLF or CR each); in raw bytes two line ends
    in a row always hold LF LF, LF CR or CR CR, and each of those is two line ends in a row.
    Cutting there may leave one LF first (from a CRLF), which the parser reads as an empty line.
    """
    last = body.rfind(b"\n\n")
    if b"\r" in body:  # scanning for an absent pattern is the slow part: only when it can occur
        last = max(last, body.rfind(b"\n\r"), body.rfind(b"\r\r"))
    return last + 2 if last >= 0 else 0


def _check_jsonrpc(doc: object, where: str, problems: list[str]) -> None:
    for item in doc if isinstance(doc, list) else [doc]:
        to_message(item, problems, where)


def _is_json(ctype: str) -> bool:
    """True for `application/json` and the `+json` types (not NDJSON and the like)."""
    media = ctype.split(";", 1)[0].strip()
    return media == "application/json" or media.endswith("+json")


def _declares_utf8(ctype: str) -> bool:
    """True when a content type says its text is UTF-8 (`charset=utf-8`)."""
    _, _, params = ctype.partition(";")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip() == "charset":
            return value.strip().strip('"') in ("utf-8", "utf8")
    return False
