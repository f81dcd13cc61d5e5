# Usage: source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # shared helpers for scripts/*.sh (not executable)
# shellcheck shell=bash

set -euo pipefail

# Root of the repository (the directory above scripts/).
export APP_REPO_ROOT
APP_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Per-user cache for tools the scripts install (Terraform venv, wrappers, ...).
APP_CACHE=${APP_CACHE:-$HOME/.cache/terraform-provider-app}
export APP_CACHE
# Build directory kept outside the clone so fresh clones (CI) reuse earlier builds.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tfapp-target}
# Terraform must never phone home (update checks) from these machines.
export CHECKPOINT_DISABLE=1

# log MSG...: print a message to stderr, prefixed with the calling script's name.
log() {
    printf '%s: %s\n' "$(basename "${0:-lib.sh}")" "$*" >&2
}

# die MSG...: log and exit 1.
die() {
    log "error: $*"
    exit 1
}

# run_quiet CMD...: run CMD with its output captured; show the output only if it fails.
run_quiet() {
    local out rc=0
    out=$(mktemp)
    "$@" >"$out" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        log "command failed (exit $rc): $*"
        cat "$out" >&2
    fi
    rm -f "$out"
    return "$rc"
}

# ensure_apt PKG...: install the Debian packages that are not installed yet.
# 'apt-get update' runs at most once per run (the flag is exported to child scripts),
# and only when something is missing.
ensure_apt() {
    local pkg missing=()
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    if [ -z "${APP_APT_UPDATED:-}" ]; then
        run_quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        export APP_APT_UPDATED=1
    fi
    run_quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# close_fds: close every descriptor above 2 (a daemon must not keep its caller's locks or pipes).
close_fds() {
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ -n "$stat" ] && [[ $stat != Z* ]] && [[ $stat != X* ]]
}
