//! Secrets that rotate and never leak: a changed write-only `secret_env` reaches the app on the next
//! apply — by itself on platforms that compare it with the running app (Docker: the container's
//! environment; Lambda: the function's), with `secret_env_version` elsewhere (exec) — and neither
//! the old nor the new value appears in the state, the plan (JSON) or Terraform's TRACE log. The
//! value comes from an ephemeral variable (Terraform >= 1.10), as write-only attributes are meant to
//! be fed: Terraform keeps even sensitive variables' values in saved plans.

use app_acceptance::docker::{docker, write_web_app};
use app_acceptance::{aws_json, for_each_terraform, lambda_workdir, moto, Run, Workdir};
use std::path::Path;
use std::process::Command;

/// `terraform args…` with `TF_LOG=TRACE` written to `log` (appended), and `TF_VAR_token`.
fn traced(wd: &Workdir, args: &[&str], token: &str, log: &Path) -> Run {
    let out = wd
        .command(args)
        .env("TF_LOG", "TRACE")
        .env("TF_LOG_PATH", log)
        .env("TF_VAR_token", token)
        .output()
        .unwrap_or_else(|e| panic!("terraform {args:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// Neither secret value in any file of the working directory (state, saved plans, TRACE logs,
/// plan JSON written there) nor in the given outputs.
fn assert_nowhere(wd: &Workdir, secrets: &[&str], outputs: &[&str]) {
    let mut checked = 0;
    for entry in std::fs::read_dir(&wd.dir).expect("workdir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            for secret in secrets {
                assert!(!text.contains(secret), "{} contains a secret value", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "state, plan and logs were checked ({checked} files)");
    for output in outputs {
        for secret in secrets {
            assert!(!output.contains(secret), "a command's output contains a secret value");
        }
    }
}

/// The environment of the container of generation `generation` of app `name`.
fn container_env(name: &str, generation: u64) -> String {
    docker(&["inspect", "--format", "{{json .Config.Env}}", &format!("{name}-g{generation}")])
}

#[test]
fn a_rotated_docker_secret_reaches_the_container_without_a_version() {
    for_each_terraform("secrets-docker", |wd| {
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let name = format!("acc-sec-{}-{version}", std::process::id());
        let (old, new) = (format!("old-{name}-d41d8cd9"), format!("new-{name}-8f00b204"));
        write_web_app(&wd.path("app"), "secrets\n");
        wd.write_main(&format!(
            r#"
variable "token" {{
  type      = string
  sensitive = true
  ephemeral = true
}}

resource "app_build" "web" {{
  name   = "{name}"
  source = "${{path.module}}/app"
  docker {{}}
}}

resource "app_deployment" "web" {{
  name       = "{name}"
  image      = app_build.web.image
  secret_env = {{ TOKEN = var.token }}
  docker {{
    ports = [8080]
    health_check {{
      http_path = "/healthz"
    }}
  }}
}}
"#
        ));
        let log = wd.path("trace.log");
        let applied = traced(wd, &["apply", "-auto-approve", "-no-color", "-input=false"], &old, &log);
        assert_eq!(applied.code, 0, "{}", applied.all());
        assert!(container_env(&name, 1).contains(&format!("TOKEN={old}")), "generation 1 sees the secret");
        let same = traced(wd, &["plan", "-detailed-exitcode", "-no-color", "-input=false"], &old, &log);
        assert_eq!(same.code, 0, "the same secret plans nothing:\n{}", same.all());

        // Only the secret changes: the plan finds it (comparing with the running container) and
        // deploys generation 2, which sees the new value.
        let plan = traced(wd, &["plan", "-detailed-exitcode", "-no-color", "-input=false", "-out=rotate.tfplan"], &new, &log);
        assert_eq!(plan.code, 2, "a rotated secret is a change:\n{}", plan.all());
        assert!(plan.stdout.contains("1 -> 2"), "{}", plan.stdout);
        assert!(plan.all().contains("TOKEN"), "the warning names the variable:\n{}", plan.all());
        let json = traced(wd, &["show", "-json", "rotate.tfplan"], &new, &log);
        std::fs::write(wd.path("plan.json"), &json.stdout).expect("plan json");
        let applied2 = traced(wd, &["apply", "-no-color", "-input=false", "rotate.tfplan"], &new, &log);
        assert_eq!(applied2.code, 0, "{}", applied2.all());
        let env2 = container_env(&name, 2);
        assert!(env2.contains(&format!("TOKEN={new}")) && !env2.contains(&old), "generation 2 sees the new secret");
        let after = traced(wd, &["plan", "-detailed-exitcode", "-no-color", "-input=false"], &new, &log);
        assert_eq!(after.code, 0, "{}", after.all());
        assert_nowhere(wd, &[&old, &new], &[&applied.all(), &same.all(), &plan.all(), &applied2.all(), &after.all()]);
        assert!(std::fs::metadata(&log).expect("trace log").len() > 10_000, "TRACE logging was on");
        let destroyed = traced(wd, &["destroy", "-auto-approve", "-no-color", "-input=false"], &new, &log);
        assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    });
}

#[test]
fn exec_rotates_with_secret_env_version() {
    for_each_terraform("secrets-exec", |wd| {
        let (old, new) = ("exec-old-6b86b273ff34", "exec-new-d4735e3a265e");
        let config = |v: u32| {
            format!(
                r#"
variable "token" {{
  type      = string
  sensitive = true
  ephemeral = true
}}

resource "app_deployment" "s" {{
  name               = "secret-exec"
  secret_env         = {{ TOKEN = var.token }}
  secret_env_version = {v}
  exec {{
    create  = ["sh", "-c", "printf %s \"$TOKEN\" | sha256sum > seen"]
    destroy = ["rm", "-f", "seen"]
  }}
}}
"#
            )
        };
        let digest = |text: &str| {
            let out = Command::new("sh").arg("-c").arg(format!("printf %s '{text}' | sha256sum")).output().expect("sha256sum");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let log = wd.path("trace.log");
        wd.write_main(&config(1));
        let applied = traced(wd, &["apply", "-auto-approve", "-no-color", "-input=false"], old, &log);
        assert_eq!(applied.code, 0, "{}", applied.all());
        assert_eq!(std::fs::read_to_string(wd.path("seen")).expect("seen"), digest(old));
        // exec cannot look at the secret it was given: a new value alone plans nothing…
        let unchanged = traced(wd, &["plan", "-detailed-exitcode", "-no-color", "-input=false"], new, &log);
        assert_eq!(unchanged.code, 0, "{}", unchanged.all());
        // …and the version rolls it.
        wd.write_main(&config(2));
        let rolled = traced(wd, &["apply", "-auto-approve", "-no-color", "-input=false"], new, &log);
        assert_eq!(rolled.code, 0, "{}", rolled.all());
        assert_eq!(std::fs::read_to_string(wd.path("seen")).expect("seen"), digest(new), "the command saw the new value");
        assert_nowhere(wd, &[old, new], &[&applied.all(), &unchanged.all(), &rolled.all()]);
        let destroyed = traced(wd, &["destroy", "-auto-approve", "-no-color", "-input=false"], new, &log);
        assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    });
}

#[test]
fn a_rotated_lambda_secret_reaches_the_function_without_a_version() {
    for_each_terraform("secrets-lambda", |outer| {
        let wd = &lambda_workdir(outer);
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let function = format!("acc-sec-fn-{}-{version}", std::process::id());
        let (old, new) = (format!("old-{function}-c4ca4238"), format!("new-{function}-c81e728d"));
        wd.write_main(&format!(
            r#"
variable "token" {{
  type      = string
  sensitive = true
  ephemeral = true
}}

provider "app" {{
  aws {{
    region       = "us-east-1"
    endpoint_url = "{endpoint}"
  }}
}}

resource "app_deployment" "fn" {{
  name       = "{function}"
  image      = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acc-secret@sha256:{digest}"
  env        = {{ GREETING = "hello" }}
  secret_env = {{ TOKEN = var.token }}
  aws_lambda {{}}
}}
"#,
            endpoint = moto(),
            digest = "ab".repeat(32)
        ));
        let variables = |wd: &Workdir| {
            aws_json(&format!("print(json.dumps(lam.get_function_configuration(FunctionName={function:?})['Environment']['Variables']))"))
                .as_object()
                .cloned()
                .unwrap_or_else(|| panic!("{} has no environment", wd.dir.display()))
        };
        let log = wd.path("trace.log");
        let applied = traced(wd, &["apply", "-auto-approve", "-no-color", "-input=false"], &old, &log);
        assert_eq!(applied.code, 0, "{}", applied.all());
        assert_eq!(variables(wd)["TOKEN"], old.as_str());
        let same = traced(wd, &["plan", "-detailed-exitcode", "-no-color", "-input=false"], &old, &log);
        assert_eq!(same.code, 0, "the same secret plans nothing:\n{}", same.all());
        let plan = traced(wd, &["plan", "-detailed-exitcode", "-no-color", "-input=false", "-out=rotate.tfplan"], &new, &log);
        assert_eq!(plan.code, 2, "a rotated secret is a change:\n{}", plan.all());
        let json = traced(wd, &["show", "-json", "rotate.tfplan"], &new, &log);
        std::fs::write(wd.path("plan.json"), &json.stdout).expect("plan json");
        let applied2 = traced(wd, &["apply", "-no-color", "-input=false", "rotate.tfplan"], &new, &log);
        assert_eq!(applied2.code, 0, "{}", applied2.all());
        let env = variables(wd);
        assert_eq!(env["TOKEN"], new.as_str(), "the function has the new secret");
        assert_eq!(env["GREETING"], "hello");
        let after = traced(wd, &["plan", "-detailed-exitcode", "-no-color", "-input=false"], &new, &log);
        assert_eq!(after.code, 0, "{}", after.all());
        assert_nowhere(wd, &[&old, &new], &[&applied.all(), &same.all(), &plan.all(), &applied2.all(), &after.all()]);
        let destroyed = traced(wd, &["destroy", "-auto-approve", "-no-color", "-input=false"], &new, &log);
        assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    });
}
