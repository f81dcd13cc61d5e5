//! Drives the real `app-runner` binary in on-demand mode over its unix socket.
#![allow(clippy::unwrap_used)]

use app_runner::proto::runner_client::RunnerClient;
use app_runner::proto::{job_event, job_result, InfoRequest, JobEvent, JobRequest, Operation, Role, SourceChunk, SourceRef};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Uri};

const BIN: &str = env!("CARGO_BIN_EXE_app-runner");
const TOKEN: &str = "per-start-token-0123456789";

/// A private 0700 directory for the socket.
fn private_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("app-runner-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

struct Runner {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the runner, writes the token line, waits for `ready`.
async fn start() -> Runner {
    start_with(&[]).await
}

/// [`start`] with extra environment variables.
async fn start_with(env: &[(&str, &str)]) -> Runner {
    let dir = private_dir();
    let socket = dir.join("runner.sock");
    let mut child = Command::new(BIN)
        .args(["on-demand", "--socket"])
        .arg(&socket)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{TOKEN}\n").as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
    child.stdin = Some(stdin);
    wait_ready(&mut child).await;
    Runner { child, dir, socket }
}

async fn wait_ready(child: &mut Child) {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), lines.read_line(&mut line)).await.unwrap().unwrap();
    assert_eq!(line, "ready\n");
}

async fn channel(socket: &Path) -> Channel {
    let socket = socket.to_path_buf();
    // The URI is never dialled: the connector opens the unix socket.
    Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .unwrap()
}

fn add_token(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    let value = format!("Bearer {TOKEN}").parse().map_err(|_| tonic::Status::internal("bad token"))?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

type AddToken = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;

async fn client(socket: &Path) -> RunnerClient<InterceptedService<Channel, AddToken>> {
    RunnerClient::with_interceptor(channel(socket).await, add_token as AddToken)
}

fn deploy_job(job_id: &str, create: serde_json::Value) -> JobRequest {
    JobRequest {
        job_id: job_id.into(),
        operation: Operation::Deploy as i32,
        role: Role::Platform as i32,
        platform: "exec".into(),
        request_json: json!({"name": "web", "generation": 1, "config": {"create": create}}).to_string(),
        prior_json: String::new(),
        timeout_ms: 60_000,
        source_id: String::new(),
    }
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    tokio::time::timeout(within, child.wait()).await.expect("the runner did not exit in time").unwrap()
}

#[tokio::test]
async fn deploy_over_the_socket_then_stdin_eof_stops_the_runner() {
    let mut runner = start().await;
    let mut client = client(&runner.socket).await;

    let info = client.info(InfoRequest {}).await.unwrap().into_inner();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.protocol_version, app_proto::RUNNER_PROTOCOL_VERSION);
    assert_eq!(info.platforms, vec!["aws_lambda", "docker", "docker_pull", "exec"]);

    let create = json!(["sh", "-c", "echo warming >&2; echo '{\"url\":\"http://127.0.0.1:9\"}'"]);
    let mut stream = client.run_job(deploy_job("d1", create)).await.unwrap().into_inner();
    let mut events: Vec<JobEvent> = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        events.push(event);
    }
    let logs: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(job_event::Event::Log(l)) => Some((l.stream.clone(), l.text.clone())),
            _ => None,
        })
        .collect();
    assert!(logs.contains(&("stdout".into(), r#"{"url":"http://127.0.0.1:9"}"#.into())), "{logs:?}");
    assert!(logs.contains(&("stderr".into(), "warming".into())), "{logs:?}");
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(job_event::Event::Result(r)) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].outcome, job_result::Outcome::Succeeded as i32, "{:?}", results[0]);
    let record: serde_json::Value = serde_json::from_str(&results[0].result_json).unwrap();
    assert_eq!(record["url"], "http://127.0.0.1:9");
    assert_eq!(record["status"], "ready");

    // Without the token, or with a wrong one, every call is refused.
    let mut anonymous = RunnerClient::new(channel(&runner.socket).await);
    let err = anonymous.info(InfoRequest {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = anonymous.run_job(deploy_job("d2", json!(["true"]))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(InfoRequest {});
    request.metadata_mut().insert("authorization", "Bearer wrong".parse().unwrap());
    assert_eq!(anonymous.info(request).await.unwrap_err().code(), tonic::Code::Unauthenticated);

    // End of stdin (the provider went away): exit within 2 s and remove the socket.
    assert!(runner.socket.exists());
    drop(runner.child.stdin.take());
    let started = Instant::now();
    let status = wait_exit(&mut runner.child, Duration::from_secs(2)).await;
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!runner.socket.exists(), "the socket was left behind");
}

#[tokio::test]
async fn dropping_a_job_stream_kills_its_process() {
    let runner = start().await;
    let mut client = client(&runner.socket).await;
    let mut stream = client.run_job(deploy_job("sleepy", json!(["sh", "-c", "echo $$; exec sleep 30"]))).await.unwrap().into_inner();
    let pid = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
        if let Some(job_event::Event::Log(line)) = event.event {
            if line.stream == "stdout" {
                break line.text.trim().parse::<u32>().unwrap();
            }
        }
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(alive(pid));
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "sleep {pid} survived the dropped call");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigint_is_ignored_and_sigterm_stops_cleanly() {
    let mut runner = start().await;
    let pid = runner.child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut client = client(&runner.socket).await;
    client.info(InfoRequest {}).await.expect("still serving after SIGINT");
    upload(&mut client, b"context").await.unwrap();
    assert_eq!(sources_dirs(&runner.dir).len(), 1);

    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let status = wait_exit(&mut runner.child, Duration::from_secs(3)).await;
    assert!(status.success(), "{status:?}");
    assert!(!runner.socket.exists());
    assert_eq!(sources_dirs(&runner.dir), Vec::<PathBuf>::new(), "SIGTERM removes the uploaded sources");
}

#[tokio::test]
async fn exits_when_the_process_feeding_stdin_is_killed() {
    let dir = private_dir();
    let socket = dir.join("runner.sock");
    // Stands in for the provider: writes the token, then holds the pipe open until killed.
    let mut parent = std::process::Command::new("sh")
        .args(["-c", &format!("printf '%s\\n' {TOKEN}; exec sleep 60")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = parent.stdout.take().unwrap();
    let mut runner = Command::new(BIN)
        .args(["on-demand", "--socket"])
        .arg(&socket)
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(&mut runner).await;
    upload(&mut client(&socket).await, b"context").await.unwrap();
    assert_eq!(sources_dirs(&dir).len(), 1);
    parent.kill().unwrap(); // SIGKILL
    let _ = parent.wait();
    wait_exit(&mut runner, Duration::from_secs(2)).await;
    assert!(!socket.exists());
    assert_eq!(sources_dirs(&dir), Vec::<PathBuf>::new(), "the uploaded sources go with the runner");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn refuses_a_socket_directory_others_can_reach() {
    let dir = private_dir();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(BIN)
        .args(["on-demand", "--socket"])
        .arg(dir.join("runner.sock"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(format!("{TOKEN}\n").as_bytes()).await;
    let status = wait_exit(&mut child, Duration::from_secs(5)).await;
    assert!(!status.success());
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
    assert_eq!(stdout, "");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    assert!(stderr.contains("0755") && stderr.contains("0700"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn command_line_usage() {
    let out = std::process::Command::new(BIN).arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("app-runner {}\n", env!("CARGO_PKG_VERSION")));

    for args in [&["serve"][..], &[], &["on-demand"], &["bogus"], &["on-demand", "--socket"]] {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let out = std::process::Command::new(BIN).arg("serve").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not available in this version"));
}

/// The last event of a job stream: its result.
async fn result_of(mut stream: tonic::Streaming<JobEvent>) -> app_runner::proto::JobResult {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().expect("a result event");
        if let Some(job_event::Event::Result(result)) = event.event {
            return result;
        }
    }
}

#[tokio::test]
async fn uploaded_sources_are_named_by_hash_and_checked_by_jobs() {
    let runner = start().await;
    let mut client = client(&runner.socket).await;
    let archive: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let reply = upload(&mut client, &archive).await.unwrap();
    assert_eq!(reply.size, 3_000_000);
    assert!(reply.id.starts_with("sha256:") && reply.id.len() == 71, "{}", reply.id);
    let again = upload(&mut client, &archive).await.unwrap();
    assert_eq!(again.id, reply.id, "the same bytes give the same id");

    // In a fresh, randomly named 0700 directory next to the socket (never a predictable /tmp path).
    let dirs = sources_dirs(&runner.dir);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let mode = std::fs::metadata(&dirs[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let stored: Vec<_> = std::fs::read_dir(&dirs[0]).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(stored, vec![std::ffi::OsString::from(format!("{}.tar", &reply.id["sha256:".len()..]))]);

    // A stream that ends without its last chunk (the sender gave up) stores nothing.
    let unfinished = vec![SourceChunk { data: b"half an archive".to_vec(), last: false }];
    let err = client.upload_source(futures::stream::iter(unfinished)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Aborted, "{err:?}");
    assert!(err.message().contains("nothing was stored"), "{}", err.message());
    assert_eq!(std::fs::read_dir(&dirs[0]).unwrap().count(), 1);

    let mut known = deploy_job("with-source", json!(["true"]));
    known.source_id = reply.id.clone();
    let result = result_of(client.run_job(known).await.unwrap().into_inner()).await;
    assert_eq!(result.outcome, job_result::Outcome::Succeeded as i32, "{}", result.error);

    let mut unknown = deploy_job("unknown-source", json!(["true"]));
    unknown.source_id = format!("sha256:{}", "0".repeat(64));
    let result = result_of(client.run_job(unknown).await.unwrap().into_inner()).await;
    assert_eq!(result.outcome, job_result::Outcome::Failed as i32);
    assert!(result.error.contains("was not uploaded"), "{}", result.error);
}

/// Uploads `data` in 1 MiB chunks, the last one marked.
async fn upload(client: &mut RunnerClient<InterceptedService<Channel, AddToken>>, data: &[u8]) -> Result<SourceRef, tonic::Status> {
    let mut chunks: Vec<SourceChunk> = data.chunks(1 << 20).map(|c| SourceChunk { data: c.to_vec(), last: false }).collect();
    chunks.push(SourceChunk { data: Vec::new(), last: true });
    client.upload_source(futures::stream::iter(chunks)).await.map(tonic::Response::into_inner)
}

/// The uploaded-sources directories in a runner's socket directory.
fn sources_dirs(socket_dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(socket_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sources-")))
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test]
async fn end_of_stdin_removes_the_uploaded_sources() {
    let mut runner = start().await;
    let mut client = client(&runner.socket).await;
    assert_eq!(sources_dirs(&runner.dir), Vec::<PathBuf>::new(), "nothing before the first upload");
    upload(&mut client, b"context").await.unwrap();
    assert_eq!(sources_dirs(&runner.dir).len(), 1);
    drop(runner.child.stdin.take());
    let status = wait_exit(&mut runner.child, Duration::from_secs(3)).await;
    assert!(status.success(), "{status:?}");
    assert_eq!(sources_dirs(&runner.dir), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn uploads_over_the_limit_fail_and_say_how_to_raise_it() {
    let runner = start_with(&[("APP_RUNNER_MAX_SOURCE_BYTES", "2M")]).await;
    let mut client = client(&runner.socket).await;
    let ok = upload(&mut client, &vec![7u8; 2 << 20]).await.expect("exactly the limit");
    assert_eq!(ok.size, 2 << 20);
    let err = upload(&mut client, &vec![7u8; 3 << 20]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("limit of 2 MiB") && err.message().contains("APP_RUNNER_MAX_SOURCE_BYTES"), "{}", err.message());
    let dirs = sources_dirs(&runner.dir);
    assert_eq!(std::fs::read_dir(&dirs[0]).unwrap().count(), 1, "only the upload within the limit is kept");

    let out = std::process::Command::new(BIN)
        .args(["on-demand", "--socket", "/nonexistent/runner.sock"])
        .env("APP_RUNNER_MAX_SOURCE_BYTES", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("APP_RUNNER_MAX_SOURCE_BYTES=\"lots\" is not a size"), "{stderr}");
}
