"""``python -m tests.synth OUT_DIR --size 50MB --seed 1 [--canary STR]``."""

import sys

from . import main

sys.exit(main())
