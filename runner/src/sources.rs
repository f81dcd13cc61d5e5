//! Uploaded source archives (build contexts packed where Terraform runs), kept in a private
//! directory for the runner's lifetime and named by their SHA-256.

use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot store the uploaded source in {dir}: {reason}")]
    Store { dir: String, reason: String },
    #[error("the upload stream failed: {0}")]
    Stream(String),
}

/// Where uploads live: a 0700 directory created on first use, removed by `remove_all`.
pub struct SourceStore {
    dir: PathBuf,
}

impl Default for SourceStore {
    fn default() -> Self {
        Self::new(std::env::temp_dir().join(format!("app-runner-{}-sources", std::process::id())))
    }
}

impl SourceStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn store_error(&self, reason: impl ToString) -> SourceError {
        SourceError::Store { dir: self.dir.display().to_string(), reason: reason.to_string() }
    }

    async fn ensure_dir(&self) -> Result<(), SourceError> {
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| self.store_error(e))?;
        tokio::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).await.map_err(|e| self.store_error(e))
    }

    /// Writes the chunks to a file and returns ("sha256:<hex>", size).
    pub async fn put<S, E>(&self, mut chunks: S) -> Result<(String, u64), SourceError>
    where
        S: futures::Stream<Item = Result<Vec<u8>, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        self.ensure_dir().await?;
        let partial = self.dir.join(format!("upload-{}.partial", unique()));
        let mut file = tokio::fs::File::create(&partial).await.map_err(|e| self.store_error(e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(SourceError::Stream(e.to_string()));
                }
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(e) = file.write_all(&chunk).await {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(self.store_error(e));
            }
        }
        file.flush().await.map_err(|e| self.store_error(e))?;
        drop(file);
        let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        tokio::fs::rename(&partial, self.dir.join(format!("{hex}.tar"))).await.map_err(|e| self.store_error(e))?;
        Ok((format!("sha256:{hex}"), size))
    }

    /// The archive of an id returned by `put`, if it was uploaded to this runner.
    pub fn path(&self, id: &str) -> Option<PathBuf> {
        let hex = id.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = self.dir.join(format!("{hex}.tar"));
        path.is_file().then_some(path)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn remove_all(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_by_content_hash() {
        let dir = std::env::temp_dir().join(format!("sources-test-{}", unique()));
        let store = SourceStore::new(dir.clone());
        let chunks = futures::stream::iter(vec![Ok::<_, String>(b"hello ".to_vec()), Ok(b"world".to_vec())]);
        let (id, size) = store.put(chunks).await.expect("put");
        assert_eq!(id, "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(size, 11);
        let path = store.path(&id).expect("stored");
        assert_eq!(std::fs::read(&path).expect("read"), b"hello world");
        let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(store.path("sha256:../../etc/passwd").is_none());
        assert!(store.path("nonsense").is_none());

        let failing = futures::stream::iter(vec![Ok(b"x".to_vec()), Err("connection reset".to_string())]);
        assert!(matches!(store.put(failing).await, Err(SourceError::Stream(_))));
        let leftovers = std::fs::read_dir(&dir).expect("dir").count();
        assert_eq!(leftovers, 1, "a failed upload leaves nothing behind");
        store.remove_all();
        assert!(!dir.exists());
    }
}
