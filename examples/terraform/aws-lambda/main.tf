# An AWS Lambda function from a container image in ECR: each change publishes a version (the
# generation), the release is the alias `live` with a public function URL. Point `endpoint_url`
# at an emulator (moto: `scripts/moto.sh start`) or leave it null for AWS.
terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}

variable "endpoint_url" {
  description = "One endpoint for every AWS service (moto, LocalStack); null = AWS."
  type        = string
  default     = null
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "image" {
  description = "ECR image by digest, e.g. from an app_build with an ECR registry or a docker_pull of one."
  type        = string
  default     = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello@sha256:1111111111111111111111111111111111111111111111111111111111111111"
}

variable "weight" {
  description = "Percent of traffic to the newest version (100 completes the release)."
  type        = number
  default     = 100
}

provider "app" {
  aws {
    region       = var.region
    endpoint_url = var.endpoint_url
  }
}

resource "app_deployment" "hello" {
  name  = "hello"
  image = var.image
  env   = { GREETING = "hello" }
  keep  = 2
  aws_lambda {
    memory  = 256
    timeout = 30
  }
}

resource "app_release" "hello" {
  deployment = app_deployment.hello.id
  aws_lambda {
    alias = "live"
    traffic {
      weight = var.weight
    }
    function_url {
      auth_type = "NONE"
    }
  }
}

output "function_arn" {
  value = app_deployment.hello.aws_lambda.function_arn
}

output "url" {
  value = app_release.hello.url
}

output "released_version" {
  value = app_release.hello.aws_lambda.released_version
}
