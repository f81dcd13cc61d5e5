//! The exec platform end to end: create, no-op plan, in-place update, drift, destroy,
//! unknown values, partial failure, timeouts.

use app_acceptance::for_each_terraform;

fn exec_config(env_value: &str) -> String {
    format!(
        r#"
resource "app_deployment" "web" {{
  name = "web"
  env  = {{ GREETING = "{env_value}" }}
  exec {{
    create  = ["sh", "-c", "echo \"$GREETING gen=$APP_GENERATION\" > marker; printf '{{\"url\":\"http://example.invalid/%s\"}}' \"$APP_NAME\""]
    destroy = ["sh", "-c", "rm -f marker; echo destroyed > destroyed"]
  }}
}}

output "url" {{ value = app_deployment.web.url }}
output "generation" {{ value = app_deployment.web.generation }}
"#
    )
}

#[test]
fn create_update_destroy() {
    for_each_terraform("lifecycle", |wd| {
        wd.write_main(&exec_config("hello"));
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "first plan proposes a create:\n{}", plan.all());
        assert!(plan.stdout.contains("generation = 1"), "generation is known at plan time:\n{}", plan.stdout);
        assert!(plan.stdout.contains("status     = (known after apply)"), "{}", plan.stdout);

        wd.apply();
        assert_eq!(std::fs::read_to_string(wd.path("marker")).unwrap_or_default(), "hello gen=1\n");
        let web = wd.resource("app_deployment.web").expect("deployment in state");
        assert_eq!(web["generation"], 1);
        assert_eq!(web["status"], "ready");
        assert_eq!(web["url"], "http://example.invalid/web", "url comes from the create command's JSON output");
        assert_eq!(web["exec"]["outputs"]["url"], "http://example.invalid/web");
        assert_eq!(web["id"], "web/1", "the ID names the generation");
        wd.assert_empty_plan("after create");

        // An env change is an in-place update: generation 2.
        wd.write_main(&exec_config("bonjour"));
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2);
        assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
        assert!(plan.stdout.contains("generation = 1 -> 2"), "{}", plan.stdout);
        assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
        wd.apply();
        assert_eq!(std::fs::read_to_string(wd.path("marker")).unwrap_or_default(), "bonjour gen=2\n");
        assert_eq!(wd.resource("app_deployment.web").expect("state")["generation"], 2);
        wd.assert_empty_plan("after update");

        wd.destroy();
        assert!(!wd.path("marker").exists(), "destroy ran the destroy command");
        assert!(wd.path("destroyed").exists());
        assert!(wd.state_list().is_empty(), "state is empty after destroy");
    });
}

#[test]
fn unknown_values_plan_as_known_after_apply() {
    for_each_terraform("unknowns", |wd| {
        wd.write_main(
            r#"
resource "terraform_data" "x" {
  input = "from-data"
}

resource "app_deployment" "u" {
  name = "unknowns"
  env = {
    P = "p-${terraform_data.x.id}"
    O = terraform_data.x.output
  }
  exec {
    create = ["sh", "-c", "echo \"$P $O\" > seen"]
  }
}
"#,
        );
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2);
        assert!(
            plan.stdout.contains("\"O\" = (known after apply)") || plan.stdout.contains("env        = (known after apply)"),
            "{}",
            plan.stdout
        );
        wd.apply();
        let seen = std::fs::read_to_string(wd.path("seen")).unwrap_or_default();
        assert!(seen.starts_with("p-") && seen.trim_end().ends_with(" from-data"), "command saw the applied values: {seen:?}");
        wd.assert_empty_plan("after apply with unknowns");
        wd.destroy();
    });
}

#[test]
fn failed_create_reports_stderr_and_is_retried() {
    for_each_terraform("failure", |wd| {
        let config = |cmd: &str| {
            format!(
                r#"
resource "app_deployment" "f" {{
  name = "failing"
  exec {{
    create  = ["sh", "-c", "{cmd}"]
    destroy = ["sh", "-c", "echo cleaned >> cleanup"]
  }}
}}
"#
            )
        };
        wd.write_main(&config("echo working; echo 'disk quota exceeded' >&2; exit 3"));
        let run = wd.run(&["apply", "-auto-approve", "-no-color"]);
        assert_ne!(run.code, 0, "apply must fail");
        assert!(run.stderr.contains("disk quota exceeded"), "stderr tail in the diagnostic:\n{}", run.stderr);
        assert!(run.stderr.contains("status 3"), "exit status in the diagnostic:\n{}", run.stderr);
        let f = wd.resource("app_deployment.f").expect("the failed deployment is recorded");
        assert_eq!(f["status"], "failed");
        // The next plan replaces the tainted deployment (its destroy command runs first).
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2);
        assert!(plan.stdout.contains("tainted") || plan.stdout.contains("must be replaced"), "{}", plan.stdout);

        wd.write_main(&config("echo fixed > fixed"));
        wd.apply();
        assert!(wd.path("fixed").exists());
        assert!(wd.path("cleanup").exists(), "the tainted deployment was destroyed first");
        wd.assert_empty_plan("after the fix");
        wd.destroy();
    });
}

#[test]
fn drift_is_read_and_repaired() {
    for_each_terraform("drift", |wd| {
        wd.write_main(
            r#"
resource "app_deployment" "d" {
  name = "drifty"
  exec {
    create  = ["sh", "-c", "echo '{\"version\":\"1\"}' > live.json"]
    read    = ["sh", "-c", "if [ -f live.json ]; then cat live.json; fi"]
    destroy = ["rm", "-f", "live.json"]
  }
}
"#,
        );
        wd.apply();
        wd.assert_empty_plan("after create");

        std::fs::write(wd.path("live.json"), "{\"version\":\"2\"}\n").expect("edit out of band");
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "changed out of band:\n{}", plan.all());
        assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
        wd.apply();
        assert_eq!(std::fs::read_to_string(wd.path("live.json")).unwrap_or_default().trim(), "{\"version\":\"1\"}");
        wd.assert_empty_plan("after repair");

        std::fs::remove_file(wd.path("live.json")).expect("delete out of band");
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2);
        assert!(plan.stdout.contains("will be created"), "gone → created again:\n{}", plan.stdout);
        wd.apply();
        assert!(wd.path("live.json").exists());
        wd.destroy();
    });
}

#[test]
fn timeout_stops_a_slow_command() {
    for_each_terraform("timeout", |wd| {
        wd.write_main(
            r#"
resource "app_deployment" "slow" {
  name = "slow"
  exec {
    create = ["sleep", "30"]
  }
  timeouts {
    create = "1s"
  }
}
"#,
        );
        let start = std::time::Instant::now();
        let run = wd.run(&["apply", "-auto-approve", "-no-color"]);
        assert_ne!(run.code, 0);
        assert!(start.elapsed() < std::time::Duration::from_secs(15), "the timeout stopped the command");
        assert!(run.stderr.to_lowercase().contains("timed out"), "{}", run.stderr);
    });
}

#[test]
fn large_values_round_trip() {
    for_each_terraform("large", |wd| {
        // A 10 MiB string (beyond gRPC's 4 MiB default) and a 5,000-element list. Terraform itself
        // needs minutes to plan a 50,000-element list (1.11: >20 GB, also with terraform_data).
        let count = 5_000;
        let list: Vec<&str> = std::iter::repeat_n("a", count).collect();
        wd.write("list.json", &serde_json::to_string(&list).unwrap_or_default());
        wd.write_main(
            r#"
resource "app_deployment" "big" {
  name   = "big"
  labels = { blob = format("%10485760s", "x") }
  exec {
    create = concat(["true"], jsondecode(file("list.json")))
  }
}
"#,
        );
        wd.apply();
        let big = wd.resource("app_deployment.big").expect("state");
        assert_eq!(big["labels"]["blob"].as_str().map(str::len), Some(10 * 1024 * 1024));
        assert_eq!(big["exec"]["create"].as_array().map(Vec::len), Some(count + 1));
        wd.assert_empty_plan("after a large apply");
        wd.destroy();
    });
}

#[test]
fn job_output_shows_in_terraform_log() {
    for_each_terraform("joblog", |wd| {
        wd.write_main(
            r#"
resource "app_deployment" "l" {
  name = "logged"
  secret_env = { TOKEN = "s3cr3t-value" }
  exec {
    create = ["sh", "-c", "echo line-from-the-command; echo token=$TOKEN"]
  }
}
"#,
        );
        let output = wd.command(&["apply", "-auto-approve", "-no-color"]).env("TF_LOG", "INFO").output().expect("run terraform");
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{log}");
        assert!(log.contains("line-from-the-command"), "job output reaches Terraform's log");
        assert!(!log.contains("failed to exit gracefully"), "the provider exits when Terraform asks");
        assert!(log.contains("token=***"), "secret values are masked in the log");
        assert!(!log.contains("s3cr3t-value"), "the secret never appears in the log");
        let state = std::fs::read_to_string(wd.path("terraform.tfstate")).unwrap_or_default();
        assert!(!state.contains("s3cr3t-value"), "the write-only secret is not in the state");
        wd.destroy();
    });
}

#[test]
fn provider_runner_settings() {
    for_each_terraform("runnerenv", |wd| {
        let config = |extra: &str| {
            format!(
                r#"
provider "app" {{
  runner_env = {{ PROFILE_PROXY = "http://proxy.invalid:3128" }}
  {extra}
}}

resource "app_deployment" "p" {{
  name = "profiled"
  exec {{
    create = ["sh", "-c", "echo $PROFILE_PROXY > proxy"]
  }}
}}
"#
            )
        };
        wd.write_main(&config("runner_path = \"/nonexistent/app-runner\""));
        let run = wd.run(&["apply", "-auto-approve", "-no-color"]);
        assert_ne!(run.code, 0);
        assert!(
            run.stderr.contains("/nonexistent/app-runner") && run.stderr.contains("runner_path"),
            "names what was tried:\n{}",
            run.stderr
        );
        assert!(wd.state_list().is_empty(), "nothing recorded when the runner cannot start");

        wd.write_main(&config(""));
        wd.apply();
        assert_eq!(
            std::fs::read_to_string(wd.path("proxy")).unwrap_or_default().trim(),
            "http://proxy.invalid:3128",
            "runner_env reaches commands"
        );
        wd.destroy();
    });
}

#[test]
fn failed_destroy_keeps_the_state() {
    for_each_terraform("faildestroy", |wd| {
        let config = |destroy: &str| {
            format!("resource \"app_deployment\" \"k\" {{\n  name = \"kept\"\n  exec {{\n    create  = [\"true\"]\n    destroy = [\"sh\", \"-c\", \"{destroy}\"]\n  }}\n}}\n")
        };
        wd.write_main(&config("echo cannot remove >&2; exit 1"));
        wd.apply();
        let run = wd.run(&["destroy", "-auto-approve", "-no-color"]);
        assert_ne!(run.code, 0);
        assert!(run.stderr.contains("cannot remove"), "{}", run.stderr);
        assert_eq!(wd.state_list(), vec!["app_deployment.k".to_string()], "a failed destroy keeps the resource");
        wd.write_main(&config("echo removed > removed"));
        wd.apply();
        wd.destroy();
        assert!(wd.path("removed").exists());
        assert!(wd.state_list().is_empty());
    });
}
