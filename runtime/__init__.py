"""What every stage shares at run time, below the stages and above the cassette format.

- `event_loop`: running deploysim's event loops (uvloop when installed).
- `tasks`: starting tasks that are named, referenced and never silently lost.
- `model_client`: the protocol every model client speaks, request keys, answer text.
- `response_cache`: a persistent cache of model responses keyed by request.
- `run_manifest`: a run folder's manifest (what produced its trajectory cassettes).
- `canary`: the canary convention shared by the `inject` perturbation and its detector.

Depends on `recorder` only; every other package may depend on it.
"""
