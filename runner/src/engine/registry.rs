//! A minimal OCI / Docker registry v2 client: manifest digests, image labels, manifest deletion.
//!
//! HTTPS (rustls, system roots plus any given with [`RegistryClient::with_root_certificate`]; see
//! [`super::https`]), and plain HTTP for registries on loopback (`127.0.0.0/8`, `localhost`, `::1`)
//! and the ones named insecure with [`RegistryClient::insecure`], unless named in [`RegistryClient::tls`].
//! Authentication: HTTP basic, and bearer tokens (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`,
//! the token fetched from the realm with the credentials as basic auth).

use super::RegistryAuth;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use serde_json::Value as Json;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Every manifest type asked for, in one `Accept` header.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// The registry Docker uses for names without one.
pub const DOCKER_HUB: &str = "docker.io";

/// How long one HTTP exchange may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest manifest or config blob read into memory.
const MAX_DOCUMENT: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("registry {registry}: {reason}")]
    Unsupported { registry: String, reason: String },
    #[error("cannot reach registry {registry}: {message}")]
    Unreachable { registry: String, message: String },
    #[error("registry {registry} requires authentication: give a username and password for it")]
    AuthRequired { registry: String },
    #[error("authentication failed for registry {registry}: check the username and password")]
    AuthFailed { registry: String },
    #[error("registry {registry} denied access to {repository}: {message}")]
    Denied { registry: String, repository: String, message: String },
    #[error("registry {registry} answered {status} to {what}: {message}")]
    Http { registry: String, what: String, status: u16, message: String },
    #[error("registry {registry} sent an invalid answer to {what}: {message}")]
    Invalid { registry: String, what: String, message: String },
}

/// A parsed image reference: `[registry/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`; [`DOCKER_HUB`] when the reference names none.
    pub registry: String,
    /// The repository path, e.g. `team/app` (`library/alpine` on Docker Hub).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `reference` the way Docker does: the first path component is a registry when it
    /// has a `.` or a `:` or is `localhost`.
    pub fn parse(reference: &str) -> Result<Self, RegistryError> {
        let bad = |reason: &str| RegistryError::InvalidReference { reference: reference.to_string(), reason: reason.to_string() };
        if reference.is_empty() {
            return Err(bad("it is empty"));
        }
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => {
                validate_digest(digest).map_err(|reason| bad(&reason))?;
                (name, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        let last_slash = name.rfind('/');
        let (name, tag) = match name.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => (&name[..colon], Some(name[colon + 1..].to_string())),
            _ => (name, None),
        };
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                && !tag.starts_with(['.', '-']);
            if !valid {
                return Err(bad("the tag must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first.to_string(), rest.to_string()),
            Some(_) => (DOCKER_HUB.to_string(), name.to_string()),
            None => (DOCKER_HUB.to_string(), format!("library/{name}")),
        };
        if registry.is_empty() {
            return Err(bad("the registry host is empty"));
        }
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(component_ok) {
            return Err(bad("the repository path must be lowercase letters, digits and `.`, `_`, `-` separated by `/`"));
        }
        Ok(Self { registry, repository, tag, digest })
    }

    /// What to put after `/manifests/`: the digest, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `reference` as written, without its tag and digest: `127.0.0.1:5000/web:v1@sha256:…` →
/// `127.0.0.1:5000/web` (a registry port is not a tag).
pub fn repository_name(reference: &str) -> &str {
    let name = reference.split_once('@').map_or(reference, |(name, _)| name);
    match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), slash) if slash.is_none_or(|slash| colon > slash) => &name[..colon],
        _ => name,
    }
}

fn validate_digest(digest: &str) -> Result<(), String> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) => Ok(()),
        Some((algorithm, hex)) if !algorithm.is_empty() && !hex.is_empty() && algorithm != "sha256" => Ok(()),
        _ => Err(format!("`{digest}` is not a digest (sha256: and 64 lowercase hex digits)")),
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// One HTTP answer, body read.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// A registry v2 client. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    http: super::https::Transport,
    insecure: BTreeSet<String>,
}

impl Default for RegistryClient {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient").field("insecure", &self.insecure).finish()
    }
}

impl RegistryClient {
    pub fn new() -> Self {
        Self { http: super::https::Transport::new(), insecure: BTreeSet::new() }
    }

    /// Also talk plain HTTP to `registry` (`host[:port]`), as Docker's `insecure-registries`.
    pub fn insecure(mut self, registry: impl Into<String>) -> Self {
        self.insecure.insert(registry.into());
        self
    }

    /// Also trust the root certificate(s) in `pem` for HTTPS registries (a private CA).
    pub fn with_root_certificate(mut self, pem: &[u8]) -> Result<Self, super::https::TlsError> {
        self.http = self.http.with_root_certificate(pem)?;
        Ok(self)
    }

    /// Talk HTTPS to `registry` (`host[:port]`) even when it is on loopback or named insecure.
    pub fn tls(mut self, registry: impl Into<String>) -> Self {
        self.http.force_tls(registry);
        self
    }

    /// The digest of the manifest `reference` names (`Docker-Content-Digest`), or `None` when the
    /// registry has no such manifest.
    pub async fn head_manifest(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<Option<String>, RegistryError> {
        let r = Reference::parse(reference)?;
        let path = format!("/v2/{}/manifests/{}", r.repository, r.manifest_reference());
        let what = format!("HEAD {path}");
        let answer = self.call(&r.registry, &r.repository, "pull", Method::HEAD, &path, Some(MANIFEST_ACCEPT), auth).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(unexpected(&r, &what, &answer)),
        }
        if let Some(digest) = header_digest(&answer.headers) {
            return Ok(Some(digest));
        }
        // No Docker-Content-Digest: hash the manifest itself.
        let answer = self.get_manifest(&r, r.manifest_reference(), auth).await?;
        Ok(answer.map(|(body, _)| sha256_digest(&body)))
    }

    /// The labels of the image `reference` names (its config's `config.Labels`; empty when it has
    /// none), or `None` when the registry has no such manifest. For an index, the entry for this
    /// machine's platform (linux and this architecture), else the first entry.
    pub async fn image_labels(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<Option<BTreeMap<String, String>>, RegistryError> {
        let r = Reference::parse(reference)?;
        let Some((body, media_type)) = self.get_manifest(&r, r.manifest_reference(), auth).await? else {
            return Ok(None);
        };
        let what = format!("GET /v2/{}/manifests/{}", r.repository, r.manifest_reference());
        let mut manifest = parse_json(&r, &what, &body)?;
        let media_type = media_type.or_else(|| manifest.get("mediaType").and_then(Json::as_str).map(str::to_string)).unwrap_or_default();
        if media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST || manifest.get("manifests").is_some() {
            let digest =
                pick_platform(&manifest).ok_or_else(|| invalid(&r, &what, "the index lists no manifests".to_string()))?.to_string();
            let Some((body, _)) = self.get_manifest(&r, &digest, auth).await? else {
                return Err(invalid(&r, &what, format!("the index names manifest {digest}, which the registry does not have")));
            };
            manifest = parse_json(&r, &format!("GET /v2/{}/manifests/{digest}", r.repository), &body)?;
        }
        let config_digest = manifest
            .pointer("/config/digest")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid(&r, &what, "the manifest has no config.digest (schema 1 manifests are not supported)".to_string()))?
            .to_string();
        let blob = self.get_blob(&r, &config_digest, auth).await?;
        let config = parse_json(&r, &format!("GET /v2/{}/blobs/{config_digest}", r.repository), &blob)?;
        let labels = match config.pointer("/config/Labels") {
            Some(Json::Object(map)) => {
                map.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect()
            }
            _ => BTreeMap::new(),
        };
        Ok(Some(labels))
    }

    /// Deletes the manifest `digest` from `repository` (`host[:port]/path`). `false` when the
    /// registry did not have it. The registry must allow deletes (`storage.delete.enabled`).
    pub async fn delete_manifest(&self, repository: &str, digest: &str, auth: Option<&RegistryAuth>) -> Result<bool, RegistryError> {
        let r = Reference::parse(&format!("{repository}@{digest}"))?;
        let path = format!("/v2/{}/manifests/{digest}", r.repository);
        let what = format!("DELETE {path}");
        let answer = self.call(&r.registry, &r.repository, "delete", Method::DELETE, &path, None, auth).await?;
        match answer.status {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(unexpected(&r, &what, &answer)),
        }
    }

    /// GET a manifest: its bytes and `Content-Type`, or `None` on 404. Checks it against the
    /// digest when `reference` is one.
    async fn get_manifest(
        &self,
        r: &Reference,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<Option<(Bytes, Option<String>)>, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", r.repository);
        let what = format!("GET {path}");
        let answer = self.call(&r.registry, &r.repository, "pull", Method::GET, &path, Some(MANIFEST_ACCEPT), auth).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(unexpected(r, &what, &answer)),
        }
        if reference.starts_with("sha256:") && sha256_digest(&answer.body) != reference {
            return Err(invalid(r, &what, "the manifest does not match its digest".to_string()));
        }
        let media_type =
            answer.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        Ok(Some((answer.body, media_type)))
    }

    /// GET a blob (following one redirect), checked against its digest.
    async fn get_blob(&self, r: &Reference, digest: &str, auth: Option<&RegistryAuth>) -> Result<Bytes, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", r.repository);
        let what = format!("GET {path}");
        let mut answer = self.call(&r.registry, &r.repository, "pull", Method::GET, &path, None, auth).await?;
        if answer.status.is_redirection() {
            let location = answer.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            if !location.starts_with("http://") && !location.starts_with("https://") {
                return Err(RegistryError::Unsupported {
                    registry: r.registry.clone(),
                    reason: format!("blob redirect to `{location}` (only absolute http(s) URLs are supported)"),
                });
            }
            answer = self.send(&r.registry, Method::GET, &location, None, None).await?;
        }
        if answer.status != StatusCode::OK {
            return Err(unexpected(r, &what, &answer));
        }
        if digest.starts_with("sha256:") && sha256_digest(&answer.body) != digest {
            return Err(invalid(r, &what, "the blob does not match its digest".to_string()));
        }
        Ok(answer.body)
    }

    /// `https://registry`, or `http://` for loopback and insecure registries (see [`super::https`]).
    fn base_url(&self, registry: &str) -> Result<String, RegistryError> {
        let plain_http_allowed = self.insecure.contains(registry) || is_loopback(registry);
        Ok(format!("{}://{registry}", self.http.scheme(registry, plain_http_allowed)))
    }

    /// One request to the registry with the v2 auth dance: unauthenticated first, then as the
    /// `WWW-Authenticate` challenge asks (basic, or a bearer token for `repository:<repo>:<actions>`).
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        registry: &str,
        repository: &str,
        actions: &str,
        method: Method,
        path: &str,
        accept: Option<&str>,
        auth: Option<&RegistryAuth>,
    ) -> Result<Answer, RegistryError> {
        let url = format!("{}{path}", self.base_url(registry)?);
        let answer = self.send(registry, method.clone(), &url, accept, None).await?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
        let challenge = answer.headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let Some(auth) = auth else {
            return Err(RegistryError::AuthRequired { registry: registry.to_string() });
        };
        let authorization = match parse_challenge(&challenge) {
            Challenge::Bearer { realm, service, scope } => {
                let scope = scope.unwrap_or_else(|| format!("repository:{repository}:{actions}"));
                let token = self.fetch_token(registry, &realm, service.as_deref(), &scope, auth).await?;
                format!("Bearer {token}")
            }
            // Basic, or a scheme we do not know: basic is what registries behind htpasswd ask for.
            Challenge::Basic | Challenge::Other => basic(auth),
        };
        let answer = self.send(registry, method, &url, accept, Some(&authorization)).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            return Err(RegistryError::AuthFailed { registry: registry.to_string() });
        }
        Ok(answer)
    }

    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        auth: &RegistryAuth,
    ) -> Result<String, RegistryError> {
        if !realm.starts_with("http://") && !realm.starts_with("https://") {
            return Err(RegistryError::Unsupported {
                registry: registry.to_string(),
                reason: format!("token realm `{realm}` is not an http(s) URL"),
            });
        }
        self.realm_may_get_credentials(registry, realm)?;
        let mut url = format!("{realm}{}", if realm.contains('?') { '&' } else { '?' });
        if let Some(service) = service {
            url.push_str(&format!("service={}&", percent_encode(service)));
        }
        url.push_str(&format!("scope={}", percent_encode(scope)));
        let answer = self.send(registry, Method::GET, &url, None, Some(&basic(auth))).await?;
        if answer.status == StatusCode::UNAUTHORIZED || answer.status == StatusCode::FORBIDDEN {
            return Err(RegistryError::AuthFailed { registry: registry.to_string() });
        }
        let what = "the token request".to_string();
        if answer.status != StatusCode::OK {
            return Err(RegistryError::Http {
                registry: registry.to_string(),
                what,
                status: answer.status.as_u16(),
                message: body_message(&answer.body),
            });
        }
        let json: Json = serde_json::from_slice(&answer.body).map_err(|e| RegistryError::Invalid {
            registry: registry.to_string(),
            what: what.clone(),
            message: e.to_string(),
        })?;
        json.get("token")
            .or_else(|| json.get("access_token"))
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Invalid { registry: registry.to_string(), what, message: "no token in the answer".into() })
    }

    /// Credentials go to a plain-HTTP token realm only when the registry itself was declared
    /// insecure, or the realm is on this machine's loopback (where loopback registries are plain
    /// HTTP anyway): a registry's challenge must not be able to send them over the network in clear.
    fn realm_may_get_credentials(&self, registry: &str, realm: &str) -> Result<(), RegistryError> {
        let Some(rest) = realm.strip_prefix("http://") else { return Ok(()) };
        let realm_host = rest.split(['/', '?']).next().unwrap_or_default();
        if self.insecure.contains(registry) || is_loopback(realm_host) {
            return Ok(());
        }
        Err(RegistryError::Unsupported {
            registry: registry.to_string(),
            reason: format!(
                "its token realm `{realm}` is plain HTTP, and credentials are sent there only for a registry declared insecure (`insecure = true` in the `registry` block); use an HTTPS realm, or declare the registry insecure if it is on a network you trust"
            ),
        })
    }

    async fn send(
        &self,
        registry: &str,
        method: Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Answer, RegistryError> {
        let unreachable = |message: String| RegistryError::Unreachable { registry: registry.to_string(), message };
        let mut request =
            Request::builder().method(method.clone()).uri(url).header("user-agent", concat!("app-runner/", env!("CARGO_PKG_VERSION")));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(authorization) = authorization {
            let mut value =
                HeaderValue::from_str(authorization).map_err(|_| RegistryError::AuthFailed { registry: registry.to_string() })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let request = request.body(Full::new(Bytes::new())).map_err(|e| unreachable(format!("bad request URL {url}: {e}")))?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| unreachable(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_DOCUMENT)
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the answer to {method} {url}: {e}")))?
                .to_bytes();
            Ok::<_, RegistryError>(Answer { status: parts.status, headers: parts.headers, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable(format!("{method} {url} timed out after {REQUEST_TIMEOUT:?}")))?
    }
}

enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
    Other,
}

/// Parses a `WWW-Authenticate` value (one challenge).
fn parse_challenge(value: &str) -> Challenge {
    let value = value.trim();
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::Other;
    }
    let params = parse_params(params);
    match params.get("realm") {
        Some(realm) => {
            Challenge::Bearer { realm: realm.clone(), service: params.get("service").cloned(), scope: params.get("scope").cloned() }
        }
        None => Challenge::Other,
    }
}

/// `key="value", key=value` → map (keys lowercased).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            value.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn basic(auth: &RegistryAuth) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.username, auth.password)))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.rsplit_once(':').map_or(registry, |(host, _)| host)
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn header_digest(headers: &HeaderMap) -> Option<String> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|d| validate_digest(d).is_ok())
        .map(str::to_string)
}

/// The digest of the index entry for linux/<this arch>, else the first entry.
fn pick_platform(index: &Json) -> Option<&str> {
    let manifests = index.get("manifests")?.as_array()?;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let matches = |m: &&Json| {
        m.pointer("/platform/os").and_then(Json::as_str) == Some("linux")
            && m.pointer("/platform/architecture").and_then(Json::as_str) == Some(arch)
    };
    manifests.iter().find(matches).or_else(|| manifests.first())?.get("digest")?.as_str()
}

fn parse_json(r: &Reference, what: &str, body: &[u8]) -> Result<Json, RegistryError> {
    serde_json::from_slice(body).map_err(|e| invalid(r, what, format!("not JSON: {e}")))
}

fn invalid(r: &Reference, what: &str, message: String) -> RegistryError {
    RegistryError::Invalid { registry: r.registry.clone(), what: what.to_string(), message }
}

fn unexpected(r: &Reference, what: &str, answer: &Answer) -> RegistryError {
    let message = body_message(&answer.body);
    if answer.status == StatusCode::FORBIDDEN {
        return RegistryError::Denied { registry: r.registry.clone(), repository: r.repository.clone(), message };
    }
    RegistryError::Http { registry: r.registry.clone(), what: what.to_string(), status: answer.status.as_u16(), message }
}

/// The registry's error message (`{"errors":[{"code","message"}]}`), else the body's start.
fn body_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<Json>(body) {
        if let Some(errors) = json.get("errors").and_then(Json::as_array) {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(Json::as_str).unwrap_or_default();
                    let message = e.get("message").and_then(Json::as_str).unwrap_or_default();
                    format!("{code}: {message}").trim_matches([':', ' ']).to_string()
                })
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text.chars().take(300).collect()
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("127.0.0.1:5055/team/app/web:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref(), r.digest.as_deref()),
            ("127.0.0.1:5055", "team/app/web", Some("v1"), None)
        );
        assert_eq!(r.manifest_reference(), "v1");
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), ("localhost:5000", "app", None));
        assert_eq!(r.manifest_reference(), "latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("registry.example.com/x/y:t@{d}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref(), r.digest.as_deref()),
            ("registry.example.com", "x/y", Some("t"), Some(d.as_str()))
        );
        assert_eq!(r.manifest_reference(), d);
        let r = Reference::parse("alpine:3").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("docker.io", "library/alpine"));
        let r = Reference::parse("team/app").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("docker.io", "team/app"));
        for bad in ["", "Upper/case", "host:5000/app:", "host:5000/app@sha256:zz", "host:5000//app", "app:-x"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repository_names_drop_tag_and_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(repository_name(&format!("127.0.0.1:5000/web:v1@{d}")), "127.0.0.1:5000/web");
        assert_eq!(repository_name(&format!("127.0.0.1:5000/web@{d}")), "127.0.0.1:5000/web");
        assert_eq!(repository_name("127.0.0.1:5000/team/web"), "127.0.0.1:5000/team/web");
        assert_eq!(repository_name("alpine:3"), "alpine");
    }

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenge(r#"Bearer realm="http://127.0.0.1:9/token",service="registry.local",scope="repository:a/b:pull,push""#);
        match c {
            Challenge::Bearer { realm, service, scope } => {
                assert_eq!(realm, "http://127.0.0.1:9/token");
                assert_eq!(service.as_deref(), Some("registry.local"));
                assert_eq!(scope.as_deref(), Some("repository:a/b:pull,push"));
            }
            _ => panic!("not bearer"),
        }
        assert!(matches!(parse_challenge(r#"Basic realm="x""#), Challenge::Basic));
    }

    #[test]
    fn credentials_reach_plain_http_realms_only_for_insecure_registries() {
        let client = RegistryClient::new();
        let refused = client.realm_may_get_credentials("registry.example.com", "http://auth.example.com/token").unwrap_err();
        assert!(refused.to_string().contains("plain HTTP") && refused.to_string().contains("insecure"), "{refused}");
        assert!(client.realm_may_get_credentials("registry.example.com", "https://auth.example.com/token").is_ok());
        assert!(client.realm_may_get_credentials("127.0.0.1:5000", "http://127.0.0.1:5001/token").is_ok());
        assert!(
            client.realm_may_get_credentials("127.0.0.1:5000", "http://auth.example.com/token").is_err(),
            "a loopback registry's remote realm"
        );
        let insecure = RegistryClient::new().insecure("registry.lan:5000");
        assert!(insecure.realm_may_get_credentials("registry.lan:5000", "http://auth.lan/token").is_ok());
        assert!(insecure.realm_may_get_credentials("other.lan:5000", "http://auth.lan/token").is_err());
    }

    #[tokio::test]
    async fn a_plain_http_realm_gets_no_request() {
        // Refused before any connection: the realm's address is never contacted.
        let client = RegistryClient::new();
        let auth = RegistryAuth::new("u", "p");
        let e = client.fetch_token("registry.example.com", "http://192.0.2.1/token", None, "repository:a:pull", &auth).await.unwrap_err();
        assert!(matches!(e, RegistryError::Unsupported { .. }), "{e:?}");
    }

    proptest::proptest! {
        /// What a registry or a user writes never panics the parsers; a parsed reference names
        /// what it was given.
        #[test]
        fn parsers_never_panic(text in "\\PC{0,80}", challenge in "(Bearer |Basic )?([a-z]{1,6}=(\"[^\"]{0,20}\"|[^,]{0,10}),?){0,4}") {
            let _ = parse_challenge(&text);
            let _ = parse_challenge(&challenge);
            let _ = is_loopback(&text);
            if let Ok(r) = Reference::parse(&text) {
                proptest::prop_assert!(!r.registry.is_empty() && !r.repository.is_empty());
            }
        }
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1:5055"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn auth_debug_hides_password() {
        let auth = RegistryAuth::new("ci", "s3cret");
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
