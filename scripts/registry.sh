#!/usr/bin/env bash
# Usage: scripts/registry.sh start|stop|status|env   # three local OCI registries (Debian docker-registry) for the tests: 127.0.0.1:5055 open, 127.0.0.1:5056 htpasswd (ci / ci-password), 127.0.0.1:5057 htpasswd with the credentials moto's ECR GetAuthorizationToken hands out (AWS / 123456789012-auth-token); data, configs, logs, pidfiles under $APP_CACHE/registry; 'env' prints the APP_TEST_REGISTRY* line to eval
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=$APP_CACHE/registry
OPEN_PORT=${APP_REGISTRY_OPEN_PORT:-5055}
AUTH_PORT=${APP_REGISTRY_AUTH_PORT:-5056}
ECR_PORT=${APP_REGISTRY_ECR_PORT:-5057}
USER_NAME=ci
PASSWORD=ci-password
# What moto's ECR GetAuthorizationToken returns for its default account: a push with these
# proves the credentials came from the ECR API.
ECR_USER=AWS
ECR_PASSWORD=123456789012-auth-token

# credentials NAME: "user password" of a registry with auth.
credentials() {
    case $1 in
        auth) echo "$USER_NAME $PASSWORD" ;;
        ecr) echo "$ECR_USER $ECR_PASSWORD" ;;
    esac
}

# port_of NAME
port_of() {
    case $1 in
        open) echo "$OPEN_PORT" ;;
        auth) echo "$AUTH_PORT" ;;
        ecr) echo "$ECR_PORT" ;;
    esac
}
ENVFILE=$DIR/env
START_TIMEOUT=30

# our_pid NAME: print the PID of the registry NAME (open|auth) this script started, if it runs.
our_pid() {
    local pid pidfile=$DIR/$1/registry.pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" || return 1
    # Guard against PID reuse: it must be docker-registry serving our config.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "serve $DIR/$1/config.yml" || return 1
    printf '%s\n' "$pid"
}

# http_code URL [CURL_ARGS...]: print the HTTP status of GET URL (000 when nothing answers).
http_code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" 2>/dev/null || true
}

# ready NAME PORT: the registry on PORT answers /v2/ the way NAME should.
ready() {
    local url=http://127.0.0.1:$2/v2/
    if [ "$1" = open ]; then
        [ "$(http_code "$url")" = 200 ]
    else
        local user password
        read -r user password <<<"$(credentials "$1")"
        [ "$(http_code "$url")" = 401 ] && [ "$(http_code "$url" -u "$user:$password")" = 200 ]
    fi
}

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# write_if_changed FILE: replace FILE with stdin unless identical.
write_if_changed() {
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat >"$tmp"
    if cmp -s "$tmp" "$1" 2>/dev/null; then rm -f "$tmp"; else chmod 600 "$tmp" && mv -f "$tmp" "$1"; fi
}

write_config() {
    local name=$1 port=$2 d=$DIR/$1 secret
    mkdir -p "$d/data"
    # A stable per-instance secret (distribution warns and picks a random one otherwise).
    [ -s "$d/http-secret" ] || (umask 077 && head -c 24 /dev/urandom | base64 >"$d/http-secret")
    secret=$(cat "$d/http-secret")
    if [ "$name" != open ]; then
        local user password
        read -r user password <<<"$(credentials "$name")"
        if ! htpasswd -vb "$d/htpasswd" "$user" "$password" >/dev/null 2>&1; then
            htpasswd -Bbc "$d/htpasswd" "$user" "$password" >/dev/null 2>&1 ||
                die "htpasswd failed for $d/htpasswd"
        fi
    fi
    {
        cat <<EOF
# Written by scripts/registry.sh: local test registry '$name'.
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
  fields:
    service: app-test-registry-$name
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $secret
  headers:
    X-Content-Type-Options: [nosniff]
EOF
        if [ "$name" != open ]; then
            cat <<EOF
auth:
  htpasswd:
    realm: app-test-registry
    path: $d/htpasswd
EOF
        fi
    } | write_if_changed "$d/config.yml"
}

# start_one NAME PORT
start_one() {
    local name=$1 port=$2 d=$DIR/$1 pid i=0
    if pid=$(our_pid "$name"); then
        if ready "$name" "$port"; then
            log "registry '$name' already running (pid $pid) on 127.0.0.1:$port"
            return 0
        fi
        # Ours but not answering: serving another port (port override changed) -> restart now;
        # else maybe still starting: give it the start timeout, then restart it.
        grep -qxF "  addr: 127.0.0.1:$port" "$d/config.yml" 2>/dev/null || i=$((START_TIMEOUT * 4))
        for ((; i < START_TIMEOUT * 4; i++)); do
            ready "$name" "$port" && return 0
            sleep 0.25
        done
        log "registry '$name' (pid $pid) does not answer on 127.0.0.1:$port; restarting it"
        stop_one "$name"
    fi
    if port_busy "$port"; then
        if ready "$name" "$port"; then
            log "warning: 127.0.0.1:$port already serves a registry not started by this script; reusing it"
            return 0
        fi
        die "127.0.0.1:$port is in use by something else (set APP_REGISTRY_${name^^}_PORT to another port)"
    fi
    write_config "$name" "$port"
    printf '\n==== %s: docker-registry serve %s\n' "$(date -u +%FT%TZ)" "$d/config.yml" >>"$d/registry.log"
    # setsid: own session (Ctrl-C of the caller does not reach it); close_fds: do not hand our
    # lock or the caller's locks and pipes to the daemon. $! is the registry (exec, no fork).
    (
        close_fds
        exec setsid docker-registry serve "$d/config.yml" </dev/null >>"$d/registry.log" 2>&1
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$d/registry.pid"
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ready "$name" "$port"; then
            log "registry '$name' started (pid $pid) on 127.0.0.1:$port"
            return 0
        fi
        if ! pid_alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            rm -f "$d/registry.pid"
            tail -n 20 "$d/registry.log" >&2
            die "registry '$name' exited (log: $d/registry.log)"
        fi
        sleep 0.1
    done
    tail -n 20 "$d/registry.log" >&2
    die "registry '$name' (pid $pid) did not answer on 127.0.0.1:$port within $START_TIMEOUT s (log: $d/registry.log)"
}

# stop_one NAME
stop_one() {
    local name=$1 pid i
    if ! pid=$(our_pid "$name"); then
        rm -f "$DIR/$name/registry.pid"
        return 0
    fi
    kill -TERM "$pid"
    for ((i = 0; i < 30 * 10; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        log "registry '$name' (pid $pid) still running after 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    pid_alive "$pid" && die "could not stop registry '$name' (pid $pid)"
    rm -f "$DIR/$name/registry.pid"
    log "registry '$name' stopped (pid $pid)"
}

start() {
    ensure_apt docker-registry apache2-utils curl
    start_one open "$OPEN_PORT"
    start_one auth "$AUTH_PORT"
    start_one ecr "$ECR_PORT"
    printf 'export APP_TEST_REGISTRY=127.0.0.1:%s APP_TEST_REGISTRY_AUTH=127.0.0.1:%s APP_TEST_REGISTRY_USER=%s APP_TEST_REGISTRY_PASSWORD=%s APP_TEST_REGISTRY_ECR=127.0.0.1:%s\n' \
        "$OPEN_PORT" "$AUTH_PORT" "$USER_NAME" "$PASSWORD" "$ECR_PORT" | write_if_changed "$ENVFILE"
    chmod 644 "$ENVFILE"
}

stop() {
    stop_one open
    stop_one auth
    stop_one ecr
    log "registries stopped (only those this script started)"
}

status() {
    local name port pid rc=0
    for name in open auth ecr; do
        port=$(port_of "$name")
        if ready "$name" "$port"; then
            if pid=$(our_pid "$name"); then
                echo "$name: running on 127.0.0.1:$port (pid $pid, started by this script)"
            else
                echo "$name: running on 127.0.0.1:$port (not started by this script)"
            fi
        else
            echo "$name: not answering on 127.0.0.1:$port"
            rc=3
        fi
    done
    return "$rc"
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
        [ -f "$ENVFILE" ] || die "registries not started yet; run '$0 start' first"
        cat "$ENVFILE"
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
