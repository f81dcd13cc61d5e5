//! Shared by the integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temp dir under std::env::temp_dir(), removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("app-source-it-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst)));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `test` (this test binary's test of that name) where file permissions bind: directly for
/// a normal user; as root — CI runs as root, and root reads any file — in a child copy of this
/// test binary started by `setpriv` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so an
/// unreadable file really cannot be read. `body` gets the path of a file with mode 0000.
pub fn with_unreadable_file(test: &str, body: impl FnOnce(&TempDir, &Path)) {
    const CHILD: &str = "APP_SOURCE_TEST_WITHOUT_DAC";
    use std::os::unix::fs::PermissionsExt;
    let t = TempDir::new();
    t.write("Dockerfile", "FROM scratch\nCOPY . /\n");
    t.write("secret.bin", "s");
    let p = t.path().join("secret.bin");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    let readable = fs::read(&p).is_ok();
    if !readable {
        body(&t, &p);
    } else {
        assert!(std::env::var_os(CHILD).is_none(), "setpriv left this process able to read a mode 0000 file");
        let exe = std::env::current_exe().unwrap();
        let status = std::process::Command::new("setpriv")
            .args(["--bounding-set", "-dac_override,-dac_read_search", "--"])
            .arg(&exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .status()
            .unwrap_or_else(|e| panic!("running {test} without file-permission override needs setpriv (util-linux): {e}"));
        assert!(status.success(), "{test} failed where file permissions bind (without CAP_DAC_OVERRIDE)");
    }
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
}
