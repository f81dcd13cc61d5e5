//! Checks that `src/generated/` is exactly what the `.proto` files in `proto/` produce.
//!
//! Code generation needs no system `protoc`: `protox` (pure Rust) compiles the proto
//! files to a descriptor set, and `tonic-prost-build` turns it into Rust. Both are
//! dev-dependencies, so only this test runs them.
//!
//! After changing a `.proto` file, regenerate with:
//!
//! ```text
//! UPDATE_GENERATED=1 cargo test -p app-proto --test drift
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The proto files to compile, relative to `proto/`. Each declares one package and so
/// becomes one generated file named after it.
const PROTO_FILES: &[&str] = &["tfplugin6.proto", "plugin.proto", "health.proto", "runner.proto"];

/// The files generation is expected to produce.
const GENERATED_FILES: &[&str] = &["tfplugin6.rs", "plugin.rs", "grpc.health.v1.rs", "apprunner.v1.rs"];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Generates the Rust code for every proto file into `out_dir`.
fn generate(out_dir: &Path) {
    let proto_dir = crate_dir().join("proto");
    let fds = protox::compile(PROTO_FILES, [&proto_dir])
        .unwrap_or_else(|e| panic!("compiling the proto files in {}: {e:?}", proto_dir.display()));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(true)
        // Server trait methods that are not overridden answer UNIMPLEMENTED.
        .generate_default_stubs(true)
        // Maps become BTreeMap: ordered iteration, deterministic encoding.
        .btree_map(".")
        .emit_rerun_if_changed(false)
        .out_dir(out_dir)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating Rust code: {e}"));
}

/// Reads every `.rs` file of a directory, by file name.
fn read_rs_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.expect("reading a directory entry").path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            files.insert(name, text);
        }
    }
    files
}

#[test]
fn generated_code_matches_proto_files() {
    let tmp = tempfile::tempdir().expect("creating a temporary directory");
    generate(tmp.path());
    let fresh = read_rs_files(tmp.path());

    let names: Vec<&str> = fresh.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        {
            let mut expected = GENERATED_FILES.to_vec();
            expected.sort_unstable();
            expected
        },
        "code generation produced an unexpected set of files"
    );

    let checked_in_dir = crate_dir().join("src").join("generated");

    if std::env::var_os("UPDATE_GENERATED").is_some_and(|v| !v.is_empty() && v != "0") {
        fs::create_dir_all(&checked_in_dir).expect("creating src/generated");
        for name in read_rs_files(&checked_in_dir).into_keys() {
            if !fresh.contains_key(&name) {
                fs::remove_file(checked_in_dir.join(&name)).expect("removing a stale file");
            }
        }
        for (name, text) in &fresh {
            fs::write(checked_in_dir.join(name), text).unwrap_or_else(|e| panic!("writing src/generated/{name}: {e}"));
        }
        eprintln!("rewrote {}", checked_in_dir.display());
        return;
    }

    let checked_in = read_rs_files(&checked_in_dir);
    let mut problems = Vec::new();
    for (name, text) in &fresh {
        match checked_in.get(name) {
            None => problems.push(format!("src/generated/{name} is missing")),
            Some(old) if old != text => {
                let line = old
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| old.lines().count().min(text.lines().count()))
                    + 1;
                problems.push(format!("src/generated/{name} is out of date (first difference at line {line})"));
            }
            Some(_) => {}
        }
    }
    for name in checked_in.keys() {
        if !fresh.contains_key(name) {
            problems.push(format!("src/generated/{name} is not produced by any proto file"));
        }
    }
    assert!(
        problems.is_empty(),
        "generated code does not match the proto files:\n  {}\n\
         Regenerate with: UPDATE_GENERATED=1 cargo test -p app-proto --test drift\n\
         (then review and commit proto/src/generated/)",
        problems.join("\n  ")
    );
}
