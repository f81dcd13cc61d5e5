//! `Debug` output for values that may hold secrets: every type that carries an environment
//! (secret values are merged into it at deploy time), build arguments or credentials prints the
//! names only, so a `{:?}` in a log line or an error cannot leak a value.

use std::collections::BTreeMap;
use std::fmt;

/// A map whose values are secret or may be: `{"NAME": <redacted>, …}`.
pub struct Names<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, Redacted))).finish()
    }
}

/// Stands for a value that is not shown.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::Names;
    use std::collections::BTreeMap;

    #[test]
    fn names_without_values() {
        let map = BTreeMap::from([("TOKEN".to_string(), "s3cret-value".to_string())]);
        let shown = format!("{:?}", Names(&map));
        assert_eq!(shown, r#"{"TOKEN": <redacted>}"#);
    }

    #[test]
    fn types_that_carry_secrets_show_names_only() {
        let secret = "s3cret-value";
        let env = BTreeMap::from([("TOKEN".to_string(), secret.to_string())]);
        let command = crate::process::CommandSpec { env: env.clone(), ..Default::default() };
        let build = crate::engine::docker::BuildOptions { build_args: env.clone(), ..Default::default() };
        let container = crate::engine::containers::ContainerSpec { env, ..Default::default() };
        for shown in [format!("{command:?}"), format!("{build:?}"), format!("{container:?}")] {
            assert!(shown.contains("TOKEN") && !shown.contains(secret), "{shown}");
        }
    }
}
