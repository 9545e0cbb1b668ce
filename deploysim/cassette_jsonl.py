"""A cassette as JSON lines, one record per line, so a cassette checked into a repository diffs
in a pull request (`deploysim cassette dump`), and back again (`deploysim cassette load`).

Each line is a record's plain form (what `recorder.codec` encodes), header first, keys in the
record's field order. JSON has no bytes, so a bytes value (a body, a stream chunk) becomes an
object with one tagged key:

    {"$text": "..."}          UTF-8 text
    {"$json": {...}}          JSON text written compactly, kept as JSON so a diff shows which
                              field changed; `$json-ascii`, `$json-spaced`, `$json-spaced-utf8`
                              and `$json-indent` are the other ways JSON bodies are written
    {"$base64": "..."}        anything else
    {"$map": [[key, value]]}  a map with a key that is not a string, or one that reads as a tag

A tag is chosen only when it gives the same bytes back, so loading a dump of an intact cassette
gives that cassette byte for byte (tests/deploysim/test_cassette_dump_cli.py checks it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from recorder import codec, framing, storage
from recorder.errors import UsageError
from recorder.reader import CassetteReader, Problem
from recorder.records import record_from_obj

JSON_STYLES: dict[str, dict[str, Any]] = {
    "$json": {"separators": (",", ":"), "ensure_ascii": False},
    "$json-ascii": {"separators": (",", ":"), "ensure_ascii": True},
    "$json-spaced": {"ensure_ascii": True},  # json.dumps's defaults: requests and older httpx
    "$json-spaced-utf8": {"ensure_ascii": False},
    "$json-indent": {"indent": 2, "ensure_ascii": False},
}
"""Tag -> the json.dumps arguments that wrote the body (tried in this order)."""

TAGS = frozenset({"$text", "$base64", "$map", *JSON_STYLES})


def _bytes_to_json(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"$base64": base64.b64encode(data).decode("ascii")}
    if text[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            for tag, style in JSON_STYLES.items():
                if json.dumps(parsed, **style) == text:  # only a form that gives it back
                    return {tag: parsed}
    return {"$text": text}


def to_json(value: Any) -> Any:
    """A plain record value as JSON (bytes and odd maps tagged; see the module docstring)."""
    if isinstance(value, bytes):
        return _bytes_to_json(value)
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not (len(value) == 1 and
                                                           next(iter(value)) in TAGS):
            return {k: to_json(v) for k, v in value.items()}
        return {"$map": [[to_json(k), to_json(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """The inverse of `to_json`."""
    if isinstance(value, dict):
        if len(value) == 1:
            tag, inner = next(iter(value.items()))
            if tag == "$text":
                return str(inner).encode("utf-8")
            if tag == "$base64":
                return base64.b64decode(inner, validate=True)
            if tag in JSON_STYLES:
                return json.dumps(inner, **JSON_STYLES[tag]).encode("utf-8")
            if tag == "$map":
                return {_key(from_json(k)): from_json(v) for k, v in inner}
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def _key(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key  # the codec reads an array key as a tuple


def dump_lines(path: str) -> tuple[Iterator[str], CassetteReader]:
    """The JSON lines of a cassette's intact records, header first; the reader's `problems`
    name any damage once the lines are consumed."""
    reader = CassetteReader(path)

    def lines() -> Iterator[str]:
        for offset, payload in reader.iter_payloads():
            try:
                obj = codec.decode(payload)
            except ValueError as exc:
                reader.problems.append(Problem(path, offset, "undecodable",
                                               f"a record could not be decoded ({exc})"))
                continue
            yield json.dumps(to_json(obj), ensure_ascii=False)

    return lines(), reader


def load_lines(lines: Iterable[str], source: str, dst: str) -> int:
    """Write the records of JSON lines (a dump) as a new cassette at `dst`; returns how many
    records (header included) were written. Every line is checked before anything is
    written: a line that is not a record is refused by its number."""
    payloads: list[bytes] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = from_json(json.loads(line))
            if not isinstance(obj, dict):
                raise ValueError("it is not a JSON object")
            record_from_obj(obj)
        except ValidationError as exc:
            e = exc.errors()[0]
            raise UsageError(f"Line {number} of {source} is not a valid {obj.get('kind')!r} "
                             f"record ({'.'.join(map(str, e['loc']))}: {e['msg']}); give the "
                             "output of `deploysim cassette dump`.") from None
        except Exception as exc:  # json, base64, a record without a kind: not a record
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"Line {number} of {source} is not a cassette record ({first}); "
                             "give the output of `deploysim cassette dump`.") from None
        if not payloads and obj.get("kind") != "header":
            raise UsageError(f"{source} does not start with a header record (line {number} is "
                             f"a {obj.get('kind')!r}); give the output of `deploysim cassette "
                             "dump`, whose first line is the header.")
        payloads.append(codec.encode(obj))
    if not payloads:
        raise UsageError(f"{source} holds no records; give the output of `deploysim cassette "
                         "dump`.")
    with storage.open_binary(dst, "wb") as f:
        f.write(framing.MAGIC)
        f.write(framing.frames(payloads))
    return len(payloads)
