"""`deploysim demo`: the whole method on a simulated production world, offline, on loopback.

Everything here is a simulation and says so: the "models" are scripted policies served by
`replayer.testing.fake_model`, the users are templates, the tools act on an in-memory workspace.
"""
