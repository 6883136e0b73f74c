from agent_cli.cli import cli

if __name__ == "__main__":  # guarded: worker processes import this module too
    cli()
