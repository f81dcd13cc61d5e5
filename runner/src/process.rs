//! Runs one command: an argv (never through a shell) in its own process group, streaming each
//! output line to the job's log, capturing stdout and the last lines for error reports, and
//! stopping the whole group on cancellation.

use crate::context::{JobContext, Level};
use crate::sys;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most stdout kept for the caller (outputs, JSON); more is logged but not kept.
pub const STDOUT_CAP: usize = 16 * 1024 * 1024;
/// How many of the last output lines an error report carries.
pub const TAIL_LINES: usize = 20;
/// Longer lines are split into several log lines.
const MAX_LINE: usize = 64 * 1024;
/// Between SIGTERM and SIGKILL on cancellation.
pub const TERM_GRACE: Duration = Duration::from_secs(3);
/// How long to keep reading after the program exited while something it started in the
/// background still holds its output open.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// One command to run.
#[derive(Clone, Default, PartialEq)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    /// Working directory; default: the runner's.
    pub dir: Option<PathBuf>,
    /// Set on top of the runner's own environment.
    pub env: BTreeMap<String, String>,
}

/// The environment may hold secrets (`secret_env`): names only.
impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSpec")
            .field("argv", &self.argv)
            .field("dir", &self.dir)
            .field("env", &crate::redact::Names(&self.env))
            .finish()
    }
}

impl CommandSpec {
    pub fn new(argv: Vec<String>) -> Self {
        Self { argv, ..Self::default() }
    }
}

/// A command that ran to its end (whatever its exit status).
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExitStatus,
    /// Everything it printed on stdout, up to [`STDOUT_CAP`].
    pub stdout: Vec<u8>,
    /// Whether stdout went past [`STDOUT_CAP`].
    pub stdout_truncated: bool,
    /// The last [`TAIL_LINES`] lines of stderr, or of stdout when stderr was empty; masked.
    pub tail: Vec<String>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// "exited with status 3" or "was killed by SIGKILL".
    pub fn describe_status(&self) -> String {
        describe_status(self.status)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn tail_text(&self) -> String {
        self.tail.join("\n")
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by {}", sys::signal_name(signal)),
        (None, None) => format!("ended with {status}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("the command is empty: it needs at least the program to run")]
    EmptyCommand,
    #[error("working directory `{dir}` {reason}")]
    BadDir { dir: String, reason: String },
    #[error("program `{program}` was not found in PATH ({path}); working directory: {dir}")]
    NotFoundInPath { program: String, path: String, dir: String },
    #[error("program `{program}` was not found: {resolved} does not exist (working directory: {dir})")]
    NotFound { program: String, resolved: String, dir: String },
    #[error(
        "program `{program}` ({resolved}) is not executable (working directory: {dir}); make it executable (chmod +x) or run it through its interpreter, e.g. [\"sh\", \"{program}\"]"
    )]
    NotExecutable { program: String, resolved: String, dir: String },
    #[error("could not start `{program}` ({resolved}, working directory: {dir}): {message}")]
    Spawn { program: String, resolved: String, dir: String, message: String },
    #[error("lost track of `{program}`: {message}")]
    Wait { program: String, message: String },
    #[error("`{program}` was stopped because the job was cancelled")]
    Cancelled {
        program: String,
        tail: Vec<String>,
        /// What it printed on stdout before it was stopped, up to [`STDOUT_CAP`].
        stdout: Vec<u8>,
        stdout_truncated: bool,
    },
}

impl ProcessError {
    /// The last output lines, when the command got to print any.
    pub fn tail_text(&self) -> String {
        match self {
            Self::Cancelled { tail, .. } => tail.join("\n"),
            _ => String::new(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pipe {
    Stdout,
    Stderr,
}

impl Pipe {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Kills the process group if the run is abandoned half-way (its future dropped).
struct GroupGuard {
    pgid: u32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed && self.pgid != 0 {
            sys::kill_group(self.pgid, sys::SIGKILL);
        }
    }
}

/// Runs `spec` to its end, or until the job is cancelled (then SIGTERM to the whole process
/// group, SIGKILL after [`TERM_GRACE`]). Each output line goes to the job's log.
pub async fn run(ctx: &JobContext, spec: &CommandSpec) -> Result<Finished, ProcessError> {
    let program = spec.argv.first().ok_or(ProcessError::EmptyCommand)?;
    if program.is_empty() {
        return Err(ProcessError::EmptyCommand);
    }
    let cwd = working_dir(spec.dir.as_deref())?;
    let path_var =
        spec.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH")).unwrap_or_else(|| OsString::from(DEFAULT_PATH));
    let resolved = resolve_program(program, &cwd, &path_var)?;

    let mut command = tokio::process::Command::new(&resolved);
    command
        .arg0(program)
        .args(&spec.argv[1..])
        .current_dir(&cwd)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|e| {
        let mut message = e.to_string();
        if e.raw_os_error() == Some(libc::ENOEXEC) {
            message.push_str(" (a script needs a #! line naming its interpreter)");
        }
        ProcessError::Spawn { program: program.clone(), resolved: resolved.display().to_string(), dir: cwd.display().to_string(), message }
    })?;
    let pgid = child.id().unwrap_or(0);
    let mut guard = GroupGuard { pgid, armed: true };
    tracing::debug!(job_id = ctx.job_id(), pgid, program = %program, "started command");

    let (tx, mut rx) = mpsc::channel::<(Pipe, Vec<u8>)>(64);
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(read_lines(out, Pipe::Stdout, tx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(read_lines(err, Pipe::Stderr, tx.clone())));
    }
    drop(tx);

    let mut capture = Capture::default();
    let mut status: Option<ExitStatus> = None;
    let mut lines_open = true;
    let mut term_deadline: Option<Instant> = None;
    let mut killed = false;
    let mut drain_deadline: Option<Instant> = None;

    loop {
        if status.is_some() && !lines_open {
            break;
        }
        let kill_at = term_deadline.filter(|_| !killed);
        let next = match (kill_at, drain_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            () = ctx.cancelled(), if term_deadline.is_none() => {
                tracing::debug!(job_id = ctx.job_id(), pgid, "cancelled: sending SIGTERM to the process group");
                sys::kill_group(pgid, sys::SIGTERM);
                term_deadline = Some(Instant::now() + TERM_GRACE);
            }
            exited = child.wait(), if status.is_none() => {
                let exited = exited.map_err(|e| ProcessError::Wait { program: program.clone(), message: e.to_string() })?;
                status = Some(exited);
                drain_deadline = Some(Instant::now() + DRAIN_GRACE);
            }
            line = rx.recv(), if lines_open => match line {
                Some((pipe, bytes)) => capture.line(ctx, pipe, bytes).await,
                None => lines_open = false,
            },
            () = sleep_until_opt(next), if next.is_some() => {
                let now = Instant::now();
                if kill_at.is_some_and(|at| now >= at) {
                    tracing::debug!(job_id = ctx.job_id(), pgid, "still running after SIGTERM: sending SIGKILL");
                    sys::kill_group(pgid, sys::SIGKILL);
                    killed = true;
                }
                if status.is_some() && drain_deadline.is_some_and(|at| now >= at) {
                    if term_deadline.is_none() {
                        ctx.warn(format!(
                            "`{program}` exited but something it started in the background still holds its output; no longer reading it"
                        ))
                        .await;
                    }
                    break;
                }
            }
        }
    }
    for reader in &readers {
        reader.abort();
    }

    if let Some(term_deadline) = term_deadline {
        // Cancelled: make sure nothing of the group survives the grace period.
        if !killed {
            while sys::group_alive(pgid) && Instant::now() < term_deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if sys::group_alive(pgid) {
                sys::kill_group(pgid, sys::SIGKILL);
            }
        }
        guard.armed = false;
        let tail = capture.tail();
        return Err(ProcessError::Cancelled {
            program: program.clone(),
            tail,
            stdout: capture.stdout,
            stdout_truncated: capture.truncated,
        });
    }
    // Finished on its own: whatever it left running in the background is its business.
    guard.armed = false;
    let Some(status) = status else {
        return Err(ProcessError::Wait { program: program.clone(), message: "no exit status".into() });
    };
    Ok(Finished { status, stdout_truncated: capture.truncated, tail: capture.tail(), stdout: capture.stdout })
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[derive(Default)]
struct Capture {
    stdout: Vec<u8>,
    truncated: bool,
    stdout_tail: VecDeque<String>,
    stderr_tail: VecDeque<String>,
}

impl Capture {
    async fn line(&mut self, ctx: &JobContext, pipe: Pipe, bytes: Vec<u8>) {
        if pipe == Pipe::Stdout {
            let room = STDOUT_CAP.saturating_sub(self.stdout.len());
            if bytes.len() > room {
                self.truncated = true;
            }
            self.stdout.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let masked = ctx.mask(text);
        let tail = match pipe {
            Pipe::Stdout => &mut self.stdout_tail,
            Pipe::Stderr => &mut self.stderr_tail,
        };
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(masked.clone());
        ctx.log(pipe.name(), Level::Info, masked).await;
    }

    fn tail(&self) -> Vec<String> {
        let tail = if self.stderr_tail.is_empty() { &self.stdout_tail } else { &self.stderr_tail };
        tail.iter().cloned().collect()
    }
}

/// Sends each line (with its newline), split at [`MAX_LINE`], until end of file.
async fn read_lines(pipe: impl AsyncRead + Unpin, which: Pipe, tx: mpsc::Sender<(Pipe, Vec<u8>)>) {
    let mut reader = BufReader::with_capacity(MAX_LINE, pipe);
    let mut line = Vec::new();
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let upto = buf.iter().position(|&b| b == b'\n').map_or(buf.len(), |i| i + 1);
        let take = upto.min(MAX_LINE - line.len());
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        let complete = line.last() == Some(&b'\n') || line.len() >= MAX_LINE;
        if complete && tx.send((which, std::mem::take(&mut line))).await.is_err() {
            return;
        }
    }
    if !line.is_empty() {
        let _ = tx.send((which, line)).await;
    }
}

/// The directory commands run in, checked.
fn working_dir(dir: Option<&Path>) -> Result<PathBuf, ProcessError> {
    let Some(dir) = dir else {
        return std::env::current_dir().map_err(|e| ProcessError::BadDir {
            dir: ".".into(),
            reason: format!("(the runner's own working directory) cannot be read: {e}"),
        });
    };
    let bad = |reason: String| ProcessError::BadDir { dir: dir.display().to_string(), reason };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(bad("is not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(bad("does not exist".into())),
        Err(e) => return Err(bad(format!("cannot be used: {e}"))),
    }
    if dir.is_absolute() {
        Ok(dir.to_path_buf())
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(dir))
            .map_err(|e| bad(format!("is relative and the runner's directory cannot be read: {e}")))
    }
}

fn is_executable_file(path: &Path) -> Option<bool> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return Some(false);
    }
    Some(meta.permissions().mode() & 0o111 != 0)
}

/// Finds the program the way a shell would: a name with a slash is a path (relative to `cwd`),
/// anything else is looked up in `path_var`.
fn resolve_program(program: &str, cwd: &Path, path_var: &OsStr) -> Result<PathBuf, ProcessError> {
    let dir = cwd.display().to_string();
    if program.contains('/') {
        let candidate = cwd.join(program);
        return match is_executable_file(&candidate) {
            Some(true) => Ok(candidate),
            Some(false) => Err(ProcessError::NotExecutable { program: program.into(), resolved: candidate.display().to_string(), dir }),
            None => Err(ProcessError::NotFound { program: program.into(), resolved: candidate.display().to_string(), dir }),
        };
    }
    let mut not_executable = None;
    for entry in std::env::split_paths(path_var) {
        let base = if entry.as_os_str().is_empty() { cwd.to_path_buf() } else { cwd.join(entry) };
        let candidate = base.join(program);
        match is_executable_file(&candidate) {
            Some(true) => return Ok(candidate),
            Some(false) if candidate.is_file() => {
                not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    match not_executable {
        Some(candidate) => Err(ProcessError::NotExecutable { program: program.into(), resolved: candidate.display().to_string(), dir }),
        None => Err(ProcessError::NotFoundInPath { program: program.into(), path: path_var.to_string_lossy().into_owned(), dir }),
    }
}

/// An argv as one readable line, quoting the arguments a shell would split.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c));
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::{context, live_group_members, temp_dir};
    use std::time::Instant as StdInstant;

    fn sh(script: &str) -> CommandSpec {
        CommandSpec::new(vec!["sh".into(), "-c".into(), script.into()])
    }

    #[tokio::test]
    async fn captures_stdout_streams_lines_and_keeps_the_last_unterminated_line() {
        let (ctx, events, _) = context();
        let done = run(&ctx, &sh("echo one; echo two >&2; printf 'three'")).await.unwrap();
        assert!(done.success());
        assert_eq!(done.stdout_text(), "one\nthree");
        assert_eq!(done.tail, vec!["two"]);
        tokio::task::yield_now().await;
        drop(ctx);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(events.texts("stdout"), vec!["one", "three"]);
        assert_eq!(events.texts("stderr"), vec!["two"]);
    }

    #[tokio::test]
    async fn tail_is_the_last_20_stderr_lines_or_stdout_without_stderr() {
        let (ctx, _, _) = context();
        let done = run(&ctx, &sh("for i in $(seq 1 30); do echo line$i >&2; done; echo out; exit 3")).await.unwrap();
        assert!(!done.success());
        assert_eq!(done.describe_status(), "exited with status 3");
        assert_eq!(done.tail.len(), TAIL_LINES);
        assert_eq!(done.tail.first().map(String::as_str), Some("line11"));
        assert_eq!(done.tail.last().map(String::as_str), Some("line30"));

        let done = run(&ctx, &sh("echo a; echo b; exit 1")).await.unwrap();
        assert_eq!(done.tail, vec!["a", "b"]);
    }

    #[tokio::test]
    async fn killed_by_a_signal_is_described() {
        let (ctx, _, _) = context();
        let done = run(&ctx, &sh("kill -9 $$")).await.unwrap();
        assert_eq!(done.describe_status(), "was killed by SIGKILL");
    }

    #[tokio::test]
    async fn env_dir_and_argv_are_passed_without_a_shell() {
        let (ctx, _, _) = context();
        let dir = temp_dir();
        let script = dir.join("show.sh");
        std::fs::write(&script, "#!/bin/sh\nprintf '%s|%s|%s|%s' \"$0\" \"$1\" \"$FOO\" \"$(pwd)\"\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut spec = CommandSpec::new(vec!["./show.sh".into(), "a b; echo no".into()]);
        spec.dir = Some(dir.clone());
        spec.env.insert("FOO".into(), "bar".into());
        let done = run(&ctx, &spec).await.unwrap();
        let canonical = std::fs::canonicalize(&dir).unwrap();
        // A script's $0 is the path the kernel ran: the resolved one.
        assert_eq!(done.stdout_text(), format!("{}/./show.sh|a b; echo no|bar|{}", dir.display(), canonical.display()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn missing_program_names_the_program_path_and_dir() {
        let (ctx, _, _) = context();
        let mut spec = CommandSpec::new(vec!["no-such-program-4711".into()]);
        spec.env.insert("PATH".into(), "/nonexistent/bin:/usr/bin".into());
        spec.dir = Some("/tmp".into());
        let err = run(&ctx, &spec).await.unwrap_err().to_string();
        assert!(err.contains("`no-such-program-4711`"), "{err}");
        assert!(err.contains("/nonexistent/bin:/usr/bin"), "{err}");
        assert!(err.contains("working directory: /tmp"), "{err}");

        let spec = CommandSpec { argv: vec!["./missing.sh".into()], dir: Some("/tmp".into()), ..Default::default() };
        let err = run(&ctx, &spec).await.unwrap_err().to_string();
        assert!(err.contains("/tmp/./missing.sh does not exist"), "{err}");
    }

    #[tokio::test]
    async fn not_executable_and_bad_dir_are_clear() {
        let (ctx, _, _) = context();
        let dir = temp_dir();
        std::fs::write(dir.join("plain.sh"), "echo hi\n").unwrap();
        std::fs::set_permissions(dir.join("plain.sh"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let spec = CommandSpec { argv: vec!["./plain.sh".into()], dir: Some(dir.clone()), ..Default::default() };
        let err = run(&ctx, &spec).await.unwrap_err().to_string();
        assert!(err.contains("is not executable"), "{err}");
        assert!(err.contains("plain.sh"), "{err}");

        let spec = CommandSpec { argv: vec!["true".into()], dir: Some(dir.join("nope")), ..Default::default() };
        let err = run(&ctx, &spec).await.unwrap_err().to_string();
        assert!(err.contains(&format!("`{}` does not exist", dir.join("nope").display())), "{err}");

        let spec = CommandSpec { argv: vec!["true".into()], dir: Some(dir.join("plain.sh")), ..Default::default() };
        let err = run(&ctx, &spec).await.unwrap_err().to_string();
        assert!(err.contains("is not a directory"), "{err}");

        let err = run(&ctx, &CommandSpec::new(Vec::new())).await.unwrap_err();
        assert!(matches!(err, ProcessError::EmptyCommand));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Waits for the first stdout line (the shell's pid, which is the process group id).
    async fn first_line_pid(events: &crate::testing::Events) -> u32 {
        for _ in 0..200 {
            if let Some(line) = events.texts("stdout").first() {
                return line.trim().parse().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the command printed no pid");
    }

    #[tokio::test]
    async fn cancel_kills_the_whole_group_quickly() {
        let (ctx, events, token) = context();
        let started = StdInstant::now();
        let spec = sh("echo $$; sleep 30 & sleep 30");
        let job = run(&ctx, &spec);
        let cancel = async {
            let pgid = first_line_pid(&events).await;
            assert!(!live_group_members(pgid).is_empty());
            token.cancel(crate::context::CancelReason::Requested);
            pgid
        };
        let (result, pgid) = tokio::join!(job, cancel);
        assert!(matches!(result, Err(ProcessError::Cancelled { .. })), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(live_group_members(pgid), Vec::<u32>::new(), "survivors in group {pgid}");
    }

    #[tokio::test]
    async fn cancel_escalates_to_sigkill_when_sigterm_is_ignored() {
        let (ctx, events, token) = context();
        let spec = sh("trap '' TERM; echo $$; sleep 30 & sleep 30");
        let job = run(&ctx, &spec);
        let cancel = async {
            let pgid = first_line_pid(&events).await;
            token.cancel(crate::context::CancelReason::Requested);
            (pgid, StdInstant::now())
        };
        let (result, (pgid, cancelled_at)) = tokio::join!(job, cancel);
        let took = cancelled_at.elapsed();
        assert!(matches!(result, Err(ProcessError::Cancelled { .. })), "{result:?}");
        assert!(took >= TERM_GRACE - Duration::from_millis(100) && took < Duration::from_secs(5), "took {took:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(live_group_members(pgid), Vec::<u32>::new());
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_group() {
        let (ctx, events, _) = context();
        let pgid = {
            let spec = sh("echo $$; sleep 30");
            let job = run(&ctx, &spec);
            tokio::pin!(job);
            tokio::select! {
                _ = &mut job => panic!("ended early"),
                pgid = first_line_pid(&events) => pgid,
            }
        };
        for _ in 0..100 {
            if live_group_members(pgid).is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("group {pgid} survived");
    }

    #[tokio::test]
    async fn background_process_holding_output_does_not_block() {
        let (ctx, _, _) = context();
        let started = StdInstant::now();
        let done = run(&ctx, &sh("echo $$; (sleep 30 &) ; echo done")).await.unwrap();
        assert!(done.success());
        assert!(started.elapsed() < Duration::from_secs(5));
        let pgid: u32 = done.stdout_text().lines().next().unwrap().parse().unwrap();
        crate::sys::kill_group(pgid, crate::sys::SIGKILL);
    }

    #[tokio::test]
    async fn secrets_are_masked_in_logs_and_tail() {
        let (ctx, events, _) = context();
        ctx.add_secrets(["hunter22"]);
        let done = run(&ctx, &sh("echo pw=hunter22; echo hunter22 >&2")).await.unwrap();
        assert_eq!(done.tail, vec!["***"]);
        assert_eq!(done.stdout_text(), "pw=hunter22\n", "captured stdout is data, not a log");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(events.texts("stdout"), vec!["pw=***"]);
        assert!(!events.all_text().contains("hunter22"));
    }

    #[test]
    fn argv_display_quotes_what_a_shell_would_split() {
        let argv = vec!["sh".to_string(), "-c".into(), "echo 'hi'".into(), "".into()];
        assert_eq!(display_argv(&argv), r#"sh -c 'echo '\''hi'\''' ''"#);
    }
}
