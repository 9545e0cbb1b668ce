"""The replay proxy: `deploysim serve` stands in for every tool server an agent was recorded
talking to, and captures what the agent does as a gradeable run.

    ReplayServer                 a `proxy.gateway.Gateway` whose routes answer from recordings
    ├── McpReplayHandler         MCP streamable HTTP, both protocol generations (mcp_handler)
    ├── HttpToolReplayHandler    REST tool routes (http_handler)
    ├── LlmRouteHandler          LLM routes: forwarded to --candidate, or recorded answers
    ├── ToolDesk                 one tool call → binding, call index, stub answer (desk)
    ├── ServeLog                 provenance mix and misses with their diagnostics
    └── RunCapture               what the agent did → exchanges + trajectories + manifest

The package stays light to import: the writer process unpickles `proxy.replay.pinned` captures
without loading aiohttp handlers or the stub engine. Import the modules you need directly.
"""
