//! AWS access for platforms: an [`SdkConfig`] built from the provider's `aws` block
//! ([`AwsSettings`]) on top of the SDK's default chain, clients that count their API calls, and
//! error messages that say what was tried and what to set.
//!
//! - `region`, `profile` override the SDK's defaults (`AWS_REGION`, `AWS_PROFILE`, the shared
//!   config files); unset, the default chain decides, as for the AWS CLI.
//! - `endpoint_url` is one endpoint for every service (moto, LocalStack); unset, the SDK still
//!   honours `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` and the profile's `endpoint_url`.
//! - `assume_role` wraps the resolved credentials in aws-config's STS `AssumeRoleProvider` (STS at
//!   the same region and endpoint); the role is assumed once, up front, so a refusal is reported as
//!   such and not as the first Lambda call failing.
//!
//! Every client made by [`Aws`] carries a [`CallCounter`] interceptor: platforms log
//! [`Aws::calls`] at the end of each job (`AWS API calls: …`). The STS call of `assume_role` is
//! made by the credentials provider, outside the clients, and is not counted.
//!
//! No message ever contains credentials: the SDK's errors do not carry them, and this module only
//! quotes the region, profile, endpoint and role ARN.

use app_spec::job::AwsSettings;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_lambda::config::interceptors::{BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef};
use aws_sdk_lambda::config::{ConfigBag, Intercept, ProvideCredentials, RuntimeComponents, SharedCredentialsProvider};
use aws_sdk_lambda::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one API call may take, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The session name for `assume_role` when the block sets none.
pub const DEFAULT_SESSION_NAME: &str = "terraform-provider-app";

/// What to do when the AWS credentials are missing or refused.
const CREDENTIALS_HINT: &str = "give the runner AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the \
     provider's `aws { profile }`, or an instance, task or web-identity role) allowed to make this call";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AwsError {
    #[error("no AWS region configured ({target}); set `region` in the provider's `aws` block, AWS_REGION, or `region` in the AWS profile")]
    NoRegion { target: String },
    #[error(
        "could not assume the role {role} ({target}): {message}; check that the runner's own credentials may call sts:AssumeRole on it \
         and that the role's trust policy (and `external_id`, if it requires one) allows them"
    )]
    AssumeRole { role: String, target: String, message: String },
    #[error("AWS {operation} failed ({target}): {message}; {hint}")]
    Request {
        operation: String,
        target: String,
        /// The service's error code (`ResourceNotFoundException`, …), when it answered.
        code: Option<String>,
        message: String,
        hint: String,
    },
}

impl AwsError {
    /// The service's error code, for a request the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Request { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// What a connection was set up for, for messages: `region R, profile P, endpoint E, role A`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    pub role: Option<String>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.region {
            Some(region) => write!(f, "region {region}")?,
            None => write!(f, "no region")?,
        }
        if let Some(profile) = &self.profile {
            write!(f, ", profile {profile}")?;
        }
        if let Some(endpoint) = &self.endpoint {
            write!(f, ", endpoint {endpoint}")?;
        }
        if let Some(role) = &self.role {
            write!(f, ", role {role}")?;
        }
        Ok(())
    }
}

/// The API calls of one job: operations started (`Service.Operation`) and HTTP attempts
/// (retries included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCount {
    pub calls: u64,
    pub attempts: u64,
    pub by_operation: BTreeMap<String, u64>,
}

impl fmt::Display for CallCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.calls)?;
        if !self.by_operation.is_empty() {
            let parts: Vec<String> = self.by_operation.iter().map(|(op, n)| format!("{op} {n}")).collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        if self.attempts != self.calls {
            write!(f, "; {} HTTP attempts", self.attempts)?;
        }
        Ok(())
    }
}

/// Counts the API calls of every client it is attached to.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    count: Arc<Mutex<CallCount>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> CallCount {
        self.count.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Once per operation, after the operation's configuration (its name) is in `cfg`; the
    // client's `read_before_execution` runs before that.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = match cfg.load::<Metadata>() {
            Some(m) => format!("{}.{}", service_label(m.service()), m.name()),
            None => "unknown".to_string(),
        };
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        count.calls += 1;
        *count.by_operation.entry(operation).or_default() += 1;
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.count.lock().unwrap_or_else(|e| e.into_inner()).attempts += 1;
        Ok(())
    }
}

/// `lambda` → `Lambda`, `iam` → `IAM`, `ecr` → `ECR`.
fn service_label(service: &str) -> String {
    match service.to_ascii_lowercase().as_str() {
        "lambda" => "Lambda".into(),
        "iam" => "IAM".into(),
        "ecr" => "ECR".into(),
        "sts" => "STS".into(),
        _ => service.to_string(),
    }
}

/// A connection to AWS for one job: the SDK configuration and the job's call counter.
#[derive(Debug, Clone)]
pub struct Aws {
    sdk: SdkConfig,
    target: Target,
    counter: CallCounter,
}

impl Aws {
    /// Resolves region, credentials source and endpoint: the `aws` block first, then the SDK's
    /// default chain. Assumes `assume_role` once (an STS call) so a refusal is reported here.
    pub async fn connect(settings: &AwsSettings) -> Result<Self, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build());
        if let Some(region) = non_empty(&settings.region) {
            loader = loader.region(Region::new(region.to_string()));
        }
        if let Some(profile) = non_empty(&settings.profile) {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = non_empty(&settings.endpoint_url) {
            loader = loader.endpoint_url(endpoint);
        }
        let base = loader.load().await;
        let role = settings.assume_role.as_ref().filter(|r| !r.role_arn.is_empty());
        let target = Target {
            region: base.region().map(|r| r.to_string()),
            profile: non_empty(&settings.profile)
                .map(str::to_string)
                .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty())),
            endpoint: base.endpoint_url().map(str::to_string).or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.is_empty())),
            role: role.map(|r| r.role_arn.clone()),
        };
        if target.region.is_none() {
            return Err(AwsError::NoRegion { target: target.to_string() });
        }
        let sdk = match role {
            None => base,
            Some(role) => {
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.role_arn.clone())
                    .session_name(non_empty(&role.session_name).unwrap_or(DEFAULT_SESSION_NAME))
                    .configure(&base);
                if let Some(external_id) = non_empty(&role.external_id) {
                    builder = builder.external_id(external_id);
                }
                let provider = builder.build().await;
                if let Err(e) = provider.provide_credentials().await {
                    return Err(AwsError::AssumeRole { role: role.role_arn.clone(), target: target.to_string(), message: error_chain(&e) });
                }
                // The base configuration's identity cache keeps the assumed credentials until
                // shortly before they expire; the provider renews them after that.
                base.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
            }
        };
        Ok(Self { sdk, target, counter: CallCounter::default() })
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// What this connection was set up for (region, profile, endpoint, role), for messages.
    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn region(&self) -> &str {
        self.target.region.as_deref().unwrap_or_default()
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        let config = aws_sdk_lambda::config::Builder::from(&self.sdk).interceptor(self.counter.clone()).build();
        aws_sdk_lambda::Client::from_conf(config)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::config::Builder::from(&self.sdk).interceptor(self.counter.clone()).build();
        aws_sdk_iam::Client::from_conf(config)
    }

    /// An ECR client, in `region` when given (an image's registry region), else the default one.
    pub fn ecr(&self, region: Option<&str>) -> aws_sdk_ecr::Client {
        let mut config = aws_sdk_ecr::config::Builder::from(&self.sdk).interceptor(self.counter.clone());
        if let Some(region) = region {
            config = config.region(Region::new(region.to_string()));
        }
        aws_sdk_ecr::Client::from_conf(config.build())
    }

    /// The API calls made through this connection's clients so far.
    pub fn calls(&self) -> CallCount {
        self.counter.snapshot()
    }

    /// An error for a failed call of `operation` (e.g. `Lambda.GetFunction`), saying what was
    /// tried and what to check.
    pub fn error<E, R>(&self, operation: &str, error: &SdkError<E, R>) -> AwsError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: fmt::Debug,
    {
        request_error(operation, &self.target, error)
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The service's error code of a failed call, when the service answered.
pub fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// See [`Aws::error`].
pub fn request_error<E, R>(operation: &str, target: &Target, error: &SdkError<E, R>) -> AwsError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: fmt::Debug,
{
    let (code, message, hint) = match error {
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
                "TooManyRequestsException" | "Throttling" | "ThrottlingException" => {
                    "the account's request rate limit was hit; try again later".to_string()
                }
                _ => "check the configuration and the AWS account".to_string(),
            };
            (Some(code.to_string()), message, hint)
        }
        SdkError::TimeoutError(_) => (
            None,
            format!("timed out after {}s", OPERATION_TIMEOUT.as_secs()),
            "check the network path to AWS (HTTPS_PROXY, VPC endpoints), the region and `endpoint_url`".to_string(),
        ),
        other => {
            let message = error_chain(other);
            let lower = message.to_ascii_lowercase();
            let hint = if lower.contains("credential") {
                CREDENTIALS_HINT.to_string()
            } else if matches!(other, SdkError::DispatchFailure(_)) {
                "check the network path to AWS (HTTPS_PROXY, VPC endpoints), the region and `endpoint_url`".to_string()
            } else {
                "check the AWS credentials and region".to_string()
            };
            (None, message, hint)
        }
    };
    AwsError::Request { operation: operation.to_string(), target: target.to_string(), code, message, hint }
}

/// `error: source: source…`, each distinct message once (the SDK's wrappers repeat their sources).
pub fn error_chain(error: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_counts_read_well() {
        let target = Target {
            region: Some("eu-west-1".into()),
            profile: Some("dev".into()),
            endpoint: Some("http://127.0.0.1:5059".into()),
            role: Some("arn:aws:iam::123456789012:role/deploy".into()),
        };
        assert_eq!(
            target.to_string(),
            "region eu-west-1, profile dev, endpoint http://127.0.0.1:5059, role arn:aws:iam::123456789012:role/deploy"
        );
        assert_eq!(Target::default().to_string(), "no region");
        let e = AwsError::NoRegion { target: Target::default().to_string() };
        assert!(e.to_string().contains("AWS_REGION") && e.to_string().contains("`region`"), "{e}");
        let mut count = CallCount { calls: 2, attempts: 2, ..Default::default() };
        count.by_operation.insert("Lambda.GetFunction".into(), 2);
        assert_eq!(count.to_string(), "2 (Lambda.GetFunction 2)");
        count.attempts = 3;
        assert_eq!(count.to_string(), "2 (Lambda.GetFunction 2); 3 HTTP attempts");
    }
}
