#!/usr/bin/env bash
# Usage: scripts/dist.sh [--profile release|dev] [--binaries DIR] [--version V] [OUT_DIR]   # packages the provider zip, SHA256SUMS, filesystem mirror, terraformrc and terraform.lock.hcl into OUT_DIR (default dist/)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    sed -n 2p "${BASH_SOURCE[0]}" | sed 's/^# //' >&2
    cat >&2 <<'EOF'
  --profile P     cargo profile whose binaries to pack: release (default) or dev
  --binaries DIR  pack DIR/terraform-provider-app (required), DIR/app-runner and DIR/app-router
                  (each if present) instead of $CARGO_TARGET_DIR/<profile>/...; never builds
  --version V     version to stamp (default: [workspace.package] version of Cargo.toml)
  OUT_DIR         output directory (default: <repo>/dist)
EOF
    exit 2
}

PROFILE=release
BIN_DIR=
VERSION=
OUT_DIR=
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) [ $# -ge 2 ] || usage; PROFILE=$2; shift 2 ;;
    --profile=*) PROFILE=${1#*=}; shift ;;
    --binaries) [ $# -ge 2 ] || usage; BIN_DIR=$2; shift 2 ;;
    --binaries=*) BIN_DIR=${1#*=}; shift ;;
    --version) [ $# -ge 2 ] || usage; VERSION=$2; shift 2 ;;
    --version=*) VERSION=${1#*=}; shift ;;
    -h | --help) usage ;;
    -*) log "unknown option: $1"; usage ;;
    *) [ -z "$OUT_DIR" ] || usage; OUT_DIR=$1; shift ;;
    esac
done

case "$PROFILE" in
release) PROFILE_DIR=release ;;
dev | debug) PROFILE=dev; PROFILE_DIR=debug ;;
*) die "unknown profile '$PROFILE' (release or dev)" ;;
esac

PROVIDER=terraform-provider-app
RUNNER=app-runner
ROUTER=app-router
# Registry address the provider is published/mirrored under.
PROVIDER_HOST=registry.terraform.io
PROVIDER_NS=apps
PROVIDER_TYPE=app
OS_ARCH=linux_amd64

if [ -z "$BIN_DIR" ]; then
    BIN_DIR=$CARGO_TARGET_DIR/$PROFILE_DIR
    if [ ! -x "$BIN_DIR/$PROVIDER" ] || [ ! -x "$BIN_DIR/$RUNNER" ] || [ ! -x "$BIN_DIR/$ROUTER" ]; then
        # build.sh also builds the static app-router and puts it next to the other two.
        run_quiet "$APP_REPO_ROOT/scripts/build.sh" "$PROFILE" || die "scripts/build.sh $PROFILE failed"
    fi
    FILES=("$BIN_DIR/$PROVIDER" "$BIN_DIR/$RUNNER" "$BIN_DIR/$ROUTER")
else
    [ -d "$BIN_DIR" ] || die "--binaries: $BIN_DIR is not a directory"
    FILES=("$BIN_DIR/$PROVIDER")
    [ ! -e "$BIN_DIR/$RUNNER" ] || FILES+=("$BIN_DIR/$RUNNER")
    [ ! -e "$BIN_DIR/$ROUTER" ] || FILES+=("$BIN_DIR/$ROUTER")
fi
for f in "${FILES[@]}"; do
    if [ ! -f "$f" ] || [ ! -x "$f" ]; then die "missing executable $f"; fi
done
# app-router runs in a FROM-scratch container: it must be an ELF executable without interpreter (static).
if [ -e "$BIN_DIR/$ROUTER" ]; then
    python3 - "$BIN_DIR/$ROUTER" <<'EOF' || die "$BIN_DIR/$ROUTER is not a statically linked executable (build it with scripts/build.sh)"
import struct, sys
with open(sys.argv[1], "rb") as f:
    elf = f.read()
if elf[:4] != b"\x7fELF" or elf[4] != 2:
    sys.exit(1)
end = "<" if elf[5] == 1 else ">"
phoff, = struct.unpack_from(end + "Q", elf, 0x20)
phentsize, phnum = struct.unpack_from(end + "HH", elf, 0x36)
types = [struct.unpack_from(end + "I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
sys.exit(1 if 3 in types else 0)  # PT_INTERP = 3
EOF
fi

if [ -z "$VERSION" ]; then
    VERSION=$(python3 - "$APP_REPO_ROOT/Cargo.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(tomllib.load(f)["workspace"]["package"]["version"])
EOF
    ) || die "cannot read [workspace.package] version from $APP_REPO_ROOT/Cargo.toml"
fi
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]] || die "bad version '$VERSION'"

OUT_DIR=${OUT_DIR:-$APP_REPO_ROOT/dist}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

ZIP_NAME=${PROVIDER}_${VERSION}_${OS_ARCH}.zip
ZIP=$OUT_DIR/$ZIP_NAME
SUMS=$OUT_DIR/${PROVIDER}_${VERSION}_SHA256SUMS
MIRROR=$OUT_DIR/mirror
MIRROR_ZIP=$MIRROR/$PROVIDER_HOST/$PROVIDER_NS/$PROVIDER_TYPE/$ZIP_NAME

# Deterministic zip: sorted entries at the root, fixed timestamps, mode 0755, fixed compression.
tmp=$(mktemp "$OUT_DIR/.$ZIP_NAME.XXXXXX")
trap 'rm -f "$tmp"' EXIT
python3 - "$tmp" "${FILES[@]}" <<'EOF'
import os, sys, zipfile
out, paths = sys.argv[1], sorted(sys.argv[2:], key=os.path.basename)
with zipfile.ZipFile(out, "w") as z:
    for p in paths:
        info = zipfile.ZipInfo(os.path.basename(p), date_time=(1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # Unix, so external_attr carries the mode
        info.external_attr = (0o100755 << 16)
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(p, "rb") as f:
            z.writestr(info, f.read(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
EOF
chmod 644 "$tmp"
if cmp -s "$tmp" "$ZIP"; then rm -f "$tmp"; else mv -f "$tmp" "$ZIP"; fi
trap - EXIT

(cd "$OUT_DIR" && sha256sum "$ZIP_NAME") >"$SUMS.tmp"
mv -f "$SUMS.tmp" "$SUMS"

# Filesystem mirror, "packed" layout: HOSTNAME/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_TARGET.zip
mkdir -p "$(dirname "$MIRROR_ZIP")"
cmp -s "$ZIP" "$MIRROR_ZIP" || cp -f "$ZIP" "$MIRROR_ZIP"

cat >"$OUT_DIR/terraformrc.tmp" <<EOF
# Terraform CLI config: install $PROVIDER_NS/$PROVIDER_TYPE from the local mirror, everything else directly.
# Use with: TF_CLI_CONFIG_FILE=$OUT_DIR/terraformrc terraform init
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["$PROVIDER_HOST/$PROVIDER_NS/$PROVIDER_TYPE"]
  }
  direct {
    exclude = ["$PROVIDER_HOST/$PROVIDER_NS/$PROVIDER_TYPE"]
  }
}
EOF
mv -f "$OUT_DIR/terraformrc.tmp" "$OUT_DIR/terraformrc"

# Dependency lock file with both hash kinds. A filesystem mirror only ever yields the local h1: hash
# (zh: hashes come from signed registry SHA256SUMS), so copy this file to .terraform.lock.hcl next to a
# configuration before 'terraform init' to pin this exact package; init verifies it and keeps both.
python3 - "$ZIP" "$PROVIDER_HOST/$PROVIDER_NS/$PROVIDER_TYPE" "$VERSION" >"$OUT_DIR/terraform.lock.hcl.tmp" <<'EOF'
import base64, hashlib, sys, zipfile
path, addr, version = sys.argv[1:]
with open(path, "rb") as f:
    zh = "zh:" + hashlib.sha256(f.read()).hexdigest()
with zipfile.ZipFile(path) as z:  # h1: golang.org/x/mod/sumdb/dirhash Hash1 of the unpacked package
    names = sorted(i.filename for i in z.infolist() if not i.is_dir())
    summary = "".join(f"{hashlib.sha256(z.read(n)).hexdigest()}  {n}\n" for n in names)
h1 = "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()
print(f"""# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "{addr}" {{
  version = "{version}"
  hashes = [
    "{h1}",
    "{zh}",
  ]
}}""")
EOF
mv -f "$OUT_DIR/terraform.lock.hcl.tmp" "$OUT_DIR/terraform.lock.hcl"

printf '%s\n' "$ZIP"
