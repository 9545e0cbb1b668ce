"""`proxy.replay.mcp_recorded` and `proxy.replay.mcp_miss`: what a replayed MCP server answers
to everything but a recorded tool call, from what the real server recorded."""

from __future__ import annotations

from typing import Any

from proxy.replay.mcp_miss import unknown_tool_reply
from proxy.replay.mcp_recorded import McpRecorded, params_key

CAPS = {"tools": {}, "resources": {}, "prompts": {}, "completions": {}}
TEMPLATE = "demo://resource/dynamic/text/{resourceId}"


def everything() -> McpRecorded:
    """Replies shaped like @modelcontextprotocol/server-everything's, as a client sent them."""
    rec = McpRecorded()
    rec.add("resources/list", None, {"result": {"resources": [{"uri": "demo://a"}],
                                                "nextCursor": "2"}})
    rec.add("resources/list", {"cursor": "2"}, {"result": {"resources": [{"uri": "demo://b"}]}})
    rec.add("resources/templates/list", {"_meta": {"v": 1}},
            {"result": {"resourceTemplates": [{"uriTemplate": TEMPLATE, "name": "t"}]}})
    rec.add("resources/read", {"uri": "demo://resource/dynamic/text/1"}, {"result": {
        "contents": [{"uri": "demo://resource/dynamic/text/1",
                      "text": "Resource 1: This is a plaintext resource"}]}})
    rec.add("resources/read", {"uri": "demo://gone"},
            {"error": {"code": -32002, "message": "Resource demo://gone not found"}})
    rec.add("prompts/get", {"name": "args-prompt", "arguments": {"city": "Paris"}},
            {"result": {"messages": [{"role": "user", "content": {
                "type": "text", "text": "What's weather in Paris?"}}]}})
    rec.add("completion/complete", {"ref": {"type": "ref/prompt", "name": "p"},
                                    "argument": {"name": "department", "value": ""}},
            {"result": {"completion": {"values": ["Engineering", "Sales", "Support"]}}})
    return rec


def answer(rec: McpRecorded, method: str, params: Any = None,
           caps: dict[str, Any] | None = CAPS) -> Any:
    return rec.answer(method, params, caps)


def test_absent_null_and_empty_params_and_meta_are_the_same_request():
    assert params_key("prompts/list", None) == params_key("prompts/list", {}) == \
        params_key("prompts/list", {"_meta": {"x": 1}, "cursor": None})
    assert params_key("prompts/get", {"name": "p", "arguments": {}}) == \
        params_key("prompts/get", {"name": "p"})
    rec = everything()
    listed = answer(rec, "resources/list", {"_meta": {"io.modelcontextprotocol/x": 1}})
    assert listed["result"]["resources"] == [{"uri": "demo://a"}]
    assert answer(rec, "resources/list", {"cursor": "2"})["result"]["resources"] == \
        [{"uri": "demo://b"}]
    templates = answer(rec, "resources/templates/list")["result"]["resourceTemplates"]
    assert templates[0]["uriTemplate"] == TEMPLATE


def test_recorded_errors_replay_as_errors():
    rec = McpRecorded()
    rec.add("prompts/list", None, {"error": {"code": -32601, "message": "Method not found"}})
    assert answer(rec, "prompts/list")["error"]["code"] == -32601
    # a server without the method says so whatever is asked
    assert answer(rec, "prompts/list", {"cursor": "x"})["error"]["code"] == -32601
    assert answer(everything(), "resources/read", {"uri": "demo://gone"})["error"] == {
        "code": -32002, "message": "Resource demo://gone not found"}


def test_list_fallbacks_follow_the_capabilities():
    rec = everything()
    # a cursor the server never issued restarts the listing
    assert answer(rec, "resources/list", {"cursor": "zz"})["result"]["nextCursor"] == "2"
    # never listed: empty when the capability was declared or is unknown, else not found
    assert answer(rec, "prompts/list") == {"result": {"prompts": []}}
    assert answer(rec, "prompts/list", caps=None) == {"result": {"prompts": []}}
    assert answer(rec, "prompts/list", caps={"tools": {}})["error"]["code"] == -32601
    assert answer(rec, "nope/nothing") is None


def test_read_of_an_unrecorded_uri_of_a_recorded_template():
    got = answer(everything(), "resources/read", {"uri": "demo://resource/dynamic/text/42"})
    assert got["result"]["contents"] == [{"uri": "demo://resource/dynamic/text/42",
                                          "text": "Resource 42: This is a plaintext resource"}]


def test_read_of_an_unknown_uri_is_not_found_in_the_servers_words():
    got = answer(everything(), "resources/read", {"uri": "demo://elsewhere"})
    assert got == {"error": {"code": -32002, "message": "Resource demo://elsewhere not found"}}
    # without a recorded example: the specification's error
    got = answer(McpRecorded(), "resources/read", {"uri": "file:///x"})
    assert got == {"error": {"code": -32002, "message": "Resource not found",
                             "data": {"uri": "file:///x"}}}


def test_prompt_with_other_arguments_and_unknown_prompt():
    rec = everything()
    got = answer(rec, "prompts/get", {"name": "args-prompt", "arguments": {"city": "Oslo"}})
    assert got["result"]["messages"][0]["content"]["text"] == "What's weather in Oslo?"
    got = answer(rec, "prompts/get", {"name": "other"})
    assert got["error"] == {"code": -32602, "message": "Unknown prompt: other"}


def test_substitution_replaces_whole_words_only():
    rec = McpRecorded()
    rec.add("prompts/get", {"name": "p", "arguments": {"x": "ex"}},
            {"result": {"messages": [{"content": {"text": "export ex to ex.txt"}}]}})
    got = answer(rec, "prompts/get", {"name": "p", "arguments": {"x": "why"}})
    assert got["result"]["messages"][0]["content"]["text"] == "export why to why.txt"


def test_completion_filters_recorded_values_by_what_was_typed():
    params = {"ref": {"type": "ref/prompt", "name": "p"},
              "argument": {"name": "department", "value": "s"}}
    got = answer(everything(), "completion/complete", params)
    assert got["result"]["completion"] == {"values": ["Sales", "Support"], "total": 2,
                                           "hasMore": False}


def test_unknown_tool_in_the_servers_own_words():
    listed = {"get_current_time"}
    json_rpc = {"nope": {"error": {"code": -32602, "message": "Unknown tool: nope"}}}
    assert unknown_tool_reply("rm_rf", errors=json_rpc, listed=listed) == {
        "error": {"code": -32602, "message": "Unknown tool: rm_rf"}}
    ts = {"get_current_time": {"result": {"isError": True, "content": [
              {"type": "text", "text": "Invalid timezone"}]}},
          "nope": {"result": {"isError": True, "content": [
              {"type": "text", "text": "MCP error -32602: Tool nope not found"}]}}}
    got = unknown_tool_reply("rm_rf", errors=ts, listed=listed)
    assert got is not None
    assert got["result"]["content"][0]["text"] == "MCP error -32602: Tool rm_rf not found"
    # a listed tool, no recorded example, or no recorded tools/list: the stubs' answer stands
    assert unknown_tool_reply("get_current_time", errors=ts, listed=listed) is None
    assert unknown_tool_reply("rm_rf", errors={}, listed=listed) is None
    assert unknown_tool_reply("rm_rf", errors=ts, listed=()) is None


def test_methods_of_undeclared_capabilities_are_not_found():
    rec = McpRecorded()
    tools_only = {"tools": {}}
    for method, params in (("completion/complete", {"argument": {"name": "a", "value": ""}}),
                           ("resources/read", {"uri": "file:///x"}),
                           ("prompts/get", {"name": "p"})):
        assert answer(rec, method, params, caps=tools_only)["error"]["code"] == -32601, method
    got = answer(rec, "completion/complete", {"argument": {"name": "a", "value": ""}})
    assert got["result"]["completion"]["values"] == []


def test_a_prompt_recorded_only_failing_fails_the_same_way():
    rec = McpRecorded()
    rec.add("prompts/get", {"name": "resource-prompt", "arguments": {"resourceType": "x"}},
            {"error": {"code": -32603, "message": "Invalid resourceType: x. Must be Text."}})
    got = answer(rec, "prompts/get", {"name": "resource-prompt",
                                      "arguments": {"resourceType": "Blob"}})
    assert got["error"] == {"code": -32603,
                            "message": "Invalid resourceType: Blob. Must be Text."}
