# The exec platform: your own commands, tracked in Terraform state.
#
# `create` writes a tiny static site and prints its URL as JSON (which becomes `url` and
# `exec.outputs`); `read` tells Terraform whether it still exists; `destroy` removes it.
# Change `message` and apply again: generation 2 replaces the page in place.

terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}

variable "message" {
  type    = string
  default = "Hello from terraform-provider-app"
}

resource "app_deployment" "site" {
  name = "exec-site"
  env  = { MESSAGE = var.message }

  exec {
    create  = ["sh", "-c", "mkdir -p site && echo \"$MESSAGE (generation $APP_GENERATION)\" > site/index.html && printf '{\"url\":\"file://%s/site/index.html\"}' \"$PWD\""]
    read    = ["sh", "-c", "if [ -f site/index.html ]; then echo '{\"present\":true}'; fi"]
    destroy = ["rm", "-rf", "site"]
  }
}

output "url" {
  value = app_deployment.site.url
}

output "generation" {
  value = app_deployment.site.generation
}
