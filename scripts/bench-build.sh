#!/usr/bin/env bash
# Usage: scripts/bench-build.sh   # app_build benchmarks: source_hash of 20,000 files / 300 MB (cold and warm page cache) vs b3sum and sha256sum, the no-op plan of that app, and build+push apply vs `docker build && docker push`
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FILES=${BENCH_FILES:-20000}
MIB=${BENCH_MIB:-300}
ensure_apt hyperfine b3sum
"$APP_REPO_ROOT/scripts/install-terraform.sh"
"$APP_REPO_ROOT/scripts/docker-engine.sh" start
"$APP_REPO_ROOT/scripts/registry.sh" start
eval "$("$APP_REPO_ROOT/scripts/docker-engine.sh" env)"
eval "$("$APP_REPO_ROOT/scripts/registry.sh" env)"
bin=$("$APP_REPO_ROOT/scripts/build.sh" release)
(cd "$APP_REPO_ROOT" && cargo build --locked -q --release -p app-source --example hash_bench)
hash_bench=$CARGO_TARGET_DIR/release/examples/hash_bench
terraform=$(head -1 "$APP_CACHE/terraform-binaries")

work=$APP_CACHE/bench-build
tree=$work/tree
mkdir -p "$work"
# The tree: FILES files in 200 directories, MIB MiB of incompressible content, generated once.
if [ "$(cat "$work/tree.id" 2>/dev/null)" != "$FILES/$MIB" ]; then
    log "generating $FILES files / $MIB MiB under $tree"
    rm -rf "$tree"
    python3 - "$tree" "$FILES" "$MIB" <<'PY'
import os, sys
root, files, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = mib * 1024 * 1024 // files
rng = __import__("random").Random(42)
for i in range(files):
    d = os.path.join(root, f"d{i % 200:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(rng.randbytes(size))
with open(os.path.join(root, "Dockerfile"), "w") as f:
    f.write("FROM scratch\nCOPY . /data/\n")
PY
    echo "$FILES/$MIB" >"$work/tree.id"
fi
du -sh "$tree" | sed 's/^/tree: /'

can_drop=false
if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then can_drop=true; fi
files_cmd="cd $tree && find . -type f -print0"
for mode in cold warm; do
    if [ $mode = cold ]; then
        $can_drop || { echo "== cold: cannot drop the page cache here (needs root); skipped"; continue; }
        prepare=(--prepare "sync; echo 3 > /proc/sys/vm/drop_caches")
        runs=3
    else
        prepare=(--warmup 1)
        runs=5
    fi
    echo "== source_hash, $mode page cache ($(nproc) cores)"
    hyperfine "${prepare[@]}" --runs $runs --style basic --export-json "$work/hash-$mode.json" \
        -n "app-source (source_hash)" "$hash_bench $tree >/dev/null" \
        -n "b3sum (multi-threaded)" "$files_cmd | xargs -0 b3sum >/dev/null" \
        -n "sha256sum" "$files_cmd | xargs -0 sha256sum >/dev/null" \
        -n "sha256sum -P$(nproc)" "$files_cmd | xargs -0 -P$(nproc) -n 1000 sha256sum >/dev/null"
    python3 - "$work/hash-$mode.json" "$mode" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
ours = r["app-source (source_hash)"]
for other in [k for k in r if k != "app-source (source_hash)"]:
    print(f"{sys.argv[2]}: source_hash {ours*1000:.0f} ms vs {other} {r[other]*1000:.0f} ms: ratio {ours/r[other]:.2f} (target <= 1.5)")
PY
done

# The no-op plan of an app_build over that tree (apply once: builds a 300 MB image locally).
app=$work/plan
mkdir -p "$app"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides { "apps/app" = "$bin" }
  direct {}
}
disable_checkpoint = true
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc
cat >"$app/main.tf" <<TF
terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}
resource "app_build" "big" {
  name   = "bench-big"
  source = "$tree"
  docker {}
}
TF
(cd "$app" && run_quiet "$terraform" apply -auto-approve -input=false)
echo "== no-op plan of app_build over $FILES files / $MIB MiB ($("$terraform" version | head -1))"
hyperfine --warmup 1 --runs 5 --style basic "cd $app && $terraform plan -input=false -detailed-exitcode >/dev/null"
(cd "$app" && run_quiet "$terraform" destroy -auto-approve -input=false)

# Build + push: terraform apply vs the docker CLI, same context, each run with one new file
# (a new source hash: a real build and push, no cache hit on the COPY layer).
ctx=$work/push-context
rm -rf "$ctx" && mkdir -p "$ctx/site"
cp /bin/busybox "$ctx/busybox"
python3 -c "import random,sys; r=random.Random(7); [open(f'$ctx/site/p{i}.bin','wb').write(r.randbytes(200*1024)) for i in range(100)]"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY site/ /site/\n' >"$ctx/Dockerfile"
push=$work/push
mkdir -p "$push"
cat >"$push/main.tf" <<TF
terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}
resource "app_build" "web" {
  source = "$ctx"
  docker {}
  registry { image = "$APP_TEST_REGISTRY/bench-web" }
}
TF
(cd "$push" && run_quiet "$terraform" apply -auto-approve -input=false)
echo "== build + push of a $(du -sh "$ctx" | cut -f1) context: terraform apply vs docker build && docker push"
hyperfine --runs 5 --style basic --export-json "$work/push.json" \
    --prepare "head -c 64 /dev/urandom >$ctx/site/changed.bin" \
    -n "terraform apply (app_build)" "cd $push && $terraform apply -auto-approve -input=false >/dev/null" \
    -n "docker build && docker push" "t=\$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n'); docker build -q -t $APP_TEST_REGISTRY/bench-cli:\$t $ctx >/dev/null && docker push -q $APP_TEST_REGISTRY/bench-cli:\$t >/dev/null"
python3 - "$work/push.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(f"build+push median: terraform apply {r[0]['median']*1000:.0f} ms, docker CLI {r[1]['median']*1000:.0f} ms, ratio {r[0]['median']/r[1]['median']:.2f} (target <= 1.10)")
PY
(cd "$push" && run_quiet "$terraform" destroy -auto-approve -input=false)
docker images --format '{{.Repository}}:{{.Tag}}' | grep -F "$APP_TEST_REGISTRY/bench-cli:" | xargs -r docker rmi -f >/dev/null
