//! Docker helpers shared by the acceptance tests: the docker CLI against the test engine (or
//! another one), a `FROM scratch` web app, plain HTTP requests and a load generator that counts
//! failed requests across a switch.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The label every object this provider creates carries.
pub const MANAGED_BY: &str = "dev.terraform-provider-app.managed-by=terraform-provider-app";

/// An environment variable the test rig sets; a test without it fails, naming the script to use.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is unset: run the tests through scripts/test.sh (it starts dockerd, the registries and the remote engine)")
    })
}

/// `docker args…` against the test engine (`DOCKER_HOST`); its stdout. Fails the test on error.
pub fn docker(args: &[&str]) -> String {
    docker_with(&[], args)
}

/// `docker args…` with extra environment (e.g. `DOCKER_HOST`/`DOCKER_CERT_PATH` of another engine).
pub fn docker_with(envs: &[(&str, &str)], args: &[&str]) -> String {
    let out = Command::new("docker").args(args).envs(envs.iter().copied()).output().expect("run the docker CLI");
    assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names of containers, networks and image tags with our managed-by label whose name contains
/// `needle`, on the engine `envs` select (empty: the test engine).
pub fn leftovers_with(envs: &[(&str, &str)], needle: &str) -> Vec<String> {
    let filter = format!("label={MANAGED_BY}");
    let containers = docker_with(envs, &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
    let networks = docker_with(envs, &["network", "ls", "--filter", &filter, "--format", "{{.Name}}"]);
    let images = docker_with(envs, &["images", "--filter", &filter, "--format", "{{.Repository}}:{{.Tag}}"]);
    containers.lines().chain(networks.lines()).chain(images.lines()).filter(|n| n.contains(needle)).map(str::to_string).collect()
}

/// [`leftovers_with`] on the test engine.
pub fn leftovers(needle: &str) -> Vec<String> {
    leftovers_with(&[], needle)
}

/// A `FROM scratch` web app in `dir`: busybox httpd on port 8080 serving `page` at `/` and `ok` at
/// `/healthz`.
pub fn write_web_app(dir: &Path, page: &str) {
    std::fs::create_dir_all(dir.join("site")).expect("mkdir app");
    std::fs::copy("/bin/busybox", dir.join("busybox")).expect("busybox-static is installed (scripts/test.sh installs it)");
    std::fs::write(dir.join("site/index.html"), page).expect("write page");
    std::fs::write(dir.join("site/healthz"), "ok\n").expect("write healthz");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY site/ /site/\nCMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/site\"]\n",
    )
    .expect("write Dockerfile");
}

/// One HTTP/1.0 GET; the status code and body, or an error text.
pub fn get(url: &str) -> Result<(u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (hostport, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = TcpStream::connect(hostport).map_err(|e| format!("connect {hostport}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| format!("read: {e}"))?;
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no status line in {response:?}"))?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((code, body))
}

/// The body of a `200` answer from `url`; fails the test otherwise.
pub fn body(url: &str) -> String {
    match get(url) {
        Ok((200, body)) => body,
        other => panic!("GET {url}: {other:?}"),
    }
}

/// Requests a URL in a loop on another thread until stopped; counts answers and failures.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(url: &str) -> Self {
        let (stop, ok, failed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (s, o, f, e, url) = (stop.clone(), ok.clone(), failed.clone(), errors.clone(), url.to_string());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match get(&url) {
                    Ok((200, _)) => o.fetch_add(1, Ordering::Relaxed),
                    Ok((code, _)) => {
                        e.lock().map(|mut v| v.push(format!("HTTP {code}"))).ok();
                        f.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(err) => {
                        e.lock().map(|mut v| v.push(err)).ok();
                        f.fetch_add(1, Ordering::Relaxed)
                    }
                };
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self { stop, ok, failed, errors, thread: Some(thread) }
    }

    /// Stops and returns (ok, failed, first errors).
    pub fn finish(mut self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let errors = self.errors.lock().map(|v| v.iter().take(5).cloned().collect()).unwrap_or_default();
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed), errors)
    }
}
