#!/usr/bin/env bash
# Usage: scripts/bench.sh [N]   # benchmarks: handshake time, peak memory, no-op plan of N (100) exec deployments vs N terraform_data
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count=${1:-100}
ensure_apt hyperfine
"$APP_REPO_ROOT/scripts/install-terraform.sh"
bin=$("$APP_REPO_ROOT/scripts/build.sh" release)
(cd "$APP_REPO_ROOT" && cargo build --locked -q --release -p app-acceptance --bin handshake_bench)

echo "== provider start → handshake (auto-mTLS, as Terraform starts it)"
"$CARGO_TARGET_DIR/release/handshake_bench" "$bin/terraform-provider-app" 50

work="$APP_CACHE/bench"
rm -rf "$work"
mkdir -p "$work/app" "$work/data"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides { "apps/app" = "$bin" }
  direct {}
}
disable_checkpoint = true
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc"
{
    printf 'terraform {\n  required_providers {\n    app = { source = "apps/app" }\n  }\n}\n'
    for i in $(seq 1 "$count"); do
        printf 'resource "app_deployment" "d%s" {\n  name = "d%s"\n  env  = { N = "%s" }\n  exec {\n    create = ["true"]\n  }\n}\n' "$i" "$i" "$i"
    done
} >"$work/app/main.tf"
for i in $(seq 1 "$count"); do
    printf 'resource "terraform_data" "d%s" {\n  input = { N = "%s" }\n}\n' "$i" "$i"
done >"$work/data/main.tf"

while read -r terraform; do
    [ -n "$terraform" ] || continue
    echo "== $("$terraform" version | head -1): no-op plan of $count resources"
    (cd "$work/app" && run_quiet "$terraform" apply -auto-approve -input=false)
    (cd "$work/data" && run_quiet "$terraform" apply -auto-approve -input=false)
    hyperfine --warmup 1 --runs 5 --style basic --export-json "$work/plan.json" \
        -n "app_deployment x$count" "cd $work/app && $terraform plan -input=false -detailed-exitcode >/dev/null" \
        -n "terraform_data x$count" "cd $work/data && $terraform plan -input=false -detailed-exitcode >/dev/null"
    python3 - "$work/plan.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
app, data = r[0]["median"], r[1]["median"]
print(f"plan median: app {app*1000:.0f} ms, terraform_data {data*1000:.0f} ms, ratio {app/data:.2f} (target <= 1.5)")
PY
    # Peak memory as each process logs it at exit: the plan (provider only: nothing to observe
    # needs no runner) and an apply that changes every deployment (provider and runner).
    sed -i "s/N = \"\([0-9]*\)[^\"]*\"/N = \"\1-$RANDOM\"/" "$work/app/main.tf"
    for step in "plan -input=false" "apply -auto-approve -input=false"; do
        echo "peak memory during: terraform $step"
        # shellcheck disable=SC2086
        (cd "$work/app" && TF_LOG=INFO "$terraform" $step 2>&1 >/dev/null) | python3 -c '
import re, sys
peak = {}
for line in sys.stdin:
    m = re.search(r"@module=(\S+).*peak_rss_kib=(\d+)|peak_rss_kib=(\d+).*@module=(\S+)", line)
    if m:
        module = m.group(1) or m.group(4)
        kib = int(m.group(2) or m.group(3))
        peak[module] = max(peak.get(module, 0), kib)
for module, kib in sorted(peak.items()):
    print(f"  peak RSS {module}: {kib/1024:.1f} MiB (target < 30 MB)")
'
    done
    (cd "$work/app" && run_quiet "$terraform" destroy -auto-approve -input=false)
    (cd "$work/data" && run_quiet "$terraform" destroy -auto-approve -input=false)
done <"$APP_CACHE/terraform-binaries"
