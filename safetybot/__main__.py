"""`python -m safetybot` is the `safetybot` command."""

import sys

from safetybot.cli import main

sys.exit(main())
