#!/usr/bin/env bash
# Redraws the README's pictures, docs/speedup.svg and docs/timeline.svg, with
# the commands the README shows for them, and prints their text output to
# paste beside them. Run it on a quiet machine: `bash docs/regenerate.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
procpool=target/release/procpool
$procpool sweep 4 --runs 3 --plot docs/speedup.svg
$procpool 4 --mode processes --quiet --timeline docs/timeline.svg
