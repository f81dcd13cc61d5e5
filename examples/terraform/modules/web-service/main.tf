# A web service: build the source into an image, run it as health-gated container generations
# and serve it on a stable local port. Inputs are what a product team knows; the platform team
# keeps the rest here.
terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}

variable "name" {
  description = "Service name (containers, images and the release are named after it)."
  type        = string
}

variable "source_dir" {
  description = "Directory with the Dockerfile and the app."
  type        = string
}

variable "port" {
  description = "Host port of the service's stable URL."
  type        = number
}

variable "container_port" {
  description = "Port the app listens on inside its container."
  type        = number
  default     = 8080
}

variable "env" {
  description = "Environment variables of the app."
  type        = map(string)
  default     = {}
}

variable "health_path" {
  description = "HTTP path that answers 2xx when the app is healthy."
  type        = string
  default     = "/healthz"
}

variable "keep" {
  description = "Older generations kept for rollback."
  type        = number
  default     = 1
}

resource "app_build" "this" {
  name   = var.name
  source = var.source_dir
  docker {}
}

resource "app_deployment" "this" {
  name  = var.name
  image = app_build.this.image
  env   = var.env
  keep  = var.keep
  docker {
    ports = [var.container_port]
    health_check {
      http_path = var.health_path
    }
  }
}

resource "app_release" "this" {
  deployment = app_deployment.this.id
  docker {
    port = var.port
  }
}

output "url" {
  description = "The stable URL."
  value       = app_release.this.url
}

output "image" {
  description = "The image the service runs."
  value       = app_build.this.image
}

output "generation" {
  description = "The released generation."
  value       = app_release.this.released_generation
}
