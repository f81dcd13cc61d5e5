//! Packing a build context into a deterministic tar stream (see the crate docs, "Packing").

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{Builder, EntryType, Header};

use crate::hash::{hex, target_bytes};
use crate::walk::{self, ContextFile, EntryKind};
use crate::SourceError;

/// Modification time of every archive entry: 1980-01-02T00:00:00Z.
///
/// Any constant makes the archive reproducible. Docker's build caches ignore it (see the crate
/// docs), but `COPY`/`ADD` keep it in the image, and ZIP-based tools (Python's `zipfile`, jar)
/// reject times before 1980 — so not 0. One day past the ZIP epoch keeps it valid in every
/// time zone.
pub const ARCHIVE_MTIME: u64 = 315_619_200;

/// Output buffer size: headers are 512-byte writes, so don't hand those to a socket one by one.
const OUT_BUF: usize = 256 * 1024;

/// What [`pack_context`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// Number of archive entries (context entries, plus the Dockerfile and a generated
    /// `.dockerignore` when the Dockerfile lies outside the root). GNU long-name records are
    /// not counted.
    pub files: usize,
    /// Total bytes written to the output (the whole tar, end-of-archive blocks included).
    pub bytes: u64,
    /// Path of the Dockerfile inside the archive: pass it as the build's `dockerfile`.
    pub dockerfile_in_archive: String,
}

/// Counts what reaches the caller's writer; once poisoned, refuses further writes so that a
/// failed pack is not "completed" by the end-of-archive blocks `tar::Builder` writes on drop.
struct Counting<W: Write> {
    inner: W,
    bytes: u64,
    poisoned: bool,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(io::Error::other("archive aborted after an earlier error"));
        }
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.poisoned {
            return Ok(());
        }
        self.inner.flush()
    }
}

/// Reads exactly `remaining` bytes from a file; records whether a failure was on the read side.
struct ExactReader {
    file: File,
    remaining: u64,
    read_failed: bool,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(buf.len());
        match self.file.read(&mut buf[..max]) {
            Ok(0) => {
                self.read_failed = true;
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file shrank while being packed ({} bytes missing)", self.remaining),
                ))
            }
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.read_failed = true;
                }
                Err(e)
            }
        }
    }
}

type Out<W> = Builder<BufWriter<Counting<W>>>;

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(ARCHIVE_MTIME);
    h.set_uid(0);
    h.set_gid(0);
    // GNU headers start zeroed: empty user/group names, no atime/ctime, no device numbers.
    h
}

#[cfg(unix)]
fn path_of(raw: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(raw))
}

#[cfg(not(unix))]
fn path_of(raw: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(raw).into_owned())
}

/// Pack the build context of `root` as an uncompressed tar into `out`.
///
/// The archive holds exactly the entries of [`crate::context_files`] (same `dockerfile`
/// semantics), in that order, with the normalised, machine-independent metadata described in
/// the crate docs ("Packing"). Regular files are streamed from disk; `out` is written through an
/// internal buffer and flushed at the end.
///
/// When the Dockerfile lies outside `root` it is added as `.dockerfile.<16 hex of its SHA-256>`
/// and, like the docker CLI, that name is appended to `.dockerignore` (created if absent) so the
/// engine drops it from the context that `COPY`/`ADD` see. [`PackSummary::dockerfile_in_archive`]
/// is the path to pass as the build's Dockerfile.
///
/// On error the output holds a truncated archive (no end-of-archive marker); discard it.
pub fn pack_context(root: &Path, dockerfile: Option<&Path>, out: impl Write) -> Result<PackSummary, SourceError> {
    let resolved = walk::resolve(root, dockerfile)?;
    let entries = walk::list(&resolved)?;

    // Outside-root Dockerfile: generated name + .dockerignore rewrite (docker CLI
    // `AddDockerfileToBuildContext`, with a content-derived instead of a random name).
    let (dockerfile_in_archive, outside) = match &resolved.dockerfile_rel {
        Some(rel) => (rel.clone(), None),
        None => {
            let content =
                fs::read(&resolved.dockerfile).map_err(|e| SourceError::Unreadable { path: resolved.dockerfile.clone(), source: e })?;
            let digest = hex(&Sha256::digest(&content));
            let base = format!(".dockerfile.{}", &digest[..16]);
            let taken = |n: &str| entries.iter().any(|e| e.raw_path() == n.as_bytes());
            let mut name = base.clone();
            let mut i = 0u32;
            while taken(&name) {
                i += 1;
                name = format!("{base}-{i}");
            }
            let ignore_path = resolved.root.join(".dockerignore");
            let has_ignore = entries.iter().any(|e| e.raw_path() == b".dockerignore");
            let mut ignore = if has_ignore {
                fs::read(&ignore_path).map_err(|e| SourceError::Unreadable { path: ignore_path.clone(), source: e })?
            } else {
                b".dockerignore".to_vec()
            };
            ignore.extend_from_slice(format!("\n{name}\n").as_bytes());
            (name.clone(), Some(Outside { name, content, ignore, has_ignore }))
        }
    };

    let counting = Counting { inner: out, bytes: 0, poisoned: false };
    let mut ar: Out<_> = Builder::new(BufWriter::with_capacity(OUT_BUF, counting));
    let result = write_all(&mut ar, &entries, outside.as_ref());
    let files = match result {
        Ok(n) => n,
        Err(e) => {
            ar.get_mut().get_mut().poisoned = true;
            return Err(e);
        }
    };
    let finish_err = |source| SourceError::ArchiveWrite { path: resolved.root.clone(), source };
    let buf = ar.into_inner().map_err(finish_err)?;
    let mut counting = buf.into_inner().map_err(|e| finish_err(e.into_error()))?;
    counting.flush().map_err(finish_err)?;
    Ok(PackSummary { files, bytes: counting.bytes, dockerfile_in_archive })
}

/// A Dockerfile from outside the root, and the `.dockerignore` content that hides it.
struct Outside {
    name: String,
    content: Vec<u8>,
    ignore: Vec<u8>,
    /// Whether the context already has a `.dockerignore` (rewritten in place) or not (appended).
    has_ignore: bool,
}

fn write_all<W: Write>(ar: &mut Out<W>, entries: &[ContextFile], outside: Option<&Outside>) -> Result<usize, SourceError> {
    let mut files = 0usize;
    for e in entries {
        let rel = path_of(e.raw_path());
        let write_err = |source| SourceError::ArchiveWrite { path: rel.clone(), source };
        match (&e.kind, outside) {
            (_, Some(o)) if e.raw_path() == b".dockerignore" => {
                let mut h = header(EntryType::Regular, 0o644, o.ignore.len() as u64);
                ar.append_data(&mut h, &rel, o.ignore.as_slice()).map_err(write_err)?;
            }
            (EntryKind::Dir, _) => {
                // Docker names directories with a trailing slash.
                let mut raw = e.raw_path().to_vec();
                raw.push(b'/');
                let mut h = header(EntryType::Directory, 0o755, 0);
                ar.append_data(&mut h, path_of(&raw), io::empty()).map_err(write_err)?;
            }
            (EntryKind::Symlink { target }, _) => {
                let t = target_bytes(target);
                let mut h = header(EntryType::Symlink, 0o777, 0);
                if t.len() <= h.as_old().linkname.len() {
                    // Store the target byte for byte (`set_link_name` would normalise `a//b`).
                    h.as_old_mut().linkname[..t.len()].copy_from_slice(&t);
                    ar.append_data(&mut h, &rel, io::empty()).map_err(write_err)?;
                } else {
                    ar.append_link(&mut h, &rel, path_of(&t)).map_err(write_err)?;
                }
            }
            (EntryKind::File { executable, .. }, _) => {
                append_file(ar, &e.full_path, &rel, *executable)?;
            }
        }
        files += 1;
    }
    if let Some(o) = outside {
        let mut h = header(EntryType::Regular, 0o644, o.content.len() as u64);
        ar.append_data(&mut h, &o.name, o.content.as_slice())
            .map_err(|source| SourceError::ArchiveWrite { path: PathBuf::from(&o.name), source })?;
        files += 1;
        if !o.has_ignore {
            let mut h = header(EntryType::Regular, 0o644, o.ignore.len() as u64);
            ar.append_data(&mut h, ".dockerignore", o.ignore.as_slice())
                .map_err(|source| SourceError::ArchiveWrite { path: PathBuf::from(".dockerignore"), source })?;
            files += 1;
        }
    }
    Ok(files)
}

fn append_file<W: Write>(ar: &mut Out<W>, full: &Path, rel: &Path, executable: bool) -> Result<(), SourceError> {
    let unreadable = |source| SourceError::Unreadable { path: full.to_path_buf(), source };
    let file = File::open(full).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable(io::Error::other("no longer a regular file (changed while packing)")));
    }
    // Size from the open file; exactly that many bytes are copied (a file that grows meanwhile is
    // cut there, one that shrinks is an error), so the archive stays well-formed.
    let size = meta.len();
    let mut reader = ExactReader { file, remaining: size, read_failed: false };
    let mut h = header(EntryType::Regular, if executable { 0o755 } else { 0o644 }, size);
    match ar.append_data(&mut h, rel, &mut reader) {
        Ok(()) => Ok(()),
        Err(e) if reader.read_failed => Err(unreadable(e)),
        Err(e) => Err(SourceError::ArchiveWrite { path: rel.to_path_buf(), source: e }),
    }
}
