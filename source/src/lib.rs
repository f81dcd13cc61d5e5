//! Plan-time build-context listing and hashing for the `app_build` resource.
//!
//! The provider computes `source_hash` while planning, without talking to a Docker engine: it
//! lists exactly the entries `docker build` would send (honouring `.dockerignore` with Docker's
//! semantics, see [`dockerignore`]) and hashes them with a canonical, machine-independent encoding.
//!
//! # Canonical encoding (`app-source-hash/v1`)
//!
//! `hash = "sha256:" + hex(SHA-256(E))` where `E` is the concatenation of (all integers are
//! unsigned 64-bit big-endian, `bytes(x)` = `u64(len(x)) ‖ x`):
//!
//! 1. the tag `"app-source-hash/v1\n"`;
//! 2. `u64(N)`, the number of context entries, then each entry in ascending byte order of its
//!    relative path (`/`-separated, no leading `./`):
//!    * directory: `"d" ‖ bytes(path)`
//!    * regular file: `"f" ‖ bytes(path) ‖ x ‖ SHA-256(content)` (32 raw bytes), where `x` is one
//!      byte, `1` if the owner-execute bit (`0o100`) is set, else `0`;
//!    * symlink (never followed): `"l" ‖ bytes(path) ‖ bytes(link target)`;
//! 3. SHA-256 of the Dockerfile content (32 raw bytes) — wherever the Dockerfile lives;
//! 4. `u64(number of build args)`, then per arg in ascending key order `bytes(key) ‖ bytes(value)`;
//! 5. target, then platform: `0x00` if unset, else `0x01 ‖ bytes(value)`.
//!
//! Nothing else is hashed: no mtimes, owners, groups, other mode bits, sizes, inode numbers or
//! absolute paths, so a fresh checkout of the same tree hashes identically anywhere.
//! Sockets, FIFOs and device nodes are skipped.
//!
//! # Packing
//!
//! [`pack_context`] streams the same entries, in the same order, as an uncompressed tar for a
//! runner that may be on another machine. The archive is reproducible byte for byte: GNU headers
//! (a GNU long-name/long-link record only for paths or link targets over 100 bytes, no PAX),
//! mtime [`ARCHIVE_MTIME`], uid/gid 0, empty user/group names, mode `0755` for directories and
//! owner-executable files, `0644` for other files, `0777` for symlinks (target stored as read),
//! directory names with a trailing `/`. Regular files are streamed, not read into memory.
//!
//! The fixed mtime costs no cache hits: the classic builder keys `COPY`/`ADD` on a tarsum-v1
//! header of each file (name, mode, uid, gid, size, type, link target, user/group names, device
//! numbers, some xattrs — the mtime field is deliberately left out) plus its content, and
//! BuildKit's content hash likewise ignores mtimes. Normalising owners and modes also makes those
//! keys the same on every machine.
//!
//! A Dockerfile outside the root is added as `.dockerfile.<first 16 hex of SHA-256(content)>`
//! (the docker CLI uses a random suffix), and that name is appended to `.dockerignore` (created as
//! `.dockerignore\n<name>\n` when absent), as the CLI does, so the engine removes it from the
//! context `COPY . …` sees. [`PackSummary::dockerfile_in_archive`] names the Dockerfile to build.

#![warn(missing_docs)]

pub mod dockerignore;
mod error;
mod hash;
mod pack;
mod walk;

pub use error::SourceError;
pub use hash::{changed_paths, hash_entries, hash_files_parallel, source_hash, BuildInputs, SourceHash, ENCODING_TAG};
pub use pack::{pack_context, PackSummary, ARCHIVE_MTIME};
pub use walk::{context_files, ContextFile, EntryKind};
