//! `engine::docker` over `tcp://` with TLS, as the docker CLI does it: `ca.pem` verifies the
//! engine, `cert.pem` + `key.pem` identify the client.
//!
//! The engine is the test rig's (`scripts/docker-engine.sh start && eval "$(scripts/docker-engine.sh env)"`),
//! reached through a forwarder started here on 127.0.0.1: it terminates TLS with a throwaway CA's
//! server certificate, requires a client certificate signed by that CA, and passes the bytes on to
//! the engine's unix socket.
#![allow(clippy::unwrap_used)]

use app_runner::engine::docker::{DockerEngine, EngineError};
use app_spec::job::EngineSettings;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, UnixStream};
use tokio::task::JoinHandle;

/// The rig engine's unix socket.
fn engine_socket() -> PathBuf {
    let host = std::env::var("DOCKER_HOST").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "DOCKER_HOST is not set: these tests need a real Docker engine; run \
             `scripts/docker-engine.sh start && eval \"$(scripts/docker-engine.sh env)\"` first"
        )
    });
    let path = host.strip_prefix("unix://").unwrap_or_else(|| panic!("DOCKER_HOST={host}: the TLS tests forward to a unix:// engine"));
    PathBuf::from(path)
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("app-runner-tls-{}-{nanos}-{what}", std::process::id())
}

/// A throwaway certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate and its key (PEM), for a server (127.0.0.1, localhost) or a client.
    fn leaf(&self, server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names = if server { vec!["127.0.0.1".to_string(), "localhost".to_string()] } else { Vec::new() };
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, if server { "127.0.0.1" } else { "app-runner test client" });
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A certificate directory as `cert_path` names it; removed on drop.
struct CertDir(PathBuf);

impl CertDir {
    /// `files`: (name, PEM) pairs.
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(unique("certs"));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, pem) in files {
            std::fs::write(dir.join(name), pem).unwrap();
        }
        Self(dir)
    }

    fn settings(&self, address: &str) -> EngineSettings {
        EngineSettings { host: Some(address.to_string()), cert_path: Some(self.0.display().to_string()) }
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The TLS-terminating forwarder; stops accepting on drop.
struct Forwarder {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on 127.0.0.1:<free port> with `server` (certificate, key PEM) and requires a
    /// client certificate signed by `client_ca`.
    async fn start(server: &(String, String), client_ca: &Ca) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(client_ca.pem().as_bytes()).unwrap()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
        let chain = CertificateDer::pem_slice_iter(server.0.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_slice(server.1.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let socket = engine_socket();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, socket) = (acceptor.clone(), socket.clone());
                tokio::spawn(async move {
                    // A refused handshake just ends this connection; the client reports it.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut engine) = UnixStream::connect(&socket).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
                });
            }
        });
        Self { addr, accept }
    }

    fn address(&self) -> String {
        format!("tcp://{}", self.addr)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[tokio::test]
async fn a_tls_engine_answers_with_the_right_client_certificate() {
    let ca = Ca::new("app-runner test CA");
    let forwarder = Forwarder::start(&ca.leaf(true), &ca).await;
    let (cert, key) = ca.leaf(false);
    let dir = CertDir::new(&[("ca.pem", &ca.pem()), ("cert.pem", &cert), ("key.pem", &key)]);
    let address = forwarder.address();

    let engine = DockerEngine::connect(&dir.settings(&address)).await.unwrap();
    assert!(engine.api_version().starts_with("1."), "{}", engine.api_version());
    assert_eq!(engine.address(), address);
    // Later requests work too (bollard opens a TLS connection for each).
    assert_eq!(engine.inspect_image(&unique("absent")).await.unwrap(), None);

    // Without a TLS setting, tcp:// stays plain HTTP, which the TLS endpoint does not answer.
    if std::env::var_os("DOCKER_CERT_PATH").is_none() && std::env::var_os("DOCKER_TLS_VERIFY").is_none() {
        let plain = EngineSettings { host: Some(address.clone()), cert_path: None };
        let err = DockerEngine::connect(&plain).await.unwrap_err();
        assert!(matches!(err, EngineError::Unreachable { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn a_certificate_directory_without_key_pem_is_named_with_how_to_set_it() {
    let ca = Ca::new("app-runner test CA");
    let (cert, _) = ca.leaf(false);
    let dir = CertDir::new(&[("ca.pem", &ca.pem()), ("cert.pem", &cert)]);
    // Nothing listens there: the files are checked before any connection.
    let address = "tcp://127.0.0.1:1";
    let err = DockerEngine::connect(&dir.settings(address)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::TlsFiles { .. }), "{err:?}");
    assert!(text.contains(&dir.0.display().to_string()), "{text}");
    assert!(text.contains("lacks key.pem"), "{text}");
    assert!(text.contains("ca.pem, cert.pem and key.pem"), "{text}");
    assert!(text.contains(address), "{text}");
    assert!(text.contains("cert_path") && text.contains("docker {") && text.contains("DOCKER_CERT_PATH"), "{text}");
    assert!(text.contains("DOCKER_HOST"), "{text}");

    // A directory that does not exist lacks all three.
    let missing = EngineSettings { host: Some(address.into()), cert_path: Some(dir.0.join("nonexistent").display().to_string()) };
    let text = DockerEngine::connect(&missing).await.unwrap_err().to_string();
    assert!(text.contains("does not exist") && text.contains("ca.pem, cert.pem, key.pem"), "{text}");

    // A key.pem without a key is named too (bollard would silently send no certificate).
    std::fs::write(dir.0.join("key.pem"), "not a key\n").unwrap();
    let err = DockerEngine::connect(&dir.settings(address)).await.unwrap_err();
    assert!(matches!(err, EngineError::TlsFiles { .. }) && err.to_string().contains("key.pem holds no usable"), "{err}");
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_naming_the_address() {
    let ca = Ca::new("app-runner test CA");
    let forwarder = Forwarder::start(&ca.leaf(true), &ca).await;
    let address = forwarder.address();
    let stranger = Ca::new("some other CA");
    let (cert, key) = stranger.leaf(false);
    let dir = CertDir::new(&[("ca.pem", &ca.pem()), ("cert.pem", &cert), ("key.pem", &key)]);

    let err = DockerEngine::connect(&dir.settings(&address)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::Unreachable { .. }), "{err:?}");
    assert!(text.contains(&address), "{text}");
    assert!(text.contains("TLS connection failed"), "{text}");

    // The other way round: an engine whose certificate ca.pem did not sign.
    let (cert, key) = ca.leaf(false);
    let dir = CertDir::new(&[("ca.pem", &stranger.pem()), ("cert.pem", &cert), ("key.pem", &key)]);
    let err = DockerEngine::connect(&dir.settings(&address)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::Unreachable { .. }), "{err:?}");
    assert!(text.contains(&address) && text.contains("TLS connection failed"), "{text}");
}
