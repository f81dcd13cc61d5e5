//! Protocol conformance with real Terraform: schema, validation diagnostics, import, the
//! go-plugin handshake (cookie, line format, TLS on and off), debug/reattach, Ctrl-C.

use app_acceptance::{
    bin_dir, for_each_terraform, processes_with_env, start_provider, terraform_like_client_cert, wait_until, Workdir, MAGIC_COOKIE,
    PROVIDER_BINARY,
};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COOKIE: (&str, &str) = MAGIC_COOKIE;

#[test]
fn schema_lists_three_resources_and_is_stable() {
    for_each_terraform("schema", |wd| {
        wd.write_main("");
        let first = wd.ok(&["providers", "schema", "-json"]).stdout;
        let second = wd.ok(&["providers", "schema", "-json"]).stdout;
        assert_eq!(first, second, "schema output differs between runs");
        let schema: serde_json::Value = serde_json::from_str(&first).expect("schema json");
        let ours = &schema["provider_schemas"]["registry.terraform.io/apps/app"];
        let resources: Vec<&str> = ours["resource_schemas"].as_object().expect("resource schemas").keys().map(String::as_str).collect();
        assert_eq!(resources, vec!["app_build", "app_deployment", "app_release"]);
        let deployment = &ours["resource_schemas"]["app_deployment"]["block"];
        assert_eq!(deployment["attributes"]["name"]["required"], true);
        assert_eq!(deployment["attributes"]["secret_env"]["sensitive"], true);
        assert_eq!(deployment["block_types"]["exec"]["nesting_mode"], "single");
        assert_eq!(deployment["block_types"]["exec"]["block"]["attributes"]["create"]["required"], true);
        assert!(ours["provider"]["block"]["attributes"]["runner_env"].is_object());

        // The registry docs document every attribute and block Terraform lists.
        let docs = app_acceptance::repo_root().join("docs");
        fn names(block: &serde_json::Value, out: &mut Vec<String>) {
            out.extend(block["attributes"].as_object().into_iter().flat_map(|m| m.keys().cloned()));
            for (name, nested) in block["block_types"].as_object().into_iter().flatten() {
                out.push(name.clone());
                names(&nested["block"], out);
            }
        }
        let mut pages = vec![("index.md".to_string(), &ours["provider"]["block"])];
        for resource in &resources {
            pages.push((format!("resources/{resource}.md"), &ours["resource_schemas"][*resource]["block"]));
        }
        for (page, block) in pages {
            let text = std::fs::read_to_string(docs.join(&page)).unwrap_or_else(|e| panic!("docs/{page}: {e}"));
            let mut all = Vec::new();
            names(block, &mut all);
            assert!(all.len() > 3, "{page}: {all:?}");
            for name in all {
                assert!(text.contains(&format!("`{name}`")), "docs/{page} does not document `{name}`");
            }
        }
    });
}

/// (summary, line) of each error in `terraform validate -json`.
fn validate_errors(wd: &Workdir) -> Vec<(String, u64)> {
    let run = wd.run(&["validate", "-json", "-no-color"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("validate -json: {e}\n{}", run.all()));
    json["diagnostics"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter(|d| d["severity"] == "error")
                .map(|d| (d["summary"].as_str().unwrap_or_default().to_string(), d["range"]["start"]["line"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bad_input_gets_diagnostics_on_the_attribute() {
    for_each_terraform("validate", |wd| {
        // Line numbers below count from the resource line after the required_providers block.
        let cases: &[(&str, &str, u64)] = &[
            ("resource \"app_deployment\" \"a\" {\n  exec {\n    create = [\"true\"]\n  }\n}\n", "Missing required argument", 0),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  exec {\n    create = []\n  }\n}\n", "Empty command", 4),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  keep = \"many\"\n  exec {\n    create = [\"true\"]\n  }\n}\n", "Incorrect attribute value type", 3),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  keep = -1\n  exec {\n    create = [\"true\"]\n  }\n}\n", "Invalid keep", 3),
            ("resource \"app_deployment\" \"a\" {\n  name = \"Not_A_Name\"\n  exec {\n    create = [\"true\"]\n  }\n}\n", "Invalid name", 2),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  exec {\n    create = [\"true\"]\n  }\n  exec {\n    create = [\"true\"]\n  }\n}\n", "Duplicate exec block", 6),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n}\n", "Missing platform block", 0),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  kubernetes {}\n}\n", "Unsupported block type", 3),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  docker {}\n}\n", "Missing image", 0),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  exec {\n    create = [\"true\"]\n  }\n  timeouts {\n    create = \"soon\"\n  }\n}\n", "Invalid duration", 7),
            // Values that overflowed the old parsers (the provider task panicked: "Request cancelled").
            ("resource \"app_deployment\" \"a\" {\n  name  = \"a\"\n  image = \"x\"\n  docker {\n    ports = [8080]\n    health_check {\n      interval = \"18446744073709551615s1s\"\n    }\n  }\n}\n", "Invalid duration", 7),
            ("resource \"app_deployment\" \"a\" {\n  name  = \"a\"\n  image = \"x\"\n  docker {\n    resources {\n      memory = \"99999999999999999999g\"\n    }\n  }\n}\n", "Invalid size", 6),
            ("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  exec {\n    create = [\"true\"]\n  }\n  timeouts {\n    create = \"99999999999999999999999h\"\n  }\n}\n", "Invalid duration", 7),
        ];
        let offset = app_acceptance::REQUIRED_PROVIDERS.lines().count() as u64 + 1;
        for (config, summary, line) in cases {
            wd.write_main(config);
            let errors = validate_errors(wd);
            let hit = errors.iter().find(|(s, _)| s == summary);
            assert!(hit.is_some(), "expected {summary:?} for:\n{config}\ngot {errors:?}");
            if *line > 0 {
                assert_eq!(hit.map(|h| h.1), Some(line + offset), "{summary:?} points at the attribute's line");
            }
        }
    });
}

fn import_config() -> &'static str {
    r#"
resource "app_deployment" "imp" {
  name = "imported"
  env  = { A = "1" }
  exec {
    create  = ["sh", "-c", "echo should-not-run > created"]
    destroy = ["sh", "-c", "echo gone > destroyed"]
  }
}
"#
}

const IMPORT_ID: &str = r#"{"name":"imported","env":{"A":"1"},"exec":{"create":["sh","-c","echo should-not-run > created"],"destroy":["sh","-c","echo gone > destroyed"]}}"#;

#[test]
fn import_block_then_empty_plan() {
    for_each_terraform("import-block", |wd| {
        wd.write_main(&format!(
            "{}\nimport {{\n  to = app_deployment.imp\n  id = jsonencode({{ name = \"imported\", env = {{ A = \"1\" }}, exec = {{ create = [\"sh\", \"-c\", \"echo should-not-run > created\"], destroy = [\"sh\", \"-c\", \"echo gone > destroyed\"] }} }})\n}}\n",
            import_config()
        ));
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "{}", plan.all());
        assert!(plan.stdout.contains("1 to import, 0 to add, 0 to change, 0 to destroy"), "{}", plan.stdout);
        wd.apply();
        assert!(!wd.path("created").exists(), "import never runs create");
        wd.assert_empty_plan("after import block");
        wd.destroy();
        assert!(wd.path("destroyed").exists(), "an imported deployment is destroyed with its destroy command");
    });
}

#[test]
fn import_command_then_empty_plan() {
    for_each_terraform("import-cmd", |wd| {
        wd.write_main(import_config());
        wd.ok(&["import", "-no-color", "app_deployment.imp", IMPORT_ID]);
        assert!(!wd.path("created").exists());
        wd.assert_empty_plan("after terraform import");
        let bad = wd.run(&["import", "-no-color", "app_deployment.imp", "Bad Name"]);
        assert_ne!(bad.code, 0);
    });
}

fn spawn_provider(envs: &[(&str, &str)]) -> (std::process::Child, String) {
    start_provider(&bin_dir().join(PROVIDER_BINARY), envs)
}

#[test]
fn handshake_without_cookie_refuses() {
    let out = Command::new(bin_dir().join(PROVIDER_BINARY)).env_remove(COOKIE.0).output().expect("run provider");
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "nothing on stdout without the cookie");
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugin for Terraform"));
}

#[test]
fn handshake_line_with_and_without_tls() {
    let cert = terraform_like_client_cert();

    let (mut child, line) = spawn_provider(&[COOKIE, ("PLUGIN_PROTOCOL_VERSIONS", "5,6"), ("PLUGIN_CLIENT_CERT", &cert)]);
    let _ = child.kill();
    let _ = child.wait();
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "{line:?}");
    assert_eq!(&fields[..3], &["1", "6", "unix"]);
    assert_eq!(fields[4], "grpc");
    assert!(
        fields[5].len() > 50 && fields[5].chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'),
        "raw base64 cert: {line:?}"
    );

    let (mut child, line) = spawn_provider(&[COOKIE, ("PLUGIN_PROTOCOL_VERSIONS", "6")]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("1|6|unix|") && line.trim_end().ends_with("|grpc|"), "no TLS → empty cert field: {line:?}");

    let (mut child, line) = spawn_provider(&[COOKIE, ("PLUGIN_PROTOCOL_VERSIONS", "4,5")]);
    let _ = child.wait();
    assert!(line.is_empty(), "no common protocol → no handshake");
}

#[test]
fn works_with_plugin_tls_disabled() {
    for tf in app_acceptance::terraforms() {
        let mut wd = Workdir::new(&tf, "notls");
        wd.env.insert("TF_DISABLE_PLUGIN_TLS".into(), "1".into());
        wd.write_main("resource \"app_deployment\" \"t\" {\n  name = \"t\"\n  exec {\n    create = [\"true\"]\n  }\n}\n");
        wd.apply();
        wd.assert_empty_plan("without TLS");
        wd.destroy();
    }
}

#[test]
fn debug_mode_serves_reattached_terraform() {
    let mut child = Command::new(bin_dir().join(PROVIDER_BINARY))
        .arg("--debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn provider --debug");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut reattach = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(start) = line.find("TF_REATTACH_PROVIDERS='") {
            reattach = line[start + 23..].trim_end().trim_end_matches('\'').to_string();
            break;
        }
    }
    assert!(reattach.contains("\"Test\":true"), "debug output names a reattach value: {reattach:?}");
    for tf in app_acceptance::terraforms() {
        let mut wd = Workdir::new(&tf, "reattach");
        wd.env.insert("TF_REATTACH_PROVIDERS".into(), reattach.clone());
        wd.write_main("resource \"app_deployment\" \"r\" {\n  name = \"r\"\n  exec {\n    create = [\"true\"]\n  }\n}\n");
        // Two commands against the same provider process.
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "{}", plan.all());
        wd.apply();
        wd.destroy();
    }
    assert!(child.try_wait().ok().flatten().is_none(), "the debug provider outlives its clients");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn ctrl_c_cancels_a_running_create() {
    for_each_terraform("ctrlc", |wd| {
        let marker = format!("ctrlc-{}-{}", std::process::id(), wd.terraform.display().to_string().len());
        wd.write_main(
            r#"
resource "app_deployment" "slow" {
  name = "slow"
  exec {
    create  = ["sh", "-c", "touch started; sleep 60"]
    destroy = ["true"]
  }
}
"#,
        );
        let mut command = wd.command(&["apply", "-auto-approve", "-no-color"]);
        command.env("APP_ACCEPTANCE_MARKER", &marker).stdout(Stdio::piped()).stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("spawn terraform apply");
        let pgid = child.id() as i32;
        assert!(wait_until(Duration::from_secs(30), || wd.path("started").exists()), "the create command started");
        let interrupted = Instant::now();
        // A negative pid signals the whole process group, as a terminal's Ctrl-C does.
        let rc = kill(-pgid, libc::SIGINT);
        assert_eq!(rc, 0, "send SIGINT to the process group");
        let output = child.wait_with_output().expect("wait for terraform");
        let elapsed = interrupted.elapsed();
        assert!(elapsed < Duration::from_secs(10), "terraform exited {elapsed:?} after Ctrl-C");
        assert_ne!(output.status.code(), Some(0), "an interrupted apply fails");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.to_lowercase().contains("cancel"), "the diagnostic says the job was cancelled:\n{stderr}");
        assert!(
            wait_until(Duration::from_secs(5), || processes_with_env("APP_ACCEPTANCE_MARKER", &marker).is_empty()),
            "processes left behind: {:?}",
            processes_with_env("APP_ACCEPTANCE_MARKER", &marker)
        );
        // The state is consistent: the interrupted deployment is recorded as failed (replaced next time).
        let slow = wd.resource("app_deployment.slow");
        if let Some(slow) = slow {
            assert_eq!(slow["status"], "failed");
        }
        let (code, _) = wd.plan_code();
        assert_eq!(code, 2, "the next plan retries");
    });
}

#[allow(unsafe_code)]
fn kill(pid: i32, signal: i32) -> i32 {
    // SAFETY: kill(2) has no memory effects; a negative pid addresses a process group we created.
    unsafe { libc::kill(pid, signal) }
}

/// Terraform before 1.11 knows no write-only attributes: a configuration that sets one gets the
/// provider's diagnostic on that attribute (naming the version needed and the alternative), not
/// Terraform's "Provider produced invalid plan … This is a bug in the provider".
#[test]
fn write_only_values_on_terraform_before_1_11_get_a_diagnostic() {
    let legacy = app_acceptance::legacy_terraform();
    let wd = Workdir::new(&legacy, "legacy-write-only");
    assert!(wd.version().contains(" v1.6."), "the legacy Terraform is {}", wd.version());
    wd.write_main(
        "variable \"token\" {\n  type      = string\n  sensitive = true\n  default   = \"s3cr3t\"\n}\n\nresource \"app_deployment\" \"a\" {\n  name       = \"a\"\n  secret_env = { TOKEN = var.token }\n  exec {\n    create = [\"true\"]\n  }\n}\n",
    );
    let plan = wd.run(&["plan", "-no-color", "-input=false"]);
    assert_ne!(plan.code, 0, "{}", plan.all());
    let text = plan.all();
    assert!(text.contains("Write-only attribute needs Terraform 1.11 or later"), "{text}");
    assert!(text.contains("secret_env"), "names the attribute: {text}");
    assert!(!text.contains("bug in the provider"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");

    // Without the write-only value the same Terraform plans normally.
    wd.write_main("resource \"app_deployment\" \"a\" {\n  name = \"a\"\n  exec {\n    create = [\"true\"]\n  }\n}\n");
    let (code, plan) = wd.plan_code();
    assert_eq!(code, 2, "{}", plan.all());
}
