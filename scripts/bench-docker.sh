#!/usr/bin/env bash
# Usage: scripts/bench-docker.sh   # Docker platform benchmarks: quickstart apply vs docker build+run+wait-for-200 (target <= 1.2x), no-op plan of 50 apps (150 resources) vs 150 terraform_data (<= 2x) with peak RSS, release switch delay (< 500 ms, no failed request)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APPS=${BENCH_APPS:-50}            # apps in the no-op plan (3 resources each)
RUNS=${BENCH_RUNS:-3}             # timed runs of quickstart apply / docker CLI
SWITCHES=${BENCH_SWITCHES:-3}     # release switches measured
QS_PORT=${BENCH_PORT_BASE:-18080} # ports: quickstart release, CLI container, switch release, then one per app
CLI_PORT=$((QS_PORT + 1))
SW_PORT=$((QS_PORT + 2))
PLAN_PORT=$((QS_PORT + 100))      # app i releases on PLAN_PORT + i
IDLE_TIMEOUT=${BENCH_IDLE_TIMEOUT:-900}

ensure_apt hyperfine curl busybox-static
"$APP_REPO_ROOT/scripts/install-terraform.sh"
"$APP_REPO_ROOT/scripts/docker-engine.sh" start
eval "$("$APP_REPO_ROOT/scripts/docker-engine.sh" env)"
bin=$("$APP_REPO_ROOT/scripts/build.sh" release)
terraform=$(head -1 "$APP_CACHE/terraform-binaries")
work=$APP_CACHE/bench-docker
qs=$work/qs plan=$work/plan data=$work/data sw=$work/sw
mkdir -p "$work"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides { "apps/app" = "$bin" }
  direct {}
}
disable_checkpoint = true
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc

# The router image the runner builds on demand for this app-router binary. When it is not in the
# engine yet, this script creates it and removes it at the end (unless a container still uses it).
router_image=app-router:$(sha256sum "$bin/app-router" | cut -c1-12)

# The docker CLI baseline, its cleanup, and the cleanup before each timed quickstart apply.
cat >"$work/cli-clean.sh" <<'SH'
#!/bin/sh
docker rm -f bench-cli-web >/dev/null 2>&1
docker network rm bench-cli-net >/dev/null 2>&1
docker images -q bench-cli-web | sort -u | xargs -r docker rmi -f >/dev/null 2>&1
exit 0
SH
cat >"$work/cli-run.sh" <<SH
#!/bin/sh
# docker build + network + run + wait for HTTP 200: what the quickstart apply does, by hand.
set -e
tag=bench-cli-web:\$(date +%s%N)
docker build -q -t "\$tag" "$qs/app" >/dev/null 2>&1
docker network create bench-cli-net >/dev/null
docker run -d --name bench-cli-web --network bench-cli-net -p 127.0.0.1:$CLI_PORT:8080 "\$tag" >/dev/null
i=0
until [ "\$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:$CLI_PORT/healthz)" = 200 ]; do
    i=\$((i + 1))
    [ \$i -lt 1200 ] || { echo "no HTTP 200 within 60 s" >&2; exit 1; }
    sleep 0.05
done
SH
cat >"$work/cli-prep.sh" <<SH
#!/bin/sh
"$work/cli-clean.sh" && date +%s%N >"$qs/app/site/stamp.txt"
SH
cat >"$work/tf-prep.sh" <<SH
#!/bin/sh
cd "$qs" && "$terraform" destroy -auto-approve -input=false >/dev/null && date +%s%N >"$qs/app/site/stamp.txt"
SH
chmod +x "$work"/*.sh

# tf_destroy DIR: terraform destroy in DIR; a failure is reported on stdout (it is a finding) and
# the destroy retried once.
tf_destroy() {
    local out rc=0
    out=$(cd "$1" && "$terraform" destroy -auto-approve -input=false -no-color 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || return 0
    echo "note: terraform destroy in $1 failed (exit $rc); retrying once. $(printf '%s\n' "$out" | grep -A6 '^Error:' | tr -s ' \n' ' ' | cut -c1-600)"
    (cd "$1" && run_quiet "$terraform" destroy -auto-approve -input=false)
}

monitor_pid=
# cleanup: destroy what earlier or this run applied, remove the CLI baseline's objects and the router
# image this script created. Idempotent; also the EXIT trap.
cleanup() {
    local dir image
    [ -z "$monitor_pid" ] || { kill "$monitor_pid" 2>/dev/null || true; wait "$monitor_pid" 2>/dev/null || true; monitor_pid=; }
    for dir in "$qs" "$plan" "$data" "$sw"; do
        if [ -f "$dir/terraform.tfstate" ] && [ -f "$dir/main.tf" ]; then
            tf_destroy "$dir" || log "warning: destroy in $dir failed"
        fi
    done
    "$work/cli-clean.sh"
    docker network rm bench-plan-net >/dev/null 2>&1 || true
    if [ -f "$work/router-image.ours" ]; then
        image=$(cat "$work/router-image.ours")
        if ! docker image inspect "$image" >/dev/null 2>&1 || docker rmi "$image" >/dev/null 2>&1; then
            rm -f "$work/router-image.ours"
        else
            log "warning: $image is still in use; kept (removed by the next run)"
        fi
    fi
}
trap cleanup EXIT
cleanup
[ -n "$(docker image ls -q "$router_image")" ] || echo "$router_image" >"$work/router-image.ours"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$QS_PORT" "$CLI_PORT" "$SW_PORT" $(seq $((PLAN_PORT + 1)) $((PLAN_PORT + APPS))); do
    ! port_busy "$port" || die "127.0.0.1:$port is in use (set BENCH_PORT_BASE to move the ports)"
done

# others_busy: cargo/rustc/terraform/provider/runner processes that this script did not start.
others_busy() {
    local pid anc found=()
    for pid in $(ps -eo pid=,comm= | awk '$2 ~ /^(cargo|rustc|terraform|terraform-1\.[0-9]+|terraform-provi|app-runner)$/ {print $1}'); do
        anc=$pid
        while [ "$anc" -gt 1 ]; do
            [ "$anc" != "$$" ] || continue 2
            # Gone meanwhile (a short-lived process of ours, maybe): not counted.
            anc=$(awk '/^PPid:/ {print $2}' "/proc/$anc/status" 2>/dev/null) || continue 2
            [ -n "$anc" ] || continue 2
        done
        found+=("$(cat "/proc/$pid/comm" 2>/dev/null)($pid)")
    done
    echo "${found[*]}"
}
# A sampler of others' processes (every 2 s) while this script runs: busy_since reads it.
( while :; do b=$(others_busy); [ -z "$b" ] || echo "$(date +%s) $b"; sleep 2; done ) >"$work/busy.log" 2>/dev/null &
monitor_pid=$!
# wait_idle SECTION: wait (up to IDLE_TIMEOUT s) until none of others' builds/tests run; say so.
wait_idle() {
    local waited=0 busy
    busy=$(others_busy)
    while [ -n "$busy" ] && [ "$waited" -lt "$IDLE_TIMEOUT" ]; do
        sleep 5
        waited=$((waited + 5))
        busy=$(others_busy)
    done
    if [ -n "$busy" ]; then
        echo "[$1] machine BUSY: still running after ${IDLE_TIMEOUT} s: $busy (figures below may be skewed)"
    elif [ "$waited" -gt 0 ]; then
        echo "[$1] machine idle after waiting ${waited} s for others' cargo/rustc/terraform"
    else
        echo "[$1] machine idle (no cargo/rustc/terraform of others)"
    fi
    section_start=$(date +%s)
}
# busy_since SECTION: report others' processes seen since wait_idle.
busy_since() {
    local seen
    seen=$(awk -v s="$section_start" '$1 >= s {for (i = 2; i <= NF; i++) print $i}' "$work/busy.log" | sed 's/(.*//' | sort -u | tr '\n' ' ')
    [ -z "$seen" ] || echo "[$1] note: the machine was busy during this measurement (others' ${seen% }); figures may be skewed"
}

# ---------------------------------------------------------------------------------------------
# a. Quickstart apply vs the docker CLI, both from nothing and with a real build.
rm -rf "$qs" && mkdir -p "$qs"
cp -r "$APP_REPO_ROOT/examples/terraform/docker/app" "$qs/app"
cp -f /bin/busybox "$qs/app/busybox"
sed 's/quickstart-web/bench-qs/g' "$APP_REPO_ROOT/examples/terraform/docker/main.tf" >"$qs/main.tf"
echo "port = $QS_PORT" >"$qs/terraform.tfvars"
echo "== a. quickstart (examples/terraform/docker) apply vs docker build + network create + run + wait for 200 ($("$terraform" version | head -1), $(nproc) cores)"
wait_idle a
hyperfine --warmup 1 --runs "$RUNS" --style basic --export-json "$work/qs.json" \
    --prepare "$work/tf-prep.sh" --prepare "$work/cli-prep.sh" \
    -n "terraform apply (quickstart: build, deploy, release)" "cd $qs && $terraform apply -auto-approve -input=false >/dev/null" \
    -n "docker CLI (build, network, run, wait for 200)" "$work/cli-run.sh"
busy_since a
python3 - "$work/qs.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
tf, cli = r[0]["median"], r[1]["median"]
print(f"quickstart apply median {tf*1000:.0f} ms vs docker CLI median {cli*1000:.0f} ms ({len(r[0]['times'])} runs each): ratio {tf/cli:.2f} (target <= 1.2)")
PY
# Where the time of one more apply (prepared the same way) goes, from its timestamped stdout lines.
"$work/tf-prep.sh"
(cd "$qs" && python3 - "$terraform" <<'PY'
import re, subprocess, sys, time
start = time.time()
p = subprocess.Popen([sys.argv[1], "apply", "-auto-approve", "-input=false", "-no-color"], stdout=subprocess.PIPE, text=True)
lines = [(time.time(), l.rstrip("\n")) for l in p.stdout]
if p.wait() != 0:
    sys.exit("apply failed:\n" + "\n".join(l for _, l in lines))
end = time.time()
began, done = {}, {}
for t, l in lines:
    m = re.match(r"(\S+): (Creating|Modifying)\.\.\.", l)
    if m:
        began.setdefault(m.group(1), t)
    m = re.match(r"(\S+): (Creation|Modifications) complete", l)
    if m:
        done[m.group(1)] = t
parts = [f"{a.split('.')[0]} {(done[a] - began[a]) * 1000:.0f} ms" for a in sorted(began, key=began.get) if a in done]
first, last = min(began.values()), max(done.values())
print(f"one quickstart apply by phase: start → first resource {(first - start) * 1000:.0f} ms, " + ", ".join(parts)
      + f", last resource → exit {(end - last) * 1000:.0f} ms (total {(end - start) * 1000:.0f} ms)")
PY
)
tf_destroy "$qs"
"$work/cli-clean.sh"

# ---------------------------------------------------------------------------------------------
# b. No-op plan of APPS apps (app_build + app_deployment + app_release) vs 3*APPS terraform_data.
src=$work/plan-src
rm -rf "$src" && mkdir -p "$src/site" "$plan" "$data"
cp -f /bin/busybox "$src/busybox"
cp "$APP_REPO_ROOT/examples/terraform/docker/app/Dockerfile" "$src/Dockerfile"
echo ok >"$src/site/healthz"
echo "bench plan app" >"$src/site/index.html"
{
    printf 'terraform {\n  required_providers {\n    app = { source = "apps/app" }\n  }\n}\n'
    for i in $(seq 1 "$APPS"); do
        cat <<TF
resource "app_build" "b$i" {
  name   = "bench-p$i"
  source = "$src"
  docker {}
}
resource "app_deployment" "d$i" {
  name  = "bench-p$i"
  image = app_build.b$i.image
  docker {
    network = "bench-plan-net"
    ports   = [8080]
    health_check {
      http_path = "/healthz"
    }
  }
}
resource "app_release" "r$i" {
  deployment = app_deployment.d$i.id
  docker {
    port = $((PLAN_PORT + i))
  }
}
TF
    done
} >"$plan/main.tf"
for i in $(seq 1 "$APPS"); do
    cat <<TF
resource "terraform_data" "b$i" {
  input = { name = "bench-p$i", source = "$src" }
}
resource "terraform_data" "d$i" {
  input = { name = "bench-p$i", image = terraform_data.b$i.output.name }
}
resource "terraform_data" "r$i" {
  input = { deployment = terraform_data.d$i.output.name, port = $((PLAN_PORT + i)) }
}
TF
done >"$data/main.tf"
# One network for all apps: a network per app (the default) stops at about 30 on a dockerd with
# the default address pools ("could not find an available, non-overlapping IPv4 address pool").
docker network create bench-plan-net >/dev/null
echo "== b. no-op plan of $APPS docker apps ($((3 * APPS)) resources, one shared network) vs $((3 * APPS)) terraform_data"
started=$(date +%s.%N)
(cd "$plan" && run_quiet "$terraform" apply -auto-approve -input=false)
echo "setup: apply of $APPS apps ($APPS builds, $APPS containers, $APPS routers) took $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)") s (no target)"
(cd "$data" && run_quiet "$terraform" apply -auto-approve -input=false)
wait_idle b
hyperfine --warmup 1 --runs 5 --style basic --export-json "$work/plan.json" \
    -n "app x$APPS ($((3 * APPS)) resources)" "cd $plan && $terraform plan -input=false -detailed-exitcode >/dev/null" \
    -n "terraform_data x$((3 * APPS))" "cd $data && $terraform plan -input=false -detailed-exitcode >/dev/null" \
    -n "app x$APPS, plan -refresh=false" "cd $plan && $terraform plan -input=false -refresh=false -detailed-exitcode >/dev/null"
python3 - "$work/plan.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
app, data, norefresh = r[0]["median"], r[1]["median"], r[2]["median"]
print(f"no-op plan median: {r[0]['command']} {app*1000:.0f} ms, {r[1]['command']} {data*1000:.0f} ms: ratio {app/data:.2f} (target <= 2)")
print(f"  (for reference, the same app plan with -refresh=false: {norefresh*1000:.0f} ms, ratio {norefresh/data:.2f}: the rest is the refresh)")
PY
# Peak memory as each process logs it at exit (the refresh of docker resources starts the runner).
(cd "$plan" && TF_LOG=INFO "$terraform" plan -input=false -detailed-exitcode 2>&1 >/dev/null) | python3 -c '
import re, sys
peak = {}
for line in sys.stdin:
    m = re.search(r"@module=(\S+).*peak_rss_kib=(\d+)|peak_rss_kib=(\d+).*@module=(\S+)", line)
    if m:
        module = m.group(1) or m.group(4)
        kib = int(m.group(2) or m.group(3))
        peak[module] = max(peak.get(module, 0), kib)
names = {"provider": "provider", "app-runner": "runner"}
for module, kib in sorted(peak.items()):
    print(f"peak RSS during the no-op plan of '"$((3 * APPS))"' resources: {names.get(module, module)} {kib/1024:.1f} MiB (target < 30 MB, as in bench.sh)")
if "app-runner" not in peak:
    print("peak RSS: no runner line in the log (did the plan start no runner?)")
'
busy_since b
tf_destroy "$plan"
tf_destroy "$data"
docker network rm bench-plan-net >/dev/null

# ---------------------------------------------------------------------------------------------
# c. Release switch: generation N+1 healthy → the release URL serves it, under a request loop.
rm -rf "$sw" && mkdir -p "$sw"
cp -r "$APP_REPO_ROOT/examples/terraform/docker/app" "$sw/app"
cp -f /bin/busybox "$sw/app/busybox"
sed 's/quickstart-web/bench-sw/g' "$APP_REPO_ROOT/examples/terraform/docker/main.tf" >"$sw/main.tf"
echo "port = $SW_PORT" >"$sw/terraform.tfvars"
echo "bench-sw generation-1" >"$sw/app/site/index.html"
(cd "$sw" && run_quiet "$terraform" apply -auto-approve -input=false)
cat >"$work/switch.py" <<'PY'
# switch.py TERRAFORM DIR PORT OLD NEW LOG RESULTS: a request loop (a new connection per request) on the
# release URL while `terraform apply` runs; its stdout lines are timestamped as they arrive.
import http.client, json, os, re, subprocess, sys, threading, time
from datetime import datetime

tf, cwd, port, old, new, log_path, results = sys.argv[1:3] + [int(sys.argv[3])] + sys.argv[4:8]
responses = []  # (start, end, status or None, body)
stop = threading.Event()


def loop():
    while not stop.is_set():
        t0 = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/")
            r = c.getresponse()
            status, body = r.status, r.read().decode(errors="replace")
            c.close()
        except Exception as e:  # a failed request
            status, body = None, f"{type(e).__name__}: {e}"
        responses.append((t0, time.time(), status, body))


thread = threading.Thread(target=loop, daemon=True)
thread.start()
time.sleep(0.5)
lines = []
with open(log_path, "w") as log:
    p = subprocess.Popen([tf, "apply", "-auto-approve", "-input=false", "-no-color"], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=log, env=dict(os.environ, TF_LOG="INFO"), text=True, bufsize=1)
    for line in p.stdout:
        lines.append((time.time(), line.rstrip("\n")))
    rc = p.wait()
time.sleep(0.5)
stop.set()
thread.join()
if rc != 0:
    sys.exit("terraform apply failed:\n" + "\n".join(l for _, l in lines))
healthy = next((t for t, l in lines if re.match(r"app_deployment\.\S+: Modifications complete", l)), None)
released = next((t for t, l in lines if re.match(r"app_release\.\S+: Modifications complete", l)), None)
# The runner's own "…-g<N> is healthy after" log line (Terraform's log timestamp, ms).
healthy_log = None
for l in open(log_path, errors="replace"):
    if " is healthy after " in l:
        healthy_log = datetime.fromisoformat(l.split()[0]).timestamp()
first_new = next((r for r in responses if r[2] == 200 and new in r[3]), None)
failed = [r for r in responses if r[2] != 200]
odd = [r for r in responses if r[2] == 200 and new not in r[3] and old not in r[3]]
old_after = [r for r in responses if first_new and r[0] > first_new[1] and r[2] == 200 and old in r[3]]
r = {
    "healthy_to_served_ms": None if not (first_new and healthy) else (first_new[1] - healthy) * 1000,
    "log_healthy_to_served_ms": None if not (first_new and healthy_log) else (first_new[1] - healthy_log) * 1000,
    "healthy_to_release_complete_ms": None if not (released and healthy) else (released - healthy) * 1000,
    "requests": len(responses), "failed": len(failed), "unexpected_bodies": len(odd), "old_after_new": len(old_after),
    "failures": sorted({r[3] if r[2] is None else f"HTTP {r[2]}" for r in failed})[:5],
}
with open(results, "a") as f:
    f.write(json.dumps(r) + "\n")
ms = lambda v: "n/a" if v is None else f"{v:.0f} ms"
print(f"switch to {new}: healthy → served {ms(r['healthy_to_served_ms'])} (terraform stdout), {ms(r['log_healthy_to_served_ms'])} (runner log); "
      f"{r['requests']} requests, {r['failed']} failed, {r['unexpected_bodies']} unexpected bodies, {r['old_after_new']} old after the first new"
      + (f"; failures: {r['failures']}" if r["failed"] else ""))
PY
echo "== c. release switch: new generation healthy → release URL serves it ($SWITCHES switches, request loop on http://127.0.0.1:$SW_PORT/)"
wait_idle c
: >"$work/switch.jsonl"
for k in $(seq 1 "$SWITCHES"); do
    echo "bench-sw generation-$((k + 1))" >"$sw/app/site/index.html"
    python3 "$work/switch.py" "$terraform" "$sw" "$SW_PORT" "generation-$k" "generation-$((k + 1))" "$work/switch-$k.log" "$work/switch.jsonl"
done
busy_since c
python3 - "$work/switch.jsonl" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ms = [r["healthy_to_served_ms"] for r in rs if r["healthy_to_served_ms"] is not None]
logms = [r["log_healthy_to_served_ms"] for r in rs if r["log_healthy_to_served_ms"] is not None]
failed, total = sum(r["failed"] for r in rs), sum(r["requests"] for r in rs)
if ms:
    print(f"release switch median {statistics.median(ms):.0f} ms (max {max(ms):.0f} ms, {len(ms)} switches; runner-log based median "
          f"{statistics.median(logms):.0f} ms), failed requests {failed} of {total} (target < 500 ms, 0 failed)")
else:
    print(f"release switch: the new generation was never served ({failed} of {total} requests failed)")
PY
tf_destroy "$sw"
