//! What a running job sees: where to send log lines and progress, whether it was cancelled,
//! and which values to mask.

use crate::proto::{job_event, JobEvent, LogLine, Progress};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub use crate::proto::log_line::Level;

/// Why a job was cancelled; the first reason given wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The client dropped the RunJob call.
    ClientGone,
    /// CancelJob named the job.
    Requested,
    /// The job's `timeout_ms` elapsed.
    TimedOut,
    /// The runner is shutting down.
    Shutdown,
}

/// A cancellation signal that can be cloned, triggered once, and awaited.
#[derive(Clone, Debug)]
pub struct CancelToken {
    state: Arc<watch::Sender<Option<CancelReason>>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    pub fn new() -> Self {
        Self { state: Arc::new(watch::Sender::new(None)) }
    }

    /// Cancels with `reason`; returns false if it was already cancelled (the first reason stays).
    pub fn cancel(&self, reason: CancelReason) -> bool {
        self.state.send_if_modified(|current| {
            if current.is_some() {
                false
            } else {
                *current = Some(reason);
                true
            }
        })
    }

    pub fn reason(&self) -> Option<CancelReason> {
        *self.state.borrow()
    }

    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }

    /// Resolves once the token is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// The job's side of the event stream; given to every builder, platform and releaser call.
pub struct JobContext {
    job_id: String,
    events: mpsc::Sender<JobEvent>,
    cancel: CancelToken,
    secrets: RwLock<Vec<String>>,
    source: Option<std::path::PathBuf>,
}

/// How long a log line may wait for room in the stream once the job is cancelled.
const SEND_AFTER_CANCEL: Duration = Duration::from_secs(1);

impl JobContext {
    pub fn new(job_id: impl Into<String>, events: mpsc::Sender<JobEvent>, cancel: CancelToken) -> Self {
        Self { job_id: job_id.into(), events, cancel, secrets: RwLock::new(Vec::new()), source: None }
    }

    /// The uploaded source archive the job names (JobRequest.source_id), if any.
    pub fn with_source(mut self, archive: Option<std::path::PathBuf>) -> Self {
        self.source = archive;
        self
    }

    pub fn source_archive(&self) -> Option<&std::path::Path> {
        self.source.as_deref()
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Sends a log line; `stream` is "stdout", "stderr" or "runner". Secret values are masked.
    pub async fn log(&self, stream: &str, level: Level, text: impl AsRef<str>) {
        let text = self.mask(text.as_ref());
        tracing::trace!(job_id = %self.job_id, stream, "{text}");
        let event = job_event::Event::Log(LogLine { level: level as i32, stream: stream.to_string(), text });
        self.send(event).await;
    }

    /// A "runner" log line at info level.
    pub async fn info(&self, text: impl AsRef<str>) {
        self.log("runner", Level::Info, text).await;
    }

    /// A "runner" log line at warn level.
    pub async fn warn(&self, text: impl AsRef<str>) {
        self.log("runner", Level::Warn, text).await;
    }

    /// Reports progress: `percent` in 0..=100, or -1 when unknown.
    pub async fn progress(&self, step: &str, percent: i32) {
        let percent = if (0..=100).contains(&percent) { percent } else { -1 };
        self.send(job_event::Event::Progress(Progress { step: self.mask(step), percent })).await;
    }

    async fn send(&self, event: job_event::Event) {
        let event = JobEvent { event: Some(event) };
        if !self.cancel.is_cancelled() {
            tokio::select! {
                biased;
                permit = self.events.reserve() => {
                    // An error means the client is gone; the job is cancelled elsewhere.
                    if let Ok(permit) = permit {
                        permit.send(event);
                    }
                    return;
                }
                () = self.cancel.cancelled() => {}
            }
        }
        // Cancelled: the client may be gone; do not wait long for room.
        let _ = tokio::time::timeout(SEND_AFTER_CANCEL, self.events.send(event)).await;
    }

    /// Resolves when the job is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Adds values to replace with `***` in everything this job logs.
    pub fn add_secrets<I, S>(&self, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        for value in values {
            let value = value.into();
            if !value.is_empty() && !secrets.contains(&value) {
                secrets.push(value);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every secret value replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_cancel_reason_wins() {
        let token = CancelToken::new();
        assert!(!token.is_cancelled());
        assert!(token.cancel(CancelReason::TimedOut));
        assert!(!token.cancel(CancelReason::ClientGone));
        assert_eq!(token.reason(), Some(CancelReason::TimedOut));
        token.cancelled().await;
    }

    #[tokio::test]
    async fn logs_are_masked() {
        let (tx, mut rx) = mpsc::channel(8);
        let ctx = JobContext::new("j", tx, CancelToken::new());
        ctx.add_secrets(["hunter2", "hunter2-long", ""]);
        ctx.log("stdout", Level::Info, "pw=hunter2-long and hunter2").await;
        let Some(JobEvent { event: Some(job_event::Event::Log(line)) }) = rx.recv().await else { panic!("expected a log event") };
        assert_eq!(line.text, "pw=*** and ***");
        assert_eq!(line.level, Level::Info as i32);
        assert_eq!(ctx.mask("nothing"), "nothing");
    }
}
