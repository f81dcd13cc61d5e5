//! Hash a directory as a build context and report files, bytes and seconds.
//!
//! Usage: `cargo run --release --example hash_bench -- <dir> [dockerfile]`
//! Without a Dockerfile in `<dir>` (and none given), a stub Dockerfile outside the tree is used.

use std::path::PathBuf;
use std::time::Instant;

use app_source::{context_files, source_hash, BuildInputs, EntryKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: hash_bench <dir> [dockerfile]")?);
    let mut dockerfile = args.next().map(PathBuf::from);
    let mut stub = None;
    if dockerfile.is_none() && !dir.join("Dockerfile").exists() && !dir.join("dockerfile").exists() {
        let p = std::env::temp_dir().join(format!("hash_bench-{}.Dockerfile", std::process::id()));
        std::fs::write(&p, "FROM scratch\nCOPY . /\n")?;
        dockerfile = Some(p.clone());
        stub = Some(p);
    }
    let start = Instant::now();
    let result = source_hash(&dir, dockerfile.as_deref(), &BuildInputs::default());
    let secs = start.elapsed().as_secs_f64();
    let entries = context_files(&dir, dockerfile.as_deref());
    if let Some(p) = stub {
        let _ = std::fs::remove_file(p);
    }
    let hash = result?;
    let (mut files, mut bytes) = (0u64, 0u64);
    for e in entries? {
        if let EntryKind::File { size, .. } = e.kind {
            files += 1;
            bytes += size;
        }
    }
    println!("hash    {}", hash.hash);
    println!("entries {}", hash.files.len());
    println!("files   {files}");
    println!("bytes   {bytes} ({:.1} MiB)", bytes as f64 / (1024.0 * 1024.0));
    println!("seconds {secs:.3}");
    Ok(())
}
