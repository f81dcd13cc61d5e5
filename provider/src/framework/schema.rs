//! Schema builder: attributes, nested blocks, nested attributes, plan modifiers.

use super::AttrPath;
use app_cty::{Type, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanModifier {
    /// A change of this attribute replaces the resource.
    RequiresReplace,
    /// A computed attribute keeps its prior value instead of becoming unknown on updates.
    UseStateForUnknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    Single,
    Group,
    List,
    Set,
    Map,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrType {
    Plain(Type),
    /// Nested attributes (`attr = { … }`).
    Nested(Nesting, Vec<Attribute>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: AttrType,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub write_only: bool,
    pub modifiers: Vec<PlanModifier>,
    /// Planned when the configuration leaves the attribute unset (implies optional+computed).
    pub default: Option<Value>,
}

impl Attribute {
    fn new(name: &str, ty: AttrType) -> Self {
        Self {
            name: name.to_string(),
            ty,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            modifiers: Vec::new(),
            default: None,
        }
    }
    pub fn of(name: &str, ty: Type) -> Self {
        Self::new(name, AttrType::Plain(ty))
    }
    pub fn string(name: &str) -> Self {
        Self::of(name, Type::String)
    }
    pub fn number(name: &str) -> Self {
        Self::of(name, Type::Number)
    }
    pub fn bool(name: &str) -> Self {
        Self::of(name, Type::Bool)
    }
    pub fn string_map(name: &str) -> Self {
        Self::of(name, Type::Map(Box::new(Type::String)))
    }
    pub fn string_list(name: &str) -> Self {
        Self::of(name, Type::List(Box::new(Type::String)))
    }
    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Self::new(name, AttrType::Nested(nesting, attributes))
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
    pub fn optional_computed(mut self) -> Self {
        self.optional = true;
        self.computed = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    pub fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self.optional = true;
        self.computed = true;
        self
    }
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }
    pub fn modifier(mut self, m: PlanModifier) -> Self {
        self.modifiers.push(m);
        self
    }
    pub fn requires_replace(self) -> Self {
        self.modifier(PlanModifier::RequiresReplace)
    }
    pub fn use_state_for_unknown(self) -> Self {
        self.modifier(PlanModifier::UseStateForUnknown)
    }
    pub fn has(&self, m: PlanModifier) -> bool {
        self.modifiers.contains(&m)
    }

    pub fn value_type(&self) -> Type {
        match &self.ty {
            AttrType::Plain(t) => t.clone(),
            AttrType::Nested(nesting, attrs) => {
                let obj =
                    Type::Object { attrs: attrs.iter().map(|a| (a.name.clone(), a.value_type())).collect(), optional: Default::default() };
                wrap(*nesting, obj)
            }
        }
    }
}

fn wrap(nesting: Nesting, ty: Type) -> Type {
    match nesting {
        Nesting::Single | Nesting::Group => ty,
        Nesting::List => Type::List(Box::new(ty)),
        Nesting::Set => Type::Set(Box::new(ty)),
        Nesting::Map => Type::Map(Box::new(ty)),
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub description: String,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

impl Block {
    pub fn new(description: &str) -> Self {
        Self { description: description.to_string(), ..Default::default() }
    }
    pub fn attr(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    pub fn block(mut self, name: &str, nesting: Nesting, block: Block) -> Self {
        self.blocks.push(NestedBlock { name: name.to_string(), nesting, block, min_items: 0, max_items: 0 });
        self
    }
    pub fn implied_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self.attributes.iter().map(|a| (a.name.clone(), a.value_type())).collect();
        for b in &self.blocks {
            attrs.insert(b.name.clone(), wrap(b.nesting, b.block.implied_type()));
        }
        Type::Object { attrs, optional: Default::default() }
    }
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
    pub fn nested_block(&self, name: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn value_type(&self) -> Type {
        self.block.implied_type()
    }
}

/// The paths of write-only attributes that `config` sets to a known value (nested single and list
/// blocks included).
pub fn write_only_values_set(block: &Block, config: &Value, at: &AttrPath, out: &mut Vec<AttrPath>) {
    if config.is_null() || config.is_unknown() {
        return;
    }
    for attr in block.attributes.iter().filter(|a| a.write_only) {
        if config.attr(&attr.name).is_some_and(|v| !v.is_null() && !v.is_unknown()) {
            out.push(at.clone().then_attr(&attr.name));
        }
    }
    for nested in &block.blocks {
        let value = config.attr(&nested.name).unwrap_or(&Value::Null);
        match nested.nesting {
            Nesting::Single | Nesting::Group => write_only_values_set(&nested.block, value, &at.clone().then_attr(&nested.name), out),
            Nesting::List | Nesting::Set => {
                for (i, item) in value.as_list().unwrap_or(&[]).iter().enumerate() {
                    let index = i64::try_from(i).unwrap_or(i64::MAX);
                    write_only_values_set(&nested.block, item, &at.clone().then_attr(&nested.name).then_index(index), out);
                }
            }
            Nesting::Map => {}
        }
    }
}
