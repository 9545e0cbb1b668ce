"""`recorder.protocols.light`, the parsing stand-ins: a declared fast twin of the session models.
They stay in step with the models, and deriving a recording gives the same sessions whether
the stand-ins are plain dataclasses (the default) or validate every field as they are built
(`DEPLOYSIM_VALIDATED_PARSING=1`, the reference)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from recorder.exchange import Exchange
from recorder.protocols import light
from recorder.session import ContentPart, Message, ToolCall, ToolResult
from recorder.testing import make_exchange, varied_corpus
from replayer.testing import render_anthropic, render_gemini, render_openai
from replayer.testing.synthetic_sessions import support_session
from replayer.wire import CODECS, gemini

ROOT = Path(__file__).parents[3]

TWINS: list[tuple[type[Any], type[BaseModel], set[str]]] = [
    (light.LPart, ContentPart, set()),
    (light.LCall, ToolCall, set()),
    # set after parsing, never by a parser: where a replayed result came from, and the origin
    # and failure of generated messages
    (light.LResult, ToolResult, {"provenance"}),
    (light.LMessage, Message, {"origin", "error"}),
]


@pytest.mark.parametrize(("stand_in", "model", "model_only"), TWINS,
                         ids=[t[0].__name__ for t in TWINS])
def test_each_stand_in_has_its_models_fields_and_defaults(
        stand_in: type[Any], model: type[BaseModel], model_only: set[str]) -> None:
    fields = {f.name: f for f in dataclasses.fields(stand_in)}
    assert set(fields) | model_only == set(model.model_fields)
    for name, f in fields.items():
        spec = model.model_fields[name]
        if f.default_factory is not dataclasses.MISSING:
            assert spec.default_factory is not None and f.default_factory() == \
                spec.default_factory(), name  # type: ignore[call-arg]
        elif f.default is dataclasses.MISSING:
            assert spec.is_required(), name
        else:
            assert f.default == spec.default, name
    for name in model_only:  # left to the model's default when a stand-in becomes one
        assert not model.model_fields[name].is_required()
    assert set(stand_in(**_required(stand_in)).to_dict()) == set(fields)


def _required(stand_in: type[Any]) -> dict[str, Any]:
    return {f.name: "x" for f in dataclasses.fields(stand_in)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


def test_both_conversions_give_the_same_model() -> None:
    m = light.LMessage(role="tool", content=[light.LPart("text", "ok")], tool_call_id="c1",
                       tool_calls=[light.LCall(id="c1", name="f", arguments={"a": 1})],
                       result=light.LResult(content="ok", latency_ms=3.0), usage={"input": 2})
    assert m.to_model() == Message.model_validate(m.to_dict())
    assert m.to_model().text == m.text == "ok"


def _gemini_conversation() -> list[Exchange]:
    """A Gemini tool loop, one exchange per step, as a recording of it holds it."""
    s = support_session("g1", 2)
    out = []
    usage = {"input_tokens": 5, "output_tokens": 2}
    for i, reply in enumerate(s.messages):
        if reply.role != "assistant":
            continue
        body = CODECS["gemini"].encode_request("gemini-pro", s.messages[:i], s.tools, s.params)
        out.append(make_exchange(
            "https://generativelanguage.googleapis.com" + gemini.path("gemini-pro"),
            id=f"gem-{i}", request_json=body, started_at=1_700_000_100.0 + i,
            response_json=render_gemini.generate_json(f"r{i}", "gemini-pro", reply, usage)))
    return out


def _replies_of_every_renderer() -> list[Exchange]:
    """One reply with a tool call per provider API, rendered the way the provider sends it."""
    reply = Message(role="assistant", content=[ContentPart(text="looking")],
                    tool_calls=[ToolCall(id="call_1", name="lookup_order",
                                         arguments={"order_id": "7"})])
    usage = {"input_tokens": 5, "output_tokens": 2}
    rendered = {
        "openai-chat": ("https://api.openai.com/v1/chat/completions",
                        render_openai.chat_json("r1", "m", 1, reply, usage)),
        "openai-responses": ("https://api.openai.com/v1/responses",
                             render_openai.responses_json("r2", "m", 1, reply, usage, {})),
        "anthropic": ("https://api.anthropic.com/v1/messages",
                      render_anthropic.messages_json("r3", "m", reply, usage)),
    }
    return [make_exchange(url, id=f"one-{api}", started_at=1_700_000_200.0 + n,
                          request_json=CODECS[api].encode_request("m", [Message(
                              role="user", content=[ContentPart(text=f"order 7? ({api})")])]),
                          response_json=response)
            for n, (api, (url, response)) in enumerate(sorted(rendered.items()))]


def _derived(validated: bool, tmp_path: Path) -> list[dict[str, Any]]:
    """The sessions of every test recording, derived in a fresh interpreter with the stand-ins
    chosen by the environment, as JSON."""
    exchanges = [*varied_corpus(40), *_gemini_conversation(),
                 *_replies_of_every_renderer()]
    source = tmp_path / "exchanges.jsonl"
    source.write_text("".join(e.model_dump_json() + "\n" for e in exchanges))
    script = (
        "import sys\n"
        "from recorder.derive import derive_sessions\n"
        "from recorder.exchange import Exchange\n"
        "from recorder.protocols import light\n"
        "exchanges = [Exchange.model_validate_json(line) for line in open(sys.argv[1])]\n"
        "print(light.VALIDATED)\n"
        "for s in derive_sessions(exchanges):\n"
        "    print(s.model_dump_json())\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "DEPLOYSIM_VALIDATED_PARSING": "1" if validated else "0"}
    out = subprocess.run([sys.executable, "-c", script, str(source)], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=True, timeout=120).stdout
    flag, *lines = out.splitlines()
    assert flag == str(validated)  # the environment chose the twin
    return [json.loads(line) for line in lines]


def test_validated_and_light_stand_ins_derive_equal_sessions(tmp_path: Path) -> None:
    fast, reference = _derived(False, tmp_path), _derived(True, tmp_path)
    derived_from = {e.split("-")[0] for s in fast for e in s["source"]["exchange_ids"]}
    assert len(fast) > 40 and {"chat", "anth", "resp", "gem", "one"} <= derived_from
    assert sum(e.startswith("one-") for s in fast for e in s["source"]["exchange_ids"]) == 3
    assert fast == reference
