#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Read;
use std::path::Path;

use app_source::{context_files, pack_context, PackSummary, SourceError, ARCHIVE_MTIME};
use sha2::{Digest, Sha256};

mod common;
use common::TempDir;

fn sample() -> TempDir {
    let t = TempDir::new();
    t.write("Dockerfile", "FROM scratch\nCOPY . /\n");
    t.write("src/main.rs", "fn main() {}\n");
    t.write("src/lib/util.rs", "pub fn f() {}\n");
    t.write("README.md", "hello\n");
    fs::create_dir(t.path().join("empty")).unwrap();
    t
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// One entry read back from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    link: Option<String>,
    data: Vec<u8>,
}

fn pack(root: &Path, dockerfile: Option<&Path>) -> (Vec<u8>, PackSummary) {
    let mut buf = Vec::new();
    let s = pack_context(root, dockerfile, &mut buf).unwrap();
    assert_eq!(s.bytes, buf.len() as u64);
    (buf, s)
}

fn read_back(archive: &[u8]) -> Vec<Got> {
    let mut ar = tar::Archive::new(archive);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mtime().unwrap(), ARCHIVE_MTIME);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.username_bytes().unwrap_or_default(), b"");
        assert_eq!(h.groupname_bytes().unwrap_or_default(), b"");
        let kind = h.entry_type();
        let mode = h.mode().unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(Got { path, kind, mode, link, data });
    }
    out
}

/// Archive paths with the directory slash removed, for comparison with `context_files`.
fn names(got: &[Got]) -> Vec<String> {
    got.iter().map(|g| g.path.trim_end_matches('/').to_string()).collect()
}

fn listed(root: &Path, dockerfile: Option<&Path>) -> Vec<String> {
    context_files(root, dockerfile).unwrap().into_iter().map(|f| f.path).collect()
}

fn find<'a>(got: &'a [Got], path: &str) -> &'a Got {
    got.iter().find(|g| g.path == path).unwrap_or_else(|| panic!("{path} not in {:?}", names(got)))
}

#[test]
fn archive_lists_exactly_the_context_in_order() {
    let t = sample();
    let (ar, s) = pack(t.path(), None);
    let got = read_back(&ar);
    assert_eq!(names(&got), listed(t.path(), None));
    assert_eq!(s.files, got.len());
    assert_eq!(s.dockerfile_in_archive, "Dockerfile");
    // Directories are directory entries named with a trailing slash, mode 0755.
    let d = find(&got, "src/lib/");
    assert_eq!((d.kind, d.mode), (tar::EntryType::Directory, 0o755));
    assert_eq!(find(&got, "empty/").kind, tar::EntryType::Directory);
    let f = find(&got, "README.md");
    assert_eq!((f.kind, f.mode, f.data.as_slice()), (tar::EntryType::Regular, 0o644, &b"hello\n"[..]));
    assert_eq!(find(&got, "src/lib/util.rs").data, b"pub fn f() {}\n");
}

#[test]
fn ignored_files_absent_and_build_files_present_even_if_ignored() {
    let t = sample();
    t.write("secret.env", "x");
    t.write("node_modules/a/index.js", "x");
    t.write("docs/keep.md", "k");
    t.write("docs/drop.md", "d");
    t.write(".dockerignore", "*.env\nnode_modules\ndocs\n!docs/keep.md\nDockerfile\n.dockerignore\n");
    let (ar, _) = pack(t.path(), None);
    let got = read_back(&ar);
    let n = names(&got);
    assert_eq!(n, listed(t.path(), None));
    for absent in ["secret.env", "node_modules", "node_modules/a/index.js", "docs/drop.md"] {
        assert!(!n.iter().any(|p| p == absent), "{absent} in {n:?}");
    }
    assert!(n.contains(&"docs/keep.md".to_string()), "{n:?}");
    assert_eq!(find(&got, "Dockerfile").data, b"FROM scratch\nCOPY . /\n");
    assert!(find(&got, ".dockerignore").data.starts_with(b"*.env\n"));

    // An explicitly named Dockerfile inside an ignored directory is referenced by its path.
    t.write("build/Dockerfile.prod", "FROM scratch\n");
    t.write(".dockerignore", "build\n");
    let (ar, s) = pack(t.path(), Some(Path::new("build/Dockerfile.prod")));
    let got = read_back(&ar);
    assert_eq!(s.dockerfile_in_archive, "build/Dockerfile.prod");
    assert_eq!(find(&got, "build/Dockerfile.prod").data, b"FROM scratch\n");
    assert_eq!(names(&got), listed(t.path(), Some(Path::new("build/Dockerfile.prod"))));
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = fs::read_dir(from).unwrap().map(|e| e.unwrap()).collect();
    // Create in reverse order so directory order on disk differs too.
    entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
    for e in entries {
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
fn byte_identical_for_a_copy_with_other_mtimes_and_modes() {
    let t = sample();
    t.write(".dockerignore", "*.log\n");
    t.write("x.log", "ignored");
    #[cfg(unix)]
    std::os::unix::fs::symlink("src/main.rs", t.path().join("link")).unwrap();
    let (a, sa) = pack(t.path(), None);
    assert_eq!(pack(t.path(), None).0, a, "packing is repeatable");

    let other = TempDir::new();
    let copy = other.path().join("elsewhere/ctx");
    copy_tree(t.path(), &copy);
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for rel in ["README.md", "src/main.rs", "Dockerfile"] {
        fs::File::options().write(true).open(copy.join(rel)).unwrap().set_modified(old).unwrap();
    }
    #[cfg(unix)]
    {
        set_mode(&copy.join("README.md"), 0o600); // no owner-x: still 0644 in the archive
        set_mode(&copy.join("src/lib/util.rs"), 0o664);
        set_mode(&copy.join("src"), 0o700);
    }
    fs::write(copy.join("x.log"), "different ignored content").unwrap();
    let (b, sb) = pack(&copy, None);
    assert!(a == b, "archives differ ({} vs {} bytes)", a.len(), b.len());
    assert_eq!(sa, sb);
}

#[cfg(unix)]
#[test]
fn exec_bit_and_symlinks_preserved() {
    let t = sample();
    t.write("run.sh", "#!/bin/sh\n");
    set_mode(&t.path().join("run.sh"), 0o744);
    set_mode(&t.path().join("README.md"), 0o600);
    std::os::unix::fs::symlink("src/main.rs", t.path().join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent//x/./y", t.path().join("dangling")).unwrap();
    let long_target = format!("../{}/target", "t".repeat(150));
    std::os::unix::fs::symlink(&long_target, t.path().join("longlink")).unwrap();
    let (ar, _) = pack(t.path(), None);
    let got = read_back(&ar);
    assert_eq!(names(&got), listed(t.path(), None));
    assert_eq!(find(&got, "run.sh").mode, 0o755);
    assert_eq!(find(&got, "README.md").mode, 0o644);
    let l = find(&got, "link");
    assert_eq!((l.kind, l.link.as_deref(), l.data.len()), (tar::EntryType::Symlink, Some("src/main.rs"), 0));
    // Targets are stored exactly as read, not normalised, not followed.
    assert_eq!(find(&got, "dangling").link.as_deref(), Some("/nonexistent//x/./y"));
    assert_eq!(find(&got, "longlink").link.as_deref(), Some(long_target.as_str()));
}

#[test]
fn outside_dockerfile_gets_content_derived_name() {
    let t = sample();
    let outside = TempDir::new();
    let content = "FROM scratch\nCOPY . /app\n";
    outside.write("x/Dockerfile", content);
    let df = outside.path().join("x/Dockerfile");
    let want = format!(".dockerfile.{}", &hex(&Sha256::digest(content.as_bytes()))[..16]);

    // No .dockerignore: one is created that hides the generated Dockerfile (and itself).
    let (ar, s) = pack(t.path(), Some(&df));
    assert_eq!(s.dockerfile_in_archive, want);
    let got = read_back(&ar);
    assert_eq!(s.files, got.len());
    let mut expect = listed(t.path(), Some(&df));
    expect.push(want.clone());
    expect.push(".dockerignore".to_string());
    assert_eq!(names(&got), expect);
    let g = find(&got, &want);
    assert_eq!((g.kind, g.mode, g.data.as_slice()), (tar::EntryType::Regular, 0o644, content.as_bytes()));
    assert_eq!(find(&got, ".dockerignore").data, format!(".dockerignore\n{want}\n").into_bytes());
    // Same Dockerfile from another place: same archive.
    let elsewhere = TempDir::new();
    elsewhere.write("Dockerfile.ci", content);
    assert_eq!(pack(t.path(), Some(&elsewhere.path().join("Dockerfile.ci"))).0, ar);

    // Existing .dockerignore: rewritten in place with the name appended.
    t.write(".dockerignore", "*.log");
    let (ar, s) = pack(t.path(), Some(&df));
    let got = read_back(&ar);
    let mut expect = listed(t.path(), Some(&df));
    expect.push(want.clone());
    assert_eq!(names(&got), expect);
    assert_eq!(s.files, got.len());
    assert_eq!(find(&got, ".dockerignore").data, format!("*.log\n{want}\n").into_bytes());

    // A context entry that already has the generated name is not overwritten.
    t.write(&want, "mine");
    let (ar, s) = pack(t.path(), Some(&df));
    assert_eq!(s.dockerfile_in_archive, format!("{want}-1"));
    let got = read_back(&ar);
    assert_eq!(find(&got, &want).data, b"mine");
    assert_eq!(find(&got, &format!("{want}-1")).data, content.as_bytes());
}

#[test]
fn long_paths_round_trip() {
    let t = sample();
    let rel = format!("{}/{}/{}", "d".repeat(100), "e".repeat(100), "f".repeat(98));
    assert_eq!(rel.len(), 300);
    t.write(&rel, "deep");
    let (ar, _) = pack(t.path(), None);
    let got = read_back(&ar);
    assert_eq!(names(&got), listed(t.path(), None));
    assert_eq!(find(&got, &rel).data, b"deep");
    let dir = format!("{}/{}/", "d".repeat(100), "e".repeat(100));
    assert_eq!(find(&got, &dir).kind, tar::EntryType::Directory);
    // No PAX headers: GNU long-name records only.
    let mut raw = tar::Archive::new(ar.as_slice());
    for e in raw.entries().unwrap().raw(true) {
        let e = e.unwrap();
        let k = e.header().entry_type();
        assert!(!matches!(k, tar::EntryType::XHeader | tar::EntryType::XGlobalHeader), "{k:?}");
    }
}

#[test]
fn large_file_is_streamed_intact() {
    let t = sample();
    let big: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i % 251) as u8).collect();
    fs::write(t.path().join("big.bin"), &big).unwrap();
    let (ar, _) = pack(t.path(), None);
    assert_eq!(find(&read_back(&ar), "big.bin").data, big);
}

#[test]
fn errors_name_the_file() {
    let missing = std::env::temp_dir().join("app-source-pack-definitely-missing");
    let e = pack_context(&missing, None, Vec::new()).unwrap_err();
    assert!(matches!(e, SourceError::SourceDirNotFound { .. }), "{e}");

    // A broken output stream is an ArchiveWrite error naming the entry being written.
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "runner went away"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let t = sample();
    let big = vec![1u8; 1 << 20];
    fs::write(t.path().join("a.bin"), &big).unwrap();
    let e = pack_context(t.path(), None, Broken).unwrap_err();
    assert!(matches!(e, SourceError::ArchiveWrite { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("a.bin") && msg.contains("runner went away"), "{msg}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_named() {
    common::with_unreadable_file("unreadable_file_is_named", |t, _| {
        let e = pack_context(t.path(), None, Vec::new()).unwrap_err();
        assert!(matches!(e, SourceError::Unreadable { .. }), "{e}");
        assert!(e.to_string().contains("secret.bin"), "{e}");
    });
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
