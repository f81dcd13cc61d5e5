#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use app_source::{changed_paths, context_files, source_hash, BuildInputs, EntryKind, SourceError};

mod common;
use common::TempDir;

fn listed(root: &Path) -> Vec<String> {
    context_files(root, None).unwrap().into_iter().map(|f| f.path).collect()
}

fn h(root: &Path) -> String {
    source_hash(root, None, &BuildInputs::default()).unwrap().hash
}

fn sample() -> TempDir {
    let t = TempDir::new();
    t.write("Dockerfile", "FROM scratch\nCOPY . /\n");
    t.write("src/main.rs", "fn main() {}\n");
    t.write("src/lib/util.rs", "pub fn f() {}\n");
    t.write("README.md", "hello\n");
    t
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        let dst = to.join(e.file_name());
        if ft.is_dir() {
            copy_tree(&e.path(), &dst);
        } else if ft.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &dst).unwrap();
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[test]
fn lists_everything_sorted_without_dockerignore() {
    let t = sample();
    assert_eq!(listed(t.path()), vec!["Dockerfile", "README.md", "src", "src/lib", "src/lib/util.rs", "src/main.rs"]);
}

#[test]
fn ignore_semantics_double_star_and_reinclude_inside_excluded_dir() {
    let t = sample();
    t.write("docs/a.md", "a");
    t.write("docs/README.md", "r");
    t.write("docs/sub/x.md", "x");
    t.write("target/debug/app", "bin");
    t.write("a/b/c/cache.pyc", "pyc");
    t.write("top.pyc", "pyc");
    t.write("notes.txt", "n");
    t.write(".dockerignore", "# comment\n\ndocs\n!docs/README.md\n  /target/  \n**/*.pyc\n*.txt\n");
    assert_eq!(
        listed(t.path()),
        vec![
            ".dockerignore",
            "Dockerfile",
            "README.md",
            "a",
            "a/b",
            "a/b/c",
            "docs/README.md",
            "src",
            "src/lib",
            "src/lib/util.rs",
            "src/main.rs"
        ]
    );
}

#[test]
fn exception_not_prefixed_by_dir_does_not_walk_into_it() {
    // Docker only descends into an excluded dir when an exception pattern starts with its path.
    let t = sample();
    t.write("docs/README.md", "r");
    t.write("keep.md", "k");
    t.write(".dockerignore", "docs\n!**/*.md\n");
    let l = listed(t.path());
    assert!(l.contains(&"keep.md".to_string()));
    assert!(!l.iter().any(|p| p.starts_with("docs")), "{l:?}");
}

#[test]
fn dockerfile_and_dockerignore_always_present_even_if_ignored() {
    let t = sample();
    t.write(".dockerignore", "*\n");
    assert_eq!(listed(t.path()), vec![".dockerignore", "Dockerfile"]);

    // Dockerfile inside an excluded directory, given explicitly.
    let t = sample();
    t.write("build/Dockerfile.prod", "FROM scratch\n");
    t.write("build/other", "o");
    t.write(".dockerignore", "build\n.dockerignore\nDockerfile\n");
    let l: Vec<String> = context_files(t.path(), Some(Path::new("build/Dockerfile.prod"))).unwrap().into_iter().map(|f| f.path).collect();
    assert_eq!(l, vec![".dockerignore", "README.md", "build/Dockerfile.prod", "src", "src/lib", "src/lib/util.rs", "src/main.rs"]);
}

#[test]
fn ignored_file_edit_does_not_change_hash() {
    let t = sample();
    t.write(".dockerignore", "*.log\nnode_modules\n");
    t.write("debug.log", "1");
    t.write("node_modules/x/index.js", "1");
    let before = h(t.path());
    t.write("debug.log", "2");
    t.write("node_modules/x/index.js", "2");
    t.write("node_modules/y.js", "new");
    assert_eq!(h(t.path()), before);
    t.write("README.md", "changed\n");
    assert_ne!(h(t.path()), before);
}

#[test]
fn hash_stable_under_metadata_changes_and_copy() {
    let t = sample();
    let before = h(t.path());
    assert!(before.starts_with("sha256:") && before.len() == 7 + 64);
    // "touch": rewrite identical content (new mtime), change non-exec mode bits.
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.write("README.md", "hello\n");
    #[cfg(unix)]
    set_mode(&t.path().join("src/main.rs"), 0o600);
    #[cfg(unix)]
    set_mode(&t.path().join("src/lib/util.rs"), 0o664);
    assert_eq!(h(t.path()), before);

    let other = TempDir::new();
    let copy = other.path().join("elsewhere/ctx");
    copy_tree(t.path(), &copy);
    assert_eq!(h(&copy), before);
}

#[test]
fn hash_changes_on_content_add_remove_rename() {
    let t = sample();
    let base = h(t.path());
    t.write("src/main.rs", "fn main() {}\n\n");
    let one_byte = h(t.path());
    assert_ne!(one_byte, base);
    t.write("src/main.rs", "fn main() {}\n");
    assert_eq!(h(t.path()), base);

    t.write("new.txt", "");
    assert_ne!(h(t.path()), base);
    fs::remove_file(t.path().join("new.txt")).unwrap();
    assert_eq!(h(t.path()), base);

    fs::rename(t.path().join("README.md"), t.path().join("README.txt")).unwrap();
    assert_ne!(h(t.path()), base);
    fs::rename(t.path().join("README.txt"), t.path().join("README.md")).unwrap();

    fs::create_dir(t.path().join("empty")).unwrap();
    assert_ne!(h(t.path()), base, "empty directories are part of the context");
    fs::remove_dir(t.path().join("empty")).unwrap();

    fs::remove_file(t.path().join("src/lib/util.rs")).unwrap();
    assert_ne!(h(t.path()), base);
}

#[cfg(unix)]
#[test]
fn hash_changes_on_exec_bit_and_symlink_target_and_symlinks_not_followed() {
    let t = sample();
    let base = h(t.path());
    set_mode(&t.path().join("README.md"), 0o744);
    let exec = h(t.path());
    assert_ne!(exec, base);
    set_mode(&t.path().join("README.md"), 0o755); // group/other x: not hashed
    assert_eq!(h(t.path()), exec);
    set_mode(&t.path().join("README.md"), 0o644);
    assert_eq!(h(t.path()), base);

    std::os::unix::fs::symlink("src/main.rs", t.path().join("link")).unwrap();
    let files = context_files(t.path(), None).unwrap();
    let link = files.iter().find(|f| f.path == "link").unwrap();
    assert_eq!(link.kind, EntryKind::Symlink { target: PathBuf::from("src/main.rs") });
    let with_link = h(t.path());
    fs::remove_file(t.path().join("link")).unwrap();
    std::os::unix::fs::symlink("README.md", t.path().join("link")).unwrap();
    assert_ne!(h(t.path()), with_link);
    // A dangling symlink is fine (target text is the content).
    fs::remove_file(t.path().join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/x", t.path().join("link")).unwrap();
    assert!(source_hash(t.path(), None, &BuildInputs::default()).is_ok());
}

#[test]
fn hash_covers_dockerfile_and_build_inputs() {
    let t = sample();
    let base = BuildInputs::default();
    let h0 = source_hash(t.path(), None, &base).unwrap().hash;
    let mut args = base.clone();
    args.build_args.insert("VERSION".into(), "1".into());
    let h1 = source_hash(t.path(), None, &args).unwrap().hash;
    assert_ne!(h1, h0);
    args.build_args.insert("VERSION".into(), "2".into());
    assert_ne!(source_hash(t.path(), None, &args).unwrap().hash, h1);
    let target = BuildInputs { target: Some("prod".into()), ..Default::default() };
    assert_ne!(source_hash(t.path(), None, &target).unwrap().hash, h0);
    let platform = BuildInputs { platform: Some("linux/arm64".into()), ..Default::default() };
    assert_ne!(source_hash(t.path(), None, &platform).unwrap().hash, h0);

    // Dockerfile outside the context (like docker build -f ../x): content counts, path does not.
    let outside = TempDir::new();
    outside.write("Dockerfile.ci", "FROM scratch\n");
    let df = outside.path().join("Dockerfile.ci");
    let a = source_hash(t.path(), Some(&df), &base).unwrap();
    assert!(!a.files.iter().any(|f| f.contains("Dockerfile.ci")));
    outside.write("Dockerfile.ci", "FROM scratch\nENV A=1\n");
    let b = source_hash(t.path(), Some(&df), &base).unwrap();
    assert_ne!(a.hash, b.hash);
    assert_ne!(a.dockerfile_hash, b.dockerfile_hash);
}

#[test]
fn changed_paths_names_the_edited_file() {
    let t = sample();
    let a = source_hash(t.path(), None, &BuildInputs::default()).unwrap();
    t.write("src/lib/util.rs", "pub fn g() {}\n");
    t.write("added.txt", "+");
    let b = source_hash(t.path(), None, &BuildInputs::default()).unwrap();
    assert_eq!(changed_paths(&a.file_hashes, &b.file_hashes, 10), vec!["added.txt", "src/lib/util.rs"]);
    assert_eq!(changed_paths(&a.file_hashes, &b.file_hashes, 1), vec!["added.txt"]);
    assert_eq!(a.files.len() + 1, b.files.len());
}

#[test]
fn errors_are_descriptive() {
    let missing = std::env::temp_dir().join("app-source-definitely-missing-dir");
    let e = source_hash(&missing, None, &BuildInputs::default()).unwrap_err();
    assert!(matches!(e, SourceError::SourceDirNotFound { .. }), "{e}");
    assert!(e.to_string().contains("app-source-definitely-missing-dir"));

    let t = TempDir::new();
    t.write("main.rs", "");
    let e = context_files(t.path(), None).unwrap_err();
    assert!(matches!(e, SourceError::DockerfileNotFound { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("Dockerfile") && msg.contains("set `dockerfile`") && msg.contains(&t.path().display().to_string()), "{msg}");
    let e = context_files(t.path(), Some(Path::new("docker/Dockerfile.x"))).unwrap_err();
    assert!(e.to_string().contains("docker/Dockerfile.x"), "{e}");

    // lowercase `dockerfile` fallback, like the docker CLI.
    t.write("dockerfile", "FROM scratch\n");
    assert!(context_files(t.path(), None).is_ok());

    t.write(".dockerignore", "ok\n# c\n\n[z-a]\n");
    let e = context_files(t.path(), None).unwrap_err();
    match &e {
        SourceError::InvalidIgnorePattern { line, .. } => assert_eq!(*line, 4),
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().contains(":4:"), "{e}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_named() {
    common::with_unreadable_file("unreadable_file_is_named", |t, _| {
        let e = source_hash(t.path(), None, &BuildInputs::default()).unwrap_err();
        assert!(e.to_string().contains("secret.bin"), "{e}");
    });
}

#[test]
fn file_hashes_are_fingerprints() {
    let t = sample();
    let s = source_hash(t.path(), None, &BuildInputs::default()).unwrap();
    assert_eq!(s.file_hashes.get("src").map(String::as_str), Some("dir"));
    // sha256("hello\n")
    assert_eq!(
        s.file_hashes.get("README.md").map(String::as_str),
        Some("sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
    );
    let keys: Vec<&String> = s.file_hashes.keys().collect();
    assert_eq!(keys.len(), s.files.len());
    let _: BTreeMap<String, String> = s.file_hashes;
}
