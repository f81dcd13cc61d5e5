//! `app_build` with the docker and docker_pull builders against the real engine and the test
//! registries that scripts/test.sh starts (`APP_TEST_REGISTRY*`, `DOCKER_HOST`).

use app_acceptance::docker::{docker, env};
use app_acceptance::{for_each_terraform, Workdir};
use std::path::Path;
use std::process::Command;

/// A name unique to this test run and Terraform binary.
fn unique(wd: &Workdir, prefix: &str) -> String {
    let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
    format!("{prefix}-{}-{version}", std::process::id())
}

/// `repo:tag` names in the engine whose repository contains `needle`.
fn local_tags(needle: &str) -> Vec<String> {
    docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

/// Removes every local image whose repository contains `needle` (a "fresh CI machine").
fn remove_local_images(needle: &str) {
    for tag in local_tags(needle) {
        docker(&["rmi", "-f", &tag]);
    }
}

/// The registry's `Docker-Content-Digest` for `repo:tag` (`registry/path`), or None on 404.
fn registry_digest(registry: &str, path: &str, tag: &str, user: Option<(&str, &str)>) -> Option<String> {
    let url = format!("http://{registry}/v2/{path}/manifests/{tag}");
    let mut c = Command::new("curl");
    c.args(["-sI", "--max-time", "10"]);
    for accept in [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ] {
        c.args(["-H", &format!("Accept: {accept}")]);
    }
    if let Some((u, p)) = user {
        c.args(["-u", &format!("{u}:{p}")]);
    }
    let out = c.arg(&url).output().expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    head.lines().find_map(|l| {
        l.to_ascii_lowercase().starts_with("docker-content-digest:").then(|| l.split_once(':').map(|x| x.1.trim().to_string())).flatten()
    })
}

/// A `FROM scratch` app: busybox, a page, and a file `.dockerignore` leaves out.
fn write_app(dir: &Path, page: &str, extra_dockerfile: &str) {
    std::fs::create_dir_all(dir.join("site")).expect("mkdir app");
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("busybox-static is installed (scripts/test.sh installs it)");
    std::fs::write(dir.join("site/index.html"), page).expect("write page");
    std::fs::write(dir.join("NOTES.md"), "not part of the image\n").expect("write notes");
    std::fs::write(dir.join(".dockerignore"), "NOTES.md\n").expect("write .dockerignore");
    std::fs::write(dir.join("Dockerfile"), format!("FROM scratch\nCOPY busybox /bin/busybox\nCOPY site/ /site/\n{extra_dockerfile}"))
        .expect("write Dockerfile");
}

fn registry_config(repo: &str) -> String {
    format!(
        r#"
resource "app_build" "web" {{
  source = "${{path.module}}/app"
  docker {{}}
  registry {{
    image = "{repo}"
  }}
}}

output "image"  {{ value = app_build.web.image }}
output "digest" {{ value = app_build.web.digest }}
output "tag"    {{ value = app_build.web.tag }}
"#
    )
}

fn output(wd: &Workdir, name: &str) -> String {
    wd.ok(&["output", "-raw", name]).stdout.trim().to_string()
}

#[test]
fn build_push_detect_changes_adopt_import_destroy() {
    let registry = env("APP_TEST_REGISTRY");
    for_each_terraform("docker-build", |wd| {
        let name = unique(wd, "acc-web");
        let repo = format!("{registry}/{name}");
        write_app(&wd.path("app"), "<h1>v1</h1>\n", "");
        wd.write_main(&registry_config(&repo));

        // Build + push: the image is the registry's digest for the tag.
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "{}", plan.all());
        // On create nothing was refreshed: the hash is taken by the apply (see the next test for why).
        assert!(plan.stdout.contains("source_hash = (known after apply)"), "{}", plan.stdout);
        wd.apply();
        let (image, digest, tag) = (output(wd, "image"), output(wd, "digest"), output(wd, "tag"));
        assert_eq!(registry_digest(&registry, &name, &tag, None).as_deref(), Some(digest.as_str()), "the registry has the digest");
        assert_eq!(image, format!("{repo}@{digest}"));
        assert_eq!(wd.resource("app_build.web").expect("state")["name"], name, "name defaults to the repository's");
        wd.assert_empty_plan("after build and push");

        // A file .dockerignore leaves out changes nothing.
        std::fs::write(wd.path("app/NOTES.md"), "edited\n").expect("edit notes");
        wd.assert_empty_plan("after editing an ignored file");

        // One changed file: plan shows the update and names the file.
        std::fs::write(wd.path("app/site/index.html"), "<h1>v2</h1>\n").expect("edit page");
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "{}", plan.all());
        assert!(plan.stdout.contains("source_hash") && plan.stdout.contains("image"), "{}", plan.stdout);
        assert!(
            plan.stdout.contains("source_hash = \"sha256:") && plan.stdout.contains("-> \"sha256:"),
            "the new hash is known at plan time:\n{}",
            plan.stdout
        );
        assert!(plan.all().contains("site/index.html"), "the warning names the changed file:\n{}", plan.all());
        assert!(!plan.all().contains("NOTES.md"), "{}", plan.all());
        wd.apply();
        let digest2 = output(wd, "digest");
        assert_ne!(digest2, digest);
        assert_eq!(registry_digest(&registry, &name, &output(wd, "tag"), None).as_deref(), Some(digest2.as_str()));
        wd.assert_empty_plan("after the second build");

        // A fresh engine: plan stays empty (identity is in the registry, not the engine).
        remove_local_images(&name);
        wd.assert_empty_plan("with no local images");

        // A fresh machine with empty state: the registry's image is adopted, nothing is built.
        let fresh = Workdir::new(&wd.terraform, "docker-build-fresh");
        write_app(&fresh.path("app"), "<h1>v2</h1>\n", "");
        fresh.write_main(&registry_config(&repo));
        let applied = fresh.apply();
        assert_eq!(output(&fresh, "digest"), digest2, "adopted the pushed image:\n{}", applied.all());
        assert!(local_tags(&name).is_empty(), "nothing was built or pulled: {:?}", local_tags(&name));
        fresh.assert_empty_plan("after adopting");

        // Import by digest restores the configuration from the image: empty plan.
        let imported = Workdir::new(&wd.terraform, "docker-build-import");
        write_app(&imported.path("app"), "<h1>v2</h1>\n", "");
        imported.write_main(&registry_config(&repo));
        imported.ok(&["import", "-no-color", "-input=false", "app_build.web", &format!("{repo}@{digest2}")]);
        imported.assert_empty_plan("after import by digest");

        // docker_pull of the pushed tag resolves the same digest.
        let pull = Workdir::new(&wd.terraform, "docker-pull");
        pull.write_main(&format!(
            "resource \"app_build\" \"base\" {{\n  docker_pull {{ image = \"{repo}:{}\" }}\n}}\noutput \"image\" {{ value = app_build.base.image }}\n",
            output(wd, "tag")
        ));
        pull.apply();
        assert_eq!(output(&pull, "image"), format!("{repo}@{digest2}"));
        pull.assert_empty_plan("after docker_pull");
        pull.destroy();

        // Destroy removes the local tags it created; the registry keeps the manifest.
        let tag2 = output(wd, "tag");
        fresh.destroy();
        imported.ok(&["state", "rm", "app_build.web"]);
        wd.destroy();
        assert!(local_tags(&name).is_empty(), "destroy left tags: {:?}", local_tags(&name));
        assert_eq!(registry_digest(&registry, &name, &tag2, None).as_deref(), Some(digest2.as_str()), "the manifest is kept");
        assert!(wd.state_list().is_empty());
    });
}

#[test]
fn registry_auth_wrong_then_right_password() {
    let registry = env("APP_TEST_REGISTRY_AUTH");
    let (user, password) = (env("APP_TEST_REGISTRY_USER"), env("APP_TEST_REGISTRY_PASSWORD"));
    for_each_terraform("docker-auth", |wd| {
        let name = unique(wd, "acc-auth");
        write_app(&wd.path("app"), "<h1>auth</h1>\n", "");
        wd.write_main(&format!(
            r#"
variable "password" {{
  type      = string
  sensitive = true
}}

resource "app_build" "web" {{
  source = "${{path.module}}/app"
  docker {{}}
  registry {{
    image = "{registry}/{name}"
    auth {{
      username = "{user}"
      password = var.password
    }}
  }}
}}

output "digest" {{ value = app_build.web.digest }}
output "tag"    {{ value = app_build.web.tag }}
"#
        ));
        let wrong = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false", "-var", "password=not-the-password"]);
        assert_ne!(wrong.code, 0, "a wrong password fails the apply");
        let all = wrong.all();
        assert!(all.contains("401") || all.to_lowercase().contains("authentication"), "a clear 401 diagnostic:\n{all}");
        assert!(all.contains(&registry), "names the registry:\n{all}");
        assert!(!all.contains("not-the-password"), "the password never appears:\n{all}");
        assert!(wd.state_list().is_empty(), "nothing half-recorded: {:?}", wd.state_list());

        let right = &format!("password={password}");
        wd.ok(&["apply", "-auto-approve", "-no-color", "-input=false", "-var", right]);
        let digest = output(wd, "digest");
        assert_eq!(registry_digest(&registry, &name, &output(wd, "tag"), Some((&user, &password))).as_deref(), Some(digest.as_str()));
        let state = std::fs::read_to_string(wd.path("terraform.tfstate")).expect("state file");
        assert!(!state.contains(&password), "the write-only password is not in state");
        let (code, plan) = wd.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false", "-var", right]).into_code();
        assert_eq!(code, 0, "empty plan after the push:\n{plan}");
        wd.ok(&["destroy", "-auto-approve", "-no-color", "-input=false", "-var", right]);
        assert!(local_tags(&name).is_empty());
    });
}

/// `terraform args…` with extra environment; fails the test on a non-zero exit.
fn ok_with(wd: &Workdir, envs: &[(&str, String)], args: &[&str]) -> String {
    let out = wd.command(args).envs(envs.iter().map(|(k, v)| (*k, v.as_str()))).output().expect("run terraform");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "terraform {args:?} failed:\n{text}");
    text
}

#[test]
fn credentials_from_a_docker_credential_helper() {
    use std::os::unix::fs::PermissionsExt;
    let registry = env("APP_TEST_REGISTRY_AUTH");
    let (user, password) = (env("APP_TEST_REGISTRY_USER"), env("APP_TEST_REGISTRY_PASSWORD"));
    for_each_terraform("docker-cred-helper", |wd| {
        let name = unique(wd, "acc-helper");
        write_app(&wd.path("app"), "<h1>helper</h1>\n", "");
        // A Docker config that names a credential helper for the registry (as `docker login`
        // with a keychain leaves it), and the helper: it logs each call and answers for that registry.
        let (config_dir, bin) = (wd.path("docker-config"), wd.path("bin"));
        std::fs::create_dir_all(&config_dir).expect("mkdir");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::fs::write(
            config_dir.join("config.json"),
            format!(r#"{{"auths": {{"{registry}": {{}}}}, "credHelpers": {{"{registry}": "apptest"}}}}"#),
        )
        .expect("config.json");
        let calls = wd.path("helper-calls");
        let helper = bin.join("docker-credential-apptest");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\nread server\necho \"$1 $server\" >> '{}'\n[ \"$server\" = '{registry}' ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"{registry}\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}'\n",
                calls.display()
            ),
        )
        .expect("helper");
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let envs = [("DOCKER_CONFIG", config_dir.display().to_string()), ("PATH", path)];
        wd.write_main(&format!(
            r#"
resource "app_build" "web" {{
  source = "${{path.module}}/app"
  docker {{}}
  registry {{
    image = "{registry}/{name}"
  }}
}}

output "digest" {{ value = app_build.web.digest }}
output "tag"    {{ value = app_build.web.tag }}
"#
        ));
        let applied = ok_with(wd, &envs, &["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert!(!applied.contains(&password), "the helper's secret never appears");
        let digest = output(wd, "digest");
        assert_eq!(registry_digest(&registry, &name, &output(wd, "tag"), Some((&user, &password))).as_deref(), Some(digest.as_str()));
        let logged = std::fs::read_to_string(&calls).unwrap_or_default();
        assert!(logged.lines().any(|l| l == format!("get {registry}")), "the helper was asked for {registry}: {logged:?}");
        // Refresh reads the registry with the helper's credentials too: an empty plan.
        let plan = wd
            .command(&["plan", "-detailed-exitcode", "-no-color", "-input=false"])
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("plan");
        assert_eq!(
            plan.status.code(),
            Some(0),
            "empty plan:\n{}{}",
            String::from_utf8_lossy(&plan.stdout),
            String::from_utf8_lossy(&plan.stderr)
        );
        let state = std::fs::read_to_string(wd.path("terraform.tfstate")).expect("state file");
        assert!(!state.contains(&password), "the helper's secret is not in state");
        ok_with(wd, &envs, &["destroy", "-auto-approve", "-no-color", "-input=false"]);
        assert!(local_tags(&name).is_empty());
    });
}

trait IntoCode {
    fn into_code(self) -> (i32, String);
}

impl IntoCode for app_acceptance::Run {
    fn into_code(self) -> (i32, String) {
        let all = self.all();
        (self.code, all)
    }
}

#[test]
fn local_build_errors_at_plan_and_apply() {
    for_each_terraform("docker-errors", |wd| {
        let name = unique(wd, "acc-local");
        write_app(&wd.path("app"), "<h1>local</h1>\n", "");
        let config = |dockerfile: &str| {
            format!(
                "resource \"app_build\" \"web\" {{\n  name   = \"{name}\"\n  source = \"${{path.module}}/app\"\n  docker {{ dockerfile = \"{dockerfile}\" }}\n}}\noutput \"image\" {{ value = app_build.web.image }}\n"
            )
        };
        // Missing Dockerfile: an error at plan time naming the path.
        wd.write_main(&config("build/Missing.Dockerfile"));
        let plan = wd.run(&["plan", "-no-color", "-input=false"]);
        assert_ne!(plan.code, 0);
        assert!(plan.all().contains("Dockerfile not found") && plan.all().contains("build/Missing.Dockerfile"), "{}", plan.all());

        // A local build: image is the engine's image ID.
        wd.write_main(&config("Dockerfile"));
        wd.apply();
        let image = output(wd, "image");
        assert!(image.starts_with("sha256:"), "{image}");
        assert_eq!(docker(&["image", "inspect", "--format", "{{.Id}}", &image]).trim(), image);
        wd.assert_empty_plan("after a local build");

        // A failing RUN step: the apply fails with the step and the output tail; state keeps the old image.
        write_app(&wd.path("app"), "<h1>local</h1>\n", "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo boom-output; exit 3\"]\n");
        let failed = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(failed.code, 0);
        assert!(failed.all().contains("RUN") && failed.all().contains("boom-output"), "step and output tail:\n{}", failed.all());
        assert_eq!(wd.resource("app_build.web").expect("still in state")["image"], image, "state unchanged");

        // Deleted out of band: the plan builds it again.
        write_app(&wd.path("app"), "<h1>local</h1>\n", "");
        remove_local_images(&name);
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "a deleted image is planned again:\n{}", plan.all());
        wd.apply();
        wd.destroy();
        assert!(local_tags(&name).is_empty(), "{:?}", local_tags(&name));
    });
}

/// `ecr = true`: credentials come from ECR's GetAuthorizationToken (moto). The registry on
/// APP_TEST_REGISTRY_ECR only accepts the user and password moto hands out, so a push that
/// succeeds proves they were used.
#[test]
fn ecr_credentials_from_the_aws_api() {
    let registry = env("APP_TEST_REGISTRY_ECR");
    let moto = env("APP_TEST_MOTO_ENDPOINT");
    for_each_terraform("docker-ecr", |wd| {
        let mut wd_env = Workdir::new(&wd.terraform, "docker-ecr-env");
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret-key"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", moto.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ] {
            wd_env.env.insert(k.to_string(), v.to_string());
        }
        let wd = &wd_env;
        let name = unique(wd, "acc-ecr");
        write_app(&wd.path("app"), "<h1>ecr</h1>\n", "");
        let config = |ecr: bool| {
            format!(
                "resource \"app_build\" \"web\" {{\n  source = \"${{path.module}}/app\"\n  docker {{}}\n  registry {{\n    image = \"{registry}/{name}\"\n    ecr   = {ecr}\n  }}\n}}\noutput \"digest\" {{ value = app_build.web.digest }}\noutput \"tag\" {{ value = app_build.web.tag }}\n"
            )
        };
        // Without ECR credentials the registry refuses (anonymous).
        wd.write_main(&config(false));
        let refused = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(refused.code, 0, "the registry needs the ECR credentials:\n{}", refused.all());
        assert!(refused.all().contains("401"), "{}", refused.all());

        wd.write_main(&config(true));
        let applied = wd.apply();
        assert!(!applied.all().contains("123456789012-auth-token"), "the token never appears");
        let digest = output(wd, "digest");
        let pushed = registry_digest(&registry, &name, &output(wd, "tag"), Some(("AWS", "123456789012-auth-token")));
        assert_eq!(pushed.as_deref(), Some(digest.as_str()), "pushed with the credentials moto issued");
        wd.assert_empty_plan("after an ECR push (refresh uses ECR credentials too)");
        wd.destroy();
        assert!(local_tags(&name).is_empty());
    });
}

/// An engine that does not answer: one diagnostic naming the address tried and how to set it.
#[test]
fn unreachable_engine_names_the_address() {
    for_each_terraform("docker-unreachable", |wd| {
        write_app(&wd.path("app"), "<h1>x</h1>\n", "");
        wd.write_main(
            "provider \"app\" {\n  docker { host = \"unix:///nonexistent/docker.sock\" }\n}\nresource \"app_build\" \"web\" {\n  name   = \"unreachable\"\n  source = \"${path.module}/app\"\n  docker {}\n}\n",
        );
        let run = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(run.code, 0);
        let all = run.all();
        assert!(all.contains("unix:///nonexistent/docker.sock"), "names the address:\n{all}");
        assert!(all.contains("DOCKER_HOST") && all.contains("docker {"), "says how to set it:\n{all}");
        assert!(wd.state_list().is_empty());
    });
}

/// `terraform plan -out`, then a file of the source changes, then `terraform apply` of that plan:
/// the apply fails with the provider's own diagnostic (both hashes, the changed file, plan again) —
/// not Terraform's "Provider produced inconsistent final plan … bug in the provider" — and builds
/// nothing; the next plan shows the change.
#[test]
fn a_stale_saved_plan_fails_with_the_providers_diagnostic() {
    let registry = env("APP_TEST_REGISTRY");
    for_each_terraform("docker-stale-plan", |wd| {
        let name = unique(wd, "acc-stale");
        write_app(&wd.path("app"), "<h1>v1</h1>\n", "");
        wd.write_main(&registry_config(&format!("{registry}/{name}")));
        wd.apply();
        let digest = output(wd, "digest");

        std::fs::write(wd.path("app/site/index.html"), "<h1>v2</h1>\n").expect("edit page");
        let plan = wd.ok(&["plan", "-no-color", "-input=false", "-out=stale.tfplan"]);
        assert!(plan.stdout.contains("-> \"sha256:"), "{}", plan.stdout);
        std::fs::write(wd.path("app/site/index.html"), "<h1>v3, after the plan</h1>\n").expect("edit page again");
        let apply = wd.run(&["apply", "-no-color", "-input=false", "stale.tfplan"]);
        assert_ne!(apply.code, 0, "{}", apply.all());
        let text = apply.all();
        assert!(text.contains("The source changed since the plan"), "{text}");
        assert!(text.contains("site/index.html"), "names the changed file: {text}");
        assert!(text.contains("terraform plan"), "says to plan again: {text}");
        assert!(!text.contains("inconsistent final plan") && !text.contains("bug in the provider"), "{text}");
        assert_eq!(output(wd, "digest"), digest, "nothing was built");

        // A saved plan of an unchanged tree applies, and the next plan is empty.
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "the change is still to do: {}", plan.all());
        wd.ok(&["plan", "-no-color", "-input=false", "-out=fresh.tfplan"]);
        wd.ok(&["apply", "-no-color", "-input=false", "fresh.tfplan"]);
        assert_ne!(output(wd, "digest"), digest);
        wd.assert_empty_plan("after applying a fresh saved plan");
        wd.destroy();
    });
}

/// Build-argument values never reach the image's labels (anyone who can pull the image reads
/// them); an import by digest still plans nothing when the configuration has the same values.
#[test]
fn build_argument_values_stay_out_of_image_labels() {
    let registry = env("APP_TEST_REGISTRY");
    for_each_terraform("docker-build-args", |wd| {
        let name = unique(wd, "acc-args");
        let repo = format!("{registry}/{name}");
        write_app(&wd.path("app"), "<h1>args</h1>\n", "ARG RELEASE_TOKEN\nARG VERSION\nLABEL built-with=args\n");
        let config = format!(
            r#"
resource "app_build" "web" {{
  source = "${{path.module}}/app"
  docker {{
    build_args = {{ VERSION = "1.2.3", RELEASE_TOKEN = "tok-8f3a9c1e-secret" }}
  }}
  registry {{
    image = "{repo}"
  }}
}}

output "image"  {{ value = app_build.web.image }}
output "digest" {{ value = app_build.web.digest }}
output "tag"    {{ value = app_build.web.tag }}
"#
        );
        wd.write_main(&config);
        wd.apply();
        let image = output(wd, "image");
        // What anyone who pulls the image sees.
        docker(&["pull", "-q", &image]);
        let labels = docker(&["image", "inspect", "--format", "{{json .Config.Labels}}", &image]);
        docker(&["rmi", "-f", &image]);
        assert!(labels.contains("dev.terraform-provider-app.build-config"), "{labels}");
        assert!(labels.contains("RELEASE_TOKEN") && labels.contains("VERSION"), "names are kept: {labels}");
        assert!(!labels.contains("tok-8f3a9c1e-secret") && !labels.contains("1.2.3"), "no build-argument value in the labels: {labels}");

        // Import by digest into a fresh directory with the same configuration: nothing to do.
        let imported = Workdir::new(&wd.terraform, "docker-build-args-import");
        std::fs::create_dir_all(imported.path("app")).expect("mkdir");
        write_app(&imported.path("app"), "<h1>args</h1>\n", "ARG RELEASE_TOKEN\nARG VERSION\nLABEL built-with=args\n");
        imported.write_main(&config);
        imported.ok(&["import", "-no-color", "-input=false", "app_build.web", &image]);
        imported.assert_empty_plan("after importing with the same build arguments");
        let state = std::fs::read_to_string(imported.path("terraform.tfstate")).expect("state");
        assert!(!state.contains("tok-8f3a9c1e-secret"), "the imported state holds no value either");

        // Another value is a change.
        imported.write_main(&config.replace("1.2.3", "1.2.4"));
        let (code, plan) = imported.plan_code();
        assert_eq!(code, 2, "{}", plan.all());
        imported.ok(&["state", "rm", "app_build.web"]);
        wd.destroy();
    });
}

/// The runner's private directory (its socket and the uploaded build contexts) is gone after
/// every apply: one that ends normally, one whose upload the runner refuses (over the limit set
/// through `runner_env`), and one whose runner is killed with SIGKILL mid-apply (the provider
/// removes what the runner could not).
#[test]
fn runner_files_are_removed_however_the_runner_ends() {
    for_each_terraform("runner-files", |wd| {
        let mut own = Workdir::new(&wd.terraform, "runner-files-tmp");
        let tmp = own.path("tmp");
        std::fs::create_dir_all(&tmp).expect("mkdir tmp");
        // Terraform, the provider and the runner get their own TMPDIR, which must end up empty.
        own.env.insert("TMPDIR".into(), tmp.display().to_string());
        let wd = &own;
        let leftovers = || -> Vec<String> {
            std::fs::read_dir(&tmp).expect("read tmp").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
        };
        let name = unique(wd, "acc-files");
        let build =
            format!("resource \"app_build\" \"web\" {{\n  name   = \"{name}\"\n  source = \"${{path.module}}/app\"\n  docker {{}}\n}}\n");

        write_app(&wd.path("app"), "<h1>one</h1>\n", "");
        wd.write_main(&build);
        wd.apply();
        assert_eq!(leftovers(), Vec::<String>::new(), "after a normal apply");

        write_app(&wd.path("app"), "<h1>two</h1>\n", "");
        wd.write_main(&format!("provider \"app\" {{\n  runner_env = {{ APP_RUNNER_MAX_SOURCE_BYTES = \"1K\" }}\n}}\n{build}"));
        let refused = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(refused.code, 0, "{}", refused.all());
        let all = refused.all().split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(all.contains("larger than this runner's limit of 1 KiB"), "{all}");
        assert!(all.contains("APP_RUNNER_MAX_SOURCE_BYTES") && all.contains("runner_env"), "says how to raise it: {all}");
        assert_eq!(leftovers(), Vec::<String>::new(), "after a refused upload");

        // The build uploads the changed context, then the deployment's create command kills the
        // runner (its parent) with SIGKILL while that upload is still stored.
        let killer = "resource \"app_deployment\" \"killer\" {\n  name       = \"killer\"\n  depends_on = [app_build.web]\n  exec {\n    create = [\"sh\", \"-c\", \"kill -9 $PPID; sleep 5\"]\n  }\n}\n";
        wd.write_main(&format!("{build}{killer}"));
        let killed = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(killed.code, 0, "{}", killed.all());
        assert!(killed.all().contains("killer"), "{}", killed.all());
        assert_eq!(leftovers(), Vec::<String>::new(), "after the runner was killed");

        wd.write_main(&build);
        wd.destroy();
        assert!(local_tags(&name).is_empty(), "{:?}", local_tags(&name));
    });
}
