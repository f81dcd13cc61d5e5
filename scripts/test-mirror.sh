#!/usr/bin/env bash
# Usage: scripts/test-mirror.sh [-v]   # checks dist.sh's zip/mirror/terraformrc with a fake provider: terraform init (every Terraform in $APP_CACHE/terraform-binaries) must install apps/app 0.0.1 from the mirror; -v prints the lock files
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERBOSE=0
[ "${1:-}" != "-v" ] || VERBOSE=1

"$APP_REPO_ROOT/scripts/install-terraform.sh"
mapfile -t TERRAFORMS <"$APP_CACHE/terraform-binaries"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Fake binaries: init only unpacks and hashes them, nothing runs them.
mkdir -p "$TMP/bin"
printf '#!/bin/sh\necho "fake terraform-provider-app" >&2\nexit 1\n' >"$TMP/bin/terraform-provider-app"
printf '#!/bin/sh\necho "fake app-runner" >&2\nexit 1\n' >"$TMP/bin/app-runner"
chmod 755 "$TMP/bin/"*

passed=0
failed=0
fail() {
    log "FAIL: $*"
    failed=$((failed + 1))
}

zip1=$("$APP_REPO_ROOT/scripts/dist.sh" --binaries "$TMP/bin" --version 0.0.1 "$TMP/dist")
sum1=$(sha256sum "$zip1" | cut -d' ' -f1)
touch "$TMP/bin/"*  # new mtimes must not change the archive
zip2=$("$APP_REPO_ROOT/scripts/dist.sh" --binaries "$TMP/bin" --version 0.0.1 "$TMP/dist2")
sum2=$(sha256sum "$zip2" | cut -d' ' -f1)

# Layout and determinism.
if [ "$zip1" = "$TMP/dist/terraform-provider-app_0.0.1_linux_amd64.zip" ] &&
    [ "$sum1" = "$sum2" ] &&
    grep -qx "$sum1  terraform-provider-app_0.0.1_linux_amd64.zip" "$TMP/dist/terraform-provider-app_0.0.1_SHA256SUMS" &&
    cmp -s "$zip1" "$TMP/dist/mirror/registry.terraform.io/apps/app/terraform-provider-app_0.0.1_linux_amd64.zip" &&
    grep -q "path    = \"$TMP/dist/mirror\"" "$TMP/dist/terraformrc" &&
    [ "$(python3 -c 'import sys, zipfile; print(" ".join(f"{i.filename}:{i.external_attr >> 16:o}" for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip1")" = \
        "app-runner:100755 terraform-provider-app:100755" ]; then
    passed=$((passed + 1))
else
    fail "dist layout/determinism (sha $sum1 vs $sum2)"
fi

# tf_init TF DIR: terraform init in DIR with dist's terraformrc; output in $out.
tf_init() {
    out=$(cd "$2" && env -u TF_PLUGIN_CACHE_DIR TF_CLI_CONFIG_FILE="$TMP/dist/terraformrc" \
        "$1" init -input=false -no-color 2>&1)
}

# new_workdir NAME: a configuration requiring apps/app 0.0.1.
new_workdir() {
    local work=$TMP/work-$1
    mkdir -p "$work"
    cat >"$work/main.tf" <<'EOF'
terraform {
  required_providers {
    app = {
      source  = "apps/app"
      version = "0.0.1"
    }
  }
}
EOF
    printf '%s\n' "$work"
}

lock_hashes() { grep -o '"\(h1\|zh\):[^"]*"' "$1" | sort; }

want_hashes=$(lock_hashes "$TMP/dist/terraform.lock.hcl")
for tf in "${TERRAFORMS[@]}"; do
    ver=$(TF_CLI_CONFIG_FILE=/dev/null "$tf" version | head -n 1)
    name=$(basename "$tf")

    # 1. No lock file: installs from the mirror; Terraform can only record the local h1: hash.
    work=$(new_workdir "$name-fresh")
    installed=$work/.terraform/providers/registry.terraform.io/apps/app/0.0.1/linux_amd64/terraform-provider-app
    if tf_init "$tf" "$work" && grep -q 'Installing apps/app v0.0.1' <<<"$out" && [ -x "$installed" ] &&
        [ "$(lock_hashes "$work/.terraform.lock.hcl")" = "$(grep h1: <<<"$want_hashes")" ]; then
        passed=$((passed + 1))
        [ "$VERBOSE" = 0 ] || { printf '### %s, no lock file before init\n' "$ver"; cat "$work/.terraform.lock.hcl"; }
    else
        fail "$ver ($tf): fresh init from the mirror"
        printf '%s\n' "$out" >&2
    fi

    # 2. Lock file from dist.sh: init verifies the package against it and keeps h1: and zh:.
    work=$(new_workdir "$name-locked")
    cp "$TMP/dist/terraform.lock.hcl" "$work/.terraform.lock.hcl"
    if tf_init "$tf" "$work" && grep -q 'Installing apps/app v0.0.1' <<<"$out" &&
        [ "$(lock_hashes "$work/.terraform.lock.hcl")" = "$want_hashes" ]; then
        passed=$((passed + 1))
        [ "$VERBOSE" = 0 ] || { printf '### %s, lock file from dist.sh\n' "$ver"; cat "$work/.terraform.lock.hcl"; }
    else
        fail "$ver ($tf): init with dist's lock file"
        printf '%s\n' "$out" >&2
    fi

    # 3. A lock file with other hashes must make init refuse the mirrored package.
    work=$(new_workdir "$name-tampered")
    sed -e 's/"zh:[0-9a-f]*"/"zh:0000000000000000000000000000000000000000000000000000000000000000"/' \
        -e 's|"h1:[^"]*"|"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="|' \
        "$TMP/dist/terraform.lock.hcl" >"$work/.terraform.lock.hcl"
    if ! tf_init "$tf" "$work" && grep -qi 'checksum' <<<"$out"; then
        passed=$((passed + 1))
    else
        fail "$ver ($tf): init accepted a package that does not match the lock file"
        printf '%s\n' "$out" >&2
    fi
done

echo "test-mirror: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
