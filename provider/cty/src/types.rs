//! cty types and their JSON form (`cty/json.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::jsontext::{self, Json};
use crate::Error;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// `cty.DynamicPseudoType`: any type; values carry their own type.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    /// `optional` lists attribute names marked optional (a type-constraint
    /// feature; it does not change the wire encoding of values).
    Object {
        attrs: BTreeMap<String, Type>,
        optional: BTreeSet<String>,
    },
    Tuple(Vec<Type>),
}

impl Type {
    /// An object type without optional attributes.
    pub fn object(attrs: impl IntoIterator<Item = (impl Into<String>, Type)>) -> Type {
        Type::Object { attrs: attrs.into_iter().map(|(k, v)| (k.into(), v)).collect(), optional: BTreeSet::new() }
    }

    /// `list(elem)`.
    pub fn list(elem: Type) -> Type {
        Type::List(Box::new(elem))
    }

    /// `set(elem)`.
    pub fn set(elem: Type) -> Type {
        Type::Set(Box::new(elem))
    }

    /// `map(elem)`.
    pub fn map(elem: Type) -> Type {
        Type::Map(Box::new(elem))
    }

    /// True if `Dynamic` appears anywhere in the type.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::Bool | Type::Number | Type::String => false,
            Type::List(e) | Type::Set(e) | Type::Map(e) => e.has_dynamic(),
            Type::Object { attrs, .. } => attrs.values().any(Type::has_dynamic),
            Type::Tuple(ts) => ts.iter().any(Type::has_dynamic),
        }
    }

    /// The cty type JSON: `"string"`, `["list","string"]`,
    /// `["object",{..}]` or `["object",{..},["opt",..]]`, `["tuple",[..]]`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        let kind = |k: &str, v: J| J::Array(vec![J::String(k.to_string()), v]);
        match self {
            Type::Bool => J::String("bool".into()),
            Type::Number => J::String("number".into()),
            Type::String => J::String("string".into()),
            Type::Dynamic => J::String("dynamic".into()),
            Type::List(e) => kind("list", e.to_json()),
            Type::Set(e) => kind("set", e.to_json()),
            Type::Map(e) => kind("map", e.to_json()),
            Type::Object { attrs, optional } => {
                let mut m = serde_json::Map::new();
                for (k, t) in attrs {
                    m.insert(k.clone(), t.to_json());
                }
                let mut parts = vec![J::String("object".into()), J::Object(m)];
                if !optional.is_empty() {
                    parts.push(J::Array(optional.iter().cloned().map(J::String).collect()));
                }
                J::Array(parts)
            }
            Type::Tuple(ts) => kind("tuple", J::Array(ts.iter().map(Type::to_json).collect())),
        }
    }

    /// The type JSON as compact bytes, byte-identical to go-cty's
    /// `Type.MarshalJSON` (sorted keys, Go's HTML-safe string escaping).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let kind = |out: &mut Vec<u8>, k: &str, e: &Type| {
            out.extend_from_slice(b"[\"");
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\",");
            e.write_json(out);
            out.push(b']');
        };
        match self {
            Type::Bool => out.extend_from_slice(b"\"bool\""),
            Type::Number => out.extend_from_slice(b"\"number\""),
            Type::String => out.extend_from_slice(b"\"string\""),
            Type::Dynamic => out.extend_from_slice(b"\"dynamic\""),
            Type::List(e) => kind(out, "list", e),
            Type::Set(e) => kind(out, "set", e),
            Type::Map(e) => kind(out, "map", e),
            Type::Object { attrs, optional } => {
                out.extend_from_slice(b"[\"object\",{");
                for (i, (k, t)) in attrs.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    jsontext::write_string(out, k);
                    out.push(b':');
                    t.write_json(out);
                }
                out.push(b'}');
                if !optional.is_empty() {
                    out.extend_from_slice(b",[");
                    for (i, k) in optional.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        jsontext::write_string(out, k);
                    }
                    out.push(b']');
                }
                out.push(b']');
            }
            Type::Tuple(ts) => {
                out.extend_from_slice(b"[\"tuple\",[");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    t.write_json(out);
                }
                out.extend_from_slice(b"]]");
            }
        }
    }

    /// Parses cty type JSON (the inverse of [`Type::to_json_bytes`]).
    pub fn from_json_bytes(b: &[u8]) -> Result<Type, Error> {
        let j = jsontext::parse(b).map_err(|msg| Error::TypeJson { msg })?;
        Type::from_json_tree(&j).map_err(|msg| Error::TypeJson { msg })
    }

    /// Converts a parsed `serde_json::Value` holding type JSON.
    pub fn from_json(v: &serde_json::Value) -> Result<Type, Error> {
        match serde_json::to_vec(v) {
            Ok(b) => Type::from_json_bytes(&b),
            Err(e) => Err(Error::TypeJson { msg: e.to_string() }),
        }
    }

    fn from_json_tree(j: &Json) -> Result<Type, String> {
        match j {
            Json::Str(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("invalid primitive type name {other:?}")),
            },
            Json::Arr(items) => {
                let Some(Json::Str(kind)) = items.first() else {
                    return Err("invalid complex type kind name".to_string());
                };
                let arity = |min: usize, max: usize| -> Result<(), String> {
                    if items.len() < min || items.len() > max {
                        Err(format!("unexpected extra data in type description of {kind:?}"))
                    } else {
                        Ok(())
                    }
                };
                match kind.as_str() {
                    "list" | "set" | "map" => {
                        arity(2, 2)?;
                        let e = Box::new(Type::from_json_tree(&items[1])?);
                        Ok(match kind.as_str() {
                            "list" => Type::List(e),
                            "set" => Type::Set(e),
                            _ => Type::Map(e),
                        })
                    }
                    "object" => {
                        arity(2, 3)?;
                        let mut attrs = BTreeMap::new();
                        match &items[1] {
                            Json::Obj(members) => {
                                for (k, v) in members {
                                    attrs.insert(k.clone(), Type::from_json_tree(v)?);
                                }
                            }
                            Json::Null => {}
                            other => return Err(format!("object attribute types must be a JSON object, found {}", other.kind())),
                        }
                        let mut optional = BTreeSet::new();
                        match items.get(2) {
                            Some(Json::Arr(names)) => {
                                for n in names {
                                    let Json::Str(n) = n else {
                                        return Err("optional attribute names must be strings".to_string());
                                    };
                                    if !attrs.contains_key(n) {
                                        return Err(format!("optional contains undeclared attribute {n:?}"));
                                    }
                                    optional.insert(n.clone());
                                }
                            }
                            Some(Json::Null) | None => {}
                            Some(other) => return Err(format!("optional attributes must be a JSON array, found {}", other.kind())),
                        }
                        Ok(Type::Object { attrs, optional })
                    }
                    "tuple" => {
                        arity(2, 2)?;
                        match &items[1] {
                            Json::Arr(ts) => Ok(Type::Tuple(ts.iter().map(Type::from_json_tree).collect::<Result<_, _>>()?)),
                            Json::Null => Ok(Type::Tuple(Vec::new())),
                            other => Err(format!("tuple element types must be a JSON array, found {}", other.kind())),
                        }
                    }
                    other => Err(format!("invalid complex type kind name {other:?}")),
                }
            }
            other => Err(format!("invalid type description (a {})", other.kind())),
        }
    }
}

impl fmt::Display for Type {
    /// Friendly name as cty prints it: `string`, `list of number`,
    /// `map of object`, `tuple`, `dynamic`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(e) => write!(f, "list of {e}"),
            Type::Set(e) => write!(f, "set of {e}"),
            Type::Map(e) => write!(f, "map of {e}"),
            Type::Object { .. } => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(json: &str, t: Type) {
        assert_eq!(String::from_utf8(t.to_json_bytes()).expect("utf8"), json);
        assert_eq!(Type::from_json_bytes(json.as_bytes()).expect("parse"), t);
        assert_eq!(serde_json::to_string(&t.to_json()).expect("json"), json);
        assert_eq!(Type::from_json(&t.to_json()).expect("parse"), t);
    }

    #[test]
    fn type_json() {
        roundtrip(r#""string""#, Type::String);
        roundtrip(r#""dynamic""#, Type::Dynamic);
        roundtrip(r#"["list","string"]"#, Type::list(Type::String));
        roundtrip(r#"["set",["map","bool"]]"#, Type::set(Type::map(Type::Bool)));
        roundtrip(
            r#"["object",{"a":"number","b":["tuple",["string","dynamic"]]}]"#,
            Type::object([("b", Type::Tuple(vec![Type::String, Type::Dynamic])), ("a", Type::Number)]),
        );
        roundtrip(
            r#"["object",{"a":"number","b":"string"},["b"]]"#,
            Type::Object {
                attrs: [("a".to_string(), Type::Number), ("b".to_string(), Type::String)].into_iter().collect(),
                optional: ["b".to_string()].into_iter().collect(),
            },
        );
        roundtrip(r#"["tuple",[]]"#, Type::Tuple(vec![]));
        roundtrip(r#"["object",{}]"#, Type::object(Vec::<(String, Type)>::new()));
        assert_eq!(Type::from_json_bytes(b" [ \"list\" , \"bool\" ] ").expect("ws"), Type::list(Type::Bool));
    }

    #[test]
    fn type_json_errors() {
        for s in [
            "",
            "\"strin\"",
            "[\"list\"]",
            "[\"list\",\"bool\",\"bool\"]",
            "[\"object\",{},[\"x\"]]",
            "[\"tuple\",\"bool\"]",
            "[]",
            "[1]",
            "3",
            "\"bool\" x",
            "[\"list\",null]",
        ] {
            assert!(Type::from_json_bytes(s.as_bytes()).is_err(), "{s:?}");
        }
    }
}
