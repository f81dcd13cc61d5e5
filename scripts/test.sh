# Usage: scripts/test.sh [cargo test args...]   # installs what the tests need, builds, runs every test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cargo >/dev/null || die "cargo is not installed: install the Rust toolchain and run again"
"$APP_REPO_ROOT/scripts/install-terraform.sh"
bin_dir=$("$APP_REPO_ROOT/scripts/build.sh" dev)
export APP_BIN_DIR="$bin_dir"
log "Terraform versions under test: $(tr '\n' ' ' <"$APP_CACHE/terraform-binaries")"
"$APP_REPO_ROOT/scripts/test-mirror.sh"
cd "$APP_REPO_ROOT"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -q -- -D warnings
cargo test --locked --workspace --no-fail-fast "$@"
