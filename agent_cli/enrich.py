"""Enrichment: repository, branch, host and user for a call's context.

`repo_path` is the git top level of the call's cwd (the cwd itself when it is not in a
repository or no longer exists), then shaped by the privacy settings (`config.Privacy`: by
default a path git does not confirm as a repository root leaves only as a hash);
`repo_name` is the origin remote as host/owner/name with any
user, password or token removed; `git_branch` is what the transcript recorded at call time,
else the repository's current branch (None on a detached HEAD). Lookups are cached per cwd:
a history touches thousands of sessions but few repositories.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from agent_cli import config
from agent_cli.config import Privacy
from agent_cli.events import Context, Place

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # no warning when git is missing

_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")  # git@host:owner/name


def repo_name_from_url(url: str | None) -> str | None:
    """Return host/owner/name of a remote URL, never its credentials; None for local paths."""
    if not url:
        return None
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme == "file" or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    else:
        m = _SCP.match(url)
        if not m or url.startswith(("/", ".", "~")) or "\\" in url or len(m["host"]) == 1:
            return None  # a local path (C:\\repos\\x is not host "c"), never a remote
        host, path = m["host"], m["path"]
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host.lower()}/{path}" if path else None


@dataclass(frozen=True, slots=True)
class Repo:
    """What git says about a folder (`found`: git confirmed `path` as a working tree)."""

    path: str
    remote: str | None
    branch: str | None
    found: bool = False


def pseudonym(value: str, kind: str) -> str:
    """A stable stand-in for a path or a name: `sha256:` and 16 hex digits."""
    digest = hashlib.sha256(f"agent-cli {kind}\x1f{value}".encode("utf-8", "surrogatepass"))
    return "sha256:" + digest.hexdigest()[:16]


def shape_path(path: str | None, privacy: Privacy, in_repo: bool, home: str) -> str | None:
    """The `repo_path` that leaves the machine under `privacy` (see `config.Privacy`)."""
    if not path:
        return None
    mode = privacy.paths
    if mode == "full" or (mode == "repo" and in_repo):
        return path
    if mode == "home":
        if home and (path == home or path.startswith(home.rstrip("/") + "/")):
            return "~" + path[len(home.rstrip("/")) :]
        return path
    if mode == "basename":
        return os.path.basename(path.rstrip("/")) or path
    return pseudonym(path, "path")


def shape_identity(value: str | None, privacy: Privacy, kind: str) -> str | None:
    if value is None or privacy.identity == "keep":
        return value
    return pseudonym(value, kind) if privacy.identity == "hash" else None


@lru_cache(maxsize=4096)
def lookup_repo(cwd: str) -> Repo:
    """Return the repository containing `cwd` (or the cwd itself when there is none)."""
    if not cwd or not os.path.isdir(cwd):
        return Repo(cwd, None, None)
    try:
        import git

        repo = git.Repo(cwd, search_parent_directories=True)
    except Exception:  # not a repository, or git cannot read it: the cwd stands alone
        return Repo(cwd, None, None)
    try:
        top = repo.working_tree_dir or cwd
        remote = _origin_url(repo)
        branch = None if repo.head.is_detached else repo.active_branch.name
    except Exception:  # a broken or empty repository still has a top level
        return Repo(
            str(repo.working_tree_dir or cwd), None, None, repo.working_tree_dir is not None
        )
    finally:
        repo.close()
    return Repo(str(top), remote, branch, repo.working_tree_dir is not None)


def _origin_url(repo: object) -> str | None:
    remotes = getattr(repo, "remotes", [])
    chosen = next((r for r in remotes if r.name == "origin"), remotes[0] if remotes else None)
    if chosen is None:
        return None
    urls = list(chosen.urls)
    return urls[0] if urls else None


class Enricher:
    """Attach repository, branch, host and user to contexts, with per-cwd caches."""

    def __init__(
        self,
        host: str | None = None,
        user: str | None = None,
        privacy: Privacy | None = None,
        home: str | None = None,
    ) -> None:
        self.privacy = privacy or Privacy()
        self.home = home if home is not None else str(config.home())
        self.host = shape_identity(
            host if host is not None else socket.gethostname(), self.privacy, "host"
        )
        self.user = shape_identity(user if user is not None else _user(), self.privacy, "user")
        self._places: dict[tuple[str | None, str | None, str | None], Place] = {}

    def place(self, ctx: Context) -> Place:
        """Return the enrichment of one context (cached on cwd, branch and remote)."""
        key = (ctx.cwd, ctx.git_branch, ctx.repo_url)
        found = self._places.get(key)
        if found is None:
            found = self._places[key] = self._resolve(ctx)
        return found

    def _resolve(self, ctx: Context) -> Place:
        repo = lookup_repo(ctx.cwd) if ctx.cwd else Repo("", None, None)
        name = repo_name_from_url(ctx.repo_url) or repo_name_from_url(repo.remote)
        return Place(
            repo_path=shape_path(repo.path, self.privacy, repo.found, self.home),
            repo_name=name,
            # Claude Code writes "HEAD" on a detached HEAD: that is no branch.
            git_branch=(ctx.git_branch if ctx.git_branch != "HEAD" else None)
            or (repo.branch if not ctx.git_branch else None),
            host=self.host,
            user=self.user,
        )


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return None
