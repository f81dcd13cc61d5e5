#!/usr/bin/env bash
# Usage: scripts/bench-lambda.sh   # AWS Lambda benchmarks against moto: AWS API calls of a no-op plan and of an image update (per command, per job, per operation), and the image-update apply vs the AWS CLI (update-function-code, wait function-updated, publish-version, update-alias; target <= 1.2x)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-3}
IDLE_TIMEOUT=${BENCH_IDLE_TIMEOUT:-900}
# AWS CLI v1 for the baseline, in moto's virtualenv. 1.46 vendors its own botocore, so moto's
# boto3/botocore stay exactly as they are (pinned below as a constraint all the same).
AWSCLI_VERSION=1.46.3
REPO=123456789012.dkr.ecr.us-east-1.amazonaws.com/bench-lambda
TF_FUNCTION=bench-lambda-tf
CLI_FUNCTION=bench-lambda-cli
CLI_ROLE=bench-lambda-cli-role

ensure_apt hyperfine curl
"$APP_REPO_ROOT/scripts/install-terraform.sh"
# A moto that already answers Lambda calls is reused as it is: `moto.sh start` probes
# /moto-api/data.json, which fails (HTTP 500, moto's Docker client) once Lambda was used, and would
# restart the server, losing the state of anyone else using it.
lambda_answers() {
    # (moto tells services apart by the credential scope of the Authorization header.)
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1/2015-03-31/functions" \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0' \
        2>/dev/null || true)" = 200 ]
}
if [ -f "$APP_CACHE/moto/env" ] && eval "$("$APP_REPO_ROOT/scripts/moto.sh" env)" && lambda_answers "$APP_TEST_MOTO_ENDPOINT"; then
    log "moto answers on $APP_TEST_MOTO_ENDPOINT: reusing it"
else
    "$APP_REPO_ROOT/scripts/moto.sh" start
    eval "$("$APP_REPO_ROOT/scripts/moto.sh" env)"
fi
bin=$("$APP_REPO_ROOT/scripts/build.sh" release)
terraform=$(head -1 "$APP_CACHE/terraform-binaries")
venv=$APP_CACHE/moto/venv
if ! "$venv/bin/aws" --version >/dev/null 2>&1; then
    botocore=$("$venv/bin/python3" -c 'import botocore; print(botocore.__version__)')
    boto3=$("$venv/bin/python3" -c 'import boto3; print(boto3.__version__)')
    log "installing awscli==$AWSCLI_VERSION into $venv (botocore $botocore and boto3 $boto3 kept)"
    constraints=$(mktemp)
    printf 'botocore==%s\nboto3==%s\n' "$botocore" "$boto3" >"$constraints"
    run_quiet "$venv/bin/python3" -m pip install -q --disable-pip-version-check -c "$constraints" "awscli==$AWSCLI_VERSION"
    rm -f "$constraints"
    "$venv/bin/python3" -c 'import moto, moto.server, boto3, botocore' || die "moto's virtualenv no longer imports moto after installing awscli"
fi
aws=$venv/bin/aws

# The credentials of tests/acceptance/tests/aws_lambda.rs: dummy keys, no profile, no IMDS.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing-secret-key AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
endpoint=$APP_TEST_MOTO_ENDPOINT

work=$APP_CACHE/bench-lambda
tf=$work/tf
mkdir -p "$work" "$tf"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides { "apps/app" = "$bin" }
  direct {}
}
disable_checkpoint = true
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc

# The example configuration (function, version per generation, alias `live`, function URL) on moto,
# with keep = 100 instead of 2: no old version is deleted during the benchmark (the CLI baseline
# deletes none either), and moto 5.2.5 numbers a version published after a deleted one
# len(versions) + 1 — a duplicate number — after which it cannot delete the function (KeyError).
sed -e "s/name  = \"hello\"/name  = \"$TF_FUNCTION\"/" -e 's/keep  = 2$/keep  = 100/' \
    "$APP_REPO_ROOT/examples/terraform/aws-lambda/main.tf" >"$tf/main.tf"
if ! grep -q "\"$TF_FUNCTION\"" "$tf/main.tf" || ! grep -q 'keep  = 100$' "$tf/main.tf"; then
    die "could not rename the function or set keep in examples/terraform/aws-lambda/main.tf"
fi
cat >"$work/tf-prep.sh" <<SH
#!/bin/sh
# A new image digest for the next apply.
printf 'endpoint_url = "%s"\nimage        = "%s@sha256:%s"\n' "$endpoint" "$REPO" "\$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tf/terraform.tfvars"
SH
cat >"$work/cli-update.sh" <<SH
#!/bin/sh
# The same image update with the AWS CLI: new code, wait, publish, move the alias.
set -e
image=$REPO@sha256:\$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$aws" --endpoint-url "$endpoint" lambda update-function-code --function-name $CLI_FUNCTION --image-uri "\$image" >/dev/null
"$aws" --endpoint-url "$endpoint" lambda wait function-updated --function-name $CLI_FUNCTION
version=\$("$aws" --endpoint-url "$endpoint" lambda publish-version --function-name $CLI_FUNCTION --query Version --output text)
"$aws" --endpoint-url "$endpoint" lambda update-alias --function-name $CLI_FUNCTION --name live --function-version "\$version" >/dev/null
SH
chmod +x "$work"/*.sh

monitor_pid=
# cleanup: destroy the Terraform function (and its role), delete the CLI function and role.
# Idempotent; also the EXIT trap.
cleanup() {
    [ -z "$monitor_pid" ] || { kill "$monitor_pid" 2>/dev/null || true; wait "$monitor_pid" 2>/dev/null || true; monitor_pid=; }
    local v
    if [ -f "$tf/terraform.tfstate" ]; then
        [ -f "$tf/terraform.tfvars" ] || "$work/tf-prep.sh"
        if ! (cd "$tf" && run_quiet "$terraform" destroy -auto-approve -input=false); then
            # moto's DeleteFunction fails for a function with duplicate version numbers (see
            # keep above): delete it version by version, then the role the deployment created
            # (a destroy that finds the function gone leaves it).
            log "warning: terraform destroy in $tf failed; deleting $TF_FUNCTION version by version"
            for v in $("$aws" --endpoint-url "$endpoint" lambda list-versions-by-function --function-name "$TF_FUNCTION" \
                --query 'Versions[].Version' --output text 2>/dev/null | tr '\t' '\n' | sort -r); do
                "$aws" --endpoint-url "$endpoint" lambda delete-function --function-name "$TF_FUNCTION" --qualifier "$v" >/dev/null 2>&1 || true
            done
            (cd "$tf" && run_quiet "$terraform" destroy -auto-approve -input=false) || log "warning: terraform destroy in $tf failed again"
            "$aws" --endpoint-url "$endpoint" iam delete-role --role-name "$TF_FUNCTION-exec" >/dev/null 2>&1 || true
        fi
    fi
    "$aws" --endpoint-url "$endpoint" lambda delete-function --function-name "$CLI_FUNCTION" >/dev/null 2>&1 || true
    "$aws" --endpoint-url "$endpoint" iam delete-role --role-name "$CLI_ROLE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

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

# count_calls LABEL: sums the runner's `AWS API calls: N (Service.Operation n, …)` lines (one per
# job) of the TF_LOG=INFO output on stdin.
count_calls() {
    python3 -c '
import collections, re, sys
label, jobs, ops, total, attempts = sys.argv[1], [], collections.Counter(), 0, 0
for line in sys.stdin:
    m = re.search(r"AWS API calls: (\d+)(?: \(([^)]*)\))?(?:; (\d+) HTTP attempts)?", line)
    if not m:
        continue
    n = int(m.group(1))
    total += n
    attempts += int(m.group(3) or n)
    job = re.search(r"\bjob=(\S+)", line)
    jobs.append((job.group(1) if job else "?", m.group(0).split(": ", 1)[1]))
    for part in filter(None, (m.group(2) or "").split(", ")):
        op, k = part.rsplit(" ", 1)
        ops[op] += int(k)
breakdown = ", ".join(f"{op} {k}" for op, k in sorted(ops.items()))
print(f"{label}: {total} AWS API calls in {len(jobs)} jobs ({breakdown})" + (f"; {attempts} HTTP attempts" if attempts != total else ""))
for job, text in jobs:
    print(f"  {job}: {text}")
' "$1"
}

digest() { printf '%s' "$1" | sha256sum | cut -c1-64; }
echo "== AWS Lambda (examples/terraform/aws-lambda with keep = 100) on moto $("$venv/bin/python3" -c 'import importlib.metadata as m; print(m.version("moto"))') at $endpoint ($("$terraform" version | head -1), $("$aws" --version 2>&1 | cut -d' ' -f1), $(nproc) cores)"

# ---------------------------------------------------------------------------------------------
# a. AWS API calls: a no-op plan and the apply of a new image digest.
printf 'endpoint_url = "%s"\nimage        = "%s@sha256:%s"\n' "$endpoint" "$REPO" "$(digest gen1)" >"$tf/terraform.tfvars"
(cd "$tf" && run_quiet "$terraform" apply -auto-approve -input=false)
echo "== a. AWS API calls (the runner's per-job count)"
(cd "$tf" && TF_LOG=INFO "$terraform" plan -input=false -detailed-exitcode 2>&1 >/dev/null) | count_calls "no-op plan"
printf 'endpoint_url = "%s"\nimage        = "%s@sha256:%s"\n' "$endpoint" "$REPO" "$(digest gen2)" >"$tf/terraform.tfvars"
(cd "$tf" && TF_LOG=INFO "$terraform" apply -auto-approve -input=false 2>&1 >/dev/null) | count_calls "image update apply"
(cd "$tf" && run_quiet "$terraform" plan -input=false -detailed-exitcode) || die "the plan after the image update is not empty"

# ---------------------------------------------------------------------------------------------
# b. Image update: terraform apply vs the AWS CLI, each against its own function on the same moto.
role=$("$aws" --endpoint-url "$endpoint" iam create-role --role-name "$CLI_ROLE" --query Role.Arn --output text \
    --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}')
"$aws" --endpoint-url "$endpoint" lambda create-function --function-name "$CLI_FUNCTION" --package-type Image \
    --code "ImageUri=$REPO@sha256:$(digest cli1)" --role "$role" --memory-size 256 --timeout 30 \
    --environment 'Variables={GREETING=hello}' --publish >/dev/null
"$aws" --endpoint-url "$endpoint" lambda create-alias --function-name "$CLI_FUNCTION" --name live --function-version 1 >/dev/null
echo "== b. image update: terraform apply (examples/terraform/aws-lambda) vs AWS CLI update-function-code + wait function-updated + publish-version + update-alias"
wait_idle b
hyperfine --warmup 1 --runs "$RUNS" --style basic --export-json "$work/update.json" \
    --prepare "$work/tf-prep.sh" --prepare true \
    -n "terraform apply (new image)" "cd $tf && $terraform apply -auto-approve -input=false >/dev/null" \
    -n "AWS CLI (4 commands)" "$work/cli-update.sh"
busy_since b
python3 - "$work/update.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
tf, cli = r[0]["median"], r[1]["median"]
print(f"image update median: terraform apply {tf*1000:.0f} ms vs AWS CLI {cli*1000:.0f} ms ({len(r[0]['times'])} runs each): ratio {tf/cli:.2f} (target <= 1.2)")
PY
# The CLI baseline is four Python process starts; what one of them costs without an API call:
hyperfine --warmup 1 --runs 5 --style basic --export-json "$work/cli-start.json" "$aws --version" >/dev/null
python3 - "$work/cli-start.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"(for reference: one AWS CLI process start, `aws --version`, median {r['median']*1000:.0f} ms)")
PY
