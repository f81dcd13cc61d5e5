//! The Docker platform and releaser end to end: build → deployment generations → a stable
//! release URL, zero failed requests across a switch, failed health gates, rollback, drift and
//! destroy, against the real engine (`DOCKER_HOST`, started by scripts/test.sh).

use app_acceptance::docker::{body, docker, get, leftovers, write_web_app, Load};
use app_acceptance::{for_each_terraform, Workdir};
use std::path::Path;
use std::time::{Duration, Instant};

/// A host port for this test run and Terraform binary.
fn port_for(wd: &Workdir, offset: u16) -> u16 {
    let version: u32 = wd.version().bytes().map(u32::from).sum();
    // Tests of this file run in parallel in one process: each takes its own offsets (below 8).
    20000 + ((std::process::id() % 1000) as u16) * 16 + ((version % 2) as u16) * 8 + offset
}

fn config(name: &str, port: u16, health_path: &str, pin: Option<u64>) -> String {
    let pin = pin.map(|g| format!("  generation = {g}\n")).unwrap_or_default();
    format!(
        r#"
resource "app_build" "web" {{
  name   = "{name}"
  source = "${{path.module}}/app"
  docker {{}}
}}

resource "app_deployment" "web" {{
  name  = "{name}"
  image = app_build.web.image
  docker {{
    ports = [8080]
    health_check {{
      http_path    = "{health_path}"
      start_period = "5s"
    }}
  }}
}}

resource "app_release" "web" {{
  deployment = app_deployment.web.id
{pin}  docker {{
    port = {port}
  }}
}}

output "url"        {{ value = app_release.web.url }}
output "generation" {{ value = app_release.web.released_generation }}
output "own_url"    {{ value = app_deployment.web.url }}
"#
    )
}

fn output(wd: &Workdir, name: &str) -> String {
    wd.ok(&["output", "-raw", name]).stdout.trim().to_string()
}

#[test]
fn generations_release_switch_health_gate_rollback_drift_destroy() {
    for_each_terraform("docker-deploy", |wd| {
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let name = format!("acc-dep-{}-{version}", std::process::id());
        let port = port_for(wd, 0);
        write_web_app(&wd.path("app"), "generation one\n");
        wd.write_main(&config(&name, port, "/healthz", None));
        wd.apply();
        let url = output(wd, "url");
        assert_eq!(url, format!("http://127.0.0.1:{port}"));
        assert_eq!(body(&url), "generation one\n");
        assert_eq!(body(&output(wd, "own_url")), "generation one\n", "the generation's own URL answers too");
        wd.assert_empty_plan("after the first apply");

        // A source change: build, deployment (generation 2) and release all move; no request fails.
        write_web_app(&wd.path("app"), "generation two\n");
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "{}", plan.all());
        assert!(plan.stdout.contains("generation") && plan.stdout.contains("1 -> 2"), "{}", plan.stdout);
        let load = Load::start(&url);
        std::thread::sleep(Duration::from_millis(200));
        wd.apply();
        std::thread::sleep(Duration::from_millis(200));
        let (ok, failed, errors) = load.finish();
        assert_eq!(failed, 0, "{failed} failed requests during the switch ({ok} ok): {errors:?}");
        assert!(ok > 10, "the load ran ({ok} requests)");
        assert_eq!(body(&url), "generation two\n");
        assert_eq!(output(wd, "generation"), "2");
        wd.assert_empty_plan("after generation 2");

        // A generation that fails its health check: the apply fails with the reason, the release
        // keeps serving generation 2, the next plan proposes the change again.
        write_web_app(&wd.path("app"), "generation three\n");
        wd.write_main(&config(&name, port, "/missing", None));
        let failed = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(failed.code, 0);
        let all = failed.all();
        assert!(all.contains("/missing") && all.contains("404"), "the reason is in the diagnostic:\n{all}");
        assert_eq!(body(&url), "generation two\n", "the release still serves generation 2");
        let (code, _) = wd.plan_code();
        assert_eq!(code, 2, "the next plan proposes the change again");

        // Back to a healthy configuration: generation 4 (3 failed) is released.
        wd.write_main(&config(&name, port, "/healthz", None));
        wd.apply();
        assert_eq!(body(&url), "generation three\n");
        let current: u64 = output(wd, "generation").parse().expect("generation");

        // Rollback: pin the previous kept generation; it serves again, with no failed requests.
        let previous = current - 1;
        let kept = docker(&["ps", "--filter", &format!("name={name}-g"), "--format", "{{.Names}}"]);
        let rollback_to = if kept.contains(&format!("{name}-g{previous}")) { previous } else { 2 };
        wd.write_main(&config(&name, port, "/healthz", Some(rollback_to)));
        let load = Load::start(&url);
        let started = Instant::now();
        wd.apply();
        let took = started.elapsed();
        let (_, failed, errors) = load.finish();
        assert_eq!(failed, 0, "rollback: {errors:?}");
        assert_eq!(output(wd, "generation"), rollback_to.to_string());
        assert_ne!(body(&url), "generation three\n", "the release serves the older generation");
        eprintln!("rollback apply took {took:?}");
        wd.write_main(&config(&name, port, "/healthz", None));
        wd.apply();
        assert_eq!(body(&url), "generation three\n");

        // Drift: the released container removed out of band → plan shows it, apply restores service.
        let container = format!("{name}-g{current}");
        docker(&["rm", "-f", &container]);
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "a removed container shows in the plan:\n{}", plan.all());
        wd.apply();
        assert_eq!(body(&url), "generation three\n", "service restored");
        wd.assert_empty_plan("after restoring");

        // Import: the deployment and the release are found again from what runs; empty plan.
        wd.ok(&["state", "rm", "app_deployment.web", "app_release.web"]);
        wd.ok(&["import", "-no-color", "-input=false", "app_deployment.web", &format!("docker:{name}")]);
        wd.ok(&["import", "-no-color", "-input=false", "app_release.web", &name]);
        wd.assert_empty_plan("after importing the deployment and the release");

        // Destroy leaves no container, network or image tag with our label.
        wd.destroy();
        assert!(leftovers(&name).is_empty(), "left behind: {:?}", leftovers(&name));
        assert!(get(&url).is_err(), "nothing listens on the release port any more");
    });
}

#[test]
fn bad_docker_input_is_a_validate_error() {
    for_each_terraform("docker-validate", |wd| {
        wd.write_main(
            r#"
resource "app_deployment" "web" {
  name  = "web"
  image = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
  keep  = -1
  docker {
    ports = [8080, 70000]
    health_check {
      http_path = "/healthz"
      port      = 9090
    }
  }
}

# A literal ID: Terraform skips validating what depends on a resource with errors.
resource "app_release" "web" {
  deployment = "web/1"
  docker {
    port = 0
  }
}
"#,
        );
        let run = wd.run(&["validate", "-json", "-no-color"]);
        assert_ne!(run.code, 0, "{}", run.all());
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("validate -json");
        let summaries: Vec<String> = report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .map(|d| d["summary"].as_str().unwrap_or_default().to_string())
            .collect();
        for expected in ["Invalid port", "Health check on an undeclared port", "Invalid keep"] {
            assert!(summaries.iter().any(|s| s == expected), "missing {expected:?} in {summaries:?}");
        }
        assert!(summaries.iter().filter(|s| *s == "Invalid port").count() >= 2, "both bad ports: {summaries:?}");
        assert!(
            report["diagnostics"].as_array().expect("d").iter().filter(|d| d["severity"] == "error").all(|d| d["range"].is_object()),
            "every error points at the config"
        );
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy example file");
        }
    }
}

/// examples/terraform/two-apps: the web-service module consumed twice.
#[test]
fn the_web_service_module_twice() {
    let examples = app_acceptance::repo_root().join("examples/terraform");
    for_each_terraform("two-apps", |wd| {
        let root = wd.dir.clone();
        copy_dir(&examples.join("modules"), &root.join("modules"));
        copy_dir(&examples.join("two-apps"), &root.join("two-apps"));
        for app in ["app-a", "app-b"] {
            std::fs::copy("/bin/busybox", root.join("two-apps").join(app).join("busybox")).expect("busybox-static is installed");
        }
        let mut two = Workdir::new(&wd.terraform, "two-apps-run");
        two.dir = root.join("two-apps");
        two.env = wd.env.clone();
        // `get` installs the modules only: `init` would also look the provider up in the registry.
        two.ok(&["get", "-no-color"]);
        two.apply();
        let (a, b) = (output(&two, "frontend_url"), output(&two, "backend_url"));
        assert_eq!(body(&a), "<h1>app a</h1>\n");
        assert_eq!(body(&b), "<h1>app b</h1>\n");
        two.assert_empty_plan("after applying two services from one module");
        two.destroy();
        assert!(leftovers("two-apps-").is_empty(), "left behind: {:?}", leftovers("two-apps-"));
    });
}

/// Two configurations (two teams, two states) deploy an app of the same name to one engine: the
/// second apply fails with the ownership diagnostic, and the first app keeps serving with an empty
/// plan; the second configuration's destroy leaves the first app alone.
#[test]
fn an_app_name_taken_by_another_configuration_is_refused() {
    for_each_terraform("docker-owner", |first| {
        let version: String = first.version().chars().filter(char::is_ascii_digit).collect();
        let name = format!("acc-own-{}-{version}", std::process::id());
        let (port_a, port_b) = (port_for(first, 2), port_for(first, 3));
        write_web_app(&first.path("app"), "team a\n");
        first.write_main(&config(&name, port_a, "/healthz", None));
        first.apply();
        let url = output(first, "url");
        assert_eq!(body(&url), "team a\n");

        let second = Workdir::new(&first.terraform, "docker-owner-b");
        write_web_app(&second.path("app"), "team b\n");
        let other_build =
            config(&name, port_b, "/healthz", None).replacen(&format!("name   = \"{name}\""), &format!("name   = \"{name}-b\""), 1);
        second.write_main(&other_build);
        let refused = second.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(refused.code, 0, "{}", refused.all());
        let text = refused.all().split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("this resource did not create it"), "{text}");
        assert!(text.contains(&format!("terraform import app_deployment.<resource> docker:{name}")), "says how to import: {text}");

        assert_eq!(body(&url), "team a\n", "the first app keeps serving");
        first.assert_empty_plan("after another configuration tried the same name");
        second.destroy();
        assert_eq!(body(&url), "team a\n", "the second configuration's destroy leaves the first app alone");
        first.assert_empty_plan("after the other configuration was destroyed");
        first.destroy();
        assert!(leftovers(&name).is_empty(), "{:?}", leftovers(&name));
    });
}

/// A release that names its deployment by a literal ID (as `terraform plan -generate-config-out`
/// writes it) is destroyed at the same time as the deployment: both succeed, nothing is left.
#[test]
fn release_and_deployment_destroyed_together() {
    for_each_terraform("docker-destroy-order", |wd| {
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let name = format!("acc-order-{}-{version}", std::process::id());
        let port = port_for(wd, 4);
        write_web_app(&wd.path("app"), "order\n");
        wd.write_main(&config(&name, port, "/healthz", None));
        wd.apply();
        assert_eq!(body(&output(wd, "url")), "order\n");
        // No reference between them any more: Terraform destroys both at once.
        wd.write_main(
            &config(&name, port, "/healthz", None).replace("deployment = app_deployment.web.id", &format!("deployment = \"{name}/1\"")),
        );
        wd.assert_empty_plan("with the literal deployment ID");
        let started = Instant::now();
        wd.destroy();
        eprintln!("destroyed release and deployment together in {:.1?}", started.elapsed());
        assert!(leftovers(&name).is_empty(), "{:?}", leftovers(&name));
        assert!(wd.state_list().is_empty());
    });
}
