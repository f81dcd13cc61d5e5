//! The `docker` builder: an image built by the Docker engine from the uploaded context.
//! (Runner side only so far; the provider offers the block once app_build is wired.)

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerBuildConfig {
    #[serde(default)]
    pub dockerfile: Option<String>,
    #[serde(default)]
    pub build_args: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub no_cache: Option<bool>,
    #[serde(default)]
    pub pull: Option<bool>,
}
