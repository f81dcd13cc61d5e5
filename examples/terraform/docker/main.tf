# The quickstart: build a tiny web app into an image, run it as a container generation and give
# it a stable local URL. `scripts/quickstart.sh` runs this with everything it needs.
terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}

variable "port" {
  description = "Host port of the stable URL."
  type        = number
  default     = 8088
}

resource "app_build" "web" {
  name   = "quickstart-web"
  source = "${path.module}/app"
  docker {}
}

resource "app_deployment" "web" {
  name  = "quickstart-web"
  image = app_build.web.image
  docker {
    ports = [8080]
    health_check {
      http_path = "/healthz"
    }
  }
}

resource "app_release" "web" {
  deployment = app_deployment.web.id
  docker {
    port = var.port
  }
}

output "url" {
  description = "The release's stable URL."
  value       = app_release.web.url
}

output "generation" {
  value = app_release.web.released_generation
}
