"""The route table: `[NAME=]URL` specs, prefixes, and byte-exact path mapping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.errors import BadUpstream
from proxy.routes import Mode, Route, check_routes, parse_upstream, split_path


def test_parse_upstream_named_and_unnamed():
    root = parse_upstream("https://api.openai.com")
    assert (root.name, root.prefix, root.label, root.mode) == (None, "/", "/", Mode.RECORD)
    gh = parse_upstream("github=https://tools.example/mcp")
    assert (gh.name, gh.prefix, gh.upstream_url) == ("github", "/github/",
                                                      "https://tools.example/mcp")
    # an '=' inside the URL is not a name separator
    q = parse_upstream("https://h/x=y")
    assert q.name is None and q.upstream_url == "https://h/x=y"


def test_target_appends_the_raw_rest_to_the_upstream_path():
    gh = parse_upstream("github=https://tools.example/mcp/")
    assert gh.target("") == "https://tools.example/mcp"
    assert gh.target("/x%2Fy?a=%20") == "https://tools.example/mcp/x%2Fy?a=%20"
    root = parse_upstream("http://127.0.0.1:9")
    assert root.target("/v1/chat/completions") == "http://127.0.0.1:9/v1/chat/completions"


@pytest.mark.parametrize(("spec", "match"), [
    ("ftp://host", "not an http"),
    ("name=", "has no URL"),
    ("bad name=https://h", "not usable"),
    ("_deploysim=https://h", "not usable"),
    ("https://h/x?q=1", "query or fragment"),
])
def test_bad_upstreams_say_what_to_do(spec, match):
    with pytest.raises(BadUpstream, match=match):
        parse_upstream(spec)


def test_duplicate_prefixes_are_refused():
    with pytest.raises(BadUpstream, match="two unnamed upstreams"):
        check_routes([parse_upstream("http://a"), parse_upstream("http://b")])
    with pytest.raises(BadUpstream, match="named 'x'"):
        check_routes([parse_upstream("x=http://a"), parse_upstream("x=http://b")])


SEGMENT = st.text(alphabet="abcXYZ09-._~%2F", min_size=1, max_size=8)


@given(first=SEGMENT, rest=st.lists(SEGMENT, max_size=3),
       query=st.none() | st.text(alphabet="a=&%20b", max_size=8))
def test_split_path_keeps_every_byte(first, rest, query):
    named = {"tools": Route("tools", "http://t/mcp")}
    root = Route(None, "http://root")
    path = "/" + "/".join([first, *rest]) + (f"?{query}" if query is not None else "")
    route, tail = split_path(path, named, root)  # type: ignore[misc]
    if first == "tools":
        assert route is named["tools"] and "/tools" + tail == path
    else:
        assert route is root and tail == path
    assert split_path(path, named, None) is None or first == "tools"


def test_route_name_alone_and_with_query():
    named = {"tools": Route("tools", "http://t/mcp")}
    assert split_path("/tools", named, None) == (named["tools"], "")
    assert split_path("/tools?x=1", named, None) == (named["tools"], "?x=1")
    assert split_path("/toolsx", named, None) is None
