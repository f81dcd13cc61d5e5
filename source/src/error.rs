//! Error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while listing or hashing a build context.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The build context directory does not exist.
    #[error("build context directory {} does not exist; check the `source` path of the build", path.display())]
    SourceDirNotFound {
        /// Path that was tried.
        path: PathBuf,
    },

    /// The build context path exists but is not a directory.
    #[error("build context {} is not a directory; the `source` path must name a directory", path.display())]
    SourceNotADirectory {
        /// Path that was tried.
        path: PathBuf,
    },

    /// No Dockerfile at the path tried.
    #[error(
        "Dockerfile not found: tried {}; set `dockerfile` to the Dockerfile's path \
         (relative to the build context, or absolute)",
        path.display()
    )]
    DockerfileNotFound {
        /// Path that was tried.
        path: PathBuf,
    },

    /// The Dockerfile path names something that is not a regular file.
    #[error("Dockerfile {} is not a regular file; set `dockerfile` to the Dockerfile's path", path.display())]
    DockerfileNotAFile {
        /// Path that was tried.
        path: PathBuf,
    },

    /// A file or directory could not be read (permissions, I/O error, vanished while walking).
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file or directory that failed.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A `.dockerignore` line holds a pattern Docker would reject.
    #[error("{}:{line}: invalid .dockerignore pattern {pattern:?}: {reason}", path.display())]
    InvalidIgnorePattern {
        /// The `.dockerignore` file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The pattern as written on that line (trimmed).
        pattern: String,
        /// Why it is invalid.
        reason: String,
    },

    /// Writing the build-context archive failed (the output stream broke, or a path cannot be
    /// represented in a tar header). `path` is the context entry being written, or the context
    /// root when finishing the archive.
    #[error("cannot write build context archive at entry {}: {source}", path.display())]
    ArchiveWrite {
        /// The entry (relative path in the archive) or the context root.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A hashing worker thread panicked (should never happen).
    #[error("internal error: a hashing worker thread panicked")]
    WorkerPanicked,
}
