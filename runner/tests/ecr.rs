//! `engine::ecr` against a real moto server, and the credentials it hands out used on a real
//! registry (Debian `docker-registry` with htpasswd auth, started by these tests), over plain HTTP
//! and over HTTPS with a private CA (`engine::https`).
//!
//! Needs the test rig (scripts/test.sh starts it):
//!   scripts/moto.sh start && eval "$(scripts/moto.sh env)"
//!   scripts/registry.sh start    # installs docker-registry and htpasswd
//! The tests set their own dummy AWS credentials, region and endpoint in this process's environment
//! (one test at a time, under a lock) and never reach anything but 127.0.0.1.
#![allow(clippy::unwrap_used)]

use app_runner::engine::ecr::{credentials, EcrError};
use app_runner::engine::https::Transport;
use app_runner::engine::registry::{sha256_digest, RegistryClient, RegistryError};
use app_runner::engine::RegistryAuth;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// moto's default account, and what moto 5.2 answers to GetAuthorizationToken for it
/// (moto/ecr/responses.py: `AWS:<registryId>-auth-token`).
const ACCOUNT: &str = "123456789012";
const MOTO_USER: &str = "AWS";
const MOTO_PASSWORD: &str = "123456789012-auth-token";
/// The dummy secret key the tests sign with: it must never show in an error.
const SECRET_KEY: &str = "moto-test-secret-key-9f3c";
const ECR_REPOSITORY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web";

/// The tests change the process environment: one at a time.
static ENV_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn moto_endpoint() -> String {
    std::env::var("APP_TEST_MOTO_ENDPOINT").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "APP_TEST_MOTO_ENDPOINT is not set: these tests need a local moto server; run \
             `scripts/moto.sh start && eval \"$(scripts/moto.sh env)\"` first (scripts/test.sh does)"
        )
    })
}

/// The AWS environment of a test: dummy credentials, us-east-1, every endpoint at moto, no
/// profiles, no instance metadata (nothing may leave loopback).
fn aws_env() {
    let endpoint = moto_endpoint();
    let nowhere = std::env::temp_dir().join("app-runner-ecr-test-no-such-aws-file");
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_ECR",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAMOTOTESTKEY00000");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", &nowhere);
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &nowhere);
}

fn moto_auth() -> RegistryAuth {
    RegistryAuth::new(MOTO_USER, MOTO_PASSWORD)
}

#[tokio::test]
async fn an_ecr_host_gets_the_token_for_its_account_from_its_region() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    assert_eq!(credentials(ECR_REPOSITORY).await.unwrap(), moto_auth());
    // Tag and digest are fine; the account comes from the host (registryIds), the region too:
    // no AWS_REGION needed.
    std::env::remove_var("AWS_REGION");
    let other = credentials("210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/web:v1").await.unwrap();
    assert_eq!(other, RegistryAuth::new("AWS", "210987654321-auth-token"));
}

#[tokio::test]
async fn other_hosts_use_the_default_region_and_the_callers_registry() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    assert_eq!(credentials("127.0.0.1:5056/team/web").await.unwrap(), moto_auth());
    std::env::remove_var("AWS_REGION");
    let error = credentials("127.0.0.1:5056/team/web").await.unwrap_err();
    assert!(matches!(error, EcrError::NoRegion { .. }), "{error:?}");
    let message = error.to_string();
    eprintln!("no region: {message}");
    assert!(message.contains("127.0.0.1:5056") && message.contains("AWS_REGION"), "{message}");
    let error = credentials("web").await.unwrap_err();
    assert!(matches!(error, EcrError::InvalidRepository { .. }), "{error:?}");
}

#[tokio::test]
async fn failures_say_what_was_tried_and_never_show_the_secret() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let closed = free_port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    std::env::set_var("AWS_ENDPOINT_URL_ECR", &endpoint);
    let started = Instant::now();
    let error = credentials("123456789012.dkr.ecr.eu-central-1.amazonaws.com/web").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(matches!(error, EcrError::Request { .. }), "{error:?}");
    let message = error.to_string();
    eprintln!("unreachable ECR endpoint: {message}");
    for part in ["region eu-central-1", &format!("account {ACCOUNT}"), &format!("endpoint {endpoint}"), "check the network"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert!(!message.contains(SECRET_KEY) && !format!("{error:?}").contains(SECRET_KEY), "{message}");

    // No credentials anywhere (instance metadata is disabled): say so, and what to set.
    std::env::remove_var("AWS_ENDPOINT_URL_ECR");
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    let error = credentials(ECR_REPOSITORY).await.unwrap_err();
    let message = error.to_string();
    eprintln!("no credentials: {message}");
    assert!(matches!(error, EcrError::Request { .. }), "{error:?}");
    for part in ["region us-east-1", &format!("account {ACCOUNT}"), "AWS_ACCESS_KEY_ID", "AWS_PROFILE"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
}

#[tokio::test]
async fn ecr_credentials_open_a_registry_that_expects_them() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let auth = credentials(ECR_REPOSITORY).await.unwrap();
    assert_eq!(auth, moto_auth());
    let registry = TestRegistry::start(&auth, None);
    let transport = Transport::new();
    let base = format!("http://{}", registry.addr);

    // The registry refuses anonymous requests.
    let (status, _, _) = exchange(&transport, Method::GET, &format!("{base}/v2/"), None, None, Bytes::new()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Push with the ECR credentials, read back with them through the client.
    let labels = BTreeMap::from([("app.test".to_string(), "ecr".to_string())]);
    let digest = push_image(&transport, &base, "team/web", "v1", &auth, &labels).await;
    let client = RegistryClient::new();
    let reference = format!("{}/team/web:v1", registry.addr);
    assert_eq!(client.head_manifest(&reference, Some(&auth)).await.unwrap().as_deref(), Some(digest.as_str()));
    assert_eq!(client.image_labels(&reference, Some(&auth)).await.unwrap(), Some(labels));

    // Without them: 401, as AuthRequired; with another password: AuthFailed.
    let error = client.head_manifest(&reference, None).await.unwrap_err();
    assert_eq!(error, RegistryError::AuthRequired { registry: registry.addr.clone() });
    let wrong = RegistryAuth::new(MOTO_USER, "210987654321-auth-token");
    let error = client.head_manifest(&reference, Some(&wrong)).await.unwrap_err();
    assert_eq!(error, RegistryError::AuthFailed { registry: registry.addr.clone() });
}

#[tokio::test]
async fn an_https_registry_with_a_private_ca_and_ecr_credentials() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let auth = credentials(ECR_REPOSITORY).await.unwrap();
    let pki = TestPki::new();
    let registry = TestRegistry::start(&auth, Some(&pki));
    let base = format!("https://{}", registry.addr);
    let transport = Transport::new().with_root_certificate(pki.ca_pem.as_bytes()).unwrap();
    let labels = BTreeMap::from([("app.test".to_string(), "https".to_string())]);
    let digest = push_image(&transport, &base, "web", "tls", &auth, &labels).await;

    let reference = format!("{}/web:tls", registry.addr);
    let client = RegistryClient::new().with_root_certificate(pki.ca_pem.as_bytes()).unwrap().tls(registry.addr.clone());
    assert_eq!(client.head_manifest(&reference, Some(&auth)).await.unwrap().as_deref(), Some(digest.as_str()));
    assert_eq!(client.image_labels(&reference, Some(&auth)).await.unwrap(), Some(labels));
    assert_eq!(client.head_manifest(&format!("{}/web:missing", registry.addr), Some(&auth)).await.unwrap(), None);
    let error = client.head_manifest(&reference, None).await.unwrap_err();
    assert_eq!(error, RegistryError::AuthRequired { registry: registry.addr.clone() });

    // Without the CA the server certificate is refused, and the error says so.
    let untrusting = RegistryClient::new().tls(registry.addr.clone());
    let error = untrusting.head_manifest(&reference, Some(&auth)).await.unwrap_err();
    let message = error.to_string();
    eprintln!("untrusted certificate: {message}");
    assert!(matches!(error, RegistryError::Unreachable { .. }), "{error:?}");
    assert!(message.to_ascii_lowercase().contains("certificate"), "{message}");
}

// ---- helpers -------------------------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("app-runner-ecr-{}-{nanos}-{what}", std::process::id())
}

fn basic(auth: &RegistryAuth) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.username, auth.password)))
}

/// A throwaway CA and a server certificate for 127.0.0.1 and localhost signed by it.
struct TestPki {
    ca_pem: String,
    server_pem: String,
    server_key_pem: String,
}

impl TestPki {
    fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "app-runner test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&server_key, &ca).unwrap();
        Self { ca_pem: ca.pem(), server_pem: server.pem(), server_key_pem: server_key.serialize_pem() }
    }
}

/// A `docker-registry` on 127.0.0.1 with htpasswd auth for one user, plain HTTP or TLS; killed
/// and its files removed on drop.
struct TestRegistry {
    child: Child,
    dir: PathBuf,
    /// `127.0.0.1:<port>`
    addr: String,
}

impl TestRegistry {
    fn start(auth: &RegistryAuth, tls: Option<&TestPki>) -> Self {
        for tool in ["docker-registry", "htpasswd"] {
            let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status();
            assert!(
                found.is_ok_and(|s| s.success()),
                "{tool} is not installed: run scripts/registry.sh start (installs Debian's docker-registry and apache2-utils)"
            );
        }
        let dir = std::env::temp_dir().join(unique("registry"));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let htpasswd = dir.join("htpasswd");
        let status = Command::new("htpasswd")
            .arg("-Bbc")
            .arg(&htpasswd)
            .arg(&auth.username)
            .arg(&auth.password)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "htpasswd failed");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  \
             delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {addr}\n  \
             secret: {secret}\n",
            data = dir.join("data").display(),
            secret = unique("secret"),
        );
        if let Some(pki) = tls {
            std::fs::write(dir.join("server.pem"), &pki.server_pem).unwrap();
            std::fs::write(dir.join("server.key"), &pki.server_key_pem).unwrap();
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("server.pem").display(),
                dir.join("server.key").display()
            ));
        }
        config.push_str(&format!("auth:\n  htpasswd:\n    realm: app-runner-ecr-test\n    path: {}\n", htpasswd.display()));
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Self { child, dir, addr };
        registry.wait_listening();
        registry
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "docker-registry did not listen on {} within 30 s: {}", self.addr, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request; status, `Location` / `Docker-Content-Digest` headers, body.
async fn exchange(
    transport: &Transport,
    method: Method,
    url: &str,
    auth: Option<&RegistryAuth>,
    content_type: Option<&str>,
    body: Bytes,
) -> (StatusCode, BTreeMap<String, String>, Bytes) {
    let mut request = Request::builder().method(method).uri(url);
    if let Some(auth) = auth {
        request = request.header("authorization", basic(auth));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = transport.request(request.body(Full::new(body)).unwrap()).await.unwrap();
    let status = response.status();
    let headers = ["location", "docker-content-digest"]
        .into_iter()
        .filter_map(|name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| (name.to_string(), v.to_string())))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// Uploads `data` as a blob of `repository`; its digest.
async fn push_blob(transport: &Transport, base: &str, repository: &str, auth: &RegistryAuth, data: Vec<u8>) -> String {
    let digest = sha256_digest(&data);
    let url = format!("{base}/v2/{repository}/blobs/uploads/");
    let (status, headers, body) = exchange(transport, Method::POST, &url, Some(auth), None, Bytes::new()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "POST {url}: {}", String::from_utf8_lossy(&body));
    let location = headers.get("location").cloned().unwrap();
    let location = if location.starts_with('/') { format!("{base}{location}") } else { location };
    let url = format!("{location}{}digest={digest}", if location.contains('?') { '&' } else { '?' });
    let (status, _, body) = exchange(transport, Method::PUT, &url, Some(auth), Some("application/octet-stream"), Bytes::from(data)).await;
    assert_eq!(status, StatusCode::CREATED, "PUT blob: {}", String::from_utf8_lossy(&body));
    digest
}

/// Pushes a one-layer image with `labels` as `repository:tag`; the manifest digest.
async fn push_image(
    transport: &Transport,
    base: &str,
    repository: &str,
    tag: &str,
    auth: &RegistryAuth,
    labels: &BTreeMap<String, String>,
) -> String {
    let layer = format!("not really a layer: {}", unique("layer")).into_bytes();
    let layer_size = layer.len();
    let layer_digest = push_blob(transport, base, repository, auth, layer).await;
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": labels },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    })
    .to_string()
    .into_bytes();
    let config_size = config.len();
    let config_digest = push_blob(transport, base, repository, auth, config).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": config_size, "digest": config_digest },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer_size, "digest": layer_digest }],
    })
    .to_string()
    .into_bytes();
    let digest = sha256_digest(&manifest);
    let url = format!("{base}/v2/{repository}/manifests/{tag}");
    let (status, headers, body) = exchange(
        transport,
        Method::PUT,
        &url,
        Some(auth),
        Some("application/vnd.docker.distribution.manifest.v2+json"),
        Bytes::from(manifest),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "PUT {url}: {}", String::from_utf8_lossy(&body));
    assert_eq!(headers.get("docker-content-digest"), Some(&digest));
    digest
}
