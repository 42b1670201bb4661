#!/usr/bin/env bash
# The peer suite's one command: installs the Debian packages it needs (only the
# missing ones), then builds tether's tether_peer and every peer and runs the
# suite. All options go to bench/suite/run.py (see --help), e.g.
#   bench/run-peers.sh                    full run (about 12 minutes from a fresh clone on 2 cores), rewrites docs/benchmarks.md
#   bench/run-peers.sh --quick            smoke test: 1 repetition, small sizes
#   bench/run-peers.sh --only skynet,echo --runtimes tether,tokio
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-deps.sh bench
exec python3 bench/suite/run.py "$@"
