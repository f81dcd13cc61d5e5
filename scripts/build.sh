# Usage: scripts/build.sh [release|dev]   # builds terraform-provider-app and app-runner; prints their directory
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

profile=${1:-release}
command -v cargo >/dev/null || die "cargo is not installed: install the Rust toolchain (https://rustup.rs) and run again"
case "$profile" in
    release) dir=release ;;
    dev) dir=debug ;;
    *) die "unknown profile $profile (release or dev)" ;;
esac
log "building terraform-provider-app and app-runner ($profile) in $CARGO_TARGET_DIR"
(cd "$APP_REPO_ROOT" && cargo build --locked -q --profile "$profile" -p terraform-provider-app -p app-runner)
echo "$CARGO_TARGET_DIR/$dir"
