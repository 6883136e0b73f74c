#!/usr/bin/env python3
"""Synthetic heavy-user HOME with coding-agent transcripts, and its ground truth.

The generator lives in ``tests/synth/`` (``python -m tests.synth`` from the repo root); this
shim keeps ``python benchmarks/history.py OUT_DIR --size 1GB --seed 1 [--canary STR]`` working
from a checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.synth

from tests.synth import TOKEN_FIELDS, Truth, generate, main, parse_size

__all__ = ["TOKEN_FIELDS", "Truth", "generate", "main", "parse_size"]

if __name__ == "__main__":
    sys.exit(main())
