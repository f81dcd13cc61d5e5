//! The platforms this runner implements. Adding one: a module here and an entry in [`builtin`].

pub mod exec;

use crate::platform::{PlatformEntry, Plugins};
use std::sync::Arc;

/// Every implementation compiled into this runner.
pub fn builtin() -> Plugins {
    let exec = Arc::new(exec::Exec);
    Plugins {
        builders: Vec::new(),
        platforms: vec![PlatformEntry { name: "exec", deploy: exec.clone(), status: Some(exec.clone()), destroy: Some(exec) }],
        releasers: Vec::new(),
    }
}
