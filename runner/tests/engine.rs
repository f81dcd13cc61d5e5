//! `engine::docker` and `engine::registry` against a real Docker engine and real registries.
//!
//! Needs the test rig (CI starts it):
//!   scripts/docker-engine.sh start && eval "$(scripts/docker-engine.sh env)"
//!   scripts/registry.sh start && eval "$(scripts/registry.sh env)"
//! Every image, tag and manifest a test creates is removed at its end, even when it fails.
#![allow(clippy::unwrap_used)]

use app_runner::engine::docker::{tar_directory, BuildOptions, DockerEngine, EngineError};
use app_runner::engine::registry::{RegistryClient, RegistryError};
use app_runner::engine::RegistryAuth;
use app_spec::job::EngineSettings;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const BUSYBOX: &str = "/bin/busybox";

struct Rig {
    open: String,
    auth: String,
    user: String,
    password: String,
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
    assert!(
        std::path::Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static (apt-get install busybox-static)"
    );
    Rig {
        open: var("APP_TEST_REGISTRY"),
        auth: var("APP_TEST_REGISTRY_AUTH"),
        user: std::env::var("APP_TEST_REGISTRY_USER").unwrap_or_else(|_| "ci".into()),
        password: std::env::var("APP_TEST_REGISTRY_PASSWORD").unwrap_or_else(|_| "ci-password".into()),
    }
}

/// A name unique to this test run: `apptest-<pid>-<nanos>-<what>`.
fn unique(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("apptest-{}-{nanos}-{what}", std::process::id())
}

/// A temporary build context with busybox and `dockerfile`; removed on drop.
struct Context(PathBuf);

impl Context {
    fn new(dockerfile: &str) -> Self {
        let dir = std::env::temp_dir().join(unique("ctx"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::copy(BUSYBOX, dir.join("busybox")).unwrap();
        std::fs::write(dir.join("sub/Dockerfile.app"), dockerfile).unwrap();
        std::fs::write(dir.join("hello.txt"), "hello from the context\n").unwrap();
        Self(dir)
    }

    fn tar(&self) -> Vec<u8> {
        tar_directory(&self.0).unwrap()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A log sink the tests can read back.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn sink(&self) -> impl Fn(String) + '_ {
        move |line| self.0.lock().unwrap().push(line)
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

const GOOD_DOCKERFILE: &str = "FROM scratch\n\
ARG GREETING=unset\n\
COPY busybox /bin/busybox\n\
COPY hello.txt /hello.txt\n\
LABEL app.greeting=$GREETING\n\
RUN [\"/bin/busybox\", \"cat\", \"/hello.txt\"]\n";

/// Options for a build; the `app.run` label (the first tag) keeps every test's image its own.
fn build_options(tags: Vec<String>) -> BuildOptions {
    let run = tags.first().cloned().unwrap_or_default();
    BuildOptions {
        dockerfile: Some("sub/Dockerfile.app".into()),
        tags,
        build_args: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
        labels: BTreeMap::from([("app.test".to_string(), "engine-rs".to_string()), ("app.run".to_string(), run)]),
        ..Default::default()
    }
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

/// Removes tags from the engine and manifests from registries; reports but never panics.
async fn clean(engine: &DockerEngine, images: &[String], manifests: &[(String, RegistryAuth)]) {
    let registry = RegistryClient::new();
    for (reference, auth) in manifests {
        match registry.head_manifest(reference, Some(auth)).await {
            Ok(Some(digest)) => {
                let repo = reference.rsplit_once(':').map_or(reference.as_str(), |(r, _)| r);
                if let Err(e) = registry.delete_manifest(repo, &digest, Some(auth)).await {
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
async fn build_inspect_push_and_read_back_from_the_open_registry() {
    let rig = rig();
    let engine = DockerEngine::connect(&EngineSettings::default()).await.unwrap();
    let repo = unique("open");
    let local = format!("{repo}:build");
    let remote = format!("{}/{repo}/nested/app:v1", rig.open);
    let extra = format!("{repo}:extra");
    let no_auth = RegistryAuth::new("", "");
    let images = vec![local.clone(), extra.clone(), remote.clone()];
    let manifests = vec![(remote.clone(), no_auth)];

    let scenario = async {
        let ctx = Context::new(GOOD_DOCKERFILE);
        let lines = Lines::default();
        let built = engine.build(ctx.tar(), &build_options(vec![local.clone(), extra.clone()]), lines.sink()).await.unwrap();
        assert!(built.image_id.starts_with("sha256:"), "{built:?}");
        let log = lines.all();
        assert!(log.iter().any(|l| l.starts_with("Step 1/") && l.contains("FROM scratch")), "{log:#?}");
        assert!(log.iter().any(|l| l.contains("hello from the context")), "the RUN output is logged: {log:#?}");

        let info = engine.inspect_image(&local).await.unwrap().expect("the built image exists");
        assert_eq!(info.id, built.image_id);
        assert_eq!(info.labels.get("app.test").map(String::as_str), Some("engine-rs"));
        assert_eq!(info.labels.get("app.greeting").map(String::as_str), Some("hi"), "build args reach LABEL");
        assert!(info.repo_tags.contains(&extra), "the second tag is applied: {info:?}");

        engine.tag(&built.image_id, &remote).await.unwrap();
        let push_lines = Lines::default();
        let digest = engine.push(&remote, None, push_lines.sink()).await.unwrap();
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
        assert!(!push_lines.all().is_empty());

        let registry = RegistryClient::new();
        assert_eq!(registry.head_manifest(&remote, None).await.unwrap().as_deref(), Some(digest.as_str()));
        let by_digest = format!("{}/{repo}/nested/app@{digest}", rig.open);
        assert_eq!(registry.head_manifest(&by_digest, None).await.unwrap().as_deref(), Some(digest.as_str()));
        let labels = registry.image_labels(&remote, None).await.unwrap().expect("the manifest exists");
        assert_eq!(labels.get("app.test").map(String::as_str), Some("engine-rs"));
        assert_eq!(registry.head_manifest(&format!("{}/{repo}/nested/app:missing", rig.open), None).await.unwrap(), None);
        assert_eq!(registry.image_labels(&format!("{}/{repo}/nested/app:missing", rig.open), None).await.unwrap(), None);

        let info = engine.inspect_image(&remote).await.unwrap().expect("pushed image");
        assert!(info.repo_digests.iter().any(|d| d.ends_with(&digest)), "{info:?}");

        // Delete the manifest; the tag is gone from the registry with it.
        assert!(registry.delete_manifest(&format!("{}/{repo}/nested/app", rig.open), &digest, None).await.unwrap());
        assert_eq!(registry.head_manifest(&remote, None).await.unwrap(), None);

        // Remove every name; the image is gone.
        for image in [&remote, &extra, &local] {
            assert!(engine.remove_image(image).await.unwrap(), "{image}");
        }
        assert_eq!(engine.inspect_image(&built.image_id).await.unwrap(), None);
        assert!(!engine.remove_image(&local).await.unwrap(), "removing twice says it was not there");
    };
    with_cleanup(scenario, clean(&engine, &images, &manifests)).await;
}

#[tokio::test]
async fn push_to_the_auth_registry_needs_the_right_password() {
    let rig = rig();
    let engine = DockerEngine::connect(&EngineSettings::default()).await.unwrap();
    let repo = unique("auth");
    let remote = format!("{}/{repo}:v1", rig.auth);
    let good = RegistryAuth::new(rig.user.clone(), rig.password.clone());
    let wrong_password = "definitely-wrong-pw";
    let wrong = RegistryAuth::new(rig.user.clone(), wrong_password);
    let images = vec![remote.clone()];
    let manifests = vec![(remote.clone(), good.clone())];

    let scenario = async {
        let ctx = Context::new(GOOD_DOCKERFILE);
        let lines = Lines::default();
        engine.build(ctx.tar(), &build_options(vec![remote.clone()]), lines.sink()).await.unwrap();

        let err = engine.push(&remote, Some(&wrong), |_| {}).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, EngineError::AuthFailed { .. }), "{err:?}");
        assert!(text.contains("authentication failed") && text.contains(&rig.auth), "{text}");
        assert!(!text.contains(wrong_password), "no password in messages: {text}");

        let digest = engine.push(&remote, Some(&good), |_| {}).await.unwrap();

        let registry = RegistryClient::new();
        let err = registry.head_manifest(&remote, None).await.unwrap_err();
        assert!(matches!(err, RegistryError::AuthRequired { .. }), "{err:?}");
        let err = registry.head_manifest(&remote, Some(&wrong)).await.unwrap_err();
        assert!(matches!(&err, RegistryError::AuthFailed { registry } if *registry == rig.auth), "{err:?}");
        assert!(!err.to_string().contains(wrong_password));
        assert_eq!(registry.head_manifest(&remote, Some(&good)).await.unwrap().as_deref(), Some(digest.as_str()));
        let labels = registry.image_labels(&remote, Some(&good)).await.unwrap().expect("manifest");
        assert_eq!(labels.get("app.greeting").map(String::as_str), Some("hi"));

        assert!(registry.delete_manifest(&format!("{}/{repo}", rig.auth), &digest, Some(&good)).await.unwrap());
        assert!(engine.remove_image(&remote).await.unwrap());
    };
    with_cleanup(scenario, clean(&engine, &images, &manifests)).await;
}

#[tokio::test]
async fn a_failing_run_reports_the_step_and_the_output_tail() {
    let _rig = rig();
    let engine = DockerEngine::connect(&EngineSettings::default()).await.unwrap();
    let tag = format!("{}:fail", unique("fail"));
    // A unique first instruction: this build's cached layers are its own, so removing them
    // cannot race with another test's build.
    let dockerfile = format!(
        "FROM scratch\n\
LABEL run={tag}\n\
COPY busybox /bin/busybox\n\
RUN [\"/bin/busybox\", \"echo\", \"about to fail\"]\n\
RUN [\"/bin/busybox\", \"false\"]\n\
LABEL never=reached\n"
    );
    let intermediate = Lines::default();

    let scenario = async {
        let ctx = Context::new(&dockerfile);
        let err = engine.build(ctx.tar(), &build_options(vec![tag.clone()]), intermediate.sink()).await.unwrap_err();
        let EngineError::BuildFailed { step, message, tail } = &err else { panic!("{err:?}") };
        let step = step.as_deref().unwrap_or_default();
        assert!(step.contains("RUN") && step.contains("false"), "{step}");
        assert!(message.contains("non-zero code"), "{message}");
        assert!(!tail.is_empty() && tail.len() <= 20, "{tail:#?}");
        assert!(tail.iter().any(|l| l.contains("about to fail")), "{tail:#?}");
        assert!(err.to_string().contains("RUN"), "{err}");
        assert_eq!(engine.inspect_image(&tag).await.unwrap(), None, "no image is tagged");
    };
    // The steps that succeeded left cached layers (" ---> <id>"); remove them, newest first.
    let cleanup = async {
        let mut layers: Vec<String> =
            intermediate.all().iter().filter_map(|l| l.trim().strip_prefix("---> ").map(str::to_string)).collect();
        layers.retain(|id| id.chars().all(|c| c.is_ascii_hexdigit()));
        layers.reverse();
        layers.insert(0, tag.clone());
        clean(&engine, &layers, &[]).await;
    };
    with_cleanup(scenario, cleanup).await;
}

#[tokio::test]
async fn an_unreachable_engine_names_the_address_and_how_to_set_it() {
    for address in ["unix:///nonexistent/app-test/docker.sock", "tcp://127.0.0.1:1"] {
        let err = DockerEngine::connect(&host(address)).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, EngineError::Unreachable { .. }), "{err:?}");
        assert!(text.contains(address), "{text}");
        assert!(text.contains("DOCKER_HOST") && text.contains("docker {"), "{text}");
    }
    let err = DockerEngine::connect(&host("ssh://user@host")).await.unwrap_err();
    assert!(matches!(err, EngineError::BadAddress { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_without_certificates_names_the_directory() {
    let settings = EngineSettings { host: Some("tcp://127.0.0.1:1".into()), cert_path: Some("/nonexistent/certs".into()) };
    let err = DockerEngine::connect(&settings).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::TlsFiles { .. }), "{err:?}");
    assert!(text.contains("/nonexistent/certs") && text.contains("key.pem") && text.contains("cert_path"), "{text}");
    assert!(text.contains("tcp://127.0.0.1:1"), "{text}");
}

fn host(address: &str) -> EngineSettings {
    EngineSettings { host: Some(address.to_string()), cert_path: None }
}

#[tokio::test]
async fn the_rig_engine_answers() {
    let _rig = rig();
    let engine = DockerEngine::connect(&EngineSettings::default()).await.unwrap();
    assert!(engine.api_version().starts_with("1."), "{}", engine.api_version());
}
