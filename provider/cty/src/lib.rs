//! Terraform's cty type system (zclconf/go-cty) with the msgpack and JSON
//! value codecs Terraform uses on the plugin wire and in state.
//!
//! * [`Type`] and its type JSON (`cty/json.go`),
//! * [`Value`] and [`Number`] (arbitrary precision),
//! * [`msgpack`] (`cty/msgpack`) and [`json`] (`cty/json`) codecs.
//!
//! All decoders are total: any input yields a value or an [`Error`], never a
//! panic; nesting is limited to [`MAX_DEPTH`].

mod jsontext;
mod number;
mod path;
mod types;
mod value;

pub mod json;
pub mod msgpack;

pub use number::Number;
pub use types::Type;
pub use value::Value;

/// Deepest nesting of containers (and dynamic wrappers) that the codecs
/// accept or produce.
pub const MAX_DEPTH: usize = 512;

/// A codec error. `path` is a cty-style path such as `.exec.create[0]` or
/// `.tags["name"]` (empty for the root).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid msgpack value{}: {msg}", at(path))]
    Msgpack { path: String, msg: String },
    #[error("invalid JSON value{}: {msg}", at(path))]
    Json { path: String, msg: String },
    #[error("cannot encode value{}: {msg}", at(path))]
    Encode { path: String, msg: String },
    #[error("invalid type JSON: {msg}")]
    TypeJson { msg: String },
}

impl Error {
    /// The path where the error occurred (empty for the root or type JSON).
    pub fn path(&self) -> &str {
        match self {
            Error::Msgpack { path, .. } | Error::Json { path, .. } | Error::Encode { path, .. } => path,
            Error::TypeJson { .. } => "",
        }
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}
