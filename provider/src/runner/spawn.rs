//! Starting an on-demand `app-runner` over a private unix socket.

use super::{Client, RunnerError, RunnerSettings};
use app_proto::runner::runner_client::RunnerClient;
use hyper_util::rt::TokioIo;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tonic::metadata::MetadataValue;
use tonic::transport::{Endpoint, Uri};

pub const RUNNER_BINARY: &str = "app-runner";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Large sources and manifests travel in jobs; tonic's default is 4 MiB.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// A running on-demand runner. Dropping it closes the runner's stdin (it exits) and kills it.
///
/// Its private directory holds the socket and the runner's uploaded sources; it is removed
/// once the runner is gone ([`OnDemand::stop`], or drop), whatever the runner left behind.
pub struct OnDemand {
    child: tokio::sync::Mutex<Option<Child>>,
    stdin: std::sync::Mutex<Option<ChildStdin>>,
    path: PathBuf,
    dir: PathBuf,
    socket: PathBuf,
    secret: String,
}

impl Drop for OnDemand {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Finds app-runner: `runner_path`, else next to this binary, else on PATH.
pub fn locate_runner(configured: Option<&Path>) -> Result<PathBuf, RunnerError> {
    let mut tried = Vec::new();
    if let Some(path) = configured {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        tried.push(format!("runner_path {}", path.display()));
        return Err(RunnerError::NotFound { tried: tried.join(", ") });
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        let candidate = dir.join(RUNNER_BINARY);
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(RUNNER_BINARY);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        tried.push("every directory on PATH".to_string());
    }
    Err(RunnerError::NotFound { tried: tried.join(", ") })
}

fn random_hex(bytes: usize) -> Result<String, RunnerError> {
    crate::secure::random_hex(bytes).ok_or_else(|| RunnerError::Connect("no secure random source".into()))
}

impl OnDemand {
    pub async fn start(settings: &RunnerSettings) -> Result<Self, RunnerError> {
        let path = locate_runner(settings.path.as_deref())?;
        let shown = path.display().to_string();
        let secret = random_hex(32)?;
        let dir = std::env::temp_dir().join(format!("tfapp-runner-{}", random_hex(8)?));
        // Created private (never an existing path), then exactly 0700 whatever the umask.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .and_then(|_| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|source| RunnerError::Spawn { path: format!("{shown} (socket dir {})", dir.display()), source })?;
        let started = Self::spawn(settings, path, dir.clone(), secret).await;
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    /// Starts the runner with its socket in `dir` and waits for its ready line.
    async fn spawn(settings: &RunnerSettings, path: PathBuf, dir: PathBuf, secret: String) -> Result<Self, RunnerError> {
        let shown = path.display().to_string();
        let socket = dir.join("runner.sock");
        let mut command = Command::new(&path);
        command
            .arg("on-demand")
            .arg("--socket")
            .arg(&socket)
            .envs(&settings.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| RunnerError::Spawn { path: shown.clone(), source })?;
        let not_ready = |reason: String| RunnerError::NotReady { path: shown.clone(), reason };
        let mut stdin = child.stdin.take().ok_or_else(|| not_ready("no stdin pipe".into()))?;
        stdin.write_all(format!("{secret}\n").as_bytes()).await.map_err(|e| not_ready(format!("writing the secret: {e}")))?;
        stdin.flush().await.map_err(|e| not_ready(e.to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| not_ready("no stdout pipe".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await;
        match ready {
            Ok(Ok(Some(line))) if line.trim() == "ready" => {}
            Ok(Ok(Some(line))) => return Err(not_ready(format!("it printed {line:?} instead of \"ready\""))),
            Ok(Ok(None)) => {
                let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
                return Err(not_ready(format!("it exited ({status}); its log is in Terraform's log (TF_LOG=DEBUG)")));
            }
            Ok(Err(e)) => return Err(not_ready(e.to_string())),
            Err(_) => return Err(not_ready(format!("no answer within {}s", READY_TIMEOUT.as_secs()))),
        }
        // Keep draining stdout so the runner never blocks writing to it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tracing::debug!(runner = %shown, pid = child.id().unwrap_or_default(), "on-demand runner ready");
        Ok(Self { child: tokio::sync::Mutex::new(Some(child)), stdin: std::sync::Mutex::new(Some(stdin)), path, dir, socket, secret })
    }

    /// The app-runner binary that runs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The private directory of this runner (socket, uploaded sources).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Closes the runner's stdin (it cancels its jobs and exits) and reaps it, so no process
    /// outlives this provider, not even as a zombie; then removes its directory (a runner killed
    /// by SIGKILL leaves its sources there).
    pub async fn stop(&self) {
        if let Ok(mut stdin) = self.stdin.lock() {
            stdin.take();
        }
        // Hold the lock while waiting: a second caller must not return before the child is reaped.
        let mut guard = self.child.lock().await;
        if let Some(child) = guard.as_mut() {
            if tokio::time::timeout(Duration::from_secs(3), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        *guard = None;
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.dir.display(), "could not remove the runner's directory: {e}");
            }
        }
    }

    pub async fn connect(&self) -> Result<Client, RunnerError> {
        let socket = self.socket.clone();
        let channel = Endpoint::from_static("http://app-runner.invalid")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(socket).await?)) }
            }))
            .await
            .map_err(|e| RunnerError::Connect(format!("{} ({})", e, self.socket.display())))?;
        let token: MetadataValue<_> =
            format!("Bearer {}", self.secret).parse().map_err(|_| RunnerError::Connect("invalid token".into()))?;
        Ok(RunnerClient::with_interceptor(channel, BearerToken(token))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }
}

#[derive(Clone)]
pub struct BearerToken(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}
