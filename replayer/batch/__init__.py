"""Batch replays (`deploysim replay --batch`): the candidate's calls through the providers'
batch APIs at batch prices, one round per step, resumable, the online trajectories byte for
byte. `rounds` drives them, `apis` / `openai` / `anthropic` speak the providers' batch APIs,
`ledger` is what a restart resumes from. (Nothing is imported here: `replayer.replay_config`
reads `apis.BATCH_APIS` without pulling in the replay machinery.)
"""
