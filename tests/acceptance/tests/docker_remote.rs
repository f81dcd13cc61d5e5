//! A Docker engine on another machine: dockerd in a network namespace with its own address
//! (10.231.0.2), reached over tcp+TLS (`scripts/remote-engine.sh`, started by scripts/test.sh).
//! The runner cannot use that machine's loopback, so health checks, the release's checks and the
//! URLs go to the engine host's published address: build, deploy, release, a switch under load
//! without failed requests, and destroy leaving nothing on that engine.

use app_acceptance::docker::{body, env, get, leftovers, leftovers_with, write_web_app, Load};
use app_acceptance::{for_each_terraform, Workdir};
use std::time::Duration;

fn config(name: &str, host: &str, cert_path: &str, port: u16) -> String {
    format!(
        r#"
provider "app" {{
  docker {{
    host      = "{host}"
    cert_path = "{cert_path}"
  }}
}}

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
      http_path    = "/healthz"
      start_period = "10s"
    }}
  }}
}}

resource "app_release" "web" {{
  deployment = app_deployment.web.id
  docker {{
    port = {port}
  }}
}}

output "url"     {{ value = app_release.web.url }}
output "own_url" {{ value = app_deployment.web.url }}
"#
    )
}

fn output(wd: &Workdir, name: &str) -> String {
    wd.ok(&["output", "-raw", name]).stdout.trim().to_string()
}

#[test]
fn build_deploy_release_switch_destroy_on_an_engine_in_another_network() {
    let host = env("APP_TEST_REMOTE_DOCKER_HOST");
    let cert_path = env("APP_TEST_REMOTE_DOCKER_CERT_PATH");
    let remote: [(&str, &str); 3] = [("DOCKER_HOST", &host), ("DOCKER_CERT_PATH", &cert_path), ("DOCKER_TLS_VERIFY", "1")];
    let engine_host = host.trim_start_matches("tcp://").rsplit_once(':').map(|(h, _)| h.to_string()).expect("tcp://host:port");
    for_each_terraform("docker-remote", |wd| {
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let name = format!("acc-remote-{}-{version}", std::process::id());
        let port = 30000 + (std::process::id() % 1000) as u16 * 2 + (version.len() % 2) as u16;
        write_web_app(&wd.path("app"), "remote one\n");
        wd.write_main(&config(&name, &host, &cert_path, port));
        wd.apply();

        let url = output(wd, "url");
        assert_eq!(url, format!("http://{engine_host}:{port}"), "the release URL names the engine's host");
        assert_eq!(body(&url), "remote one\n");
        let own = output(wd, "own_url");
        assert!(own.starts_with(&format!("http://{engine_host}:")), "the generation's URL names the engine's host: {own}");
        assert_eq!(body(&own), "remote one\n");
        assert!(!leftovers_with(&remote, &name).is_empty(), "the app runs on the remote engine");
        assert!(leftovers(&name).is_empty(), "nothing of it on the local engine: {:?}", leftovers(&name));
        wd.assert_empty_plan("after the first apply");

        // A new generation under load: the switch on the remote engine loses no request.
        write_web_app(&wd.path("app"), "remote two\n");
        let load = Load::start(&url);
        std::thread::sleep(Duration::from_millis(200));
        wd.apply();
        std::thread::sleep(Duration::from_millis(200));
        let (ok, failed, errors) = load.finish();
        assert_eq!(failed, 0, "{failed} failed requests during the switch ({ok} ok): {errors:?}");
        assert!(ok > 10, "the load ran ({ok} requests)");
        assert_eq!(body(&url), "remote two\n");
        wd.assert_empty_plan("after the switch");

        wd.destroy();
        assert!(leftovers_with(&remote, &name).is_empty(), "left behind on the remote engine: {:?}", leftovers_with(&remote, &name));
        assert!(get(&url).is_err(), "nothing listens on the release port any more");
    });
}

#[test]
fn a_loopback_bind_address_on_a_remote_engine_is_refused_with_the_reason() {
    let host = env("APP_TEST_REMOTE_DOCKER_HOST");
    let cert_path = env("APP_TEST_REMOTE_DOCKER_CERT_PATH");
    let remote: [(&str, &str); 3] = [("DOCKER_HOST", &host), ("DOCKER_CERT_PATH", &cert_path), ("DOCKER_TLS_VERIFY", "1")];
    for_each_terraform("docker-remote-loopback", |wd| {
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let name = format!("acc-remote-lo-{}-{version}", std::process::id());
        write_web_app(&wd.path("app"), "loopback\n");
        let main = config(&name, &host, &cert_path, 30999).replace("ports = [8080]", "ports = [8080]\n    bind_address = \"127.0.0.1\"");
        wd.write_main(&main);
        let run = wd.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(run.code, 0, "a port on the engine host's loopback cannot be probed from here");
        let all = run.all();
        assert!(all.contains("bind_address") && all.contains("loopback"), "the diagnostic says why and what to do:\n{all}");
        wd.destroy();
        assert!(leftovers_with(&remote, &name).is_empty(), "left behind: {:?}", leftovers_with(&remote, &name));
    });
}
