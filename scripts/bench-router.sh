#!/usr/bin/env bash
# Usage: scripts/bench-router.sh [IDLE] [REQUESTS]   # app-router (static, release) holding IDLE (2000) idle connections: its threads, RSS, and p50/p99 latency of REQUESTS (1000) new HTTP requests
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

idle=${1:-2000}
requests=${2:-1000}
bin=$("$APP_REPO_ROOT/scripts/build.sh" release router)
(cd "$APP_REPO_ROOT" && cargo build --locked -q --release -p app-router --example bench_router)
"$CARGO_TARGET_DIR/release/examples/bench_router" "$bin/app-router" "$idle" "$requests"
