//! The `docker` platform and the `docker` releaser against a real Docker engine: generations,
//! keep, health gates with reasons and log tails, drift, destroy; releases through the router
//! with no failed requests during a switch, rollback, drift, a taken port.
//!
//! Needs the test rig: `scripts/docker-engine.sh start && eval "$(scripts/docker-engine.sh env)"`,
//! Debian's busybox-static at /bin/busybox, and a static `app-router` (`scripts/build.sh` puts it
//! next to app-runner; `APP_ROUTER_PATH` or `APP_BIN_DIR` name it otherwise). Images are built
//! `FROM scratch` with busybox's httpd; nothing is pulled. Every container, network and image a
//! test creates is removed at its end, even when it fails.
#![allow(clippy::unwrap_used)]

use app_runner::context::{CancelToken, JobContext};
use app_runner::engine::docker::{tar_directory, BuildOptions, DockerEngine};
use app_runner::platform::{Destroyer, Outcome, OutcomeKind, Platform, PlatformError, ReleaseManager, Status};
use app_runner::platforms::docker_deploy::DockerDeploy;
use app_runner::platforms::docker_release::{DockerRelease, ROUTER_PATH_ENV};
use app_runner::proto::{job_event, JobEvent};
use app_spec::docker_deploy::{labels as deploy_labels, DockerDeployRecord, DockerReleaseRecord, ROUTER_UPSTREAM_FILE};
use app_spec::job::{labels, DeploymentRecord, DeploymentRequest, EngineSettings, ReleaseRecord, ReleaseRequest};
use futures::FutureExt;
use serde_json::{json, Value as Json};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

const BUSYBOX: &str = "/bin/busybox";

fn rig() {
    assert!(
        std::env::var_os("DOCKER_HOST").is_some_and(|v| !v.is_empty()),
        "DOCKER_HOST is not set: these tests need a real Docker engine; run \
         `scripts/docker-engine.sh start && eval \"$(scripts/docker-engine.sh env)\"` first"
    );
    assert!(std::path::Path::new(BUSYBOX).exists(), "{BUSYBOX} is missing: install Debian's busybox-static");
}

/// The static router binary, exported as `APP_ROUTER_PATH` for the releaser.
fn router() {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test> → target/<profile> and target/<triple>/<profile>.
        let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
        let target = profile_dir.parent().unwrap().to_path_buf();
        let profile = profile_dir.file_name().unwrap().to_owned();
        let candidates: Vec<PathBuf> = [
            std::env::var_os(ROUTER_PATH_ENV).map(PathBuf::from),
            std::env::var_os("APP_BIN_DIR").map(|d| PathBuf::from(d).join("app-router")),
            Some(profile_dir.join("app-router")),
            Some(target.join("x86_64-unknown-linux-gnu").join(&profile).join("app-router")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let found = candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| {
            panic!(
                "no static app-router binary: looked at {candidates:?}; run `scripts/build.sh dev` (or set {ROUTER_PATH_ENV}), \
                 e.g. RUSTFLAGS='-C target-feature=+crt-static' cargo build -p app-router --features bin --target x86_64-unknown-linux-gnu"
            )
        });
        std::env::set_var(ROUTER_PATH_ENV, &found);
        found
    });
}

/// A name unique to this test run (short: container and network names carry it).
fn unique(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("dt{}{:x}{}-{what}", std::process::id(), nanos % 0xfff, NEXT.fetch_add(1, Ordering::SeqCst))
}

async fn engine() -> DockerEngine {
    DockerEngine::connect(&EngineSettings::default()).await.unwrap()
}

/// An image serving `page` at / with busybox httpd on 8080 (requests logged to stderr).
async fn site_image(engine: &DockerEngine, page: &str) -> String {
    let dir = std::env::temp_dir().join(unique("site"));
    std::fs::create_dir_all(dir.join("site")).unwrap();
    std::fs::copy(BUSYBOX, dir.join("busybox")).unwrap();
    std::fs::write(dir.join("site/index.html"), page).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY site /site\nCMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-vv\", \"-p\", \"8080\", \"-h\", \"/site\"]\n",
    )
    .unwrap();
    let context = tar_directory(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let options = BuildOptions { pull: false, ..Default::default() };
    engine.build(context, &options, |_| {}).await.unwrap().image_id
}

/// A job context whose log lines are collected.
fn job_context() -> (JobContext, Log) {
    let (tx, mut rx) = mpsc::channel::<JobEvent>(256);
    let log = Log { lines: Arc::new(Mutex::new(Vec::new())), tx: tx.clone(), flushed: Arc::new(Notify::new()) };
    let (sink, flushed) = (log.lines.clone(), log.flushed.clone());
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event.event {
                Some(job_event::Event::Log(line)) => sink.lock().unwrap().push(format!("[{}] {}", line.stream, line.text)),
                None => flushed.notify_one(),
                _ => {}
            }
        }
    });
    (JobContext::new("test-job", tx, CancelToken::new()), log)
}

struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    tx: mpsc::Sender<JobEvent>,
    flushed: Arc<Notify>,
}

impl Log {
    async fn text(&self) -> String {
        self.tx.send(JobEvent { event: None }).await.unwrap();
        self.flushed.notified().await;
        self.lines.lock().unwrap().join("\n")
    }
}

fn deployment(name: &str, generation: u64, image: &str, config: Json) -> DeploymentRequest {
    DeploymentRequest {
        name: name.into(),
        generation,
        image: Some(image.into()),
        labels: [("team".to_string(), "payments".to_string())].into(),
        env: [("GREETING".to_string(), "hello".to_string())].into(),
        secret_env: [("TOKEN".to_string(), "s3cret-token-value".to_string())].into(),
        config,
        ..Default::default()
    }
}

fn web_config() -> Json {
    json!({"ports": [8080], "health_check": {"http_path": "/", "interval": "100ms"}})
}

fn deployment_record(outcome: &Outcome) -> (DeploymentRecord, DockerDeployRecord) {
    assert_eq!(outcome.kind, OutcomeKind::Succeeded, "{outcome:?}");
    let record: DeploymentRecord = serde_json::from_str(&outcome.result_json).unwrap();
    let docker = serde_json::from_value(record.record.clone()).unwrap();
    (record, docker)
}

fn r5_docker(record: &ReleaseRecord) -> DockerReleaseRecord {
    serde_json::from_value(record.record.clone()).unwrap()
}

fn failed_record(error: &PlatformError) -> (DeploymentRecord, DockerDeployRecord) {
    let PlatformError::Failed { result_json, .. } = error else { panic!("expected a failure: {error:?}") };
    let record: DeploymentRecord = serde_json::from_str(result_json).unwrap();
    let docker = serde_json::from_value(record.record.clone()).unwrap();
    (record, docker)
}

fn generations(docker: &DockerDeployRecord) -> Vec<(u64, bool)> {
    docker.generations.iter().map(|g| (g.generation, g.failed)).collect()
}

/// GET `url` (`http://host:port/path`) with a fresh connection: status and body.
async fn get(url: &str) -> Result<(u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (hostport, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(hostport).await.map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&answer).to_string();
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no status line in {text:?}"))?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), work).await.map_err(|_| "timeout".to_string())?
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn app_containers(engine: &DockerEngine, name: &str) -> Vec<(u64, String)> {
    let filter = [(deploy_labels::APP, name), (labels::MANAGED_BY, labels::MANAGED_BY_VALUE)];
    let mut found: Vec<(u64, String)> = engine
        .list_containers(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.labels.get(deploy_labels::GENERATION).and_then(|g| g.parse().ok()).unwrap_or(0), c.state))
        .collect();
    found.sort();
    found
}

/// Runs `scenario`, then `cleanup` whatever happened, then re-raises a panic of the scenario.
async fn with_cleanup<S, C>(scenario: S, cleanup: C)
where
    S: std::future::Future<Output = ()>,
    C: std::future::Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(scenario).catch_unwind().await;
    cleanup.await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Removes everything carrying app `name`'s labels, its network and `images`.
async fn clean(engine: &DockerEngine, name: &str, images: &[String]) {
    let filter = [(deploy_labels::APP, name), (labels::MANAGED_BY, labels::MANAGED_BY_VALUE)];
    for c in engine.list_containers(&filter).await.unwrap_or_default() {
        let _ = engine.remove_container(&c.id).await;
    }
    let _ = engine.remove_network(&format!("app-{name}")).await;
    for image in images {
        if let Err(e) = engine.remove_image(image).await {
            eprintln!("cleanup: could not remove {image}: {e}");
        }
    }
}

#[tokio::test]
async fn generations_are_kept_checked_and_destroyed() {
    rig();
    let engine = engine().await;
    let name = unique("web");
    let images = Arc::new(Mutex::new(Vec::new()));
    let scenario = async {
        let mut ids = Vec::new();
        for page in ["generation 1", "generation 2", "generation 3"] {
            ids.push(site_image(&engine, page).await);
        }
        images.lock().unwrap().extend(ids.clone());
        let (ctx, log) = job_context();

        // Generation 1: healthy, serving, labelled, on the app's network.
        let first = DockerDeploy.deploy(&ctx, &deployment(&name, 1, &ids[0], web_config()), None).await.unwrap();
        let (rec1, docker1) = deployment_record(&first);
        assert_eq!((rec1.generation, rec1.status.as_str()), (1, "ready"));
        let url = rec1.url.clone().expect("a url for the first port");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert_eq!(get(&url).await.unwrap(), (200, "generation 1".to_string()));
        assert_eq!(docker1.network, format!("app-{name}"));
        assert!(docker1.network_created);
        assert_eq!(generations(&docker1), [(1, false)]);
        let info = engine.inspect_container(&format!("{name}-g1")).await.unwrap().expect("container web-g1");
        assert_eq!(rec1.computed["container_id"], json!(info.id));
        assert_eq!(info.labels[deploy_labels::APP], name);
        assert_eq!(info.labels[deploy_labels::GENERATION], "1");
        assert_eq!(info.labels[deploy_labels::ROLE], "deployment");
        assert_eq!(info.labels[deploy_labels::PORT], "8080");
        assert_eq!(info.labels[labels::MANAGED_BY], labels::MANAGED_BY_VALUE);
        assert_eq!(info.labels["team"], "payments");
        let network = engine.inspect_network(&docker1.network).await.unwrap().expect("network");
        assert_eq!(network.labels[labels::MANAGED_BY], labels::MANAGED_BY_VALUE);
        assert!(!log.text().await.contains("s3cret-token-value"), "the secret never reaches the log");

        // Generation 2: both run (keep = 1).
        let second = DockerDeploy.deploy(&ctx, &deployment(&name, 2, &ids[1], web_config()), Some(&rec1)).await.unwrap();
        let (rec2, docker2) = deployment_record(&second);
        assert_eq!(generations(&docker2), [(1, false), (2, false)]);
        assert_eq!(app_containers(&engine, &name).await, [(1, "running".to_string()), (2, "running".to_string())]);
        assert_eq!(get(rec2.url.as_deref().unwrap()).await.unwrap().1, "generation 2");
        assert_eq!(get(&url).await.unwrap().1, "generation 1", "generation 1 keeps serving at its own port");

        // Generation 3: generation 1 goes.
        let third = DockerDeploy.deploy(&ctx, &deployment(&name, 3, &ids[2], web_config()), Some(&rec2)).await.unwrap();
        let (rec3, docker3) = deployment_record(&third);
        assert_eq!(generations(&docker3), [(2, false), (3, false)]);
        assert_eq!(app_containers(&engine, &name).await, [(2, "running".to_string()), (3, "running".to_string())]);
        assert!(log.text().await.contains(&format!("removed {name}-g1")), "{}", log.text().await);

        // Status: ready; after `docker rm -f` of the current container: drifted.
        let status = DockerDeploy.status(&ctx, &deployment(&name, 3, &ids[2], web_config()), Some(&rec3)).await.unwrap();
        let (st, _) = deployment_record(&status);
        assert_eq!((st.status.as_str(), st.url.clone()), ("ready", rec3.url.clone()));
        assert!(engine.remove_container(&format!("{name}-g3")).await.unwrap());
        let status = DockerDeploy.status(&ctx, &deployment(&name, 3, &ids[2], web_config()), Some(&rec3)).await.unwrap();
        let (st, docker_st) = deployment_record(&status);
        assert_eq!(st.status, "drifted");
        assert!(status.detail.contains("no longer exists"), "{}", status.detail);
        assert_eq!(generations(&docker_st), [(2, false)]);

        // Import of `<name>/2` (no record): found by name.
        let imported = DockerDeploy.status(&ctx, &deployment(&name, 2, &ids[1], Json::Null), None).await.unwrap();
        let (imp, imp_docker) = deployment_record(&imported);
        assert_eq!((imp.generation, imp.status.as_str()), (2, "ready"));
        assert!(imp_docker.network_created);
        // A generation that does not exist: the newest running one is what an import finds.
        let newest = DockerDeploy.status(&ctx, &deployment(&name, 9, &ids[1], Json::Null), None).await.unwrap();
        assert_eq!(deployment_record(&newest).0.generation, 2);
        let gone = DockerDeploy.status(&ctx, &deployment(&unique("none"), 1, &ids[1], Json::Null), None).await.unwrap();
        assert_eq!(gone.kind, OutcomeKind::Gone);

        // Destroy: no container, no network.
        let destroyed = DockerDeploy.destroy(&ctx, &deployment(&name, 3, &ids[2], web_config()), Some(&st)).await.unwrap();
        assert!(destroyed.result_json.is_empty());
        assert!(app_containers(&engine, &name).await.is_empty());
        assert!(engine.inspect_network(&format!("app-{name}")).await.unwrap().is_none(), "the app's network is removed");
        let ours = [(deploy_labels::APP, name.as_str()), (labels::MANAGED_BY, labels::MANAGED_BY_VALUE)];
        assert!(engine.list_networks(&ours).await.unwrap().is_empty(), "no network carries our labels");
        assert!(engine.list_containers(&ours).await.unwrap().is_empty(), "no container carries our labels");
    };
    let cleanup = async {
        let images = images.lock().unwrap().clone();
        clean(&engine, &name, &images).await
    };
    with_cleanup(scenario, cleanup).await;
}

#[tokio::test]
async fn unhealthy_generations_fail_with_the_reason_and_the_log_tail() {
    rig();
    let engine = engine().await;
    let name = unique("bad");
    let images = Arc::new(Mutex::new(Vec::new()));
    let scenario = async {
        let image = site_image(&engine, "good").await;
        images.lock().unwrap().push(image.clone());
        let (ctx, _log) = job_context();
        let first = DockerDeploy.deploy(&ctx, &deployment(&name, 1, &image, web_config()), None).await.unwrap();
        let (rec1, _) = deployment_record(&first);
        let url = rec1.url.clone().unwrap();

        // A health path the app does not have: 404 until start_period ends.
        let config = json!({"ports": [8080], "health_check": {"http_path": "/healthz", "interval": "200ms", "start_period": "2s"}});
        let started = Instant::now();
        let error = DockerDeploy.deploy(&ctx, &deployment(&name, 2, &image, config), Some(&rec1)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10), "start_period bounds the wait: {:?}", started.elapsed());
        let PlatformError::Failed { message, detail, .. } = &error else { panic!("{error:?}") };
        assert!(message.contains("health check GET /healthz answered 404"), "{message}");
        assert!(message.contains("generation 1 keeps serving"), "{message}");
        assert!(detail.contains("url:/healthz") && detail.contains("response:404"), "the container's log tail: {detail}");
        assert!(detail.lines().count() <= 21, "at most 20 log lines: {detail}");
        let (failed1, docker_failed1) = failed_record(&error);
        assert_eq!((failed1.generation, failed1.status.as_str(), failed1.url.clone()), (1, "failed", Some(url.clone())));
        assert_eq!(generations(&docker_failed1), [(1, false), (2, true)], "the failed container is kept and recorded");
        assert_eq!(get(&url).await.unwrap(), (200, "good".to_string()), "generation 1 keeps serving");
        assert_eq!(app_containers(&engine, &name).await, [(1, "running".to_string()), (2, "exited".to_string())], "kept, stopped");
        let error = DockerRelease.release(&ctx, &release(&name, &name, 2, free_port()), None).await.unwrap_err();
        assert!(error.to_string().contains(&format!("generation 2 of {name} is not running")), "{error}");
        let status = DockerDeploy.status(&ctx, &deployment(&name, 1, &image, web_config()), Some(&failed1)).await.unwrap();
        assert_eq!(deployment_record(&status).0.status, "failed", "a refresh does not hide the failure");

        // The retry of generation 2: a process that exits (restart "no").
        let config = json!({"ports": [8080], "restart": "no", "command": ["/bin/busybox", "sh", "-c", "echo boom-before-exit >&2; exit 3"],
            "health_check": {"http_path": "/", "start_period": "20s"}});
        let error = DockerDeploy.deploy(&ctx, &deployment(&name, 2, &image, config), Some(&failed1)).await.unwrap_err();
        let PlatformError::Failed { message, detail, .. } = &error else { panic!("{error:?}") };
        assert!(message.contains("exited with code 3"), "{message}");
        assert!(detail.contains("boom-before-exit"), "{detail}");
        let (failed2, docker_failed2) = failed_record(&error);
        assert_eq!(generations(&docker_failed2), [(1, false), (2, true)]);

        // Again, with the default restart policy: the engine restarts it, which fails the job.
        let config = json!({"ports": [8080], "command": ["/bin/busybox", "sh", "-c", "echo crashing >&2; exit 4"],
            "health_check": {"tcp": true, "start_period": "20s"}});
        let error = DockerDeploy.deploy(&ctx, &deployment(&name, 2, &image, config), Some(&failed2)).await.unwrap_err();
        let PlatformError::Failed { message, detail, .. } = &error else { panic!("{error:?}") };
        assert!(message.contains(&format!("container {name}-g2 restarted")), "{message}");
        assert!(detail.contains("crashing"), "{detail}");
        let (failed3, _) = failed_record(&error);

        // No health check: it must keep running; a process that exits at once fails.
        let config = json!({"command": ["/bin/busybox", "true"], "restart": "no"});
        let error = DockerDeploy.deploy(&ctx, &deployment(&name, 2, &image, config), Some(&failed3)).await.unwrap_err();
        assert!(error.to_string().contains("exited with code 0"), "{error}");
        let (failed4, _) = failed_record(&error);

        // Fixed: generation 2 replaces the failed container, which is no longer recorded as failed.
        let fixed = DockerDeploy.deploy(&ctx, &deployment(&name, 2, &image, web_config()), Some(&failed4)).await.unwrap();
        let (rec2, docker2) = deployment_record(&fixed);
        assert_eq!((rec2.generation, rec2.status.as_str()), (2, "ready"));
        assert_eq!(generations(&docker2), [(1, false), (2, false)]);

        // A missing image that cannot be pulled says so.
        let error =
            DockerDeploy.deploy(&ctx, &deployment(&name, 3, "127.0.0.1:1/nothing/here:v1", web_config()), Some(&rec2)).await.unwrap_err();
        assert!(error.to_string().contains("pulling it without credentials failed"), "{error}");
        let PlatformError::Failed { result_json, .. } = &error else { panic!("{error:?}") };
        assert_eq!(result_json, &serde_json::to_string(&rec2).unwrap(), "nothing changed: the prior record stands");

        DockerDeploy.destroy(&ctx, &deployment(&name, 2, &image, web_config()), Some(&rec2)).await.unwrap();
        assert!(app_containers(&engine, &name).await.is_empty());
    };
    let cleanup = async {
        let images = images.lock().unwrap().clone();
        clean(&engine, &name, &images).await
    };
    with_cleanup(scenario, cleanup).await;
}

fn release(name: &str, deployment: &str, generation: u64, port: u16) -> ReleaseRequest {
    ReleaseRequest {
        name: name.into(),
        deployment: deployment.into(),
        generation,
        labels: [("team".to_string(), "payments".to_string())].into(),
        config: json!({"port": port}),
        ..Default::default()
    }
}

fn release_record(outcome: &Outcome) -> (ReleaseRecord, DockerReleaseRecord) {
    assert_eq!(outcome.kind, OutcomeKind::Succeeded, "{outcome:?}");
    let record: ReleaseRecord = serde_json::from_str(&outcome.result_json).unwrap();
    let docker = serde_json::from_value(record.record.clone()).unwrap();
    (record, docker)
}

/// Requests the stable URL in a loop, a new connection each time, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    /// When each page was first seen.
    seen: Arc<Mutex<Vec<(String, Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(url: String) -> Self {
        let (stop, ok) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
        let task = tokio::spawn({
            let (stop, ok, failures, seen) = (stop.clone(), ok.clone(), failures.clone(), seen.clone());
            async move {
                while !stop.load(Ordering::SeqCst) {
                    match get(&url).await {
                        Ok((200, body)) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                            let mut seen = seen.lock().unwrap();
                            if seen.last().is_none_or(|(page, _)| *page != body) {
                                seen.push((body, Instant::now()));
                            }
                        }
                        Ok((status, body)) => failures.lock().unwrap().push(format!("{status}: {body}")),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            }
        });
        Self { stop, ok, failures, seen, task }
    }

    /// When `page` was first seen after `since`.
    fn first_seen(&self, page: &str, since: Instant) -> Option<Instant> {
        self.seen.lock().unwrap().iter().find(|(p, at)| p == page && *at >= since).map(|(_, at)| *at)
    }

    async fn wait_for(&self, page: &str, since: Instant) -> Instant {
        for _ in 0..200 {
            if let Some(at) = self.first_seen(page, since) {
                return at;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the stable URL never served {page:?}: {:?}", self.seen.lock().unwrap());
    }

    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        (self.ok.load(Ordering::SeqCst), self.failures.lock().unwrap().clone())
    }
}

/// The switch time the job itself logged (`… in 12.3ms (upload …)`).
fn logged_switch(log: &str) -> String {
    log.lines().rev().find(|l| l.contains("switched ")).map(str::to_string).unwrap_or_default()
}

#[tokio::test]
async fn releases_switch_without_failed_requests_and_roll_back() {
    rig();
    router();
    let engine = engine().await;
    let name = unique("rel");
    let images = Arc::new(Mutex::new(Vec::new()));
    let scenario = async {
        let v1 = site_image(&engine, "page one").await;
        let v2 = site_image(&engine, "page two").await;
        let v3 = site_image(&engine, "page three").await;
        images.lock().unwrap().extend([v1.clone(), v2.clone(), v3.clone()]);
        let (ctx, log) = job_context();
        let (rec1, _) = deployment_record(&DockerDeploy.deploy(&ctx, &deployment(&name, 1, &v1, web_config()), None).await.unwrap());
        let (rec2, _) = deployment_record(&DockerDeploy.deploy(&ctx, &deployment(&name, 2, &v2, web_config()), Some(&rec1)).await.unwrap());
        let port = free_port();
        let stable = format!("http://127.0.0.1:{port}/");

        // Release generation 1: the router comes up on the stable port.
        let out = DockerRelease.release(&ctx, &release(&name, &name, 1, port), None).await.unwrap();
        let (r1, d1) = release_record(&out);
        assert_eq!((r1.released_generation, r1.status.as_str(), r1.url.as_deref()), (1, "ready", Some(stable.trim_end_matches('/'))));
        assert_eq!(d1.router_container_name, format!("{name}-router"));
        assert_eq!(d1.network, format!("app-{name}"));
        assert_eq!(get(&stable).await.unwrap(), (200, "page one".to_string()));
        let router = engine.inspect_container(&d1.router_container_name).await.unwrap().expect("router");
        assert_eq!(router.labels[deploy_labels::ROLE], "router");
        assert_eq!(router.labels[deploy_labels::RELEASE], name);
        assert_eq!(router.labels[labels::MANAGED_BY], labels::MANAGED_BY_VALUE);
        let upstream = engine.read_file(&router.id, ROUTER_UPSTREAM_FILE).await.unwrap().expect("upstream file");
        assert_eq!(String::from_utf8(upstream).unwrap(), format!("{}\n", d1.upstream));

        // Release generation 2 while requests run: none fails, and the page changes.
        let load = Load::start(stable.clone());
        load.wait_for("page one", Instant::now() - Duration::from_secs(60)).await;
        let job_started = Instant::now();
        let out = DockerRelease.release(&ctx, &release(&name, &name, 2, port), Some(&r1)).await.unwrap();
        let job_took = job_started.elapsed();
        let (r2, d2) = release_record(&out);
        let served = load.wait_for("page two", job_started).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (ok, failures) = load.finish().await;
        assert!(failures.is_empty(), "failed requests during the switch: {failures:?}");
        assert!(ok > 10, "the load ran ({ok} requests)");
        assert_eq!(r2.released_generation, 2);
        assert_ne!(d1.upstream, d2.upstream);
        assert_eq!(get(&stable).await.unwrap().1, "page two");
        eprintln!(
            "switch 1 → 2: job {job_took:.1?}; stable URL served generation 2 {:.1?} after the job started; {} requests, 0 failed; job log: {}",
            served.duration_since(job_started),
            ok,
            logged_switch(&log.text().await)
        );

        // Rollback to generation 1 (kept): under 2 s.
        let started = Instant::now();
        let out = DockerRelease.release(&ctx, &release(&name, &name, 1, port), Some(&r2)).await.unwrap();
        let rollback = started.elapsed();
        let (r3, _) = release_record(&out);
        assert_eq!(get(&stable).await.unwrap().1, "page one");
        assert!(rollback < Duration::from_secs(2), "rollback took {rollback:?}");
        eprintln!("rollback 2 → 1: {rollback:.1?}; job log: {}", logged_switch(&log.text().await));

        // A generation that is gone or not running is refused; the release stays.
        let error = DockerRelease.release(&ctx, &release(&name, &name, 7, port), Some(&r3)).await.unwrap_err();
        assert!(error.to_string().contains("generation 7 of") && error.to_string().contains("stays on generation 1"), "{error}");
        let PlatformError::Failed { result_json, .. } = &error else { panic!("{error:?}") };
        assert_eq!(result_json, &serde_json::to_string(&r3).unwrap());

        // Deploying generation 3 with keep = 0 removes generation 2 but not generation 1: the router forwards to it.
        let request = DeploymentRequest { keep: 0, ..deployment(&name, 3, &v3, web_config()) };
        let (rec3, docker3) = deployment_record(&DockerDeploy.deploy(&ctx, &request, Some(&rec2)).await.unwrap());
        assert_eq!(generations(&docker3), [(1, false), (3, false)], "{}", log.text().await);
        assert_eq!(get(&stable).await.unwrap().1, "page one");

        // Status: ready (a refresh checks the router and the released generation, not the file).
        let status = DockerRelease.status(&ctx, &release(&name, &name, 1, port), Some(&r3)).await.unwrap();
        assert_eq!(release_record(&status).0.status, "ready");
        let (r4, _) = release_record(&DockerRelease.release(&ctx, &release(&name, &name, 3, port), Some(&r3)).await.unwrap());
        assert_eq!(get(&stable).await.unwrap().1, "page three");

        // Another release on the same port: refused, naming the port; nothing is left behind.
        let other = unique("other");
        let error = DockerRelease.release(&ctx, &release(&other, &name, 3, port), None).await.unwrap_err();
        assert!(error.to_string().contains(&format!("port {port}")) && error.to_string().contains("already in use"), "{error}");
        assert!(engine.inspect_container(&format!("{other}-router")).await.unwrap().is_none());

        // `docker rm -f` of the router: drift; the next release recreates it.
        assert!(engine.remove_container(&d1.router_container_name).await.unwrap());
        let status = DockerRelease.status(&ctx, &release(&name, &name, 3, port), Some(&r4)).await.unwrap();
        assert_eq!(release_record(&status).0.status, "drifted");
        assert!(status.detail.contains("no longer exists"), "{}", status.detail);
        let (r5, _) = release_record(&DockerRelease.release(&ctx, &release(&name, &name, 3, port), Some(&r4)).await.unwrap());
        assert_eq!(get(&stable).await.unwrap().1, "page three");

        // Another resource (another configuration, no record of these objects) cannot take the
        // deployment or the release over: refused, naming the objects and how to import them;
        // nothing of the first one changes.
        let before = app_containers(&engine, &name).await;
        let error = DockerDeploy.deploy(&ctx, &deployment(&name, 1, &v3, web_config()), None).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains("this resource did not create it") && text.contains(&format!("docker:{name}")), "{text}");
        assert!(text.contains(&format!("{name}-g3")), "names the containers: {text}");
        let error = DockerRelease.release(&ctx, &release(&name, &name, 3, port), None).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&d1.router_container_name) && text.contains("terraform import app_release.<resource>"), "{text}");
        assert_eq!(app_containers(&engine, &name).await, before);
        assert_eq!(get(&stable).await.unwrap().1, "page three");
        let router = engine.inspect_container(&d1.router_container_name).await.unwrap().expect("router");
        assert_eq!(router.labels.get(deploy_labels::OWNER), Some(&r5_docker(&r5).owner), "the router carries its release's owner");

        // A container of someone else on the app's network keeps it: the deployment's destroy says
        // which, at once, and keeps a record of the network.
        let stranger = unique("stranger");
        let spec = app_runner::engine::containers::ContainerSpec {
            name: stranger.clone(),
            image: v3.clone(),
            restart: "no".into(),
            network: Some(format!("app-{name}")),
            ..Default::default()
        };
        let stranger_id = engine.create_container(&spec).await.unwrap();
        engine.start_container(&stranger_id).await.unwrap();
        let started = Instant::now();
        let error = DockerDeploy.destroy(&ctx, &deployment(&name, 3, &v3, web_config()), Some(&rec3)).await.unwrap_err();
        assert!(error.to_string().contains(&stranger) && error.to_string().contains("did not create"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10), "no waiting for a container that is not ours");
        let (left, left_docker) = failed_record(&error);
        assert!(left_docker.generations.is_empty() && left_docker.network_created, "{left:?}");
        assert!(engine.remove_container(&stranger).await.unwrap());

        // Release and deployment destroyed at the same time (Terraform does so when the release
        // names the deployment by a literal ID): both succeed, nothing is left.
        let (release_request, deployment_request) = (release(&name, &name, 3, port), deployment(&name, 3, &v3, web_config()));
        let (released, deployed) = tokio::join!(
            DockerRelease.destroy(&ctx, &release_request, Some(&r5)),
            DockerDeploy.destroy(&ctx, &deployment_request, Some(&left)),
        );
        released.unwrap();
        deployed.unwrap();
        assert!(engine.inspect_container(&d1.router_container_name).await.unwrap().is_none(), "the router is removed");
        assert!(app_containers(&engine, &name).await.is_empty());
        assert!(engine.inspect_network(&format!("app-{name}")).await.unwrap().is_none());
    };
    let cleanup = async {
        let images = images.lock().unwrap().clone();
        clean(&engine, &name, &images).await
    };
    with_cleanup(scenario, cleanup).await;
}
