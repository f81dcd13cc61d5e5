//! Uploaded source archives (build contexts packed where Terraform runs), named by their SHA-256.
//!
//! They live in a directory of their own with a random name, created 0700 at the first upload
//! inside the runner's private socket directory (which the provider created 0700 and removes
//! when the runner ends, even by SIGKILL). The runner removes it when it stops (end of stdin,
//! SIGTERM) and when the store is dropped. Each upload is written to its file as it arrives and
//! may hold at most the store's limit (default [`DEFAULT_MAX_SOURCE_BYTES`], set with
//! [`MAX_SOURCE_ENV`]).

use crate::proto::SourceChunk;
use sha2::{Digest, Sha256};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::io::AsyncWriteExt;

/// The environment variable that sets the largest upload, in bytes or with a binary suffix
/// (`K`, `M`, `G`, `T`: KiB … TiB), e.g. `16G`.
pub const MAX_SOURCE_ENV: &str = "APP_RUNNER_MAX_SOURCE_BYTES";
/// The largest upload by default: 8 GiB.
pub const DEFAULT_MAX_SOURCE_BYTES: u64 = 8 << 30;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot store the uploaded source in {dir}: {reason}")]
    Store { dir: String, reason: String },
    #[error("the upload stream failed: {0}")]
    Stream(String),
    #[error(
        "the uploaded source is larger than this runner's limit of {} ({limit} bytes); leave out what the build does not need \
         (.dockerignore) or raise the limit with runner_env = {{ {MAX_SOURCE_ENV} = \"<bytes, or e.g. 16G>\" }} in the provider block",
        human(*.limit)
    )]
    TooLarge { limit: u64 },
    #[error("the upload ended before its last chunk (the sender gave up, e.g. a file could not be read); nothing was stored")]
    Incomplete,
}

/// Where uploads live; see the module docs.
pub struct SourceStore {
    parent: PathBuf,
    limit: u64,
    /// `None` until the first upload creates the directory; `Err(())` once removed for good.
    dir: Mutex<Result<Option<PathBuf>, ()>>,
}

impl SourceStore {
    /// A store whose directory will be created inside `parent` (which must exist and be private
    /// to this user), accepting uploads of at most `limit` bytes.
    pub fn new(parent: PathBuf, limit: u64) -> Self {
        Self { parent, limit, dir: Mutex::new(Ok(None)) }
    }

    fn store_error(dir: &Path, reason: impl ToString) -> SourceError {
        SourceError::Store { dir: dir.display().to_string(), reason: reason.to_string() }
    }

    /// The directory, created (0700, a new random name: never an existing path) at first use.
    fn ensure_dir(&self) -> Result<PathBuf, SourceError> {
        let mut dir = self.dir.lock().unwrap_or_else(|e| e.into_inner());
        match &*dir {
            Ok(Some(path)) => return Ok(path.clone()),
            Ok(None) => {}
            Err(()) => return Err(Self::store_error(&self.parent, "the runner is shutting down")),
        }
        let name = random_hex(16).map_err(|e| Self::store_error(&self.parent, e))?;
        let path = self.parent.join(format!("sources-{name}"));
        std::fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| Self::store_error(&path, e))?;
        *dir = Ok(Some(path.clone()));
        Ok(path)
    }

    /// Writes the chunks to a file as they arrive and returns ("sha256:<hex>", size). The
    /// upload counts only if its stream ends right after a chunk marked `last`.
    pub async fn put<S, E>(&self, mut chunks: S) -> Result<(String, u64), SourceError>
    where
        S: futures::Stream<Item = Result<SourceChunk, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dir = self.ensure_dir()?;
        let partial = dir.join(format!("upload-{}.partial", unique()));
        let file =
            tokio::fs::OpenOptions::new().write(true).create_new(true).open(&partial).await.map_err(|e| Self::store_error(&dir, e))?;
        let received = self.receive(&dir, file, &mut chunks).await;
        let (hex, size) = match received {
            Ok(done) => done,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e);
            }
        };
        tokio::fs::rename(&partial, dir.join(format!("{hex}.tar"))).await.map_err(|e| Self::store_error(&dir, e))?;
        Ok((format!("sha256:{hex}"), size))
    }

    async fn receive<S, E>(&self, dir: &Path, mut file: tokio::fs::File, chunks: &mut S) -> Result<(String, u64), SourceError>
    where
        S: futures::Stream<Item = Result<SourceChunk, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut last = false;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| SourceError::Stream(e.to_string()))?;
            if last {
                return Err(SourceError::Stream("a chunk arrived after the one marked last".into()));
            }
            size = size
                .checked_add(chunk.data.len() as u64)
                .filter(|s| *s <= self.limit)
                .ok_or(SourceError::TooLarge { limit: self.limit })?;
            hasher.update(&chunk.data);
            file.write_all(&chunk.data).await.map_err(|e| Self::store_error(dir, e))?;
            last = chunk.last;
        }
        if !last {
            return Err(SourceError::Incomplete);
        }
        file.flush().await.map_err(|e| Self::store_error(dir, e))?;
        let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok((hex, size))
    }

    /// The archive of an id returned by `put`, if it was uploaded to this runner.
    pub fn path(&self, id: &str) -> Option<PathBuf> {
        let hex = id.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let dir = self.dir.lock().unwrap_or_else(|e| e.into_inner()).clone().ok().flatten()?;
        let path = dir.join(format!("{hex}.tar"));
        path.is_file().then_some(path)
    }

    /// The directory uploads are stored in, once the first upload created it.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.lock().unwrap_or_else(|e| e.into_inner()).clone().ok().flatten()
    }

    /// Removes every upload; later uploads are refused.
    pub fn remove_all(&self) {
        let mut dir = self.dir.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(Some(path)) = &*dir {
            if let Err(e) = std::fs::remove_dir_all(path) {
                tracing::warn!(dir = %path.display(), "could not remove the uploaded sources: {e}");
            }
        }
        *dir = Err(());
    }
}

impl Drop for SourceStore {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// The upload limit from [`MAX_SOURCE_ENV`] (unset or empty: the default).
pub fn limit_from_env() -> Result<u64, String> {
    match std::env::var(MAX_SOURCE_ENV) {
        Ok(value) if !value.trim().is_empty() => parse_size(&value).ok_or_else(|| {
            format!("{MAX_SOURCE_ENV}={value:?} is not a size: give whole bytes, or a number with K, M, G or T (binary units), e.g. 16G")
        }),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(DEFAULT_MAX_SOURCE_BYTES),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{MAX_SOURCE_ENV} is not valid UTF-8")),
    }
}

/// "8589934592", "16G", "512m", "1TiB"-less forms: bytes with an optional binary suffix; `None`
/// for anything else, zero, or an overflow.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        (i, 't' | 'T') => (&text[..i], 40),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    value.checked_mul(1u64 << shift).filter(|v| *v > 0)
}

/// "8 GiB", "300 MiB", "1000 bytes": the limit as a person reads it.
fn human(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    rustls::crypto::aws_lc_rs::default_provider().secure_random.fill(&mut buf).map_err(|_| "no secure random source".to_string())?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chunk(data: &[u8], last: bool) -> Result<SourceChunk, String> {
        Ok(SourceChunk { data: data.to_vec(), last })
    }

    fn parent() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sources-test-{}", unique()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).expect("parent");
        dir
    }

    #[tokio::test]
    async fn stores_by_content_hash_in_a_fresh_private_directory() {
        let parent = parent();
        let store = SourceStore::new(parent.clone(), 1 << 20);
        assert!(store.dir().is_none(), "nothing is created before the first upload");
        let chunks = futures::stream::iter(vec![chunk(b"hello ", false), chunk(b"world", false), chunk(b"", true)]);
        let (id, size) = store.put(chunks).await.expect("put");
        assert_eq!(id, "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(size, 11);
        let path = store.path(&id).expect("stored");
        assert_eq!(std::fs::read(&path).expect("read"), b"hello world");
        let dir = store.dir().expect("created");
        assert_eq!(dir.parent(), Some(parent.as_path()));
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        assert!(name.starts_with("sources-") && name.len() == "sources-".len() + 32, "{name}");
        let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(store.path("sha256:../../etc/passwd").is_none());
        assert!(store.path("nonsense").is_none());

        let other = SourceStore::new(parent.clone(), 1 << 20);
        other.put(futures::stream::iter(vec![chunk(b"x", true)])).await.expect("put");
        assert_ne!(other.dir(), store.dir(), "every store gets a directory of its own");
        drop(other);

        store.remove_all();
        assert!(!dir.exists());
        let refused = store.put(futures::stream::iter(vec![chunk(b"late", true)])).await;
        assert!(matches!(refused, Err(SourceError::Store { .. })), "{refused:?}");
        assert_eq!(std::fs::read_dir(&parent).expect("parent").count(), 0, "dropping a store removes its directory");
        std::fs::remove_dir(&parent).expect("remove parent");
    }

    #[tokio::test]
    async fn failed_oversized_and_unfinished_uploads_leave_nothing_behind() {
        let parent = parent();
        let store = SourceStore::new(parent.clone(), 10);
        let failing = futures::stream::iter(vec![chunk(b"x", false), Err("connection reset".to_string())]);
        assert!(matches!(store.put(failing).await, Err(SourceError::Stream(_))));
        let unfinished = futures::stream::iter(vec![chunk(b"abc", false)]);
        assert!(matches!(store.put(unfinished).await, Err(SourceError::Incomplete)));
        let after_last = futures::stream::iter(vec![chunk(b"abc", true), chunk(b"d", false)]);
        assert!(matches!(store.put(after_last).await, Err(SourceError::Stream(_))));

        let at_limit = futures::stream::iter(vec![chunk(b"0123456789", true)]);
        assert_eq!(store.put(at_limit).await.expect("exactly the limit").1, 10);
        let over = futures::stream::iter(vec![chunk(b"012345", false), chunk(b"6789A", true)]);
        let err = store.put(over).await.expect_err("over the limit");
        assert!(matches!(err, SourceError::TooLarge { limit: 10 }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("10 bytes") && message.contains(MAX_SOURCE_ENV) && message.contains("runner_env"), "{message}");

        let dir = store.dir().expect("created");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(left.len(), 1, "only the complete upload stays: {left:?}");
        drop(store);
        std::fs::remove_dir(&parent).expect("the store removed its directory");
    }

    #[test]
    fn sizes_parse_with_binary_suffixes_and_refuse_nonsense() {
        assert_eq!(parse_size("8589934592"), Some(8 << 30));
        assert_eq!(parse_size(" 16G "), Some(16 << 30));
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("3k"), Some(3 << 10));
        assert_eq!(parse_size("2T"), Some(2 << 40));
        for bad in ["", "G", "0", "-1", "1.5G", "10GB", "abc", "99999999999999999999", "16777216T"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(human(DEFAULT_MAX_SOURCE_BYTES), "8 GiB");
        assert_eq!(human(300 << 20), "300 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
