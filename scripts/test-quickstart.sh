#!/usr/bin/env bash
# Usage: scripts/test-quickstart.sh   # runs the quickstart (dev build), then the "Plan again" and "Remove it" commands it prints, each in a new shell with a bare environment; they must work as printed
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$(APP_QUICKSTART_PROFILE=dev "$APP_REPO_ROOT/scripts/quickstart.sh" 2>&1) || { printf '%s\n' "$out" >&2; die "the quickstart failed"; }
grep -q '^Deployed: http://127.0.0.1:8088 (HTTP 200)$' <<<"$out" || { printf '%s\n' "$out" >&2; die "the quickstart did not report the URL"; }
plan_cmd=$(sed -n 's/^Plan again (expect no changes): *//p' <<<"$out")
destroy_cmd=$(sed -n 's/^Remove it: *//p' <<<"$out")
[ -n "$plan_cmd" ] && [ -n "$destroy_cmd" ] || die "the quickstart printed no commands to run next:\n$out"

# A new shell as a user opens it: no variables this run exported, no profile.
fresh() {
    env -i HOME="$HOME" PATH=/usr/local/bin:/usr/bin:/bin TERM=dumb bash --noprofile --norc -c "$1"
}

plan_out=$(fresh "$plan_cmd -no-color -input=false" 2>&1) || { printf '%s\n' "$plan_out" >&2; die "'$plan_cmd' failed in a new shell"; }
grep -q "No changes." <<<"$plan_out" || { printf '%s\n' "$plan_out" >&2; die "'$plan_cmd' planned changes right after the quickstart"; }

destroy_out=$(fresh "$destroy_cmd -no-color -input=false" <<<"yes" 2>&1) || { printf '%s\n' "$destroy_out" >&2; die "'$destroy_cmd' failed in a new shell"; }
grep -q "Destroy complete!" <<<"$destroy_out" || { printf '%s\n' "$destroy_out" >&2; die "'$destroy_cmd' did not destroy"; }
eval "$("$APP_REPO_ROOT/scripts/docker-engine.sh" env)"
left=$(docker ps -a --filter label=dev.terraform-provider-app.app=quickstart-web --format '{{.Names}}')
[ -z "$left" ] || die "destroy left containers: $left"
log "passed: the quickstart's printed commands planned nothing and destroyed everything in a new shell"
