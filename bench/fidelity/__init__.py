"""The calibration world (`python bench/fidelity.py`): a simulated deployment in which predicting
a release's misbehaviour rates is as hard as in real life, driven through the real product.

Modules, one concept each: `params` (every number of the world, documented), `models` (the
release family's scripted, stochastic policy), `tools` (live tool server with state and drift),
`users` (segments, intents, reactions), `agent` (the production agent loop), `server` (the
world's processes), `windows` (recording a window through `deploysim record`), `measure`
(replay, grade, rates), `estimates` (uncorrected, naive, `deploysim predict`), `report`
(metrics, JSON, markdown).
"""
