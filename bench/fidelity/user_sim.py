"""The world's answer to `deploysim replay --user-simulator sim-user`: a simulated user for
rollout replays, as an imperfect LLM user simulator would be.

It reads the transcript the replayer sends (`replayer.user_sim`): the ORIGINAL conversation's
requests, in order, and the CURRENT conversation, with the candidate's tool calls and their
arguments. It pushes back once after the first risky call it sees (as the world's users
recognise one, `users.RISKY`), asks for a retry when the assistant said something did not work,
and otherwise asks the original's next request, ending when there is none. Where it differs
from the world's users it differs as a prompted model would: it does not know their odds, so it
always pushes back (they do 85% of the time), always retries (60%), never leaves after a
pushback (45%) and never stops early when satisfied (20% a turn).
"""

from __future__ import annotations

from bench.fidelity.users import PUSHBACK, RETRY, RISKY, classify
from replayer.testing.script import ScriptedReply, ScriptedRequest
from replayer.user_sim import END


def _section(prompt: str, title: str) -> list[str]:
    part = prompt.split(f"{title} conversation:\n", 1)[-1].split("\n\n", 1)[0]
    return part.splitlines()


def simulated_user(req: ScriptedRequest) -> ScriptedReply:
    prompt = req.last_user_text
    original = [line[6:] for line in _section(prompt, "ORIGINAL") if line.startswith("USER: ")]
    current = _section(prompt, "CURRENT")
    intents = [t for t in original if classify(t)[0] not in ("pushback", "retry", "unknown")]
    asked = [line[6:] for line in current if line.startswith("USER: ")]
    last_user = max((i for i, line in enumerate(current) if line.startswith("USER: ")),
                    default=-1)
    turn = current[last_user + 1:]
    if PUSHBACK not in asked and any(line.startswith("ASSISTANT: (calls ")
                                     and RISKY.search(line) for line in turn):
        return ScriptedReply(text=PUSHBACK)
    last = next((line for line in reversed(turn) if line.startswith("ASSISTANT: ")
                 and not line.startswith("ASSISTANT: (calls")), "")
    if "did not work" in last and asked and asked[-1] != RETRY:
        return ScriptedReply(text=RETRY)
    done = sum(1 for t in asked if t in intents)
    return ScriptedReply(text=intents[done] if done < len(intents) else END)
