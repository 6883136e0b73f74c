"""pi (pi-coding-agent): `sessions/--<cwd>--/<ts>_<uuid>.jsonl` under $PI_CODING_AGENT_DIR
or ~/.pi/agent.

Counting rules (docs/counting.md, "pi"):
- a call is a `message` entry whose message is `role: "assistant"` with `usage`; every
  such entry in a file counts, on every branch of the session tree (an abandoned branch
  was still billed);
- tokens are pi's own: `input` uncached, `cacheRead`, `cacheWrite` (`cacheWrite1h` in it),
  `output` with reasoning inside (`reasoning`, when recorded, is that part); the Google
  adapters' old cached-inside-input records are corrected (`usage`);
- cost is pi's own `usage.cost.total` (cost_source "agent"), unless it is zero;
- `stopReason: "error"` is an API error (`status="error"`, the code from `errorMessage`,
  which is never kept); `"aborted"` is a call whose output is not final;
- tools: an assistant's `toolCall` blocks matched by id to `toolResult` messages
  (`isError` gives the status; latency from the assistant entry's write time to the
  result's timestamp).

Event ids: the natural key is the entry's timestamp, the message's start time, its
`responseId` and its usage numbers, without the session id or the entry id. A branch
extracted to a new file (`/fork`, `createBranchedSession`, `forkFrom`) copies entries
verbatim, so the copy gets the same ids and counts once; pi's rewrite of a v1 file (new
random entry ids) changes none of them either.
"""

from agent_cli.sources.pi.discover import agent_dir, roots
from agent_cli.sources.pi.format import AGENT
from agent_cli.sources.pi.reader import PiReader, session_of
from agent_cli.sources.pi.source import Pi

__all__ = ["AGENT", "Pi", "PiReader", "agent_dir", "roots", "session_of"]
