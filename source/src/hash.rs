//! Deterministic hashing of a build context (see the crate docs for the canonical encoding).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::walk::{self, ContextFile, EntryKind};
use crate::SourceError;

/// Version tag at the start of the canonical encoding.
pub const ENCODING_TAG: &[u8] = b"app-source-hash/v1\n";

const CHUNK: usize = 1 << 20;

/// (input index, digest or failing path + error) produced by one hashing worker.
type WorkerResult = Vec<(usize, Result<[u8; 32], (PathBuf, io::Error)>)>;

/// Build settings that influence the image besides the context files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInputs {
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target` stage.
    pub target: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
}

/// Result of [`source_hash`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHash {
    /// `sha256:<64 hex>` over the canonical encoding.
    pub hash: String,
    /// Relative paths of all context entries (sorted), for "which files changed" messages.
    pub files: Vec<String>,
    /// Per-entry fingerprint: `sha256:<hex>` (file), `sha256:<hex>+x` (executable file),
    /// `symlink:<target>` or `dir`. Feed two of these to [`changed_paths`].
    pub file_hashes: BTreeMap<String, String>,
    /// `sha256:<hex>` of the Dockerfile content (also covered by `hash`).
    pub dockerfile_hash: String,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

fn put_bytes(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_be_bytes());
    h.update(b);
}

fn put_opt(h: &mut Sha256, v: Option<&str>) {
    match v {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            put_bytes(h, s.as_bytes());
        }
    }
}

#[cfg(unix)]
pub(crate) fn target_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
pub(crate) fn target_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().replace('\\', "/").into_bytes()
}

/// SHA-256 of a file's content, streamed in 1 MiB chunks through `buf`.
fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<[u8; 32]> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    loop {
        match f.read(buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finalize().into())
}

/// Hash the content of `paths` in parallel (std::thread::scope, `available_parallelism` workers,
/// dynamic work distribution). Results are in input order.
pub fn hash_files_parallel(paths: &[&Path]) -> Result<Vec<[u8; 32]>, SourceError> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 64).min(paths.len().max(1));
    let next = AtomicUsize::new(0);
    let work = || -> WorkerResult {
        let mut buf = vec![0u8; CHUNK];
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(p) = paths.get(i) else { break };
            done.push((i, hash_file(p, &mut buf).map_err(|e| (p.to_path_buf(), e))));
        }
        done
    };
    let parts: Vec<_> = if workers <= 1 {
        vec![Ok(work())]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
            handles.into_iter().map(|h| h.join()).collect()
        })
    };
    let mut out = vec![[0u8; 32]; paths.len()];
    let mut first_err: Option<(usize, PathBuf, io::Error)> = None;
    for part in parts {
        let part = part.map_err(|_| SourceError::WorkerPanicked)?;
        for (i, r) in part {
            match r {
                Ok(d) => {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = d;
                    }
                }
                Err((path, e)) => {
                    // Report the first failing file in path order, deterministically.
                    if first_err.as_ref().is_none_or(|(j, _, _)| i < *j) {
                        first_err = Some((i, path, e));
                    }
                }
            }
        }
    }
    match first_err {
        Some((_, path, source)) => Err(SourceError::Unreadable { path, source }),
        None => Ok(out),
    }
}

/// Compute the plan-time source hash of a build context (no Docker engine involved).
///
/// `dockerfile` follows [`crate::context_files`]: `None` = `root/Dockerfile`, relative paths are
/// relative to `root`, absolute paths may lie outside `root`.
pub fn source_hash(root: &Path, dockerfile: Option<&Path>, inputs: &BuildInputs) -> Result<SourceHash, SourceError> {
    let resolved = walk::resolve(root, dockerfile)?;
    let entries = walk::list(&resolved)?;
    let dockerfile_content =
        std::fs::read(&resolved.dockerfile).map_err(|e| SourceError::Unreadable { path: resolved.dockerfile.clone(), source: e })?;
    let dockerfile_digest: [u8; 32] = Sha256::digest(&dockerfile_content).into();
    hash_entries(&entries, &dockerfile_digest, inputs)
}

/// Hash already-listed entries (exposed for callers that list once and hash repeatedly).
pub fn hash_entries(entries: &[ContextFile], dockerfile_digest: &[u8; 32], inputs: &BuildInputs) -> Result<SourceHash, SourceError> {
    let file_paths: Vec<&Path> =
        entries.iter().filter(|e| matches!(e.kind, EntryKind::File { .. })).map(|e| e.full_path.as_path()).collect();
    let digests = hash_files_parallel(&file_paths)?;
    let mut digests = digests.into_iter();

    let mut h = Sha256::new();
    h.update(ENCODING_TAG);
    h.update((entries.len() as u64).to_be_bytes());
    let mut files = Vec::with_capacity(entries.len());
    let mut file_hashes = BTreeMap::new();
    for e in entries {
        let fingerprint = match &e.kind {
            EntryKind::Dir => {
                h.update(b"d");
                put_bytes(&mut h, &e.raw_path);
                "dir".to_string()
            }
            EntryKind::File { executable, .. } => {
                let d = digests.next().unwrap_or([0u8; 32]);
                h.update(b"f");
                put_bytes(&mut h, &e.raw_path);
                h.update([u8::from(*executable)]);
                h.update(d);
                format!("sha256:{}{}", hex(&d), if *executable { "+x" } else { "" })
            }
            EntryKind::Symlink { target } => {
                let t = target_bytes(target);
                h.update(b"l");
                put_bytes(&mut h, &e.raw_path);
                put_bytes(&mut h, &t);
                format!("symlink:{}", String::from_utf8_lossy(&t))
            }
        };
        files.push(e.path.clone());
        file_hashes.insert(e.path.clone(), fingerprint);
    }
    h.update(dockerfile_digest);
    h.update((inputs.build_args.len() as u64).to_be_bytes());
    for (k, v) in &inputs.build_args {
        put_bytes(&mut h, k.as_bytes());
        put_bytes(&mut h, v.as_bytes());
    }
    put_opt(&mut h, inputs.target.as_deref());
    put_opt(&mut h, inputs.platform.as_deref());
    let digest: [u8; 32] = h.finalize().into();
    Ok(SourceHash {
        hash: format!("sha256:{}", hex(&digest)),
        files,
        file_hashes,
        dockerfile_hash: format!("sha256:{}", hex(dockerfile_digest)),
    })
}

/// Paths added, removed or modified between two [`SourceHash::file_hashes`] maps; sorted, at most
/// `limit` entries.
pub fn changed_paths(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>, limit: usize) -> Vec<String> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).take(limit).map(|k| k.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_encodes() {
        assert_eq!(hex(&[0x00, 0xab, 0xff, 0x10]), "00abff10");
    }

    #[test]
    fn changed_paths_added_removed_modified_sorted_limited() {
        let m = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<BTreeMap<_, _>>();
        let old = m(&[("a", "1"), ("b", "2"), ("c", "3"), ("e", "5")]);
        let new = m(&[("a", "1"), ("b", "X"), ("d", "4"), ("e", "5")]);
        assert_eq!(changed_paths(&old, &new, 10), vec!["b", "c", "d"]);
        assert_eq!(changed_paths(&old, &new, 2), vec!["b", "c"]);
        assert!(changed_paths(&old, &old, 10).is_empty());
    }

    #[test]
    fn inputs_are_unambiguous() {
        let e: [ContextFile; 0] = [];
        let d = [0u8; 32];
        let a = BuildInputs { build_args: [("A".to_string(), "BC".to_string())].into(), ..Default::default() };
        let b = BuildInputs { build_args: [("AB".to_string(), "C".to_string())].into(), ..Default::default() };
        let t = BuildInputs { target: Some(String::new()), ..Default::default() };
        let n = BuildInputs::default();
        let hs: BTreeSet<String> = [a, b, t, n].iter().map(|i| hash_entries(&e, &d, i).map(|h| h.hash).unwrap_or_default()).collect();
        assert_eq!(hs.len(), 4);
    }

    #[test]
    fn parallel_hash_matches_known_digest() {
        let dir = std::env::temp_dir().join(format!("app-source-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("abc");
        std::fs::write(&p, b"abc").unwrap();
        let big = dir.join("big");
        std::fs::write(&big, vec![7u8; 3 * CHUNK + 5]).unwrap();
        let paths = [p.as_path(), big.as_path(), p.as_path()];
        let got = hash_files_parallel(&paths).unwrap();
        assert_eq!(hex(&got[0]), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let want_big: [u8; 32] = Sha256::digest(vec![7u8; 3 * CHUNK + 5]).into();
        assert_eq!(got[1], want_big);
        assert_eq!(got[2], got[0]);
        let missing = dir.join("missing");
        let err = hash_files_parallel(&[missing.as_path()]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
