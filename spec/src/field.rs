//! Field descriptions: the neutral form of a platform's configuration block.

use serde_json::Value as Json;

/// The value type of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Bool,
    StringList,
    StringMap,
    NumberList,
    NumberMap,
}

/// Who sets a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    /// Set by the user or, when unset, by the platform (a default or a discovered value).
    OptionalComputed,
    /// Reported by the platform only.
    Computed,
}

#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub presence: Presence,
    /// Markdown.
    pub description: &'static str,
    /// Never shown in plans or logs.
    pub sensitive: bool,
    /// Only in the configuration: never stored in plan or state (Terraform >= 1.11). Implies sensitive.
    pub write_only: bool,
    /// Value used when the user leaves the field unset (implies OptionalComputed).
    pub default: Option<Json>,
    /// A change of this field cannot be applied in place.
    pub forces_new: bool,
}

impl FieldSpec {
    pub const fn new(name: &'static str, ty: FieldType, presence: Presence, description: &'static str) -> Self {
        Self { name, ty, presence, description, sensitive: false, write_only: false, default: None, forces_new: false }
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self.sensitive = true;
        self
    }
    pub fn default(mut self, value: Json) -> Self {
        self.default = Some(value);
        self.presence = Presence::OptionalComputed;
        self
    }
    pub fn forces_new(mut self) -> Self {
        self.forces_new = true;
        self
    }
}

/// A configuration block: one platform, builder or releaser.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub name: &'static str,
    /// Markdown.
    pub description: &'static str,
    pub fields: Vec<FieldSpec>,
    /// Nested blocks (at most one of each), named by their `name`.
    pub blocks: Vec<BlockSpec>,
}

impl BlockSpec {
    pub fn new(name: &'static str, description: &'static str, fields: Vec<FieldSpec>) -> Self {
        Self { name, description, fields, blocks: Vec::new() }
    }
    pub fn with_block(mut self, block: BlockSpec) -> Self {
        self.blocks.push(block);
        self
    }
}

/// A problem with a configuration value, at a path of field names below the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field names (and list indexes as decimal strings) from the block down.
    pub path: Vec<String>,
    pub summary: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(path: &[&str], summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.iter().map(|s| s.to_string()).collect(), summary: summary.into(), detail: detail.into() }
    }
    pub fn at_index(mut self, index: usize) -> Self {
        self.path.push(index.to_string());
        self
    }
}
