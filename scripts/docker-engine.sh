#!/usr/bin/env bash
# Usage: scripts/docker-engine.sh start|stop|status|env   # a Docker engine for the tests: reuses one that answers ($DOCKER_HOST, else /var/run/docker.sock), else runs Debian's dockerd on a private socket/data-root under $APP_CACHE/docker; 'env' prints the DOCKER_HOST line to eval
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=$APP_CACHE/docker
DATA_ROOT=$DIR/data
EXEC_ROOT=$DIR/exec
SOCK=$DIR/docker.sock
PIDFILE=$DIR/dockerd.pid
LOGFILE=$DIR/dockerd.log
ENVFILE=$DIR/env
# The storage driver / iptables setting that worked last time (skips failing attempts on warm starts).
FLAGSFILE=$DIR/dockerd.flags
DEFAULT_SOCK=/var/run/docker.sock
START_TIMEOUT=60

# Unix socket paths are limited to 108 bytes; dockerd's containerd puts
# "containerd/containerd.sock.ttrpc" under the exec-root. Use short paths when $APP_CACHE is deep.
if [ $((${#EXEC_ROOT} + 32)) -ge 100 ] || [ "${#SOCK}" -ge 100 ]; then
    short=/tmp/tfapp-docker-$(printf '%s' "$DIR" | sha256sum | cut -c1-12)
    EXEC_ROOT=$short/exec
    SOCK=$short/docker.sock
fi

# ping_unix SOCKET: true when a Docker engine answers /_ping on SOCKET.
ping_unix() {
    [ -S "$1" ] || return 1
    [ "$(curl -s --max-time 5 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]
}

# ping_host DOCKER_HOST_VALUE: true when the engine at that address answers.
ping_host() {
    case "$1" in
        unix://*) ping_unix "${1#unix://}" ;;
        *)
            # tcp://, ssh://, TLS...: let the docker CLI deal with the transport.
            command -v docker >/dev/null 2>&1 &&
                timeout 15 docker -H "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1
            ;;
    esac
}

# our_pid: print the PID of the dockerd this script started, if it still runs.
our_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" || return 1
    # Guard against PID reuse: it must be a dockerd serving our socket.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "dockerd .*unix://$SOCK" || return 1
    printf '%s\n' "$pid"
}

# write_env DOCKER_HOST_VALUE: record the engine in use in $ENVFILE (atomically).
write_env() {
    local tmp var
    tmp=$(mktemp "$DIR/.env.XXXXXX")
    {
        printf 'export DOCKER_HOST=%q\n' "$1"
        # Carry TLS settings of a reused remote engine along.
        if [[ $1 != unix://* ]]; then
            for var in DOCKER_TLS_VERIFY DOCKER_CERT_PATH; do
                [ -z "${!var:-}" ] || printf 'export %s=%q\n' "$var" "${!var}"
            done
        fi
    } >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$ENVFILE"
}

# try_start DRIVER IPTABLES: start dockerd with those settings; 0 when /_ping answers, 1 when
# dockerd exited (try other settings), 2 when it runs but does not answer in time.
try_start() {
    local driver=$1 iptables=$2 pid i
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$SOCK")"
    rm -f "$SOCK"
    printf '\n==== %s: dockerd --storage-driver %s --iptables=%s\n' "$(date -u +%FT%TZ)" "$driver" "$iptables" >>"$LOGFILE"
    # setsid: own session, so the caller's Ctrl-C or job control does not reach the engine
    # (without job control the child is no group leader, so setsid execs and $! is dockerd).
    # close_fds: do not hand our lock or the caller's locks and pipes to the daemon.
    (
        close_fds
        exec setsid dockerd \
            --data-root "$DATA_ROOT" \
            --exec-root "$EXEC_ROOT" \
            --pidfile "$PIDFILE" \
            -H "unix://$SOCK" \
            --storage-driver "$driver" \
            --iptables="$iptables" \
            </dev/null >>"$LOGFILE" 2>&1
    ) &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 4; i++)); do
        if ping_unix "$SOCK"; then
            # dockerd writes the pidfile itself; make sure it names the process we started.
            [ "$(cat "$PIDFILE" 2>/dev/null || true)" = "$pid" ] || printf '%s\n' "$pid" >"$PIDFILE"
            return 0
        fi
        if ! pid_alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 0.25
    done
    return 2
}

start() {
    ensure_apt curl
    # 1. An engine the user pointed at.
    if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "unix://$SOCK" ]; then
        if ping_host "$DOCKER_HOST"; then
            write_env "$DOCKER_HOST"
            log "reusing the engine at DOCKER_HOST=$DOCKER_HOST"
            return 0
        fi
        log "warning: DOCKER_HOST=$DOCKER_HOST does not answer; looking for another engine"
    fi
    # 2. Ours, from an earlier start (quick no-op).
    if our_pid >/dev/null && ping_unix "$SOCK"; then
        write_env "unix://$SOCK"
        log "dockerd already running (pid $(our_pid)), DOCKER_HOST=unix://$SOCK"
        return 0
    fi
    # 3. The system's default engine.
    if ping_unix "$DEFAULT_SOCK"; then
        write_env "unix://$DEFAULT_SOCK"
        log "reusing the engine at unix://$DEFAULT_SOCK"
        return 0
    fi
    # 4. Start our own.
    local pid
    if pid=$(our_pid); then
        # Running but not answering: still starting (another start was killed?) or hung.
        log "dockerd (pid $pid) runs but does not answer yet; waiting"
        local i
        for ((i = 0; i < START_TIMEOUT; i++)); do
            ping_unix "$SOCK" && { write_env "unix://$SOCK"; return 0; }
            sleep 1
        done
        die "dockerd (pid $pid) does not answer on $SOCK; see $LOGFILE, or run '$0 stop' and retry"
    fi
    ensure_apt docker.io iptables curl
    command -v dockerd >/dev/null || die "dockerd not found after installing docker.io"

    # Attempts: overlay2 first, vfs when overlay2 cannot work here (e.g. data-root on overlayfs);
    # iptables on (Docker's normal setup) first, off when the kernel/iptables cannot do NAT
    # (publishing to 127.0.0.1 still works then, through docker-proxy).
    local attempts=("overlay2 true" "vfs true" "overlay2 false" "vfs false") a rc
    if [ -f "$FLAGSFILE" ]; then
        attempts=("$(cat "$FLAGSFILE")" "${attempts[@]}")
    fi
    local t0=$SECONDS
    for a in "${attempts[@]}"; do
        rc=0
        # shellcheck disable=SC2086
        try_start $a || rc=$?
        case $rc in
            0)
                [ "$(cat "$FLAGSFILE" 2>/dev/null || true)" = "$a" ] || printf '%s\n' "$a" >"$FLAGSFILE"
                write_env "unix://$SOCK"
                # shellcheck disable=SC2086
                set -- $a
                log "dockerd started (pid $(cat "$PIDFILE"), storage driver $1, iptables=$2) in $((SECONDS - t0)) s; DOCKER_HOST=unix://$SOCK"
                return 0
                ;;
            1) log "dockerd with '$a' (storage driver, iptables) exited; trying other settings" ;;
            *)
                tail -n 20 "$LOGFILE" >&2
                die "dockerd did not answer on $SOCK within $START_TIMEOUT s (log: $LOGFILE); '$0 stop' stops it"
                ;;
        esac
    done
    tail -n 30 "$LOGFILE" >&2
    die "dockerd failed to start with every setting tried (log: $LOGFILE)"
}

# unmount_data_root: on a host whose / is a private mount, dockerd bind-mounts its data-root onto
# itself (shared propagation) and undoes it on a clean shutdown only; a failed start leaks it.
# Called only when our dockerd is not running.
unmount_data_root() {
    local root
    root=$(cd "$DATA_ROOT" 2>/dev/null && pwd -P) || return 0
    # mountinfo fields 4 and 5: the mount's root within its filesystem, and where it is mounted.
    awk -v d="$root" '$5 == d && $4 == d { found = 1 } END { exit !found }' /proc/self/mountinfo || return 0
    umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || log "warning: could not unmount $root"
}

stop() {
    local pid i
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        unmount_data_root
        if [ -f "$ENVFILE" ] && grep -qF "unix://$SOCK" "$ENVFILE"; then rm -f "$ENVFILE"; fi
        log "no dockerd started by this script is running"
        return 0
    fi
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    # dockerd stops its containers first (up to 15 s each by default), then its containerd.
    for ((i = 0; i < 60 * 4; i++)); do
        pid_alive "$pid" || break
        sleep 0.25
    done
    if pid_alive "$pid"; then
        log "dockerd (pid $pid) still running after 60 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    pid_alive "$pid" && die "could not stop dockerd (pid $pid)"
    rm -f "$PIDFILE" "$SOCK"
    unmount_data_root
    if [ -f "$ENVFILE" ] && grep -qF "unix://$SOCK" "$ENVFILE"; then rm -f "$ENVFILE"; fi
    log "dockerd stopped"
}

status() {
    local pid
    if pid=$(our_pid) && ping_unix "$SOCK"; then
        echo "running: dockerd pid $pid (started by this script), DOCKER_HOST=unix://$SOCK"
        return 0
    fi
    if [ -f "$ENVFILE" ]; then
        local host
        host=$(sed -n 's/^export DOCKER_HOST=//p' "$ENVFILE")
        if [ -n "$host" ] && [ "$host" != "unix://$SOCK" ] && ping_host "$host"; then
            echo "running: reused engine, DOCKER_HOST=$host"
            return 0
        fi
    fi
    if [ -n "${pid:-}" ]; then
        echo "starting or hung: dockerd pid $pid does not answer on $SOCK"
    else
        echo "stopped"
    fi
    return 3
}

cmd=${1:-}
case $cmd in
    start | stop)
        mkdir -p "$DIR"
        (
            # Serialise concurrent starts/stops (parallel test jobs).
            exec 9>"$DIR/.lock"
            flock 9
            "$cmd"
        )
        ;;
    status) status ;;
    env)
        [ -f "$ENVFILE" ] || die "no engine recorded; run '$0 start' first"
        cat "$ENVFILE"
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
