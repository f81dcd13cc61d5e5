//! Amazon ECR credentials for registry pushes and pulls: ECR `GetAuthorizationToken` with the AWS
//! SDK's default credential chain (environment, shared config/credentials files and their
//! `credential_process`, web identity, ECS and EC2 instance roles), decoded to the registry's
//! basic-auth user and password (`AWS` and a 12-hour token).
//!
//! The SDK honours `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_ECR` (and `endpoint_url` in the profile),
//! which is how the tests point it at a local moto server. SSO profiles are not supported (the
//! SDK's `sso` feature is not compiled in): use `aws configure export-credentials` or a
//! `credential_process` for them.

use super::RegistryAuth;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;
use std::fmt;
use std::time::Duration;

/// How long one ECR call may take, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// What to do when the AWS credentials are missing or refused.
const CREDENTIALS_HINT: &str = "give the runner AWS credentials allowed to call ecr:GetAuthorizationToken \
     (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance, task or web-identity role)";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EcrError {
    #[error("cannot get ECR credentials for `{repository}`: {reason}")]
    InvalidRepository { repository: String, reason: String },
    #[error(
        "cannot get ECR credentials for {target}: no AWS region configured; set AWS_REGION (or `region` in the AWS profile), \
         or name the registry by its ECR host `<account>.dkr.ecr.<region>.amazonaws.com`"
    )]
    NoRegion { target: String },
    #[error("ECR GetAuthorizationToken {attempt} failed: {message}; {hint}")]
    Request { attempt: String, message: String, hint: String },
    #[error("ECR GetAuthorizationToken {attempt} answered without a usable token: {reason}")]
    InvalidToken { attempt: String, reason: String },
}

/// The ECR registry a repository host names: `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    pub account: String,
    pub region: String,
}

impl EcrHost {
    /// `Some` when `host` (`host[:port]`) is an ECR registry host name.
    pub fn parse(host: &str) -> Option<Self> {
        let host = host.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h);
        let host = host.to_ascii_lowercase();
        let rest = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
        let (account, rest) = rest.split_once('.')?;
        let region = rest.strip_prefix("dkr.ecr.").or_else(|| rest.strip_prefix("dkr.ecr-fips."))?;
        let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        let region_ok = !region.is_empty()
            && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !region.starts_with('-')
            && !region.ends_with('-');
        (account_ok && region_ok).then(|| Self { account: account.to_string(), region: region.to_string() })
    }
}

/// Registry credentials for `repository` (`host/path` of an image, tag or digest allowed) from
/// ECR `GetAuthorizationToken`. For an ECR host the call goes to its region for its account
/// (`registryIds = [account]`); for any other host (a pull-through proxy, a test registry) to the
/// SDK's default region for the caller's own registry.
pub async fn credentials(repository: &str) -> Result<RegistryAuth, EcrError> {
    let host = registry_host(repository)?;
    let ecr = EcrHost::parse(host);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build());
    if let Some(ecr) = &ecr {
        loader = loader.region(Region::new(ecr.region.clone()));
    }
    let sdk = loader.load().await;
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        return Err(EcrError::NoRegion { target: format!("registry {host}") });
    };
    let attempt = Attempt { region, account: ecr.as_ref().map(|e| e.account.clone()), endpoint: endpoint_override(&sdk) };
    let client = aws_sdk_ecr::Client::new(&sdk);
    let mut call = client.get_authorization_token();
    if let Some(account) = &attempt.account {
        // Deprecated in the API: the token is valid for every registry the caller may use, whatever
        // registryIds says. Still sent, so the answer (and its proxyEndpoint) is for this registry.
        #[allow(deprecated)]
        {
            call = call.registry_ids(account.clone());
        }
    }
    let output = call.send().await.map_err(|e| request_error(&attempt, &e))?;
    let data = output.authorization_data();
    let token = data
        .iter()
        .find_map(|d| d.authorization_token().filter(|t| !t.is_empty()))
        .ok_or_else(|| EcrError::InvalidToken { attempt: attempt.to_string(), reason: "no authorization data".into() })?;
    decode_token(token).map_err(|reason| EcrError::InvalidToken { attempt: attempt.to_string(), reason })
}

/// The `host[:port]` part of `repository`.
fn registry_host(repository: &str) -> Result<&str, EcrError> {
    let invalid = |reason: &str| EcrError::InvalidRepository { repository: repository.to_string(), reason: reason.to_string() };
    match repository.split_once('/') {
        Some((host, path)) if !host.is_empty() && !path.is_empty() && (host.contains(['.', ':']) || host == "localhost") => Ok(host),
        _ => Err(invalid("expected `host/path` with the registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com/web`")),
    }
}

/// The ECR endpoint set through `AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL` or the profile, if any.
fn endpoint_override(sdk: &SdkConfig) -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL_ECR").ok().filter(|v| !v.is_empty()).or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// What was tried, for messages: `in region R for account A (endpoint E)`.
struct Attempt {
    region: String,
    account: Option<String>,
    endpoint: Option<String>,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in region {}", self.region)?;
        match &self.account {
            Some(account) => write!(f, " for account {account}")?,
            None => write!(f, " for the caller's account")?,
        }
        if let Some(endpoint) = &self.endpoint {
            write!(f, " (endpoint {endpoint})")?;
        }
        Ok(())
    }
}

fn request_error<E, R>(attempt: &Attempt, error: &SdkError<E, R>) -> EcrError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: fmt::Debug,
{
    let (message, hint) = match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("unknown error");
            let message = match e.message() {
                Some(m) if !m.is_empty() => format!("{code}: {m}"),
                _ => code.to_string(),
            };
            let hint = match code {
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "InvalidClientTokenId"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "AccessDeniedException"
                | "AccessDenied" => CREDENTIALS_HINT.to_string(),
                "InvalidParameterException" => "check the account in the registry host name".to_string(),
                _ => "check the AWS credentials and region".to_string(),
            };
            (message, hint)
        }
        SdkError::TimeoutError(_) => (
            format!("timed out after {}s", OPERATION_TIMEOUT.as_secs()),
            "check the network path to ECR (HTTPS_PROXY, VPC endpoints) and the region".to_string(),
        ),
        other => {
            let message = error_chain(other);
            let lower = message.to_ascii_lowercase();
            let hint = if lower.contains("credential") {
                CREDENTIALS_HINT.to_string()
            } else if matches!(other, SdkError::DispatchFailure(_)) {
                "check the network path to ECR (HTTPS_PROXY, VPC endpoints), the region and any endpoint override".to_string()
            } else {
                "check the AWS credentials and region".to_string()
            };
            (message, hint)
        }
    };
    EcrError::Request { attempt: attempt.to_string(), message, hint }
}

/// `error: source: source…`, each distinct message once (the SDK's wrappers repeat their sources).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// `base64(user:password)` → credentials. Errors never quote the token.
fn decode_token(token: &str) -> Result<RegistryAuth, String> {
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(token.trim()).map_err(|_| "the authorization token is not base64".to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "the authorization token is not UTF-8".to_string())?;
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(RegistryAuth::new(user, password)),
        _ => Err("the authorization token is not `user:password`".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecr_hosts() {
        let host = |account: &str, region: &str| Some(EcrHost { account: account.into(), region: region.into() });
        assert_eq!(EcrHost::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com"), host("123456789012", "us-east-1"));
        assert_eq!(EcrHost::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"), host("123456789012", "cn-north-1"));
        assert_eq!(EcrHost::parse("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com"), host("123456789012", "us-gov-west-1"));
        assert_eq!(EcrHost::parse("123456789012.DKR.ECR.eu-west-1.amazonaws.com:443"), host("123456789012", "eu-west-1"));
        for other in [
            "127.0.0.1:5056",
            "registry.example.com",
            "public.ecr.aws",
            "12345.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr..amazonaws.com",
            "123456789012.s3.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        ] {
            assert_eq!(EcrHost::parse(other), None, "{other}");
        }
    }

    #[test]
    fn repository_needs_a_host() {
        assert_eq!(
            registry_host("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1").ok(),
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com")
        );
        assert_eq!(registry_host("127.0.0.1:5056/team/web").ok(), Some("127.0.0.1:5056"));
        assert_eq!(registry_host("localhost/web").ok(), Some("localhost"));
        for bad in ["web", "team/web", "", "host.example/"] {
            assert!(matches!(registry_host(bad), Err(EcrError::InvalidRepository { .. })), "{bad}");
        }
    }

    #[test]
    fn decodes_tokens_without_quoting_them() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pa:ss");
        assert_eq!(decode_token(&token), Ok(RegistryAuth::new("AWS", "pa:ss")));
        for bad in ["%%%", &base64::engine::general_purpose::STANDARD.encode("no-colon-secret")] {
            let message = decode_token(bad).unwrap_err();
            assert!(!message.contains(bad) && !message.contains("secret"), "{message}");
        }
    }

    #[test]
    fn messages_say_what_was_tried() {
        let attempt =
            Attempt { region: "eu-west-1".into(), account: Some("123456789012".into()), endpoint: Some("http://127.0.0.1:5059".into()) };
        assert_eq!(attempt.to_string(), "in region eu-west-1 for account 123456789012 (endpoint http://127.0.0.1:5059)");
        let attempt = Attempt { region: "us-east-1".into(), account: None, endpoint: None };
        assert_eq!(attempt.to_string(), "in region us-east-1 for the caller's account");
        let e = EcrError::NoRegion { target: "registry 127.0.0.1:5056".into() };
        assert!(e.to_string().contains("AWS_REGION"), "{e}");
    }
}
