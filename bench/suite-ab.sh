#!/usr/bin/env bash
# Helper (not part of `npm run bench`): runs one bench suite alternately in another built checkout and in
# this one, so background load hits both alike; compare the rounds' figures (medians of per-round ratios).
#   bash bench/suite-ab.sh <other-checkout> <suite: core|router|ledger|pump|stores|...> [rounds=3]
# <other-checkout>: a built copy of the repository (see bench/gateway-ab.js), e.g. the commit before a change.
set -euo pipefail
other=$1; suite=$2; rounds=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
for r in $(seq 1 "$rounds"); do
  for side in other this; do
    dir=$other; [ "$side" = this ] && dir=$here
    echo "### $suite round $r $side ($dir)"
    (cd "$dir" && node bench/run.js "$suite")
  done
done
