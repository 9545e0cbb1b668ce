"""Testing helpers for the replayer and its users: the scripted fake model server (a
simulation, plainly named) and its policies. See `replayer.testing.fake_model`."""
