#!/usr/bin/env bash
# Usage: scripts/bench-context.sh [MIB...]   # peak RSS (VmHWM) of the provider and the runner during a real `terraform apply` of an app_build whose context holds MIB MiB of random data (default: 300 2048); BENCH_PROFILE=dev|release (default release), or BENCH_BIN_DIR=<dir with both binaries> to measure a build made elsewhere (e.g. an older commit)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(300 2048)
for mib in "${sizes[@]}"; do
    [[ $mib =~ ^[1-9][0-9]*$ ]] || die "sizes are whole MiB, got '$mib'"
done
profile=${BENCH_PROFILE:-release}
"$APP_REPO_ROOT/scripts/install-terraform.sh"
"$APP_REPO_ROOT/scripts/docker-engine.sh" start
eval "$("$APP_REPO_ROOT/scripts/docker-engine.sh" env)"
if [ -n "${BENCH_BIN_DIR:-}" ]; then
    bin=$(cd "$BENCH_BIN_DIR" && pwd)
    profile="prebuilt, $bin"
else
    bin=$("$APP_REPO_ROOT/scripts/build.sh" "$profile")
fi
terraform=$(head -1 "$APP_CACHE/terraform-binaries")

work=$APP_CACHE/bench-context
mkdir -p "$work"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides { "apps/app" = "$bin" }
  direct {}
}
disable_checkpoint = true
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc

# Runs terraform (the arguments) in the current directory and samples, every 20 ms, VmHWM of every
# process running the provider or runner binaries of $bin (terraform's children); prints the peaks.
# VmHWM only grows, so the last sample of each process is its peak up to 20 ms before it exited.
measure() {
    python3 - "$bin" "$@" <<'PY'
import os, subprocess, sys, time
bin_dir, cmd = sys.argv[1], sys.argv[2:]
names = {os.path.join(bin_dir, "terraform-provider-app"): "provider", os.path.join(bin_dir, "app-runner"): "runner"}
peak = {"provider": 0, "runner": 0}
seen = {"provider": set(), "runner": set()}
started = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
while True:
    done = proc.poll() is not None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            kind = names.get(os.readlink(f"/proc/{pid}/exe"))
            if kind is None:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak[kind] = max(peak[kind], int(line.split()[1]))
                        seen[kind].add(pid)
        except OSError:
            continue
    if done:
        break
    time.sleep(0.02)
elapsed = time.monotonic() - started
err = proc.stderr.read().decode(errors="replace")
if proc.returncode != 0:
    sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
if not seen["runner"]:
    sys.exit("no runner process was seen: the apply did not start a runner")
print(f"provider {peak['provider'] / 1024:.1f} MiB ({len(seen['provider'])} processes), "
      f"runner {peak['runner'] / 1024:.1f} MiB, apply {elapsed:.1f} s")
PY
}

for mib in "${sizes[@]}"; do
    # The context: MIB MiB of random data in files of at most 256 MiB (generated once), and a Dockerfile
    # that copies only a small file, so the image stays small while the engine receives everything.
    ctx=$work/ctx-$mib
    if [ "$(cat "$ctx/.complete" 2>/dev/null)" != "$mib" ]; then
        log "generating $mib MiB of random data under $ctx"
        rm -rf "$ctx" && mkdir -p "$ctx/data"
        left=$mib
        i=0
        while [ "$left" -gt 0 ]; do
            part=$((left < 256 ? left : 256))
            head -c "$((part * 1024 * 1024))" /dev/urandom >"$ctx/data/blob-$i.bin"
            left=$((left - part))
            i=$((i + 1))
        done
        echo "small" >"$ctx/small.txt"
        printf 'FROM scratch\nCOPY small.txt /small.txt\n' >"$ctx/Dockerfile"
        echo .complete >"$ctx/.dockerignore"
        echo "$mib" >"$ctx/.complete"
    fi
    app=$work/app-$mib-$$
    rm -rf "$app" && mkdir -p "$app"
    cat >"$app/main.tf" <<TF
terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}
resource "app_build" "ctx" {
  name   = "bench-context-$mib-$$"
  source = "$ctx"
  docker {}
}
TF
    echo "== app_build of a $mib MiB context ($profile binaries)"
    (cd "$app" && measure "$terraform" apply -auto-approve -input=false)
    (cd "$app" && run_quiet "$terraform" destroy -auto-approve -input=false)
    rm -rf "$app"
done
