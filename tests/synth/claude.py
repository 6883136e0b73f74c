"""Claude Code: the generator (``ClaudeGen``), which picks the sessions to write under
``~/.claude/projects/``.
"""

from __future__ import annotations

from typing import Any

from .claude_session import (
    ClaudeSession,
    CopySrc,
    CSpec,
)
from .claude_thread import (
    CLAUDE_ERAS,
    M_HAIKU45,
    M_OPUS47,
    M_SONNET4,
    M_SONNET45,
)
from .common import (
    AGENT_CLAUDE,
    DAY_MS,
    PROJECTS,
    WINDOW_START_MS,
    GenBase,
)


class ClaudeGen(GenBase):
    agent = AGENT_CLAUDE

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.root = self.home / ".claude" / "projects"
        self.cwds = [f"/home/dev/src/{p}" for p in PROJECTS]
        self.copy_src: dict[int, list[CopySrc]] = {}
        self.written = 0

    # schedule ------------------------------------------------------------------------------
    def forced(self) -> list[CSpec]:
        """Sessions that guarantee every pattern even at a tiny size (deterministic order).

        Subagent sessions get a Task/Agent call in their first turn and api_errors sessions a
        final API failure, whatever the dice say."""
        t = self.start_ms
        mid = self.midnight_ms
        s = []
        s.append(
            CSpec(
                0,
                "1.0.51",
                t(),
                0,
                subagents=True,
                api_errors=True,
                torn=True,
                partial_tail=True,
                model=M_SONNET4,
                placeholder_only=0.4,
            )
        )
        s.append(CSpec(1, "2.0.28", t(), 0, subagents=True, warmup=True, api_errors=True))
        s.append(
            CSpec(
                2,
                "2.1.39",
                mid(),
                0,
                subagents=True,
                btw=True,
                compaction=True,
                bad_utf8=True,
                notice=True,
            )
        )
        s.append(CSpec(2, "2.1.39", t(), 0, fork=True))
        s.append(
            CSpec(
                3,
                "2.1.114",
                t(),
                0,
                subagents=True,
                cache1h=True,
                api_errors=True,
                btw=True,
                model=M_OPUS47,
            )
        )
        s.append(CSpec(0, "1.0.51", t(), 0, fork=True, model=M_SONNET4))
        s.append(CSpec(4, "1.0.128", t(), 0, no_reqid=True, subagents=True, model=M_SONNET4))
        s.append(
            CSpec(
                5,
                "2.0.42",
                mid(),
                0,
                api_errors=True,
                partial_tail=True,
                warmup=True,
                subagents=True,
            )
        )
        s.append(
            CSpec(
                6,
                "2.1.78",
                t(),
                0,
                no_reqid=True,
                subagents=True,
                compaction=True,
                cache1h=True,
                model_switch=True,
                min_turns=2,
            )
        )
        s.append(
            CSpec(
                7,
                "1.0.24",
                mid(),
                0,
                subagents=True,
                placeholder_only=0.5,
                model=M_SONNET4,
                torn=True,
            )
        )
        s.append(CSpec(3, "2.1.114", t(), 0, fork=True, model=M_OPUS47))
        s.append(
            CSpec(
                8,
                "2.1.140",
                t(),
                0,
                subagents=True,
                api_errors=True,
                partial_tail=True,
                cache1h=True,
                notice=True,
                model=M_OPUS47,
            )
        )
        s.append(CSpec(9, "2.0.55", t(), 0, no_reqid=True, nocache=True, model=M_SONNET45))
        return s

    def random_spec(self) -> CSpec:
        r = self.rng
        era = r.choices(["1.0", "2.0", "2.1"], [20, 25, 55])[0]
        version = r.choice(CLAUDE_ERAS[era])
        if era == "1.0":
            model = r.choices([M_SONNET4, M_SONNET45], [85, 15])[0]
        elif era == "2.0":
            model = r.choices([M_SONNET45, M_SONNET4, M_OPUS47], [75, 10, 15])[0]
        else:
            model = r.choices([M_OPUS47, M_SONNET45, M_HAIKU45], [50, 45, 5])[0]
        midnight = r.random() < 0.03
        spec = CSpec(
            project=r.randrange(len(PROJECTS)),
            version=version,
            t0=self.midnight_ms() if midnight else self.start_ms(),
            target=0,
            no_reqid=r.random() < 0.05,
            api_errors=r.random() < 0.10,
            subagents=r.random() < 0.35,
            warmup=era == "2.0" and r.random() < 0.5,
            btw=era == "2.1" and r.random() < 0.05,
            fork=r.random() < 0.07,
            cache1h=(era == "2.1" and r.random() < 0.25) or (era == "2.0" and r.random() < 0.05),
            torn=r.random() < 0.01,
            bad_utf8=r.random() < 0.002,
            partial_tail=r.random() < 0.02,
            model_switch=r.random() < 0.05,
            notice=r.random() < 0.03,
            model=model,
        )
        if spec.no_reqid:
            spec.btw = False
            spec.nocache = r.random() < 0.3
        return spec

    def run(self) -> None:
        budget = self.budget
        forced = self.forced()
        big_sizes: list[int] = []
        if budget >= 400 * (1 << 20):
            left = int(budget * 0.4)
            for _ in range(3):
                sz = self.rng.randint(50 << 20, 200 << 20)
                if sz > left:
                    break
                big_sizes.append(sz)
                left -= sz
        remaining = budget - sum(big_sizes)
        n_sessions = max(12, int(7000 * (budget / (1 << 30)) ** 0.65))
        mean = max(4000, remaining / n_sessions)
        i = 0
        big_at = {3 + k * 7: sz for k, sz in enumerate(big_sizes)}
        while forced or self.written < budget:
            if i in big_at:
                spec = CSpec(
                    self.rng.randrange(len(PROJECTS)),
                    self.rng.choice(["2.1.39", "2.1.114"]),
                    WINDOW_START_MS + self.rng.randrange(2 * DAY_MS, 30 * DAY_MS),
                    big_at[i],
                    subagents=True,
                    api_errors=True,
                    cache1h=True,
                    big=True,
                    btw=True,
                    model=M_OPUS47,
                )
                self.truth.note("claude.big_session")
            elif forced:
                spec = forced.pop(0)
                spec.force_task = spec.subagents
                spec.force_fail = spec.api_errors
                spec.target = 0 if self.small else int(mean * self.rng.lognormvariate(0, 0.6) / 1.2)
            else:
                spec = self.random_spec()
                spec.target = int(mean * self.rng.lognormvariate(0, 1.0) / 1.65)
            i += 1
            if spec.fork:
                src = self.copy_src.get(spec.project)
                if not src or not src[-1].bounds:
                    spec.fork = False
            sess = ClaudeSession(self, spec)
            sess.generate()
            self.written += sess.bytes()
