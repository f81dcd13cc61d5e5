#!/usr/bin/env bash
# Usage: scripts/moto.sh start|stop|status|env   # a local AWS API (PyPI moto[server], pinned) on 127.0.0.1:5059 for the tests (ECR, Lambda, IAM, ... answer with any credentials); venv, log, pidfile under $APP_CACHE/moto; 'env' prints the APP_TEST_MOTO_ENDPOINT line to eval
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# moto 5.2.5: ECR GetAuthorizationToken answers user AWS, password "<registryId>-auth-token".
MOTO_VERSION=5.2.5

DIR=$APP_CACHE/moto
VENV=$DIR/venv
PORT=${APP_MOTO_PORT:-5059}
PIDFILE=$DIR/moto.pid
LOGFILE=$DIR/moto.log
ENVFILE=$DIR/env
START_TIMEOUT=60

# our_pid: print the PID of the moto_server this script started, if it runs.
our_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" || return 1
    # Guard against PID reuse: it must be our venv's moto_server.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$VENV/bin/moto_server -H 127.0.0.1 -p " || return 1
    printf '%s\n' "$pid"
}

# our_port PID: the port that our moto_server PID was started with.
our_port() {
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed -n 's/.* -p \([0-9]*\).*/\1/p'
}

# ready PORT: a moto server answers on 127.0.0.1:PORT (its own API, which no real AWS endpoint has).
ready() {
    local code
    # /moto-api/ (the dashboard) answers 200 whatever state moto holds; /moto-api/data.json
    # answers 500 once Lambda functions exist (it asks a Docker socket moto does not have).
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/moto-api/" 2>/dev/null || true)
    [ "$code" = 200 ]
}

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# venv_ok: the venv has moto $MOTO_VERSION with its server.
venv_ok() {
    [ -x "$VENV/bin/moto_server" ] &&
        [ "$("$VENV/bin/python3" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ] &&
        "$VENV/bin/python3" -c 'import flask, flask_cors' 2>/dev/null
}

install_moto() {
    venv_ok && return 0
    if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -c 'import sys' 2>/dev/null; then
        rm -rf "$VENV"
        if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
            rm -rf "$VENV"
            ensure_apt python3-venv
            run_quiet python3 -m venv "$VENV"
        fi
    fi
    log "installing moto[server]==$MOTO_VERSION into $VENV"
    run_quiet "$VENV/bin/python3" -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    venv_ok || die "moto $MOTO_VERSION did not install into $VENV"
}

start() {
    local pid port i
    ensure_apt curl
    if pid=$(our_pid); then
        port=$(our_port "$pid")
        if [ "$port" = "$PORT" ] && ready "$PORT"; then
            log "moto already running (pid $pid) on 127.0.0.1:$PORT"
            write_env
            return 0
        fi
        if [ "$port" = "$PORT" ]; then
            # Maybe still starting: give it the start timeout.
            for ((i = 0; i < START_TIMEOUT * 4; i++)); do
                if ready "$PORT"; then
                    write_env
                    return 0
                fi
                sleep 0.25
            done
        fi
        log "moto (pid $pid, port $port) does not answer on 127.0.0.1:$PORT; restarting it"
        stop
    fi
    if port_busy "$PORT"; then
        if ready "$PORT"; then
            log "warning: 127.0.0.1:$PORT already serves a moto server not started by this script; reusing it"
            write_env
            return 0
        fi
        die "127.0.0.1:$PORT is in use by something else (set APP_MOTO_PORT to another port)"
    fi
    install_moto
    printf '\n==== %s: moto_server %s on 127.0.0.1:%s\n' "$(date -u +%FT%TZ)" "$MOTO_VERSION" "$PORT" >>"$LOGFILE"
    # setsid: own session (Ctrl-C of the caller does not reach it); close_fds: do not hand our
    # lock or the caller's locks and pipes to the daemon. $! is moto_server (exec, no fork).
    (
        close_fds
        exec setsid "$VENV/bin/python3" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" </dev/null >>"$LOGFILE" 2>&1
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$PIDFILE"
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ready "$PORT"; then
            log "moto $MOTO_VERSION started (pid $pid) on 127.0.0.1:$PORT"
            write_env
            return 0
        fi
        if ! pid_alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            rm -f "$PIDFILE"
            tail -n 20 "$LOGFILE" >&2
            die "moto exited (log: $LOGFILE)"
        fi
        sleep 0.1
    done
    tail -n 20 "$LOGFILE" >&2
    die "moto (pid $pid) did not answer on 127.0.0.1:$PORT within $START_TIMEOUT s (log: $LOGFILE)"
}

write_env() {
    local tmp
    tmp=$(mktemp "$DIR/.env.XXXXXX")
    printf 'export APP_TEST_MOTO_ENDPOINT=http://127.0.0.1:%s\n' "$PORT" >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$ENVFILE"
}

stop() {
    local pid i
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        log "moto not running (none started by this script)"
        return 0
    fi
    kill -TERM "$pid"
    for ((i = 0; i < 30 * 10; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        log "moto (pid $pid) still running after 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    pid_alive "$pid" && die "could not stop moto (pid $pid)"
    rm -f "$PIDFILE"
    log "moto stopped (pid $pid)"
}

status() {
    local pid
    if ready "$PORT"; then
        if pid=$(our_pid); then
            echo "moto: running on 127.0.0.1:$PORT (pid $pid, started by this script)"
        else
            echo "moto: running on 127.0.0.1:$PORT (not started by this script)"
        fi
    else
        echo "moto: not answering on 127.0.0.1:$PORT"
        return 3
    fi
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
        [ -f "$ENVFILE" ] || die "moto not started yet; run '$0 start' first"
        cat "$ENVFILE"
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
