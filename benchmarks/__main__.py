"""Entry point: `python -m benchmarks --help`."""

from benchmarks.cli import main

raise SystemExit(main())
