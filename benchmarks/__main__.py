"""`python -m benchmarks`: the benchmark (benchmarks/run.sh runs this)."""

import sys

from benchmarks.cli import main

sys.exit(main())
