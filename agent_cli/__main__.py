from agent_cli.cli import cli

cli()
