# One module, two services. Copy /bin/busybox (Debian busybox-static) into app-a/ and app-b/
# first, as scripts/quickstart.sh does for the quickstart.
terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}

module "frontend" {
  source     = "../modules/web-service"
  name       = "two-apps-frontend"
  source_dir = "${path.module}/app-a"
  port       = 8091
  env        = { ROLE = "frontend" }
}

module "backend" {
  source     = "../modules/web-service"
  name       = "two-apps-backend"
  source_dir = "${path.module}/app-b"
  port       = 8092
  env        = { ROLE = "backend" }
}

output "frontend_url" {
  value = module.frontend.url
}

output "backend_url" {
  value = module.backend.url
}
