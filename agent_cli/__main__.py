"""`python -m agent_cli` and the `agent-cli` command: the re-run fast path, then click.

`rerun.quick_rerun` answers a `start --once` that has nothing new from the state folder's
index with the standard library only; anything else (or any change) imports the rest."""

import sys

from agent_cli.rerun import quick_rerun


def main() -> None:
    try:
        code = quick_rerun(sys.argv[1:])
    except KeyboardInterrupt:  # as `start --once` says it when stopped
        sys.stderr.write("stopped; undelivered events stay in the spool for the next start.\n")
        sys.exit(1)
    if code is not None:
        sys.exit(code)
    from agent_cli.cli import cli

    cli()


if __name__ == "__main__":  # guarded: worker processes import this module too
    main()
