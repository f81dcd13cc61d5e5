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

#![warn(missing_docs)]

pub mod dockerignore;
mod error;
mod hash;
mod walk;

pub use error::SourceError;
pub use hash::{changed_paths, hash_entries, hash_files_parallel, source_hash, BuildInputs, SourceHash, ENCODING_TAG};
pub use walk::{context_files, ContextFile, EntryKind};
