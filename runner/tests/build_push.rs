//! The `docker` and `docker_pull` builders against a real Docker engine and real registries:
//! push and the registry's digest, adoption, authentication, status, import, destroy.
//!
//! Needs the test rig (CI starts it):
//!   scripts/docker-engine.sh start && eval "$(scripts/docker-engine.sh env)"
//!   scripts/registry.sh start && eval "$(scripts/registry.sh env)"
//! Every image, tag and manifest a test creates is removed at its end, even when it fails.
//! `DOCKER_CONFIG` points at a directory of this test binary's own, so a developer's
//! `~/.docker/config.json` never changes what the tests see.
#![allow(clippy::unwrap_used)]

use app_runner::context::{CancelToken, JobContext};
use app_runner::engine::docker::{tar_directory, BuildOptions, DockerEngine};
use app_runner::engine::registry::RegistryClient;
use app_runner::engine::RegistryAuth;
use app_runner::platform::{Builder, Destroyer, Outcome, OutcomeKind, PlatformError, Status};
use app_runner::platforms::docker_build::DockerBuild;
use app_runner::platforms::docker_pull::DockerPull;
use app_runner::proto::{job_event, JobEvent, JobRequest, Operation, Role};
use app_spec::job::{labels, BuildRecord, BuildRequest, EngineSettings};
use base64::Engine as _;
use futures::FutureExt;
use serde_json::json;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify};

const BUSYBOX: &str = "/bin/busybox";

struct Rig {
    open: String,
    auth: String,
    user: String,
    password: String,
    /// This binary's `DOCKER_CONFIG` directory.
    docker_config: PathBuf,
}

fn rig() -> Rig {
    let var = |name: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!(
                "{name} is not set: these tests need a real Docker engine and local registries; run \
                 `scripts/docker-engine.sh start && eval \"$(scripts/docker-engine.sh env)\"` and \
                 `scripts/registry.sh start && eval \"$(scripts/registry.sh env)\"` first"
            )
        })
    };
    var("DOCKER_HOST");
    assert!(std::path::Path::new(BUSYBOX).exists(), "{BUSYBOX} is missing: install Debian's busybox-static");
    static CONFIG: OnceLock<PathBuf> = OnceLock::new();
    let docker_config = CONFIG
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("app-build-push-docker-config-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::env::set_var("DOCKER_CONFIG", &dir);
            dir
        })
        .clone();
    Rig {
        open: var("APP_TEST_REGISTRY"),
        auth: var("APP_TEST_REGISTRY_AUTH"),
        user: std::env::var("APP_TEST_REGISTRY_USER").unwrap_or_else(|_| "ci".into()),
        password: std::env::var("APP_TEST_REGISTRY_PASSWORD").unwrap_or_else(|_| "ci-password".into()),
        docker_config,
    }
}

fn nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default()
}

/// A name unique to this test run: `apptest-<pid>-<nanos>-<what>`.
fn unique(what: &str) -> String {
    format!("apptest-{}-{}-{what}", std::process::id(), nanos())
}

/// A source hash of this run's own: its first 12 hex digits (the tag) differ from every other test's.
fn unique_hash() -> String {
    format!("sha256:{:016x}{}", nanos() ^ (u64::from(std::process::id()) << 44), "0".repeat(48))
}

/// An uploaded-like build context (busybox and a Dockerfile) as a tar file; removed on drop.
struct Context {
    dir: PathBuf,
    archive: PathBuf,
}

impl Context {
    /// A context whose image is unique to `run`; `extra` is appended to the Dockerfile.
    fn new(run: &str, extra: &str) -> Self {
        let dir = std::env::temp_dir().join(unique("ctx"));
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::copy(BUSYBOX, src.join("busybox")).unwrap();
        std::fs::write(src.join("Dockerfile"), format!("FROM scratch\nLABEL run={run}\nCOPY busybox /bin/busybox\n{extra}")).unwrap();
        let archive = dir.join("context.tar");
        std::fs::write(&archive, tar_directory(&src).unwrap()).unwrap();
        Self { dir, archive }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A job context whose log lines are collected.
fn job_context(source: Option<PathBuf>) -> (JobContext, Log) {
    let (tx, mut rx) = mpsc::channel::<JobEvent>(64);
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
    (JobContext::new("test-job", tx, CancelToken::new()).with_source(source), log)
}

/// The log lines of a job.
struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    tx: mpsc::Sender<JobEvent>,
    flushed: Arc<Notify>,
}

impl Log {
    /// Every line logged so far (the events are in order: a marker sent now arrives after them).
    async fn text(&self) -> String {
        self.tx.send(JobEvent { event: None }).await.unwrap();
        self.flushed.notified().await;
        self.lines.lock().unwrap().join("\n")
    }
}

fn record(outcome: &Outcome) -> BuildRecord {
    assert_eq!(outcome.kind, OutcomeKind::Succeeded, "{outcome:?}");
    serde_json::from_str(&outcome.result_json).unwrap_or_else(|e| panic!("{e}: {:?}", outcome.result_json))
}

fn build_request(name: &str, source_hash: &str, registry: serde_json::Value) -> BuildRequest {
    serde_json::from_value(json!({
        "name": name,
        "source_hash": source_hash,
        "config": {},
        "registry": registry,
        "build_config": "{\"builder\":\"docker\",\"run\":\"build-push\"}",
    }))
    .unwrap()
}

fn pull_request(image: &str, pull: bool) -> BuildRequest {
    serde_json::from_value(json!({"name": "pulled", "config": {"image": image, "pull": pull}})).unwrap()
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

/// Removes every manifest the tags point to and the local names; reports but never panics.
async fn clean(engine: &DockerEngine, images: &[String], tags: &[(String, Option<RegistryAuth>)]) {
    let registry = RegistryClient::new();
    for (reference, auth) in tags {
        match registry.head_manifest(reference, auth.as_ref()).await {
            Ok(Some(digest)) => {
                let repo = reference.rsplit_once(':').map_or(reference.as_str(), |(r, _)| r);
                if let Err(e) = registry.delete_manifest(repo, &digest, auth.as_ref()).await {
                    eprintln!("cleanup: could not delete {reference}: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => eprintln!("cleanup: could not look up {reference}: {e}"),
        }
    }
    for image in images {
        if let Err(e) = engine.remove_image(image).await {
            eprintln!("cleanup: could not remove {image}: {e}");
        }
    }
}

#[tokio::test]
async fn push_adopt_pull_follow_and_delete_on_the_open_registry() {
    let rig = rig();
    let engine = DockerEngine::connect(&EngineSettings::default()).await.unwrap();
    let name = unique("push");
    let hash = unique_hash();
    let tag = app_spec::docker_build::hash_tag(&hash);
    let repository = format!("{}/{name}/web", rig.open);
    let tagged = format!("{repository}:{tag}");
    let local = format!("{name}:{tag}");
    let other_local = format!("{name}:other");
    let images = vec![local.clone(), tagged.clone(), other_local.clone()];
    let tags = vec![(tagged.clone(), None)];
    let context = Context::new(&name, "RUN [\"/bin/busybox\", \"echo\", \"pushed-build\"]\n");
    let registry = json!({"image": repository, "delete_on_destroy": true});
    let request = build_request(&name, &hash, registry);
    let client = RegistryClient::new();

    let scenario = async {
        // Build and push: the record's digest is the registry's for the tag.
        let (ctx, lines) = job_context(Some(context.archive.clone()));
        let pushed = record(&DockerBuild.build(&ctx, &request, None).await.unwrap_or_else(|e| panic!("{e:?}")));
        let log = lines.text().await;
        let registry_digest = client.head_manifest(&tagged, None).await.unwrap().expect("the tag is in the registry");
        assert_eq!(pushed.digest.as_deref(), Some(registry_digest.as_str()), "{}", log);
        assert_eq!(pushed.image, format!("{repository}@{registry_digest}"));
        assert_eq!((pushed.repository.as_deref(), pushed.registry_tag.as_deref()), (Some(repository.as_str()), Some(tag.as_str())));
        assert!(pushed.built);
        assert_eq!(pushed.tag, local, "the record's local tag is <name>:<hash tag>");
        assert!(engine.inspect_image(&local).await.unwrap().is_some());
        assert!(engine.inspect_image(&tagged).await.unwrap().is_none(), "the push's temporary repository:tag name is removed");
        assert!(log.contains("pushed-build"), "{}", log);

        // Status with read_labels restores source_hash and build_config from the registry, also
        // for an import that knows only the image.
        let read = BuildRequest { read_labels: true, ..request.clone() };
        let imported = BuildRecord { image: pushed.image.clone(), ..Default::default() };
        let status = DockerBuild.status(&ctx, &read, Some(&imported)).await.unwrap();
        let restored = record(&status);
        assert_eq!(restored.source_hash, hash);
        assert_eq!(restored.observed, Some(serde_json::json!({"builder": "docker", "run": "build-push"})));
        assert_eq!(
            (restored.repository.as_deref(), restored.digest.as_deref()),
            (Some(repository.as_str()), Some(registry_digest.as_str()))
        );

        // Destroy without delete_on_destroy removes the local tag and nothing else.
        let keep = build_request(&name, &hash, json!({"image": repository}));
        assert_eq!(DockerBuild.destroy(&ctx, &keep, Some(&pushed)).await.unwrap(), Outcome::nothing());
        assert!(engine.inspect_image(&local).await.unwrap().is_none(), "destroy removes the local tag");
        engine.remove_image(&pushed.image_id).await.unwrap();
        assert_eq!(client.head_manifest(&tagged, None).await.unwrap().as_deref(), Some(registry_digest.as_str()), "the push stays");

        // The same source again, nothing local: adopted from the registry.
        let (ctx, lines) = job_context(Some(context.archive.clone()));
        let adopted = record(&DockerBuild.build(&ctx, &request, Some(&pushed)).await.unwrap_or_else(|e| panic!("{e:?}")));
        let log = lines.text().await;
        assert!(!adopted.built, "{}", log);
        assert_eq!(adopted.digest.as_deref(), Some(registry_digest.as_str()));
        assert_eq!(adopted.image, pushed.image);
        assert!(log.contains("adopted"), "{}", log);
        assert!(!log.contains("pushed-build"), "nothing was built: {}", log);
        assert!(engine.inspect_image(&local).await.unwrap().is_none(), "adoption tags nothing locally");

        // docker_pull of the pushed tag resolves the same digest, and pulls it when asked.
        let (ctx, lines) = job_context(None);
        let pulled = record(&DockerPull.build(&ctx, &pull_request(&tagged, true), None).await.unwrap_or_else(|e| panic!("{e:?}")));
        let log = lines.text().await;
        assert_eq!(pulled.digest.as_deref(), Some(registry_digest.as_str()), "{}", log);
        assert_eq!(pulled.image, format!("{repository}@{registry_digest}"));
        assert_eq!(pulled.registry_tag.as_deref(), Some(tag.as_str()));
        assert!(!pulled.built);
        let in_engine = engine.inspect_image(&pulled.image).await.unwrap().expect("pulled into the engine");
        assert_eq!(in_engine.id, pulled.image_id);
        let same = DockerPull.status(&ctx, &pull_request(&tagged, true), Some(&pulled)).await.unwrap();
        assert_eq!(record(&same), pulled, "an unchanged tag keeps the record");

        // The tag moves to another image: docker_pull's status follows it.
        let other = Context::new(&format!("{name}-other"), "");
        let moved = engine
            .build(std::fs::read(&other.archive).unwrap(), &BuildOptions { tags: vec![other_local.clone()], ..Default::default() }, |_| {})
            .await
            .unwrap();
        engine.tag(&moved.image_id, &tagged).await.unwrap();
        let moved_digest = engine.push(&tagged, None, |_| {}).await.unwrap();
        assert_ne!(moved_digest, registry_digest);
        let status = DockerPull.status(&ctx, &pull_request(&tagged, true), Some(&pulled)).await.unwrap();
        let followed = record(&status);
        assert_eq!(followed.digest.as_deref(), Some(moved_digest.as_str()));
        assert_eq!(followed.image, format!("{repository}@{moved_digest}"));
        assert!(status.detail.contains("now points to"), "{status:?}");

        // delete_on_destroy deletes the manifest; status then says the build is gone, and so
        // is a docker_pull pinned to that digest.
        DockerBuild.destroy(&ctx, &request, Some(&adopted)).await.unwrap_or_else(|e| panic!("{e:?}"));
        let pinned_image = format!("{repository}@{registry_digest}");
        assert_eq!(client.head_manifest(&pinned_image, None).await.unwrap(), None, "the manifest is deleted");
        assert_eq!(DockerBuild.status(&ctx, &request, Some(&adopted)).await.unwrap(), Outcome::gone());
        let pinned = record(&DockerPull.build(&ctx, &pull_request(&tagged, false), None).await.unwrap());
        assert_eq!(pinned.digest.as_deref(), Some(moved_digest.as_str()));
        let by_digest = BuildRecord { registry_tag: None, ..pulled.clone() };
        assert_eq!(DockerPull.status(&ctx, &pull_request(&pinned_image, false), Some(&by_digest)).await.unwrap(), Outcome::gone());
        assert_eq!(
            DockerPull.destroy(&ctx, &pull_request(&tagged, true), Some(&pulled)).await.unwrap(),
            Outcome::nothing(),
            "docker_pull removes nothing"
        );
        assert!(engine.inspect_image(&pulled.image_id).await.unwrap().is_some(), "the pulled image stays");
        engine.remove_image(&pulled.image).await.unwrap();
        let _ = engine.remove_image(&pulled.image_id).await;
    };
    with_cleanup(scenario, clean(&engine, &images, &tags)).await;
}

#[tokio::test]
async fn the_auth_registry_fails_clearly_on_a_wrong_password_and_masks_the_right_one() {
    let rig = rig();
    let engine = DockerEngine::connect(&EngineSettings::default()).await.unwrap();
    let name = unique("auth");
    let hash = unique_hash();
    let tag = app_spec::docker_build::hash_tag(&hash);
    let repository = format!("{}/{name}", rig.auth);
    let tagged = format!("{repository}:{tag}");
    let local = format!("{name}:{tag}");
    let good = RegistryAuth::new(rig.user.clone(), rig.password.clone());
    let images = vec![local.clone(), tagged.clone()];
    let tags = vec![(tagged.clone(), Some(good.clone()))];
    // The build prints the password: the job log must show *** instead.
    let context = Context::new(&name, &format!("RUN [\"/bin/busybox\", \"echo\", \"secret:{}\"]\n", rig.password));
    let wrong_password = "definitely-wrong-pw";

    let scenario = async {
        let wrong = build_request(
            &name,
            &hash,
            json!({"image": repository, "auth": {"username": rig.user, "password": wrong_password}, "delete_on_destroy": true}),
        );
        let (ctx, lines) = job_context(Some(context.archive.clone()));
        let err = DockerBuild.build(&ctx, &wrong, None).await.expect_err("a wrong password fails");
        let log = lines.text().await;
        let PlatformError::Failed { message, result_json, .. } = &err else { panic!("{err:?}") };
        assert!(message.contains("401") && message.contains("authentication failed"), "{message}");
        assert!(message.contains(&rig.auth) && message.contains("username and password"), "{message}");
        assert!(!message.contains(wrong_password), "{message}");
        assert!(result_json.is_empty(), "nothing recorded: {result_json}");
        assert!(!log.contains("Step 1/"), "nothing was built: {}", log);
        assert!(engine.inspect_image(&local).await.unwrap().is_none(), "nothing was built");

        // The right password, through the job table as the service runs it: pushed, masked.
        let right = build_request(
            &name,
            &hash,
            json!({"image": repository, "auth": {"username": rig.user, "password": rig.password}, "delete_on_destroy": true}),
        );
        let job = JobRequest {
            job_id: "push".into(),
            operation: Operation::Build as i32,
            role: Role::Builder as i32,
            platform: "docker".into(),
            request_json: serde_json::to_string(&right).unwrap(),
            prior_json: String::new(),
            timeout_ms: 0,
            source_id: String::new(),
        };
        let (ctx, lines) = job_context(Some(context.archive.clone()));
        let pushed = record(&app_runner::platforms::builtin().run(&ctx, &job).await.unwrap_or_else(|e| panic!("{e:?}")));
        let log = lines.text().await;
        assert!(log.contains("secret:***"), "the build output is masked: {log}");
        assert!(!log.contains(&rig.password), "no password in the log: {log}");
        let registry = RegistryClient::new();
        let digest = registry.head_manifest(&tagged, Some(&good)).await.unwrap().expect("pushed");
        assert_eq!(pushed.digest.as_deref(), Some(digest.as_str()));

        // A refresh has no password: the record stays, saying it could not be verified.
        let refresh = build_request(&name, &hash, json!({"image": repository, "auth": {"username": rig.user}, "delete_on_destroy": true}));
        let status = DockerBuild.status(&ctx, &refresh, Some(&pushed)).await.unwrap();
        assert_eq!(record(&status), pushed);
        assert!(status.detail.contains("could not verify") && status.detail.contains("401"), "{status:?}");

        // A destroy has no password either: deleting the manifest fails and keeps the resource...
        let err = DockerBuild.destroy(&ctx, &refresh, Some(&pushed)).await.expect_err("no credentials to delete with");
        let PlatformError::Failed { message, result_json, .. } = &err else { panic!("{err:?}") };
        assert!(message.contains("401") && message.contains("Docker config"), "{message}");
        assert_eq!(serde_json::from_str::<BuildRecord>(result_json).unwrap(), pushed, "the record is kept");
        assert!(engine.inspect_image(&local).await.unwrap().is_some(), "nothing was removed");

        // ...until the Docker config has credentials for the registry: then both work.
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", rig.user, rig.password));
        let config = json!({"auths": {format!("http://{}", rig.auth): {"auth": encoded}}});
        std::fs::write(rig.docker_config.join("config.json"), config.to_string()).unwrap();
        let read = BuildRequest { read_labels: true, ..refresh.clone() };
        let status = DockerBuild.status(&ctx, &read, Some(&pushed)).await.unwrap();
        assert!(status.detail.is_empty(), "{status:?}");
        assert_eq!(record(&status).source_hash, hash);
        DockerBuild.destroy(&ctx, &refresh, Some(&pushed)).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(registry.head_manifest(&tagged, Some(&good)).await.unwrap(), None, "the manifest is deleted");
        assert!(engine.inspect_image(&local).await.unwrap().is_none(), "the local tag is removed");
    };
    let cleanup = async {
        let _ = std::fs::remove_file(rig.docker_config.join("config.json"));
        clean(&engine, &images, &tags).await;
    };
    with_cleanup(scenario, cleanup).await;
}

#[tokio::test]
async fn a_local_registry_tags_without_pushing_and_a_failed_build_reports_its_tail() {
    let rig = rig();
    let engine = DockerEngine::connect(&EngineSettings::default()).await.unwrap();
    let name = unique("local");
    let hash = unique_hash();
    let repository = format!("{}/{name}", rig.open);
    let tagged = format!("{repository}:v1");
    let retagged = format!("{repository}:v2");
    let images = [tagged.clone(), retagged.clone()];
    let tags = vec![(tagged.clone(), None), (retagged.clone(), None)];
    let context = Context::new(&name, "");
    let failing =
        Context::new(&format!("{name}-fail"), "RUN [\"/bin/busybox\", \"echo\", \"about to fail\"]\nRUN [\"/bin/busybox\", \"false\"]\n");
    let intermediate = Arc::new(Mutex::new(Vec::new()));

    let scenario = async {
        let request = build_request(&name, &hash, json!({"image": repository, "tag": "v1", "local": true}));
        let (ctx, _) = job_context(Some(context.archive.clone()));
        let built = record(&DockerBuild.build(&ctx, &request, None).await.unwrap_or_else(|e| panic!("{e:?}")));
        assert_eq!((built.image.as_str(), built.tag.as_str()), (tagged.as_str(), tagged.as_str()));
        assert_eq!(built.digest, None);
        let info = engine.inspect_image(&tagged).await.unwrap().expect("tagged locally");
        assert_eq!(info.id, built.image_id);
        assert_eq!(info.labels.get(labels::SOURCE_HASH), Some(&hash));
        assert_eq!(RegistryClient::new().head_manifest(&tagged, None).await.unwrap(), None, "nothing pushed");

        // A rebuild under another tag removes the previous build's tag: the record holds one.
        let request = build_request(&name, &hash, json!({"image": repository, "tag": "v2", "local": true}));
        let rebuilt = record(&DockerBuild.build(&ctx, &request, Some(&built)).await.unwrap_or_else(|e| panic!("{e:?}")));
        assert_eq!(rebuilt.tag, retagged);
        assert!(engine.inspect_image(&tagged).await.unwrap().is_none(), "the previous tag is removed");
        assert!(engine.inspect_image(&retagged).await.unwrap().is_some());
        DockerBuild.destroy(&ctx, &request, Some(&rebuilt)).await.unwrap();
        assert!(engine.inspect_image(&retagged).await.unwrap().is_none(), "destroy removes the local tag");

        // A failing build: the step and the output tail, nothing recorded.
        let request = build_request(&format!("{name}-fail"), &hash, serde_json::Value::Null);
        let (ctx, lines) = job_context(Some(failing.archive.clone()));
        let err = DockerBuild.build(&ctx, &request, None).await.expect_err("the build fails");
        *intermediate.lock().unwrap() = lines.text().await.lines().map(str::to_string).collect();
        let PlatformError::Failed { message, detail, result_json } = &err else { panic!("{err:?}") };
        assert!(message.contains("RUN") && message.contains("false"), "{message}");
        assert!(detail.contains("about to fail") && detail.lines().count() <= 20, "{detail}");
        assert!(result_json.is_empty());
    };
    let cleanup = async {
        // The failing build's cached layers (" ---> <id>"), newest first.
        let mut layers: Vec<String> = intermediate
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.split_once("---> ").map(|(_, id)| id.trim().to_string()))
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
            .collect();
        layers.reverse();
        layers.extend(images.iter().cloned());
        clean(&engine, &layers, &tags).await;
    };
    with_cleanup(scenario, cleanup).await;
}
