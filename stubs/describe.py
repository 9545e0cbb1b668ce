"""What `deploysim stubs show` and `stubs fidelity` print: tool summaries and report tables."""

from __future__ import annotations

from typing import Any

from stubs.document import get_document
from stubs.index import StubIndex, ToolTable
from stubs.reply import Reply
from stubs.shape import Shape

_SAMPLE = 2000


def _shapes(index: StubIndex, table: ToolTable) -> tuple[Shape, Shape, int, int]:
    args, response = Shape(), Shape()
    errors = 0
    sessions = set()
    for row in index.iter_rows(table.rows[:_SAMPLE]):
        args.add(row.arguments)
        sessions.add(row.session)
        if row.is_error or row.mcp_error is not None:
            errors += 1
            continue
        response.add(get_document(Reply.from_row(row)).value)
    return args, response, errors, len(sessions - {None})


def describe_tools(index: StubIndex) -> list[dict[str, Any]]:
    """One summary per tool (the `stubs show --json` rows)."""
    out = []
    for t in index.tables:
        args, response, errors, sessions = _shapes(index, t)
        out.append({"tool": t.label, "kind": t.tool.kind, "server": t.tool.server,
                    "name": t.tool.name, "calls": len(t.rows), "distinct_calls": len(t.keys),
                    "sessions": sessions, "errors": errors, "arguments": args.describe(),
                    "response": response.describe()})
    return out


def describe_tool(index: StubIndex, table: ToolTable) -> dict[str, Any]:
    """One tool in detail: shapes as JSON-Schema-like objects, settings, a few examples."""
    args, response, errors, sessions = _shapes(index, table)
    examples = []
    for key in table.keys[:5]:
        row = index.row(table.rows_of(key)[0])
        examples.append({"arguments": row.arguments, "response": row.content,
                         "recordings": len(table.rows_of(key))})
    return {"tool": table.label, "kind": table.tool.kind, "server": table.tool.server,
            "name": table.tool.name, "calls": len(table.rows), "distinct_calls": len(table.keys),
            "sessions": sessions, "errors": errors, "repeat": table.config.repeat,
            "match_on": list(table.config.match_on), "arguments": args.describe(),
            "response": response.describe(), "argument_shape": args.to_dict(),
            "response_shape": response.to_dict(), "examples": examples}


def fidelity_table(report: dict[str, Any]) -> str:
    """The fidelity report as a plain-text table."""
    head = (f"fidelity: {report['overall']['calls']} held-out call(s) "
            f"(holdout {report['holdout']:g}, seed {report['seed']}), answered from "
            f"{report['indexed']} indexed call(s), fallbacks {', '.join(report['fallbacks'])}")
    rows = [("tool", "calls", "exact", "match", "similarity", "plausible", "spread",
             "answered by")]
    for name, t in [*report["tools"].items(), ("OVERALL", report["overall"])]:
        layers = ", ".join(f"{k} {v}" for k, v in t["by_layer"].items())
        plausible, spread = t.get("plausible_rate"), t.get("distribution_overlap")
        rows.append((name, str(t["calls"]), f"{t['exact_rate']:.0%}", f"{t['match_rate']:.0%}",
                     f"{t['similarity']:.2f}", "-" if plausible is None else f"{plausible:.0%}",
                     "-" if spread is None else f"{spread:.2f}", layers))
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    lines = [head, ""]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r[:7], widths, strict=True)))
                     + "  " + r[7])
    lines += ["", "exact: answered by an exact-key recording (exact or session); match: "
              "identical to the true response;", "similarity: mean structural similarity of "
              "answer and truth (0-1);", "plausible: fallback answers from recordings of the "
              "call's own family (program, path, route);", "spread: how closely answers to calls "
              "recorded with several answers follow the true ones (0-1)."]
    return "\n".join(lines)
