"""agent-cli: ship coding-agent usage events from local transcripts to Sutrace."""

__version__ = "0.1.0"
