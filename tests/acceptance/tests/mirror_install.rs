//! Distribution: the packaged zip installs through a filesystem mirror with `terraform init`
//! (no dev_overrides), writes the lock file, and applies.

use app_acceptance::{bin_dir, repo_root, terraforms, TempDir, REQUIRED_PROVIDERS};
use std::process::Command;

#[test]
fn init_and_apply_from_the_filesystem_mirror() {
    let dist = TempDir::new("dist");
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/dist.sh"))
        .arg("--binaries")
        .arg(bin_dir())
        .arg(&dist.0)
        .output()
        .expect("run scripts/dist.sh");
    assert!(out.status.success(), "dist.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let zip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(zip.ends_with("_linux_amd64.zip"), "dist.sh prints the zip path: {zip:?}");
    let sums = std::fs::read_dir(&dist.0)
        .expect("dist dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with("_SHA256SUMS"))
        .expect("a SHA256SUMS file");
    assert!(std::fs::read_to_string(sums.path()).unwrap_or_default().contains("_linux_amd64.zip"));

    for tf in terraforms() {
        let work = TempDir::new("mirror-work");
        std::fs::write(
            work.0.join("main.tf"),
            format!("{REQUIRED_PROVIDERS}\nresource \"app_deployment\" \"m\" {{\n  name = \"mirror\"\n  exec {{\n    create  = [\"sh\", \"-c\", \"echo up > up\"]\n    destroy = [\"rm\", \"-f\", \"up\"]\n  }}\n}}\n"),
        )
        .expect("write config");
        let run = |args: &[&str]| {
            let out = Command::new(&tf)
                .args(args)
                .current_dir(&work.0)
                .env("TF_CLI_CONFIG_FILE", dist.0.join("terraformrc"))
                .env("CHECKPOINT_DISABLE", "1")
                .output()
                .expect("run terraform");
            let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "terraform {args:?} ({}) failed:\n{text}", tf.display());
            assert!(!text.contains("development overrides"), "no dev_overrides in play");
            text
        };
        let init = run(&["init", "-input=false", "-no-color"]);
        assert!(init.contains("Installing apps/app"), "{init}");
        let lock = std::fs::read_to_string(work.0.join(".terraform.lock.hcl")).expect("lock file written");
        assert!(lock.contains("registry.terraform.io/apps/app") && lock.contains("h1:"), "{lock}");
        run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert!(work.0.join("up").exists(), "the installed provider ran its runner");
        run(&["destroy", "-auto-approve", "-no-color", "-input=false"]);
        assert!(!work.0.join("up").exists());
    }
}
