"""Enrichment: repository root, remote name without credentials, branch, on real git repos."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import git
import pytest

from agent_cli import pipeline
from agent_cli.config import Privacy, Settings
from agent_cli.enrich import Enricher, lookup_repo, pseudonym, repo_name_from_url
from agent_cli.errors import ConfigError
from agent_cli.events import Context

SECRET = "ghp_secret0123456789abcdef"
CRED_URL = f"https://user:{SECRET}@github.com/acme/widgets.git"
ACTOR = git.Actor("Test", "test@example.invalid")


# -- repo_name_from_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (CRED_URL, "github.com/acme/widgets"),
        (f"https://{SECRET}@github.com/acme/widgets", "github.com/acme/widgets"),
        (
            f"https://x-access-token:{SECRET}@GitHub.com/Acme/widgets.git/",
            "github.com/Acme/widgets",
        ),
        ("https://github.com/acme/widgets.git?token=abc#frag", "github.com/acme/widgets"),
        ("git@github.com:acme/widgets.git", "github.com/acme/widgets"),
        ("github.com:acme/widgets", "github.com/acme/widgets"),
        (f"deploy:{SECRET}@git.example.com:team/app.git", "git.example.com/team/app"),
        ("ssh://git@github.com:22/acme/widgets.git", "github.com/acme/widgets"),
        ("ssh://git@gitlab.example.com/group/sub/proj.git", "gitlab.example.com/group/sub/proj"),
        ("git://example.org/proj.git", "example.org/proj"),
        ("  https://github.com/acme/widgets.git\n", "github.com/acme/widgets"),
        ("https://github.com", None),
        ("/srv/git/widgets.git", None),
        ("./widgets", None),
        ("../widgets.git", None),
        ("~/src/widgets", None),
        ("file:///srv/git/widgets.git", None),
        ("", None),
        (None, None),
    ],
)
def test_repo_name_from_url(url: str | None, name: str | None) -> None:
    got = repo_name_from_url(url)
    assert got == name
    if got:
        assert SECRET not in got and "@" not in got and ":" not in got


def test_windows_local_remote_is_not_a_repo_name() -> None:
    assert repo_name_from_url(r"C:\repos\widgets") is None


# -- real repositories -----------------------------------------------------------------------


def make_repo(path: Path, origin: str | None = CRED_URL, branch: str = "main") -> git.Repo:
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch=branch)
    (path / "README").write_text("hello\n")
    (path / "src" / "pkg").mkdir(parents=True)
    (path / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    repo.index.add(["README", "src/pkg/mod.py"])
    repo.index.commit("init", author=ACTOR, committer=ACTOR)
    if origin:
        repo.create_remote("origin", origin)
    return repo


def place(
    cwd: Path | str,
    branch: str | None = None,
    repo_url: str | None = None,
    privacy: Privacy | None = None,
):
    return Enricher(host="host-1", user="dev", privacy=privacy).place(
        Context(cwd=str(cwd), git_branch=branch, repo_url=repo_url)
    )


def test_repo_root_remote_and_branch(tmp_path: Path) -> None:
    make_repo(tmp_path / "widgets")
    p = place(tmp_path / "widgets")
    assert p.repo_path == str(tmp_path / "widgets")
    assert p.repo_name == "github.com/acme/widgets"
    assert p.git_branch == "main"
    assert (p.host, p.user) == ("host-1", "dev")
    assert SECRET not in repr(p)


def test_subdirectory_cwd_resolves_to_the_top_level(tmp_path: Path) -> None:
    make_repo(tmp_path / "widgets")
    p = place(tmp_path / "widgets" / "src" / "pkg")
    assert p.repo_path == str(tmp_path / "widgets")
    assert p.repo_name == "github.com/acme/widgets"


def test_scp_style_origin(tmp_path: Path) -> None:
    make_repo(tmp_path / "w", origin="git@gitlab.example.com:team/widgets.git")
    assert place(tmp_path / "w").repo_name == "gitlab.example.com/team/widgets"


def test_origin_wins_over_other_remotes_and_no_remote_is_none(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "w", origin=None)
    repo.create_remote("upstream", "https://github.com/upstream/widgets.git")
    repo.create_remote("origin", "https://github.com/fork/widgets.git")
    assert place(tmp_path / "w").repo_name == "github.com/fork/widgets"
    make_repo(tmp_path / "lonely", origin=None)
    assert place(tmp_path / "lonely").repo_name is None


def test_transcript_branch_wins_over_the_current_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "w")
    repo.create_head("feature/x")
    assert place(tmp_path / "w", branch="feature/x").git_branch == "feature/x"
    assert place(tmp_path / "w").git_branch == "main"


def test_detached_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "w")
    repo.git.checkout(repo.head.commit.hexsha)
    assert repo.head.is_detached
    assert place(tmp_path / "w", branch="feature/y").git_branch == "feature/y"
    p = place(tmp_path / "w")
    assert p.git_branch is None
    assert p.repo_path == str(tmp_path / "w")
    assert p.repo_name == "github.com/acme/widgets"


def test_transcript_branch_head_means_detached(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "w")
    repo.git.checkout(repo.head.commit.hexsha)
    assert place(tmp_path / "w", branch="HEAD").git_branch is None


def test_cwd_that_no_longer_exists_is_its_own_repo_path(tmp_path: Path) -> None:
    gone = tmp_path / "gone" / "proj"
    gone.mkdir(parents=True)
    shutil.rmtree(tmp_path / "gone")
    p = place(gone, branch="main", privacy=Privacy(paths="full"))
    assert (p.repo_path, p.repo_name, p.git_branch) == (str(gone), None, "main")
    # by default a path git cannot confirm as a repository root leaves only as a hash
    hashed = place(gone, branch="main")
    assert hashed.repo_path == pseudonym(str(gone), "path") and str(gone) not in str(hashed)


def test_folder_outside_any_repository_is_its_own_repo_path(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / "dir"
    plain.mkdir(parents=True)
    p = place(plain, privacy=Privacy(paths="full"))
    assert (p.repo_path, p.repo_name, p.git_branch) == (str(plain), None, None)
    assert place(plain).repo_path == pseudonym(str(plain), "path")


@pytest.mark.parametrize(
    ("mode", "inside", "outside"),
    [
        ("repo", "{repo}", "hash"),
        ("full", "{repo}", "{plain}"),
        ("home", "~/w", "~/notes/acme-secret-client"),
        ("basename", "w", "acme-secret-client"),
        ("hash", "hash", "hash"),
    ],
)
def test_path_modes(tmp_path: Path, mode: str, inside: str, outside: str) -> None:
    home = tmp_path / "home"
    repo = home / "w"
    plain = home / "notes" / "acme-secret-client"
    make_repo(repo)
    plain.mkdir(parents=True)
    enricher = Enricher(host="h", user="u", privacy=Privacy(paths=mode), home=str(home))
    got = [enricher.place(Context(cwd=str(p))).repo_path for p in (repo, plain)]
    for value, want, path in zip(got, (inside, outside), (repo, plain), strict=True):
        if want == "hash":
            assert value == pseudonym(str(path), "path")
        else:
            assert value == want.format(repo=repo, plain=plain)


@pytest.mark.parametrize(("mode", "host", "user"), [
    ("keep", "laptop-7", "alice"),
    ("hash", pseudonym("laptop-7", "host"), pseudonym("alice", "user")),
    ("drop", None, None),
])  # fmt: skip
def test_identity_modes(mode: str, host: str | None, user: str | None) -> None:
    p = Enricher(host="laptop-7", user="alice", privacy=Privacy(identity=mode)).place(Context())
    assert (p.host, p.user) == (host, user)


def test_a_wrong_privacy_value_is_one_clear_sentence() -> None:
    with pytest.raises(ConfigError, match="--paths must be one of"):
        Privacy(paths="everything")


def test_empty_repository_still_has_a_top_level(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    git.Repo.init(tmp_path / "empty")
    assert place(tmp_path / "empty" / "sub").repo_path == str(tmp_path / "empty")


def test_no_cwd_gives_no_repo_path() -> None:
    p = Enricher(host="h", user="u").place(Context(cwd=None))
    assert (p.repo_path, p.repo_name, p.git_branch) == (None, None, None)


def test_remote_url_recorded_by_the_transcript_is_cleaned(tmp_path: Path) -> None:
    p = place(tmp_path, repo_url=CRED_URL)
    assert p.repo_name == "github.com/acme/widgets"


def test_lookups_are_cached_per_cwd(tmp_path: Path) -> None:
    make_repo(tmp_path / "w")
    cwd = str(tmp_path / "w" / "src")
    before = lookup_repo.cache_info()
    e = Enricher(host="h", user="u")
    for _ in range(50):
        e.place(Context(cwd=cwd, git_branch="b"))
        e.place(Context(cwd=cwd, git_branch=None))
    after = lookup_repo.cache_info()
    assert after.misses - before.misses == 1


# -- through the pipeline --------------------------------------------------------------------


def _line(cwd: str, branch: str | None, mid: str, sec: int) -> str:
    d = {
        "type": "assistant",
        "uuid": f"u{sec}",
        "parentUuid": None,
        "sessionId": "s-1",
        "timestamp": f"2026-03-01T10:00:{sec:02d}.000Z",
        "cwd": cwd,
        "version": "2.1.114",
        "requestId": f"req_{mid}",
        "message": {
            "id": f"msg_{mid}",
            "model": "claude-opus-4-7",
            "stop_reason": "tool_use",
            "content": [
                {
                    "type": "tool_use",
                    "id": f"toolu_{mid}",
                    "name": "Bash",
                    "input": {"command": "ls"},
                }
            ],
            "usage": {
                "input_tokens": 1,
                "output_tokens": 2,
                "cache_read_input_tokens": 3,
                "cache_creation_input_tokens": 4,
            },
        },
    }
    if branch is not None:
        d["gitBranch"] = branch
    return json.dumps(d)


def test_events_carry_the_enrichment_and_never_the_credentials(tmp_path: Path) -> None:
    make_repo(tmp_path / "widgets")
    repo2 = make_repo(tmp_path / "detached", origin="git@github.com:acme/gadgets.git")
    repo2.git.checkout(repo2.head.commit.hexsha)
    gone = tmp_path / "vanished"
    lines = [
        _line(str(tmp_path / "widgets" / "src" / "pkg"), None, "a", 1),
        _line(str(tmp_path / "widgets"), "feature/z", "b", 2),
        _line(str(tmp_path / "detached"), "", "c", 3),
        _line(str(gone), "old", "d", 4),
    ]
    proj = tmp_path / "claude" / "projects" / "p"
    proj.mkdir(parents=True)
    (proj / "s-1.jsonl").write_text("\n".join(lines) + "\n")
    out = io.BytesIO()
    env = {"HOME": str(tmp_path / "home"), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    pipeline.dry_run(Settings(agents=("claude-code",)), out, env)
    assert SECRET.encode() not in out.getvalue()
    assert b"user:" not in out.getvalue()
    calls = {
        e["event_id"][:8]: e
        for e in map(json.loads, out.getvalue().splitlines())
        if e["kind"] == "llm_call"
    }
    got = sorted(
        (e["timestamp"], e["repo_path"], e["repo_name"], e["git_branch"]) for e in calls.values()
    )
    assert got == [
        ("2026-03-01T10:00:01.000Z", str(tmp_path / "widgets"), "github.com/acme/widgets", "main"),
        (
            "2026-03-01T10:00:02.000Z",
            str(tmp_path / "widgets"),
            "github.com/acme/widgets",
            "feature/z",
        ),
        ("2026-03-01T10:00:03.000Z", str(tmp_path / "detached"), "github.com/acme/gadgets", None),
        # a cwd git cannot confirm as a repository root leaves only as a hash (--paths repo)
        ("2026-03-01T10:00:04.000Z", pseudonym(str(gone), "path"), None, "old"),
    ]
    assert all(e["host"] and "user" in e for e in calls.values())
