//! Field descriptions: the neutral form of a configuration block, and the traits
//! `#[derive(Block)]` implements.
//!
//! A block is declared once, as a Rust struct with `#[derive(Block, Serialize, Deserialize)]` and
//! `#[serde(deny_unknown_fields)]`. The derive turns the struct into a [`BlockSpec`] (doc comments
//! become descriptions, field attributes say presence, default, sensitivity, forces-new and
//! validators; nested structs become nested blocks, `Vec`s of them repeatable blocks) and a
//! validator over the block's JSON form. The provider derives the Terraform schema and the docs
//! from the spec; the runner deserializes the same struct, which refuses unknown fields, so a
//! field cannot exist on one side only.

use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The value type of one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Bool,
    List(Box<FieldType>),
    Map(Box<FieldType>),
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

/// How often a nested block may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most once (`Option<Struct>`).
    Single,
    /// Any number of times, in order (`Vec<Struct>`).
    List,
}

/// A configuration block: a builder, platform, releaser, or a block nested in one.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    /// Markdown.
    pub description: &'static str,
    pub fields: Vec<FieldSpec>,
    pub blocks: Vec<NestedSpec>,
}

#[derive(Debug, Clone)]
pub struct NestedSpec {
    pub name: &'static str,
    pub nesting: Nesting,
    /// Markdown: the field's doc comment, or else the nested block's own description.
    pub description: &'static str,
    pub block: BlockSpec,
}

impl BlockSpec {
    pub fn new(description: &'static str) -> Self {
        Self { description, fields: Vec::new(), blocks: Vec::new() }
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn nested(&self, name: &str) -> Option<&NestedSpec> {
        self.blocks.iter().find(|b| b.name == name)
    }

    /// Adds a field of the shape `shape` (what the derive calls for every struct field).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        name: &'static str,
        description: &'static str,
        shape: Shape,
        presence: Presence,
        sensitive: bool,
        write_only: bool,
        forces_new: bool,
        default: Option<Json>,
    ) {
        match shape {
            Shape::Value(ty) => {
                let mut field = FieldSpec::new(name, ty, presence, description);
                field.sensitive = sensitive || write_only;
                field.write_only = write_only;
                field.forces_new = forces_new;
                if let Some(default) = default {
                    field = field.default(default);
                }
                self.fields.push(field);
            }
            Shape::Block(nesting, block) => {
                let block = block();
                let description = if description.is_empty() { block.description } else { description };
                // `forces_new` is for attributes: mark the nested block's own attributes instead.
                self.blocks.push(NestedSpec { name, nesting, description, block });
            }
        }
    }

    /// Every field and nested block name, for messages.
    pub fn names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|f| f.name).chain(self.blocks.iter().map(|b| b.name)).collect()
    }
}

/// What a Rust field type is in the schema.
pub enum Shape {
    Value(FieldType),
    Block(Nesting, fn() -> BlockSpec),
}

/// A problem with a configuration value, at a path of field names below the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field names, map keys and list indexes (as decimal strings) from the block down.
    pub path: Vec<String>,
    pub summary: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(path: &[&str], summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.iter().map(|s| s.to_string()).collect(), summary: summary.into(), detail: detail.into() }
    }
    /// An error on the value being validated itself (path filled in by the caller).
    pub fn here(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(&[], summary, detail)
    }
    pub fn at_index(mut self, index: usize) -> Self {
        self.path.push(index.to_string());
        self
    }
    /// The same error seen from a parent: `prefix` comes first.
    pub fn under(mut self, prefix: &[String]) -> Self {
        let mut path = prefix.to_vec();
        path.append(&mut self.path);
        self.path = path;
        self
    }
}

/// A configuration block declared with `#[derive(Block)]`.
pub trait Block: DeserializeOwned {
    /// The block's fields, nested blocks and descriptions.
    fn spec() -> BlockSpec;
    /// Checks the block's JSON form (every field present; `null` = unset or unknown, skipped):
    /// that each value fits its Rust type, the field validators, then the block's own rules.
    fn validate(json: &Json) -> Vec<FieldError>;
    /// The block as the runner reads it.
    fn parse(json: &Json) -> Result<Self, String> {
        serde_json::from_value(json.clone()).map_err(|e| e.to_string())
    }
}

/// What a Rust type is as a field: its shape in the schema and the check of a JSON value.
/// Implemented for strings, bools, numbers, lists and string-keyed maps of them, and by the
/// derive for every block struct.
pub trait Field {
    fn shape() -> Shape;
    /// Checks a non-null JSON value; `at` is its path. Nulls inside are unknown and skipped.
    fn check(value: &Json, at: &[String], errors: &mut Vec<FieldError>);
}

fn type_error(at: &[String], expected: &str, value: &Json) -> FieldError {
    let shown = match value {
        Json::String(s) => format!("{s:?}"),
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "an object".into(),
        other => other.to_string(),
    };
    FieldError::new(&[], "Invalid value", format!("{shown} is not {expected}.")).under(at)
}

impl Field for String {
    fn shape() -> Shape {
        Shape::Value(FieldType::String)
    }
    fn check(value: &Json, at: &[String], errors: &mut Vec<FieldError>) {
        if !value.is_string() {
            errors.push(type_error(at, "a string", value));
        }
    }
}

impl Field for bool {
    fn shape() -> Shape {
        Shape::Value(FieldType::Bool)
    }
    fn check(value: &Json, at: &[String], errors: &mut Vec<FieldError>) {
        if !value.is_boolean() {
            errors.push(type_error(at, "true or false", value));
        }
    }
}

/// Whole numbers must fit the Rust type exactly: no fraction, within its range.
macro_rules! whole_number_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn shape() -> Shape {
                Shape::Value(FieldType::Number)
            }
            fn check(value: &Json, at: &[String], errors: &mut Vec<FieldError>) {
                let fits = match value {
                    Json::Number(n) => n.as_i64().map(|i| <$t>::try_from(i).is_ok())
                        .or_else(|| n.as_u64().map(|u| <$t>::try_from(u).is_ok()))
                        .unwrap_or(false),
                    _ => false,
                };
                if !fits {
                    errors.push(type_error(at, &format!("a whole number from {} to {}", <$t>::MIN, <$t>::MAX), value));
                }
            }
        }
    )*};
}
whole_number_field!(u8, u16, u32, u64, i32, i64);

impl Field for f64 {
    fn shape() -> Shape {
        Shape::Value(FieldType::Number)
    }
    fn check(value: &Json, at: &[String], errors: &mut Vec<FieldError>) {
        if !value.as_f64().is_some_and(f64::is_finite) {
            errors.push(type_error(at, "a number", value));
        }
    }
}

impl<T: Field> Field for Vec<T> {
    fn shape() -> Shape {
        match T::shape() {
            Shape::Value(ty) => Shape::Value(FieldType::List(Box::new(ty))),
            Shape::Block(_, block) => Shape::Block(Nesting::List, block),
        }
    }
    fn check(value: &Json, at: &[String], errors: &mut Vec<FieldError>) {
        let Some(items) = value.as_array() else {
            errors.push(type_error(at, "a list", value));
            return;
        };
        for (i, item) in items.iter().enumerate().filter(|(_, item)| !item.is_null()) {
            let mut path = at.to_vec();
            path.push(i.to_string());
            T::check(item, &path, errors);
        }
    }
}

impl<T: Field> Field for BTreeMap<String, T> {
    fn shape() -> Shape {
        match T::shape() {
            Shape::Value(ty) => Shape::Value(FieldType::Map(Box::new(ty))),
            // Maps of blocks are not a shape Terraform blocks have; keep it a map of values.
            Shape::Block(..) => Shape::Value(FieldType::Map(Box::new(FieldType::String))),
        }
    }
    fn check(value: &Json, at: &[String], errors: &mut Vec<FieldError>) {
        let Some(entries) = value.as_object() else {
            errors.push(type_error(at, "a map", value));
            return;
        };
        for (key, item) in entries.iter().filter(|(_, item)| !item.is_null()) {
            let mut path = at.to_vec();
            path.push(key.clone());
            T::check(item, &path, errors);
        }
    }
}

/// A field validator: the problems of a (non-null) value, with paths relative to it.
pub type Validator = dyn Fn(&Json) -> Vec<FieldError>;

/// Checks a field of a block struct: its validators, then (when they found nothing) its type.
/// Called by the derive for every non-null field.
pub fn check_field<T: Field>(value: &Json, name: &str, validators: &[&Validator], errors: &mut Vec<FieldError>) {
    let at = [name.to_string()];
    // Validators say more than "not a u16" (e.g. "not a port"), so they speak first; the type check
    // still guards what they let through.
    let before = errors.len();
    for validator in validators {
        errors.extend(validator(value).into_iter().map(|e| e.under(&at)));
    }
    if errors.len() == before {
        T::check(value, &at, errors);
    }
}

/// Checks a nested block's JSON (an object, or a list of them) with its own validation.
pub fn check_block<B: Block>(value: &Json, at: &[String], errors: &mut Vec<FieldError>) {
    if value.is_object() {
        errors.extend(B::validate(value).into_iter().map(|e| e.under(at)));
    } else {
        errors.push(type_error(at, "a block", value));
    }
}

/// A `#[block(default = …)]` value as JSON (used by the derive).
pub fn default_json<T: serde::Serialize + ?Sized>(value: &T) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}
