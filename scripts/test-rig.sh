#!/usr/bin/env bash
# Usage: scripts/test-rig.sh [--keep]   # smoke test of the local Docker engine and test registries: starts them (scripts/docker-engine.sh, scripts/registry.sh), builds a FROM scratch busybox httpd image, runs it on 127.0.0.1, pushes it to both registries and checks the digests, cleans up; stops afterwards what it started unless --keep; prints 'test-rig: N passed, N failed'
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEEP=0
case ${1:-} in
    --keep) KEEP=1 ;;
    "") ;;
    *)
        echo "usage: $0 [--keep]" >&2
        exit 2
        ;;
esac

SCRIPTS=$APP_REPO_ROOT/scripts
NAME=tfapp-test-rig
LOCAL_IMAGE=$NAME:latest
REPO=test-rig/httpd
TAG=rig
CONTENT="hello from $NAME"
MANIFEST_ACCEPT=(
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json'
    -H 'Accept: application/vnd.oci.image.manifest.v1+json'
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json'
    -H 'Accept: application/vnd.oci.image.index.v1+json'
)

passed=0
failed=0
ok() {
    log "ok: $*"
    passed=$((passed + 1))
}
fail() {
    log "FAIL: $*"
    failed=$((failed + 1))
}
finish() {
    echo "test-rig: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

mkdir -p "$APP_CACHE"
exec 8>"$APP_CACHE/.test-rig.lock"
flock 8

t0=$SECONDS
TMP=$(mktemp -d)
engine_was_up=0
registry_was_up=0
"$SCRIPTS/docker-engine.sh" status >/dev/null 2>&1 && engine_was_up=1
"$SCRIPTS/registry.sh" status >/dev/null 2>&1 && registry_was_up=1

cleanup() {
    set +e
    if [ -n "${DOCKER_HOST:-}" ] && command -v docker >/dev/null; then
        docker rm -f "$NAME" >/dev/null 2>&1
        docker rmi -f "$LOCAL_IMAGE" "${OPEN:-x}/$REPO:$TAG" "${AUTH:-x}/$REPO:$TAG" >/dev/null 2>&1
    fi
    rm -rf "$TMP"
    if [ "$KEEP" -eq 0 ]; then
        # Leave the machine as found: stop only what this run started.
        [ "$registry_was_up" -eq 1 ] || "$SCRIPTS/registry.sh" stop >/dev/null 2>&1
        [ "$engine_was_up" -eq 1 ] || "$SCRIPTS/docker-engine.sh" stop >/dev/null 2>&1
    fi
}
trap cleanup EXIT

# --- services -------------------------------------------------------------------------------
if "$SCRIPTS/docker-engine.sh" start && eval "$("$SCRIPTS/docker-engine.sh" env)" &&
    [ -n "$(timeout 30 docker version --format '{{.Server.Version}}' 2>/dev/null)" ]; then
    ok "docker engine answers at $DOCKER_HOST (server $(docker version --format '{{.Server.Version}}' 2>/dev/null))"
else
    fail "docker engine (scripts/docker-engine.sh start)"
    finish
    exit 1
fi
if "$SCRIPTS/registry.sh" start && eval "$("$SCRIPTS/registry.sh" env)"; then
    ok "registries started: $APP_TEST_REGISTRY (open), $APP_TEST_REGISTRY_AUTH (htpasswd)"
else
    fail "registries (scripts/registry.sh start)"
    finish
    exit 1
fi
OPEN=$APP_TEST_REGISTRY
AUTH=$APP_TEST_REGISTRY_AUTH
CREDS=$APP_TEST_REGISTRY_USER:$APP_TEST_REGISTRY_PASSWORD

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" 2>/dev/null || true; }
c1=$(code "http://$OPEN/v2/")
c2=$(code "http://$AUTH/v2/")
c3=$(code -u "$CREDS" "http://$AUTH/v2/")
if [ "$c1/$c2/$c3" = 200/401/200 ]; then
    ok "GET /v2/: open 200, auth 401 without and 200 with credentials"
else
    fail "GET /v2/: open $c1 (want 200), auth $c2 (want 401) / $c3 with credentials (want 200)"
fi

# Pushing over plain HTTP needs no --insecure-registry for 127.0.0.0/8 (Docker's default).
cidrs=$(docker info --format '{{json .RegistryConfig.InsecureRegistryCIDRs}}' 2>/dev/null || true)
if [[ $cidrs == *'"127.0.0.0/8"'* ]]; then
    ok "engine treats 127.0.0.0/8 as insecure (plain HTTP) registries: $cidrs"
else
    fail "engine's insecure registry CIDRs lack 127.0.0.0/8: ${cidrs:-?}"
fi

# A private client config: docker login must not touch ~/.docker.
export DOCKER_CONFIG=$TMP/docker-config
mkdir -p "$DOCKER_CONFIG"
docker rm -f "$NAME" >/dev/null 2>&1 || true # leftover of an interrupted run

# --- build and run --------------------------------------------------------------------------
ensure_apt busybox-static
mkdir -p "$TMP/ctx/www"
cp /bin/busybox "$TMP/ctx/busybox"
printf '%s\n' "$CONTENT" >"$TMP/ctx/www/index.html"
cat >"$TMP/ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
COPY www /www
EXPOSE 8080
ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
EOF
# Legacy builder: no buildx plugin needed, no base image to pull.
if DOCKER_BUILDKIT=0 timeout 120 docker build -q -t "$LOCAL_IMAGE" "$TMP/ctx" >"$TMP/build.log" 2>&1; then
    ok "docker build FROM scratch with busybox-static"
else
    cat "$TMP/build.log" >&2
    fail "docker build"
fi

addr=
if timeout 60 docker run -d --pull never --name "$NAME" -p 127.0.0.1::8080 "$LOCAL_IMAGE" >/dev/null 2>"$TMP/run.log"; then
    addr=$(docker port "$NAME" 8080/tcp 2>/dev/null | grep -m1 '^127\.0\.0\.1:' || true)
fi
body=
if [ -n "$addr" ]; then
    body=$(curl -s --max-time 5 --retry 20 --retry-delay 0 --retry-connrefused --retry-all-errors "http://$addr/" 2>/dev/null || true)
fi
if [ -n "$addr" ] && [ "$body" = "$CONTENT" ]; then
    ok "container serves on published port $addr"
else
    cat "$TMP/run.log" >&2
    docker logs "$NAME" 2>&1 | tail -n 5 >&2 || true
    fail "docker run -p 127.0.0.1::8080 then GET http://${addr:-?}/: got '${body}'"
fi

# --- push -----------------------------------------------------------------------------------
# push_digest REF: push REF and print the digest the engine reports.
push_digest() {
    timeout 120 docker push "$1" >"$TMP/push.log" 2>&1 || { cat "$TMP/push.log" >&2; return 1; }
    sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' "$TMP/push.log" | tail -n 1
}
# registry_digest REGISTRY [CURL_ARGS...]: the Docker-Content-Digest of $REPO:$TAG there.
registry_digest() {
    local reg=$1
    shift
    curl -sI --max-time 10 "$@" "${MANIFEST_ACCEPT[@]}" "http://$reg/v2/$REPO/manifests/$TAG" 2>/dev/null |
        tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p'
}

docker tag "$LOCAL_IMAGE" "$OPEN/$REPO:$TAG" 2>/dev/null || true
d_open=$(push_digest "$OPEN/$REPO:$TAG" || true)
r_open=$(registry_digest "$OPEN" || true)
if [ -n "$d_open" ] && [ "$d_open" = "$r_open" ]; then
    ok "push to $OPEN: Docker-Content-Digest $r_open matches"
else
    fail "push to $OPEN: pushed '${d_open}', registry has '${r_open}'"
fi
if curl -s --max-time 10 "http://$OPEN/v2/_catalog" | grep -q "\"$REPO\""; then
    ok "catalog of $OPEN lists $REPO"
else
    fail "catalog of $OPEN lacks $REPO"
fi

docker tag "$LOCAL_IMAGE" "$AUTH/$REPO:$TAG" 2>/dev/null || true
docker logout "$AUTH" >/dev/null 2>&1 || true
if timeout 120 docker push "$AUTH/$REPO:$TAG" >"$TMP/push-noauth.log" 2>&1; then
    fail "push to $AUTH without login succeeded"
elif grep -qiE 'no basic auth credentials|unauthorized|authentication required' "$TMP/push-noauth.log"; then
    ok "push to $AUTH without login is refused"
else
    cat "$TMP/push-noauth.log" >&2
    fail "push to $AUTH without login failed for another reason"
fi
d_auth=
if printf '%s\n' "$APP_TEST_REGISTRY_PASSWORD" |
    timeout 60 docker login -u "$APP_TEST_REGISTRY_USER" --password-stdin "$AUTH" >"$TMP/login.log" 2>&1; then
    d_auth=$(push_digest "$AUTH/$REPO:$TAG" || true)
else
    cat "$TMP/login.log" >&2
fi
r_auth=$(registry_digest "$AUTH" -u "$CREDS" || true)
if [ -n "$d_auth" ] && [ "$d_auth" = "$r_auth" ] && [ "$d_auth" = "$d_open" ]; then
    ok "login and push to $AUTH: Docker-Content-Digest $r_auth matches"
else
    fail "login and push to $AUTH: pushed '${d_auth}', registry has '${r_auth}', open registry '${d_open}'"
fi

# --- cleanup --------------------------------------------------------------------------------
# Registry side: delete the manifests (storage.delete is enabled; blobs stay until a GC).
del_ok=1
[ -z "$r_open" ] || [ "$(code -X DELETE "http://$OPEN/v2/$REPO/manifests/$r_open")" = 202 ] || del_ok=0
[ -z "$r_auth" ] || [ "$(code -X DELETE -u "$CREDS" "http://$AUTH/v2/$REPO/manifests/$r_auth")" = 202 ] || del_ok=0
docker rm -f "$NAME" >/dev/null 2>&1 || true
docker rmi -f "$LOCAL_IMAGE" "$OPEN/$REPO:$TAG" "$AUTH/$REPO:$TAG" >/dev/null 2>&1 || true
if [ "$del_ok" -eq 1 ] && ! docker container inspect "$NAME" >/dev/null 2>&1 &&
    ! docker image inspect "$LOCAL_IMAGE" >/dev/null 2>&1 &&
    [ "$(code "${MANIFEST_ACCEPT[@]}" "http://$OPEN/v2/$REPO/manifests/$TAG")" = 404 ]; then
    ok "cleanup: container, images and pushed manifests removed"
else
    fail "cleanup: container, images or manifests left behind"
fi

log "done in $((SECONDS - t0)) s"
finish
