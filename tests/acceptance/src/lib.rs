//! The acceptance harness: real `terraform` (every version listed by
//! `scripts/install-terraform.sh`) driving the real provider and runner binaries.
//!
//! Binaries come from `APP_BIN_DIR` (set by `scripts/test.sh`), else they are built once with
//! `cargo build` into the workspace's target directory. Each test works in its own temporary
//! directory with a CLI config that points `apps/app` at those binaries (`dev_overrides`), so no
//! `terraform init` is needed; the mirror test installs the packaged provider instead.

pub mod docker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub const PROVIDER_BINARY: &str = "terraform-provider-app";
pub const RUNNER_BINARY: &str = "app-runner";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The directory holding terraform-provider-app, app-runner and the static app-router.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("APP_BIN_DIR") {
            return PathBuf::from(dir);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(&cargo)
            .args(["build", "-q", "-p", "terraform-provider-app", "-p", "app-runner"])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the provider and runner failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
        let dir = target.join("debug");
        // app-router as scripts/build.sh builds it: feature `bin`, C library linked statically (crt-static
        // only with an explicit --target, so build scripts and proc-macros stay dynamic), copied next to
        // the other two.
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let version = Command::new(&rustc).arg("-vV").output().expect("run rustc -vV");
        let triple = String::from_utf8_lossy(&version.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("host: ").map(str::to_string))
            .expect("host triple in rustc -vV");
        let status = Command::new(&cargo)
            .args(["build", "-q", "-p", "app-router", "--features", "bin", "--target", &triple])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the static app-router failed");
        let tmp = dir.join(format!(".app-router.{}", std::process::id()));
        std::fs::copy(target.join(&triple).join("debug/app-router"), &tmp).expect("copy app-router");
        std::fs::rename(&tmp, dir.join("app-router")).expect("place app-router");
        dir
    })
}

/// Every Terraform to test against: `APP_TERRAFORM` (colon-separated) or the list that
/// `scripts/install-terraform.sh` writes.
pub fn terraforms() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("APP_TERRAFORM") {
        return list.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
    }
    let cache = std::env::var_os("APP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/terraform-provider-app"));
    let list = cache.join("terraform-binaries");
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| panic!("no Terraform list at {} ({e}); run scripts/install-terraform.sh", list.display()));
    let found: Vec<PathBuf> = text.lines().filter(|l| !l.trim().is_empty()).map(PathBuf::from).collect();
    assert!(!found.is_empty(), "{} lists no Terraform; run scripts/install-terraform.sh", list.display());
    found
}

/// A Terraform older than write-only attributes (1.11), installed by `scripts/install-terraform.sh`
/// and named in `$APP_CACHE/terraform-legacy`.
pub fn legacy_terraform() -> PathBuf {
    let cache = std::env::var_os("APP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/terraform-provider-app"));
    let file = cache.join("terraform-legacy");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("no legacy Terraform named in {} ({e}); run scripts/install-terraform.sh", file.display()));
    let path = PathBuf::from(text.trim());
    assert!(path.is_file(), "{} names {}, which does not exist; run scripts/install-terraform.sh", file.display(), path.display());
    path
}

/// A finished terraform command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// One working directory driven by one Terraform binary.
pub struct Workdir {
    pub terraform: PathBuf,
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
    _temp: TempDir,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tfapp-acc-{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("APP_KEEP_TEMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub const REQUIRED_PROVIDERS: &str = r#"terraform {
  required_providers {
    app = { source = "apps/app" }
  }
}
"#;

impl Workdir {
    /// A working directory using dev_overrides (no init needed).
    pub fn new(terraform: &Path, name: &str) -> Self {
        let temp = TempDir::new(name);
        let dir = temp.0.join("work");
        std::fs::create_dir_all(&dir).expect("create work dir");
        let rc = temp.0.join("terraformrc");
        std::fs::write(
            &rc,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"apps/app\" = \"{}\"\n  }}\n  direct {{}}\n}}\ndisable_checkpoint = true\n",
                bin_dir().display()
            ),
        )
        .expect("write terraformrc");
        let mut env = BTreeMap::new();
        env.insert("TF_CLI_CONFIG_FILE".to_string(), rc.display().to_string());
        env.insert("CHECKPOINT_DISABLE".to_string(), "1".to_string());
        env.insert("TF_IN_AUTOMATION".to_string(), "1".to_string());
        Self { terraform: terraform.to_path_buf(), dir, env, _temp: temp }
    }

    /// Writes main.tf (with the required_providers block prepended).
    pub fn write_main(&self, body: &str) {
        self.write("main.tf", &format!("{REQUIRED_PROVIDERS}\n{body}"));
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).expect("write config file");
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.terraform);
        c.args(args).current_dir(&self.dir).envs(&self.env).env_remove("TF_LOG").stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.terraform.display()));
        let run = Run::from(output);
        assert!(!run.all().contains("panic:"), "a panic in `terraform {args:?}`:\n{}", run.all());
        run
    }

    /// Runs and asserts the exit code.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "`terraform {}` ({}) failed:\n{}", args.join(" "), self.terraform.display(), run.all());
        run
    }

    pub fn apply(&self) -> Run {
        self.ok(&["apply", "-auto-approve", "-no-color", "-input=false"])
    }

    pub fn destroy(&self) -> Run {
        self.ok(&["destroy", "-auto-approve", "-no-color", "-input=false"])
    }

    /// `plan -detailed-exitcode`: 0 no changes, 2 changes.
    pub fn plan_code(&self) -> (i32, Run) {
        let run = self.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
        (run.code, run)
    }

    pub fn assert_empty_plan(&self, context: &str) {
        let (code, run) = self.plan_code();
        assert_eq!(code, 0, "{context}: expected an empty plan ({}):\n{}", self.terraform.display(), run.all());
    }

    /// `terraform show -json` of the state.
    pub fn state(&self) -> serde_json::Value {
        let run = self.ok(&["show", "-json", "-no-color"]);
        serde_json::from_str(&run.stdout).expect("show -json output")
    }

    /// The `values` of one resource in state, if present.
    pub fn resource(&self, address: &str) -> Option<serde_json::Value> {
        let state = self.state();
        state["values"]["root_module"]["resources"].as_array()?.iter().find(|r| r["address"] == address).map(|r| r["values"].clone())
    }

    pub fn state_list(&self) -> Vec<String> {
        let run = self.run(&["state", "list"]);
        run.stdout.lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }

    /// `terraform version` first line, e.g. "Terraform v1.15.5".
    pub fn version(&self) -> String {
        self.ok(&["version"]).stdout.lines().next().unwrap_or_default().to_string()
    }
}

/// Runs `body` once per Terraform binary.
pub fn for_each_terraform(name: &str, body: impl Fn(&Workdir)) {
    for tf in terraforms() {
        let wd = Workdir::new(&tf, name);
        eprintln!("== {name} with {}", tf.display());
        body(&wd);
    }
}

/// PIDs of live (non-zombie) processes whose environment contains `KEY=VALUE`.
pub fn processes_with_env(key: &str, value: &str) -> Vec<(u32, String)> {
    let needle = format!("{key}={value}");
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if !environ.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("?");
        if state == "Z" || state == "X" {
            continue;
        }
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        found.push((pid, cmd));
    }
    found
}

/// Polls `check` until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// go-plugin's magic cookie for Terraform providers.
pub const MAGIC_COOKIE: (&str, &str) = ("TF_PLUGIN_MAGIC_COOKIE", "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2");

/// A client certificate shaped like Terraform's (P-521, CA:true), as PEM.
pub fn terraform_like_client_cert() -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("cert").pem()
}

/// Starts a provider binary as Terraform would (only `envs` set from the plugin variables) and
/// returns it with the first line it printed (the handshake line, or empty).
pub fn start_provider(binary: &Path, envs: &[(&str, &str)]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(binary)
        .env_remove("PLUGIN_CLIENT_CERT")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn provider");
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    (child, line)
}

/// moto's endpoint (`scripts/moto.sh` starts it; `scripts/test.sh` exports it).
pub fn moto() -> String {
    std::env::var("APP_TEST_MOTO_ENDPOINT")
        .expect("APP_TEST_MOTO_ENDPOINT is unset: run the tests through scripts/test.sh (it starts moto)")
}

/// Runs boto3 (from moto's virtualenv) against moto: `code` sees `lam`, `iam` and `json`, and
/// prints its answer.
pub fn aws(code: &str) -> String {
    let cache = std::env::var_os("APP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/terraform-provider-app"));
    let python = cache.join("moto/venv/bin/python");
    let script = format!(
        "import boto3, json\nkw = dict(endpoint_url={:?}, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\nlam = boto3.client('lambda', **kw)\niam = boto3.client('iam', **kw)\n{code}\n",
        moto()
    );
    let out = Command::new(&python).arg("-c").arg(&script).output().unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(out.status.success(), "boto3 failed: {}\n{script}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn aws_json(code: &str) -> serde_json::Value {
    serde_json::from_str(&aws(code)).expect("boto3 printed JSON")
}

/// A working directory for AWS tests: test credentials for moto, no shared config, no metadata.
pub fn lambda_workdir(wd: &Workdir) -> Workdir {
    let mut w = Workdir::new(&wd.terraform, "lambda");
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret-key"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ] {
        w.env.insert(k.to_string(), v.to_string());
    }
    w
}
