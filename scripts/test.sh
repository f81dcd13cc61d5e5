#!/usr/bin/env bash
# Usage: scripts/test.sh [cargo test args...]   # installs what the tests need, builds, runs every test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cargo >/dev/null || die "cargo is not installed: install the Rust toolchain and run again"
"$APP_REPO_ROOT/scripts/install-terraform.sh"
bin_dir=$("$APP_REPO_ROOT/scripts/build.sh" dev)
export APP_BIN_DIR="$bin_dir"
log "Terraform versions under test: $(tr '\n' ' ' <"$APP_CACHE/terraform-binaries")"
"$APP_REPO_ROOT/scripts/test-mirror.sh"
# The Docker work's integration tests: a local engine and two registries on loopback (reused if running).
ensure_apt busybox-static
"$APP_REPO_ROOT/scripts/docker-engine.sh" start
"$APP_REPO_ROOT/scripts/registry.sh" start
"$APP_REPO_ROOT/scripts/moto.sh" start
# A second engine "on another machine" (network namespace, tcp+TLS) for the remote-engine test.
"$APP_REPO_ROOT/scripts/remote-engine.sh" start
eval "$("$APP_REPO_ROOT/scripts/docker-engine.sh" env)"
eval "$("$APP_REPO_ROOT/scripts/registry.sh" env)"
eval "$("$APP_REPO_ROOT/scripts/moto.sh" env)"
eval "$("$APP_REPO_ROOT/scripts/remote-engine.sh" env)"
# The main job and the commands it prints for a newcomer, as printed, in a new shell.
"$APP_REPO_ROOT/scripts/test-quickstart.sh"
cd "$APP_REPO_ROOT"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -q -- -D warnings
cargo test --locked --workspace --no-fail-fast "$@"
