#!/usr/bin/env bash
# Usage: scripts/remote-engine.sh start|stop|status|env   # a second Docker engine "on another machine" for the tests: dockerd in a network namespace (tfapp-remote, address 10.231.0.2) reached over tcp+TLS on port 2376 with certificates made here; 'env' prints APP_TEST_REMOTE_DOCKER_HOST / _CERT_PATH lines to eval
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NETNS=tfapp-remote
HOST_IF=tfapp-rh      # this machine's end of the link
NS_IF=tfapp-rn        # the namespace's end
HOST_ADDR=10.231.0.1
NS_ADDR=10.231.0.2
PORT=2376
DIR=$APP_CACHE/remote-docker
DATA_ROOT=$DIR/data
CERTS=$DIR/certs      # the client's DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem
SERVER_CERTS=$DIR/server
PIDFILE=$DIR/dockerd.pid
LOGFILE=$DIR/dockerd.log
ENVFILE=$DIR/env
START_TIMEOUT=60
# containerd's socket goes under the exec-root; unix socket paths are limited to 108 bytes.
EXEC_ROOT=/tmp/tfapp-remote-$(printf '%s' "$DIR" | sha256sum | cut -c1-12)/exec

# ping: true when the engine answers /_ping over TLS with the client certificate.
ping() {
    [ "$(curl -s --max-time 5 --cacert "$CERTS/ca.pem" --cert "$CERTS/cert.pem" --key "$CERTS/key.pem" \
        "https://$NS_ADDR:$PORT/_ping" 2>/dev/null)" = OK ]
}

# our_pid: the PID of the dockerd this script started, if it still runs (and is that dockerd).
our_pid() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "dockerd .*--data-root $DATA_ROOT" || return 1
    printf '%s\n' "$pid"
}

# make_certs: a CA, the engine's certificate (for 10.231.0.2) and a client certificate, once.
make_certs() {
    [ -s "$CERTS/key.pem" ] && [ -s "$SERVER_CERTS/key.pem" ] && return 0
    local tmp
    tmp=$(mktemp -d "$DIR/.certs.XXXXXX")
    (
        cd "$tmp"
        umask 077
        key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
        key ca-key.pem
        openssl req -x509 -new -key ca-key.pem -sha256 -days 3650 -subj "/CN=terraform-provider-app test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
        # leaf NAME CN EXTENSIONS: a key and a certificate signed by the CA.
        leaf() {
            key "$1-key.pem"
            openssl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1.csr"
            printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$3" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256 -days 3650 \
                -extfile "$1.ext" -out "$1.pem" 2>/dev/null
        }
        leaf server "$NS_ADDR" $'extendedKeyUsage=serverAuth\nsubjectAltName=IP:'"$NS_ADDR"
        leaf client "terraform-provider-app tests" "extendedKeyUsage=clientAuth"
    ) || die "could not make the test certificates with openssl"
    rm -rf "$CERTS" "$SERVER_CERTS"
    mkdir -p "$CERTS" "$SERVER_CERTS"
    cp "$tmp/ca.pem" "$CERTS/ca.pem"
    cp "$tmp/client.pem" "$CERTS/cert.pem"
    cp "$tmp/client-key.pem" "$CERTS/key.pem"
    cp "$tmp/ca.pem" "$SERVER_CERTS/ca.pem"
    cp "$tmp/server.pem" "$SERVER_CERTS/cert.pem"
    cp "$tmp/server-key.pem" "$SERVER_CERTS/key.pem"
    chmod 600 "$CERTS/key.pem" "$SERVER_CERTS/key.pem"
    rm -rf "$tmp"
}

# make_link: the namespace and a veth pair, 10.231.0.1 here and 10.231.0.2 there (idempotent).
make_link() {
    ip netns list | grep -qw "^$NETNS" || ip netns add "$NETNS"
    if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
        ip link add "$HOST_IF" type veth peer name "$NS_IF"
        ip link set "$NS_IF" netns "$NETNS"
    fi
    ip addr show dev "$HOST_IF" | grep -q "inet $HOST_ADDR/" || ip addr add "$HOST_ADDR/24" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    ip netns exec "$NETNS" sh -c "
        ip link set lo up
        ip addr show dev $NS_IF | grep -q 'inet $NS_ADDR/' || ip addr add $NS_ADDR/24 dev $NS_IF
        ip link set $NS_IF up"
}

# try_start DRIVER IPTABLES: 0 when the engine answers, 1 when dockerd exited, 2 when it hangs.
try_start() {
    local driver=$1 iptables=$2 pid i
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
    printf '\n==== %s: dockerd --storage-driver %s --iptables=%s\n' "$(date -u +%FT%TZ)" "$driver" "$iptables" >>"$LOGFILE"
    (
        close_fds
        # nsenter, not `ip netns exec`: only the network namespace changes; `ip netns exec` would
        # remount /sys in a mount namespace of its own, hiding the cgroup mounts dockerd needs.
        exec setsid nsenter --net="/run/netns/$NETNS" dockerd \
            --data-root "$DATA_ROOT" \
            --exec-root "$EXEC_ROOT" \
            --pidfile "$PIDFILE" \
            -H "tcp://$NS_ADDR:$PORT" \
            --tlsverify \
            --tlscacert "$SERVER_CERTS/ca.pem" \
            --tlscert "$SERVER_CERTS/cert.pem" \
            --tlskey "$SERVER_CERTS/key.pem" \
            --storage-driver "$driver" \
            --iptables="$iptables" \
            </dev/null >>"$LOGFILE" 2>&1
    ) &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 4; i++)); do
        if ping; then
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

write_env() {
    local tmp
    tmp=$(mktemp "$DIR/.env.XXXXXX")
    printf 'export APP_TEST_REMOTE_DOCKER_HOST=%q\nexport APP_TEST_REMOTE_DOCKER_CERT_PATH=%q\n' \
        "tcp://$NS_ADDR:$PORT" "$CERTS" >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$ENVFILE"
}

start() {
    [ "$(id -u)" -eq 0 ] || die "a network namespace needs root: run as root (CI does)"
    ensure_apt iproute2 openssl curl docker.io iptables
    make_certs
    make_link
    if our_pid >/dev/null && ping; then
        write_env
        log "remote engine already running (pid $(our_pid)) at tcp://$NS_ADDR:$PORT"
        return 0
    fi
    our_pid >/dev/null && die "dockerd (pid $(our_pid)) runs but does not answer at $NS_ADDR:$PORT; see $LOGFILE, or run '$0 stop' and retry"
    # The settings that worked for the local engine first (scripts/docker-engine.sh records them).
    local attempts=("overlay2 true" "vfs true" "overlay2 false" "vfs false") a rc t0=$SECONDS
    [ -f "$APP_CACHE/docker/dockerd.flags" ] && attempts=("$(cat "$APP_CACHE/docker/dockerd.flags")" "${attempts[@]}")
    for a in "${attempts[@]}"; do
        rc=0
        # shellcheck disable=SC2086
        try_start $a || rc=$?
        case $rc in
            0)
                write_env
                log "remote engine started (pid $(cat "$PIDFILE"), $a) in $((SECONDS - t0)) s at tcp://$NS_ADDR:$PORT (TLS, certificates in $CERTS)"
                return 0
                ;;
            1) log "dockerd in $NETNS with '$a' exited; trying other settings" ;;
            *)
                tail -n 20 "$LOGFILE" >&2
                die "the remote engine did not answer at $NS_ADDR:$PORT within $START_TIMEOUT s (log: $LOGFILE)"
                ;;
        esac
    done
    tail -n 30 "$LOGFILE" >&2
    die "the remote engine failed to start with every setting tried (log: $LOGFILE)"
}

# unmount_data_root: dockerd bind-mounts its data-root onto itself and undoes it only on a clean
# shutdown (as in scripts/docker-engine.sh).
unmount_data_root() {
    local root
    root=$(cd "$DATA_ROOT" 2>/dev/null && pwd -P) || return 0
    awk -v d="$root" '$5 == d && $4 == d { found = 1 } END { exit !found }' /proc/self/mountinfo || return 0
    umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || log "warning: could not unmount $root"
}

stop() {
    local pid i
    if pid=$(our_pid); then
        log "stopping the remote engine (pid $pid)"
        kill -TERM "$pid"
        for ((i = 0; i < 60 * 4; i++)); do
            pid_alive "$pid" || break
            sleep 0.25
        done
        pid_alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; sleep 1; }
    fi
    rm -f "$PIDFILE" "$ENVFILE"
    unmount_data_root
    # Deleting the namespace deletes both ends of the link.
    ip netns list | grep -qw "^$NETNS" && ip netns delete "$NETNS"
    ip link show "$HOST_IF" >/dev/null 2>&1 && ip link delete "$HOST_IF"
    log "remote engine stopped"
}

cmd=${1:-}
case $cmd in
    start | stop)
        mkdir -p "$DIR"
        (
            exec 9>"$DIR/.lock"
            flock 9
            "$cmd"
        )
        ;;
    status)
        if our_pid >/dev/null && ping; then echo "running: pid $(our_pid), tcp://$NS_ADDR:$PORT"; else echo stopped; exit 3; fi
        ;;
    env)
        [ -f "$ENVFILE" ] || die "the remote engine is not running; run '$0 start' first"
        cat "$ENVFILE"
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
