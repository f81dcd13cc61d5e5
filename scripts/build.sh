#!/usr/bin/env bash
# Usage: scripts/build.sh [release|dev] [all|router]   # builds terraform-provider-app, app-runner and the static app-router (`router`: app-router only); prints their directory
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

profile=${1:-release}
what=${2:-all}
command -v cargo >/dev/null || die "cargo is not installed: install the Rust toolchain (https://rustup.rs) and run again"
case "$profile" in
    release) dir=release ;;
    dev) dir=debug ;;
    *) die "unknown profile $profile (release or dev)" ;;
esac
case "$what" in
    all)
        log "building terraform-provider-app, app-runner and app-router ($profile) in $CARGO_TARGET_DIR"
        (cd "$APP_REPO_ROOT" && cargo build --locked -q --profile "$profile" -p terraform-provider-app -p app-runner)
        ;;
    router) log "building app-router ($profile) in $CARGO_TARGET_DIR" ;;
    *) die "unknown selection $what (all or router)" ;;
esac

# app-router runs alone in a FROM-scratch container, so it links the C library statically. crt-static
# only with an explicit --target: then RUSTFLAGS skip build scripts and proc-macros (which must stay
# dynamic), and the artifacts land in $CARGO_TARGET_DIR/<triple>/, apart from the host build. The
# executable needs feature `bin`, which host builds leave off so they never overwrite the copy below.
triple=$(rustc -vV | sed -n 's/host: //p')
[ -n "$triple" ] || die "cannot read the host triple from rustc -vV"
(cd "$APP_REPO_ROOT" && env -u CARGO_ENCODED_RUSTFLAGS RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked -q --profile "$profile" -p app-router --features bin --target "$triple")
router=$CARGO_TARGET_DIR/$triple/$dir/app-router
# Static means no ELF program interpreter (PT_INTERP): nothing to load from a filesystem that has none.
python3 - "$router" <<'PY' || die "$router is not statically linked"
import struct, sys
with open(sys.argv[1], "rb") as f:
    elf = f.read()
assert elf[:4] == b"\x7fELF" and elf[4] == 2, "not a 64-bit ELF file"
end = "<" if elf[5] == 1 else ">"
phoff, = struct.unpack_from(end + "Q", elf, 0x20)
phentsize, phnum = struct.unpack_from(end + "HH", elf, 0x36)
types = [struct.unpack_from(end + "I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
sys.exit(1 if 3 in types else 0)  # PT_INTERP = 3
PY
# Next to the provider and runner (copy, then rename: a running router binary is never overwritten in place).
cp -f "$router" "$CARGO_TARGET_DIR/$dir/.app-router.tmp"
mv -f "$CARGO_TARGET_DIR/$dir/.app-router.tmp" "$CARGO_TARGET_DIR/$dir/app-router"
echo "$CARGO_TARGET_DIR/$dir"
