//! Listing the files Docker would send as the build context.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::dockerignore::{MatchInfo, PatternMatcher};
use crate::SourceError;

/// Kind of a context entry. Symlinks are never followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Regular file.
    File {
        /// User-execute bit (`0o100`); the only mode bit that is hashed.
        executable: bool,
        /// Size in bytes (informational; not hashed).
        size: u64,
    },
    /// Directory.
    Dir,
    /// Symbolic link with its (unresolved) target.
    Symlink {
        /// The link target as stored in the link.
        target: PathBuf,
    },
}

/// One entry of the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Path relative to the context root, `/`-separated (lossily converted if not UTF-8).
    pub path: String,
    /// Absolute path on this machine.
    pub full_path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
    /// Exact relative path bytes (used for sorting and hashing).
    pub(crate) raw_path: Vec<u8>,
}

impl ContextFile {
    /// Exact bytes of the relative path (`/`-separated).
    pub fn raw_path(&self) -> &[u8] {
        &self.raw_path
    }
}

/// The resolved build inputs on disk.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub root: PathBuf,
    pub dockerfile: PathBuf,
    /// Dockerfile path relative to root when inside it.
    pub dockerfile_rel: Option<String>,
}

pub(crate) fn resolve(root: &Path, dockerfile: Option<&Path>) -> Result<Resolved, SourceError> {
    let root = match fs::canonicalize(root) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(SourceError::SourceDirNotFound { path: root.to_path_buf() }),
        Err(e) => return Err(SourceError::Unreadable { path: root.to_path_buf(), source: e }),
    };
    match fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(SourceError::SourceNotADirectory { path: root }),
        Err(e) => return Err(SourceError::Unreadable { path: root, source: e }),
    }
    let tried = match dockerfile {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => root.join(p),
        None => {
            // Like the docker CLI: `Dockerfile`, falling back to `dockerfile` if only that exists.
            let default = root.join("Dockerfile");
            let alt = root.join("dockerfile");
            if fs::symlink_metadata(&default).is_err() && fs::symlink_metadata(&alt).is_ok() {
                alt
            } else {
                default
            }
        }
    };
    let resolved = match fs::canonicalize(&tried) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(SourceError::DockerfileNotFound { path: tried }),
        Err(e) => return Err(SourceError::Unreadable { path: tried, source: e }),
    };
    match fs::metadata(&resolved) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(SourceError::DockerfileNotAFile { path: tried }),
        Err(e) => return Err(SourceError::Unreadable { path: tried, source: e }),
    }
    let dockerfile_rel = resolved.strip_prefix(&root).ok().map(rel_string);
    Ok(Resolved { root, dockerfile: resolved, dockerfile_rel })
}

fn rel_string(p: &Path) -> String {
    p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

#[cfg(unix)]
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    name.to_string_lossy().as_bytes().to_vec()
}

#[cfg(unix)]
fn is_user_exec(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_user_exec(_meta: &fs::Metadata) -> bool {
    false
}

/// Load the root `.dockerignore` into a matcher (empty when absent).
fn load_ignore(root: &Path) -> Result<PatternMatcher, SourceError> {
    let path = root.join(".dockerignore");
    let content = match fs::read(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(PatternMatcher::default()),
        Err(e) => return Err(SourceError::Unreadable { path, source: e }),
    };
    PatternMatcher::from_dockerignore(&content).map_err(|e| SourceError::InvalidIgnorePattern {
        path,
        line: e.line,
        pattern: e.pattern,
        reason: e.reason,
    })
}

/// List what `docker build` would put in the context tarball for `root`.
///
/// * honours `root/.dockerignore` with Docker's exact semantics, including walking into an
///   excluded directory when an exception pattern starts with that directory's path;
/// * the Dockerfile (when inside `root`) and `.dockerignore` are always included, as the docker
///   CLI appends `!<Dockerfile>` / `!.dockerignore` exceptions;
/// * directories, regular files and symlinks are listed (symlinks are not followed); sockets,
///   FIFOs and device nodes are skipped;
/// * `dockerfile`: `None` = `Dockerfile` (or `dockerfile`) in `root`; a relative path is
///   relative to `root`; an absolute path may lie outside `root` (then it is not listed).
///
/// The result is sorted by the relative path bytes (`/` separators).
pub fn context_files(root: &Path, dockerfile: Option<&Path>) -> Result<Vec<ContextFile>, SourceError> {
    let resolved = resolve(root, dockerfile)?;
    list(&resolved)
}

pub(crate) fn list(resolved: &Resolved) -> Result<Vec<ContextFile>, SourceError> {
    let root = &resolved.root;
    let mut pm = load_ignore(root)?;
    let has_ignore_file = fs::symlink_metadata(root.join(".dockerignore")).is_ok();
    // TrimBuildFilesFromExcludes (docker CLI): re-include .dockerignore and the Dockerfile.
    let mut always: Vec<String> = Vec::new();
    if has_ignore_file {
        always.push(".dockerignore".to_string());
    }
    if let Some(rel) = &resolved.dockerfile_rel {
        always.push(rel.clone());
    }
    for f in &always {
        if pm.matches_deprecated(f) {
            let _ = pm.push(0, &format!("!{f}"));
        }
    }

    let mut out = Vec::new();
    walk(root, "", &[], None, &pm, &mut out)?;

    // Guarantee presence even where Docker's buggy `Matches` pre-check would miss them.
    for f in &always {
        if !out.iter().any(|e: &ContextFile| &e.path == f) {
            let full = root.join(f);
            if let Ok(meta) = fs::symlink_metadata(&full) {
                if let Some(kind) = kind_of(&full, &meta)? {
                    out.push(ContextFile { path: f.clone(), raw_path: f.as_bytes().to_vec(), full_path: full, kind });
                }
            }
        }
    }
    out.sort_by(|a, b| a.raw_path.cmp(&b.raw_path));
    Ok(out)
}

fn kind_of(full: &Path, meta: &fs::Metadata) -> Result<Option<EntryKind>, SourceError> {
    let ft = meta.file_type();
    Ok(if ft.is_symlink() {
        let target = fs::read_link(full).map_err(|e| SourceError::Unreadable { path: full.to_path_buf(), source: e })?;
        Some(EntryKind::Symlink { target })
    } else if ft.is_dir() {
        Some(EntryKind::Dir)
    } else if ft.is_file() {
        Some(EntryKind::File { executable: is_user_exec(meta), size: meta.len() })
    } else {
        None
    })
}

/// Recursive walk mirroring moby `archive.TarWithOptions` (`Tarballer.Do`) with exclude patterns.
fn walk(
    dir: &Path,
    rel_dir: &str,
    raw_dir: &[u8],
    parent_info: Option<&[bool]>,
    pm: &PatternMatcher,
    out: &mut Vec<ContextFile>,
) -> Result<(), SourceError> {
    let unreadable = |source| SourceError::Unreadable { path: dir.to_path_buf(), source };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        entries.push((name_bytes(&entry.file_name()), entry));
    }
    // Go's WalkDir visits names in lexical (byte) order.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, entry) in entries {
        let full = entry.path();
        let name_str = String::from_utf8_lossy(&name);
        let rel = if rel_dir.is_empty() { name_str.into_owned() } else { format!("{rel_dir}/{name_str}") };
        let mut raw = raw_dir.to_vec();
        if !raw.is_empty() {
            raw.push(b'/');
        }
        raw.extend_from_slice(&name);
        let meta = fs::symlink_metadata(&full).map_err(|e| SourceError::Unreadable { path: full.clone(), source: e })?;
        let is_dir = meta.file_type().is_dir();
        let (skip, info): (bool, MatchInfo) =
            if pm.patterns().is_empty() { (false, Vec::new()) } else { pm.matches_using_parent_results(&rel, parent_info) };
        if skip {
            if !is_dir || !pm.exclusions() {
                continue;
            }
            let dir_slash = format!("{rel}/");
            let descend = pm.patterns().iter().any(|p| p.is_exclusion() && format!("{}/", p.as_str()).starts_with(&dir_slash));
            if descend {
                walk(&full, &rel, &raw, Some(&info), pm, out)?;
            }
            continue;
        }
        let Some(kind) = kind_of(&full, &meta)? else { continue };
        out.push(ContextFile { path: rel.clone(), raw_path: raw.clone(), full_path: full.clone(), kind });
        if is_dir {
            walk(&full, &rel, &raw, Some(&info), pm, out)?;
        }
    }
    Ok(())
}
