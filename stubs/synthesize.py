"""The `synthesize` fallback: a response shaped like the tool's recorded ones.

JSON responses are generated from the tool's inferred `Shape` (types, required keys, enums,
formats, ranges, list sizes); a field named like an argument echoes the argument when the types
agree (`{"city": "Berlin", ...}` for `city="Berlin"`), which is what real tools usually do. Plain
text responses take a recorded text and swap the recorded call's argument values for the
query's. Numbers and dates are drawn from the values recorded in that field (interpolated
between recorded quantiles, so amounts follow the recorded distribution rather than a uniform
range), and each object's weekday, time zone and DST flag are made to agree with its date
(`stubs.clock`). A synthesizer is built from the recordings that resemble the query in meaning
(`stubs.family`): a shell tool's answer to `rm -rf build` is never another program's output;
when no recording resembles the query, it does not answer. Everything is drawn from a private
RNG keyed by (seed, trajectory, call, tool, arguments), and the recordings are read in content
order (`stubs.content_order`), so the same call always gets the same synthetic answer from the
same recordings.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import string
from typing import Any

from stubs.clock import align, align_text
from stubs.content_order import rows_in_content_order
from stubs.document import Document, get_document, put_document
from stubs.family import Families, families, resembles
from stubs.index import StubIndex, ToolTable
from stubs.reply import Reply
from stubs.shape import Shape
from stubs.similarity import json_type

_MAX_ROWS = 2000  # enough to infer a shape; keeps the first miss of a big tool cheap
_MAX_ITEMS = 20
_WORDS = ("alpha", "beta", "gamma", "delta", "result", "item", "value", "data", "record")


def hints(arguments: Any) -> dict[str, Any]:
    """Argument values by lower-cased key name, at any depth (outer keys win)."""
    out: dict[str, Any] = {}
    stack = [arguments]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            for k, v in node.items():
                out.setdefault(str(k).lower(), v)
                stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    return out


def generate(shape: Shape, rnd: random.Random, hint: dict[str, Any],
             name: str | None = None) -> Any:
    """A value drawn from a shape."""
    types = sorted(shape.types)
    if not types:
        return None
    t = rnd.choices(types, weights=[shape.types[x] for x in types])[0]
    if name is not None and name.lower() in hint and json_type(hint[name.lower()]) == t:
        return hint[name.lower()]
    if t == "object":
        objects = shape.types["object"]
        out = {}
        for k, sub in shape.keys.items():
            if sub.count >= objects or rnd.random() < sub.count / objects:
                out[k] = generate(sub, rnd, hint, k)
        return out
    if t == "array":
        hi = min(shape.max_items, shape.min_items + _MAX_ITEMS)
        n = rnd.randint(shape.min_items, hi)
        if shape.items is None or not shape.items.count:
            return []
        return [generate(shape.items, rnd, hint) for _ in range(n)]
    if t == "string":
        return _string(shape, rnd, hint)
    if t == "number":
        enum = shape.enum()
        if enum is not None:
            return rnd.choice(enum)
        drawn = quantile_draw(shape.samples, rnd) if shape.samples else \
            rnd.uniform(shape.minimum, shape.maximum)
        if shape.integers:
            return round(drawn)
        return round(drawn, shape.decimals or 2)
    if t == "boolean":
        trues = shape.values.get(True, 0)
        return rnd.random() < trues / max(1, shape.types["boolean"])
    return None


def _string(shape: Shape, rnd: random.Random, hint: dict[str, Any]) -> str:
    enum = shape.enum()
    if enum is not None:
        return str(rnd.choices(enum, weights=[shape.values[v] for v in enum])[0])
    if shape.json is not None and shape.json.count == shape.types["string"]:
        return json.dumps(generate(shape.json, rnd, hint))
    fmt = shape.format()
    samples = sorted(str(v) for v in shape.values) or [""]
    if fmt == "uuid":
        h = "".join(rnd.choice("0123456789abcdef") for _ in range(32))
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
    if fmt in ("date-time", "date") and shape.samples:
        return str(rnd.choice(shape.samples))  # a recorded moment: the recording's clock
    if fmt in ("date-time", "date"):
        base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=rnd.randint(0, 365 * 86400))
        if fmt == "date":
            return base.date().isoformat()
        return base.isoformat().replace("+00:00", "Z")
    if fmt == "email":
        return f"{rnd.choice(_WORDS)}{rnd.randint(1, 999)}@example.com"
    if fmt == "uri":
        sample = rnd.choice(samples)
        host = sample.split("/")[2] if sample.count("/") >= 2 else "example.com"
        return f"https://{host}/{rnd.choice(_WORDS)}/{rnd.randint(1, 9999)}"
    if fmt == "ipv4":
        return ".".join(str(rnd.randint(1, 254)) for _ in range(4))
    if fmt == "integer":
        lo = min((int(s) for s in samples if s.lstrip("-").isdigit()), default=0)
        hi = max((int(s) for s in samples if s.lstrip("-").isdigit()), default=100)
        return str(rnd.randint(lo, hi))
    if fmt == "hex":
        n = rnd.randint(shape.min_length, shape.max_length)
        return "".join(rnd.choice("0123456789abcdef") for _ in range(n))
    if not shape.too_many_values and shape.values and shape.max_length <= 80:
        # a small set of short values (names, codes, labels): real ones are the most plausible
        return str(rnd.choices(samples, weights=[shape.values[v] for v in samples])[0])
    target = rnd.randint(shape.min_length, max(shape.min_length, min(shape.max_length, 2000)))
    words = list(shape.words) or list(_WORDS)
    if shape.max_length <= 12 and " " not in "".join(samples):
        # identifiers and codes: letters and digits of the recorded length
        alphabet = string.ascii_lowercase + string.digits
        return "".join(rnd.choice(alphabet) for _ in range(max(1, target)))
    out: list[str] = []
    length = 0
    while length < target:
        w = rnd.choice(words)
        out.append(w)
        length += len(w) + 1
    return " ".join(out)[:target].rstrip() if target else ""


def quantile_draw(samples: list[Any], rnd: random.Random) -> float:
    """A number following the recorded values' distribution: a uniform quantile, linearly
    interpolated between the recorded values around it."""
    values = sorted(float(v) for v in samples)
    if len(values) == 1:
        return values[0]
    pos = rnd.random() * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def substitute(text: str, recorded: Any, query: Any) -> str:
    """A recorded text with the recorded call's argument values replaced by the query's."""
    rec, q = hints(recorded), hints(query)
    for k, old in sorted(rec.items(), key=lambda kv: -len(str(kv[1]))):
        new = q.get(k)
        if new is None or isinstance(old, dict | list) or isinstance(new, dict | list):
            continue
        old_s, new_s = str(old), str(new)
        if len(old_s) >= 2 and old_s != new_s:
            text = text.replace(old_s, new_s)
    return text


class Synthesizer:
    """One tool's synthetic answers."""

    def __init__(self, index: StubIndex, table: ToolTable, wanted: Families | None = None
                 ) -> None:
        # in content order, so the same recordings give the same answers however the
        # cassette interleaved their sessions; only those of the query's family (`wanted`)
        sample = [row for _, row in rows_in_content_order(index, table, _MAX_ROWS)
                  if not wanted or resembles(wanted, families(row.arguments))]
        rows = [r for r in sample if not r.is_error and r.mcp_error is None] or sample
        self.shape = Shape()
        self.json_templates: list[tuple[Reply, Document]] = []
        self.text_templates: list[tuple[Reply, Document, Any]] = []
        for row in rows:
            reply = Reply.from_row(row)
            doc = get_document(reply)
            if doc.form == "text":
                self.text_templates.append((reply, doc, row.arguments))
            else:
                self.shape.add(doc.value)
                self.json_templates.append((reply, doc))

    def answer(self, arguments: Any, rnd: random.Random) -> Reply | None:
        """A synthetic reply, or None when the tool has no recorded responses to go by."""
        if len(self.json_templates) >= len(self.text_templates) and self.json_templates:
            reply, doc = rnd.choice(self.json_templates)
            hint = hints(arguments)
            value = align(generate(self.shape, rnd, hint), hint)
            return put_document(reply, value, doc)
        if self.text_templates:
            reply, doc, recorded_args = rnd.choice(self.text_templates)
            text = align_text(substitute(doc.value, recorded_args, arguments))
            return put_document(reply, text, doc)
        return None
