"""Edges that must hold without a person (issue "Hold at the edges"): real subprocesses and the
reference receiver on 127.0.0.1; every moment is chosen by a condition, never by a sleep."""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_e2e import (
    CEILING,
    KEY,
    Daemon,
    Receiver,
    agent,
    agent_env,
    append,
    dry_run,
    make_call,
    no_traceback,
    session_of,
    ship_env,
    spool_rows,
    status_json,
    wait_until,
    write_history,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_once_stopped_mid_request_exits_1_and_keeps_the_batch(
    sig: signal.Signals, tmp_path: Path, isolated_home: Path
) -> None:
    write_history(isolated_home, sessions=1, calls=20, seed=31)
    with Receiver(tmp_path / "rx") as rx:
        rx.faults(hold="before_commit")
        env = ship_env(rx)
        with Daemon(env, ["--once", "--drain-timeout", "600"], tmp_path / "d") as d:
            wait_until(lambda: rx.stats()["faults"]["held"] >= 1, CEILING, "a batch on the wire")
            d.proc.send_signal(sig)
            rc = d.proc.wait(CEILING)
            rx.faults(hold=None)
            assert rc == 1, d.stderr()  # not 0: the run did not finish
            assert "Traceback" not in d.stderr()
            assert "stay in the spool" in d.stderr()
        _code, info = status_json(env)
        assert info["outbox"]["depth"] > 0
        p = agent(["start", "--once", "--drain-timeout", "600"], env)  # the next start sends it
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        assert status_json(env)[1]["outbox"]["depth"] == 0


def test_once_stopped_while_backing_off_exits_1(tmp_path: Path, isolated_home: Path) -> None:
    write_history(isolated_home, sessions=1, calls=10, seed=32)
    with Receiver(tmp_path / "rx", "--status-sequence", ",".join(["503"] * 50)) as rx:
        env = ship_env(rx)
        with Daemon(env, ["--once", "--drain-timeout", "600"], tmp_path / "d") as d:
            wait_until(lambda: rx.stats()["by_status"].get("503", 0) >= 1, CEILING, "a 503")
            d.proc.send_signal(signal.SIGTERM)
            assert d.proc.wait(CEILING) == 1, d.stderr()
            assert "Traceback" not in d.stderr()


def test_a_persisted_wait_from_a_clock_that_jumped_back_is_clamped(
    tmp_path: Path, isolated_home: Path
) -> None:
    """Clock back by ~4 months: the stored backoff ends in 10^7 s. Status says at most the
    cap, and `--once` tries at once (a person asking now), instead of giving up untried."""
    write_history(isolated_home, sessions=1, calls=5, seed=33)
    with Receiver(tmp_path / "rx", "--status-sequence", "503") as rx:
        env = ship_env(rx)
        p = agent(["start", "--once", "--drain-timeout", "0"], env)
        assert p.returncode == 1, p.stderr  # left a backoff and events in the spool
        state = Path(env["AGENT_CLI_HOME"])
        db = sqlite3.connect(state / "spool.sqlite")
        now = time.time()
        with db:
            db.execute(
                "UPDATE sinks SET backoff_until = ?, last_attempt_at = ?, pause_reason = 'backoff'",
                (now + 1e7, now + 1e7 - 3000),  # a 3000 s wait chosen then
            )
        db.close()
        _code, info = status_json(env)
        assert info["pause"] is not None and info["pause"]["until"] - time.time() <= 3600
        human = agent(["status"], env).stdout
        left = int(human.split("next try in ")[1].split(" s")[0])
        assert left <= 3600, human
        before = len(rx.stats()["requests"])
        p = agent(["start", "--once", "--drain-timeout", "600"], env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        assert len(rx.stats()["requests"]) > before  # it tried
        assert status_json(env)[1]["outbox"]["depth"] == 0


def test_agent_aliases_are_accepted(isolated_home: Path) -> None:
    write_history(isolated_home, sessions=1, calls=3, seed=34)
    env = agent_env()
    full = agent(["start", "--once", "--dry-run", "--agent", "claude-code"], env)
    short = agent(["start", "--once", "--dry-run", "--agent", "claude"], env)
    assert short.returncode == 0 and short.stdout == full.stdout and full.stdout
    bad = agent(["start", "--once", "--dry-run", "--agent", "clod"], env)
    assert bad.returncode == 2 and "Unknown agent 'clod'" in bad.stderr


def test_an_unusable_state_folder_is_a_usage_error(tmp_path: Path, isolated_home: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = agent_env(SUTRACE_ENDPOINT="http://127.0.0.1:9", SUTRACE_API_KEY="k")
    p = agent(["start", "--once", "--home", str(blocker / "state")], env)
    no_traceback(p)
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "state folder" in lines[0] and "--home" in lines[0], p.stderr


def test_a_path_outside_any_repository_never_leaves_as_it_is(
    tmp_path: Path, isolated_home: Path
) -> None:
    """The transcripts' cwd (/nonexistent/e2e-repo) is no repository here: by default it
    leaves as a hash, in the dry-run as on the wire; --paths full is the team's choice."""
    write_history(isolated_home, sessions=1, calls=4, seed=35)
    cwd = b"/nonexistent/e2e-repo"
    dry = agent(["start", "--once", "--dry-run"], agent_env())
    assert dry.returncode == 0 and dry.stdout and cwd.decode() not in dry.stdout
    assert '"repo_path":"sha256:' in dry.stdout
    with Receiver(tmp_path / "rx") as rx:
        p = agent(["start", "--once", "--drain-timeout", "600"], ship_env(rx))
        assert p.returncode == 0, p.stderr
        assert cwd not in rx.raw_bytes() and rx.events()
    full = agent(["start", "--once", "--dry-run", "--paths", "full"], agent_env())
    assert cwd.decode() in full.stdout
    ident = agent(["start", "--once", "--dry-run", "--identity", "drop"], agent_env())
    assert '"host":null' in ident.stdout and '"user":null' in ident.stdout


def test_a_huge_answer_is_read_only_as_far_as_needed(tmp_path: Path, isolated_home: Path) -> None:
    """A 200 whose body is 2 GB: the shipper reads a bounded prefix and hangs up (it once
    read every byte, 4 answers at a time, and grew past 3 GB)."""
    write_history(isolated_home, sessions=1, calls=30, seed=36)
    with Receiver(tmp_path / "rx") as rx:
        rx.faults(answer_bytes=2_000_000_000)
        env = ship_env(rx)
        want = len(dry_run(env))
        p = agent(["start", "--once", "--drain-timeout", "600"], env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        st = rx.stats()
        assert st["events"] == want
        n = len(st["requests"])
        # what the server could push into socket buffers before the shipper hung up
        assert st["faults"]["answer_bytes_sent"] < n * 64 * 1024 * 1024, st["faults"]


def _damage(db: Path, how: str) -> None:
    data = bytearray(db.read_bytes())
    if how == "garbled_header":
        data[:100] = b"\x07" * 100
    elif how == "truncated":
        del data[len(data) // 2 :]
    else:  # garbled pages in the middle
        mid = len(data) // 2
        data[mid : mid + 8192] = bytes((i * 73 + 11) % 256 for i in range(8192))
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["garbled_header", "truncated", "garbled_pages"])
def test_a_damaged_spool_is_kept_aside_and_a_new_one_started(
    how: str, tmp_path: Path, isolated_home: Path
) -> None:
    write_history(isolated_home, sessions=2, calls=40, seed=37)
    down = agent_env(SUTRACE_ENDPOINT="http://127.0.0.1:9", SUTRACE_API_KEY=KEY)
    p = agent(["start", "--once", "--drain-timeout", "0"], down)
    assert p.returncode == 1, p.stderr  # everything queued, nothing delivered
    state = Path(down["AGENT_CLI_HOME"])
    _damage(state / "spool.sqlite", how)
    if how != "garbled_pages":  # a damaged header or a short file shows at once
        st = agent(["status"], down)
        no_traceback(st)
        assert st.returncode != 0
        lines = [x for x in st.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "damaged" in lines[0] and "start" in lines[0], st.stderr
    with Receiver(tmp_path / "rx") as rx:
        env = ship_env(rx)
        want = dry_run(env)
        p = agent(["start", "--once", "--drain-timeout", "600"], env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        assert set(rx.events()) == set(want)  # read again from the transcripts: nothing lost
        code, info = status_json(env)
        assert code == 0 and info["healthy"] and info["outbox"]["depth"] == 0
        assert info["recovered"] and info["recovered"]["kept_as"].startswith("spool.sqlite.")
        assert (state / info["recovered"]["kept_as"]).exists()  # kept for a person
        assert "recovered" in agent(["status"], env).stdout
        assert "damaged" in (state / "agent-cli.log").read_text()


TLS = Path(__file__).parent / "fixtures" / "tls"


def test_an_untrusted_certificate_pauses_and_keeps_everything(
    tmp_path: Path, isolated_home: Path
) -> None:
    """A self-signed or wrong certificate is a misconfiguration, not an outage: no retry loop;
    pause, say so, keep everything; trusting the certificate delivers it all."""
    write_history(isolated_home, sessions=1, calls=10, seed=38)
    tls = ["--tls-cert", str(TLS / "cert.pem"), "--tls-key", str(TLS / "key.pem")]
    with Receiver(tmp_path / "rx", *tls) as rx:
        assert rx.url.startswith("https://")
        env = ship_env(rx)
        want = dry_run(env)
        p = agent(["start", "--once", "--drain-timeout", "600"], env, timeout=CEILING)
        no_traceback(p)
        assert p.returncode == 1, p.stderr  # at once, not after 600 s of retries
        assert "certificate" in p.stderr and rx.events() == {}
        code, info = status_json(env)
        assert code == 1 and not info["healthy"]
        assert info["pause"]["reason"] == "paused: endpoint_misconfigured"
        assert "certificate" in info["pause"]["detail"]
        assert info["outbox"]["depth"] == len(want)
        trusted = {**env, "SSL_CERT_FILE": str(TLS / "cert.pem")}  # a private CA, trusted
        p = agent(["start", "--once", "--drain-timeout", "600"], trusted)
        assert p.returncode == 0, p.stderr
        assert set(rx.events()) == set(want)


def test_a_dripping_server_never_holds_a_once_past_its_drain_timeout(
    tmp_path: Path, isolated_home: Path
) -> None:
    """One byte every 5 s: each read is in time, the answer never comes. --drain-timeout
    bounds the whole drain: the run ends with the events kept (it once hung for ever)."""
    write_history(isolated_home, sessions=1, calls=5, seed=39)
    with Receiver(tmp_path / "rx") as rx:
        rx.faults(drip_seconds=5.0)
        env = ship_env(rx)
        # the subprocess ceiling is a hang detector: a drip of 5 s a byte takes minutes
        p = agent(["start", "--once", "--drain-timeout", "3"], env, timeout=CEILING)
        no_traceback(p)
        assert p.returncode == 1, p.stderr
        assert status_json(env)[1]["outbox"]["depth"] > 0  # kept for the next start


def _spooled_ids(state: Path) -> set[str]:
    try:
        return {eid for eid, _ in spool_rows(state)}
    except sqlite3.Error:  # not created yet
        return set()


def test_a_stuck_request_never_blocks_reading_new_lines(
    tmp_path: Path, isolated_home: Path
) -> None:
    """The daemon settles only answers that came back: while a batch drips (minutes), a new
    line is still read and spooled at the next poll."""
    paths = write_history(isolated_home, sessions=1, calls=5, seed=40)
    with Receiver(tmp_path / "rx") as rx:
        rx.faults(drip_seconds=5.0)
        env = ship_env(rx)
        state = Path(env["AGENT_CLI_HOME"])
        with Daemon(env, ["--poll-interval", "0.1"], tmp_path / "d") as d:
            wait_until(lambda: rx.stats()["requests"], CEILING, "a batch on the wire")
            call = make_call(random.Random(41), session_of(paths[0]), 900)
            append(paths[0], b"".join(call.lines))
            # well before the stuck request's own limit (REQUEST_SECONDS, 120 s)
            wait_until(lambda: call.llm_id in _spooled_ids(state), 60,
                       "the new call to be read while a request is stuck")  # fmt: skip
            assert d.alive(), d.stderr()


def test_status_of_a_state_folder_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    p = agent(["status", "--home", str(blocker / "state")], agent_env())
    no_traceback(p)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "cannot be read" in p.stderr and "nothing spooled" not in p.stdout


def test_a_since_after_every_file_says_how_many_were_older(isolated_home: Path) -> None:
    write_history(isolated_home, sessions=2, calls=2, seed=42)
    p = agent(["start", "--once", "--dry-run", "--since", "2999-01-01"], agent_env())
    assert p.returncode == 0 and p.stdout == ""
    assert "no transcripts written since 2999-01-01; 2 older ones were not read" in p.stderr


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs of our own (root only): a disk that really fills up."""
    path.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(path)], capture_output=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_disk_pauses_reading_keeps_delivering_and_resumes(
    tmp_path: Path, isolated_home: Path
) -> None:
    write_history(isolated_home, sessions=4, calls=300, seed=43, pad=20)
    with _tmpfs(tmp_path / "state", "1m") as state, Receiver(tmp_path / "rx") as rx:
        env = ship_env(rx, AGENT_CLI_HOME=str(state))
        want = dry_run(env)
        p = agent(["start", "--once", "--drain-timeout", "600"], env)
        no_traceback(p)
        assert p.returncode == 1, p.stderr  # said, not an internal error
        assert "internal error" not in p.stderr and "is full" in p.stderr
        assert 0 < len(rx.events()) < len(want)  # what was spooled was delivered
        code, info = status_json(env)
        assert code == 1 and not info["healthy"] and info["disk_full"]
        assert "disk full" in agent(["status"], env).stdout
        # room again (a bigger tmpfs): it resumes by itself and everything arrives, once
        remount = ["mount", "-o", "remount,size=64m", str(state)]
        assert subprocess.run(remount, capture_output=True).returncode == 0
        p = agent(["start", "--once", "--drain-timeout", "600"], env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        assert set(rx.events()) == set(want)
        assert status_json(env)[0] == 0
