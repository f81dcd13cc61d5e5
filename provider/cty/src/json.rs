//! The JSON value encoding of `cty/json` (Terraform's `RawState.json` and
//! JSON state).
//!
//! Objects are JSON objects (when decoding, missing attributes become null
//! and attributes the type lacks are ignored, since state may come from an
//! older schema), lists/sets/tuples are arrays, maps are objects, and a
//! `dynamic` position holds `{"value": …, "type": …}`. Numbers keep their
//! exact text. Unknown values cannot be written as JSON.

use std::collections::BTreeMap;

use crate::jsontext::{self, Json};
use crate::path::{Path, Step};
use crate::{Error, Number, Type, Value, MAX_DEPTH};

/// Decodes JSON `bytes` as a value of type `ty`. As in go-cty, primitive
/// values are converted where cty would convert them: a string holding a
/// number or `"true"`/`"false"`/`"1"`/`"0"` for number/bool types, and a
/// number or bool for a string type.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, Error> {
    let j = jsontext::parse(bytes).map_err(|msg| Error::Json { path: String::new(), msg })?;
    let mut d = Decoder { path: Path::default() };
    d.value(&j, ty, 0)
}

/// Encodes `v` as JSON for type `ty`, as go-cty's `json.Marshal`, except
/// that a number that is a float64 is written with every digit of its exact
/// value (so it decodes to the same float64). Objects carry every attribute
/// of the type (null where the value lacks it). Values are matched to types
/// as in [`crate::msgpack::encode`]. Unknowns and infinities are errors.
pub fn encode(v: &Value, ty: &Type) -> Result<Vec<u8>, Error> {
    let mut e = Encoder { out: Vec::new(), path: Path::default() };
    e.value(v, ty, 0)?;
    Ok(e.out)
}

struct Decoder {
    path: Path,
}

impl Decoder {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Json { path: self.path.render(), msg: msg.into() }
    }

    fn required(&self, what: &str, j: &Json) -> Error {
        self.err(format!("{what} is required, found {}", j.kind()))
    }

    fn enter(&self, depth: usize) -> Result<usize, Error> {
        if depth >= MAX_DEPTH {
            return Err(self.err(format!("value is nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(depth + 1)
    }

    // Split into small functions so each nesting level costs little stack.
    fn value(&mut self, j: &Json, ty: &Type, depth: usize) -> Result<Value, Error> {
        if let Json::Null = j {
            return Ok(Value::Null);
        }
        match ty {
            Type::Dynamic => self.dynamic(j, depth),
            Type::Bool | Type::Number | Type::String => self.primitive(j, ty),
            Type::List(e) => self.list(j, e, "list", depth).map(Value::List),
            Type::Set(e) => self.list(j, e, "set", depth).map(Value::Set),
            Type::Tuple(ts) => self.tuple(j, ts, depth),
            Type::Map(e) => self.map(j, e, depth),
            Type::Object { attrs, .. } => self.object(j, attrs, depth),
        }
    }

    fn primitive(&mut self, j: &Json, ty: &Type) -> Result<Value, Error> {
        match ty {
            Type::Bool => match j {
                Json::Bool(b) => Ok(Value::Bool(*b)),
                Json::Str(s) => match s.as_str() {
                    "true" | "1" => Ok(Value::Bool(true)),
                    "false" | "0" => Ok(Value::Bool(false)),
                    _ => Err(self.err(format!("a bool is required, found the string {s:?}"))),
                },
                _ => Err(self.required("bool", j)),
            },
            Type::Number => match j {
                Json::Num(s) | Json::Str(s) => {
                    Number::parse(s).map(Value::Number).ok_or_else(|| self.err(format!("a number is required, found {s:?}")))
                }
                _ => Err(self.required("number", j)),
            },
            _ => match j {
                Json::Str(s) | Json::Num(s) => Ok(Value::String(s.clone())),
                Json::Bool(b) => Ok(Value::String(b.to_string())),
                _ => Err(self.required("string", j)),
            },
        }
    }

    fn list(&mut self, j: &Json, e: &Type, what: &str, depth: usize) -> Result<Vec<Value>, Error> {
        let Json::Arr(items) = j else {
            return Err(self.required(what, j));
        };
        let depth = self.enter(depth)?;
        let mut vals = Vec::with_capacity(items.len());
        for (i, x) in items.iter().enumerate() {
            self.path.push(Step::Index(i));
            vals.push(self.value(x, e, depth)?);
            self.path.pop();
        }
        Ok(vals)
    }

    fn tuple(&mut self, j: &Json, ts: &[Type], depth: usize) -> Result<Value, Error> {
        let Json::Arr(items) = j else {
            return Err(self.required("tuple", j));
        };
        if items.len() != ts.len() {
            return Err(self.tuple_len(ts.len(), items.len()));
        }
        let depth = self.enter(depth)?;
        let mut vals = Vec::with_capacity(items.len());
        for (i, (x, t)) in items.iter().zip(ts).enumerate() {
            self.path.push(Step::Index(i));
            vals.push(self.value(x, t, depth)?);
            self.path.pop();
        }
        Ok(Value::Tuple(vals))
    }

    #[cold]
    fn tuple_len(&self, want: usize, got: usize) -> Error {
        if got > want {
            self.err(format!("too many tuple elements (need {want})"))
        } else {
            self.err(format!("not enough tuple elements (need {want})"))
        }
    }

    fn map(&mut self, j: &Json, e: &Type, depth: usize) -> Result<Value, Error> {
        let Json::Obj(members) = j else {
            return Err(self.required("map", j));
        };
        let depth = self.enter(depth)?;
        let mut vals = BTreeMap::new();
        for (k, x) in members {
            self.path.push(Step::Key(k.clone()));
            let v = self.value(x, e, depth)?;
            self.path.pop();
            vals.insert(k.clone(), v);
        }
        Ok(Value::Map(vals))
    }

    fn object(&mut self, j: &Json, attrs: &BTreeMap<String, Type>, depth: usize) -> Result<Value, Error> {
        let Json::Obj(members) = j else {
            return Err(self.required("object", j));
        };
        let depth = self.enter(depth)?;
        let mut vals = BTreeMap::new();
        for (k, x) in members {
            // Attributes the type lacks are ignored (older schema).
            let Some(at) = attrs.get(k) else { continue };
            self.path.push(Step::Attr(k.clone()));
            let v = self.value(x, at, depth)?;
            self.path.pop();
            vals.insert(k.clone(), v);
        }
        for k in attrs.keys() {
            if !vals.contains_key(k) {
                vals.insert(k.clone(), Value::Null);
            }
        }
        Ok(Value::Object(vals))
    }

    fn dynamic(&mut self, j: &Json, depth: usize) -> Result<Value, Error> {
        let (ty, body, depth) = self.dynamic_parts(j, depth)?;
        let v = self.value(body, &ty, depth)?;
        Ok(if ty == Type::Dynamic { v } else { Value::Dynamic(Box::new(ty), Box::new(v)) })
    }

    /// Splits `{"type": …, "value": …}` into the parsed type and the value.
    fn dynamic_parts<'j>(&self, j: &'j Json, depth: usize) -> Result<(Type, &'j Json, usize), Error> {
        let Json::Obj(members) = j else {
            return Err(self.required("dynamic value ({\"value\", \"type\"} object)", j));
        };
        let mut ty = None;
        let mut body = None;
        for (k, x) in members {
            match k.as_str() {
                "type" => {
                    let bytes = jsontext_bytes(x);
                    ty =
                        Some(Type::from_json_bytes(&bytes).map_err(|e| self.err(format!("failed to decode type for dynamic value: {e}")))?);
                }
                "value" => body = Some(x),
                other => return Err(self.err(format!("invalid key {other:?} in dynamically-typed value"))),
            }
        }
        let Some(ty) = ty else {
            return Err(self.err("missing type in dynamically-typed value"));
        };
        let Some(body) = body else {
            return Err(self.err("missing value in dynamically-typed value"));
        };
        let depth = self.enter(depth)?;
        Ok((ty, body, depth))
    }
}

/// Re-serializes a parsed JSON tree (for handing type JSON to the type
/// parser).
fn jsontext_bytes(j: &Json) -> Vec<u8> {
    fn w(j: &Json, out: &mut Vec<u8>) {
        match j {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Json::Num(n) => out.extend_from_slice(n.as_bytes()),
            Json::Str(s) => jsontext::write_string(out, s),
            Json::Arr(items) => {
                out.push(b'[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    w(x, out);
                }
                out.push(b']');
            }
            Json::Obj(members) => {
                out.push(b'{');
                for (i, (k, x)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    jsontext::write_string(out, k);
                    out.push(b':');
                    w(x, out);
                }
                out.push(b'}');
            }
        }
    }
    let mut out = Vec::new();
    w(j, &mut out);
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Tuple(_) => "tuple",
        Value::Dynamic(..) => "dynamic",
    }
}

struct Encoder {
    out: Vec<u8>,
    path: Path,
}

impl Encoder {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Encode { path: self.path.render(), msg: msg.into() }
    }

    fn enter(&self, depth: usize) -> Result<usize, Error> {
        if depth >= MAX_DEPTH {
            return Err(self.err(format!("value is nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(depth + 1)
    }

    fn value(&mut self, v: &Value, ty: &Type, depth: usize) -> Result<(), Error> {
        match v {
            Value::Unknown => return Err(self.err("value is not known")),
            Value::Null => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        if *ty == Type::Dynamic {
            return self.dynamic(v, depth);
        }
        match (ty, v) {
            (_, Value::Dynamic(_, inner)) => {
                let depth = self.enter(depth)?;
                self.value(inner, ty, depth)
            }
            (Type::Bool, Value::Bool(b)) => {
                self.out.extend_from_slice(if *b { b"true" } else { b"false" });
                Ok(())
            }
            (Type::Number, Value::Number(n)) => match n.exact_text() {
                Some(t) => {
                    self.out.extend_from_slice(t.as_bytes());
                    Ok(())
                }
                None => Err(self.err("cannot serialize infinity as JSON")),
            },
            (Type::String, Value::String(s)) => {
                jsontext::write_string(&mut self.out, s);
                Ok(())
            }
            (Type::List(e) | Type::Set(e), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => self.list(vs, |_| e, depth),
            (Type::Tuple(ts), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => {
                if ts.len() != vs.len() {
                    return Err(self.tuple_len(ts.len(), vs.len()));
                }
                self.list(vs, |i| &ts[i], depth)
            }
            (Type::Map(e), Value::Map(m) | Value::Object(m)) => self.map(m, e, depth),
            (Type::Object { attrs, .. }, Value::Object(m) | Value::Map(m)) => self.object(m, attrs, depth),
            _ => Err(self.mismatch(ty, v)),
        }
    }

    #[cold]
    fn mismatch(&self, ty: &Type, v: &Value) -> Error {
        self.err(format!("{ty} is required, found {}", kind(v)))
    }

    #[cold]
    fn tuple_len(&self, want: usize, got: usize) -> Error {
        self.err(format!("a tuple of length {want} is required ({got} elements given)"))
    }

    fn dynamic(&mut self, v: &Value, depth: usize) -> Result<(), Error> {
        let depth = self.enter(depth)?;
        let implied;
        let (t, inner) = match v {
            Value::Dynamic(t, inner) if **t == Type::Dynamic => return self.value(inner, t, depth),
            Value::Dynamic(t, inner) => (&**t, &**inner),
            plain => {
                implied = plain.implied_type();
                (&implied, plain)
            }
        };
        self.out.extend_from_slice(b"{\"value\":");
        self.value(inner, t, depth)?;
        self.out.extend_from_slice(b",\"type\":");
        t.write_json(&mut self.out);
        self.out.push(b'}');
        Ok(())
    }

    fn list<'t>(&mut self, vs: &[Value], ty_at: impl Fn(usize) -> &'t Type, depth: usize) -> Result<(), Error> {
        let depth = self.enter(depth)?;
        self.out.push(b'[');
        for (i, x) in vs.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.path.push(Step::Index(i));
            self.value(x, ty_at(i), depth)?;
            self.path.pop();
        }
        self.out.push(b']');
        Ok(())
    }

    fn map(&mut self, m: &BTreeMap<String, Value>, e: &Type, depth: usize) -> Result<(), Error> {
        let depth = self.enter(depth)?;
        self.out.push(b'{');
        for (i, (k, x)) in m.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.path.push(Step::Key(k.clone()));
            jsontext::write_string(&mut self.out, k);
            self.out.push(b':');
            self.value(x, e, depth)?;
            self.path.pop();
        }
        self.out.push(b'}');
        Ok(())
    }

    fn object(&mut self, m: &BTreeMap<String, Value>, attrs: &BTreeMap<String, Type>, depth: usize) -> Result<(), Error> {
        if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
            self.path.push(Step::Attr(extra.clone()));
            return Err(self.err("unsupported attribute (not in the object type)"));
        }
        let depth = self.enter(depth)?;
        self.out.push(b'{');
        for (i, (k, t)) in attrs.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.path.push(Step::Attr(k.clone()));
            jsontext::write_string(&mut self.out, k);
            self.out.push(b':');
            match m.get(k) {
                Some(x) => self.value(x, t, depth)?,
                None => self.out.extend_from_slice(b"null"),
            }
            self.path.pop();
        }
        self.out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Value {
        Value::Number(Number::parse(s).expect("number"))
    }

    fn s(v: &Value, ty: &Type) -> String {
        String::from_utf8(encode(v, ty).expect("encode")).expect("utf8")
    }

    #[test]
    fn primitives() {
        assert_eq!(decode(b"null", &Type::String), Ok(Value::Null));
        assert_eq!(decode(b"\"a\"", &Type::String), Ok(Value::from("a")));
        assert_eq!(decode(b"12", &Type::String), Ok(Value::from("12")));
        assert_eq!(decode(b"true", &Type::String), Ok(Value::from("true")));
        assert_eq!(decode(b"\"1\"", &Type::Bool), Ok(Value::Bool(true)));
        assert_eq!(decode(b"\"false\"", &Type::Bool), Ok(Value::Bool(false)));
        assert!(decode(b"\"TRUE\"", &Type::Bool).is_err());
        assert_eq!(decode(b"\"12\"", &Type::Number), Ok(num("12")));
        assert_eq!(decode(b"123456789012345678901234567890.125", &Type::Number), Ok(num("123456789012345678901234567890.125")));
        assert_eq!(decode(b" 1e3 ", &Type::Number), Ok(num("1000")));
        assert!(decode(b"[1]", &Type::Number).is_err());
        assert!(decode(b"1 2", &Type::Number).is_err());
        assert_eq!(s(&num("123456789012345678901234567890.125"), &Type::Number), "123456789012345678901234567890.125");
        assert_eq!(s(&num("0.1"), &Type::Number), "0.1");
        let f = Value::Number(Number::from_f64(0.1).expect("f"));
        assert_eq!(s(&f, &Type::Number), "0.1000000000000000055511151231257827021181583404541015625");
        assert_eq!(decode(s(&f, &Type::Number).as_bytes(), &Type::Number), Ok(f));
        assert!(encode(&num("Inf"), &Type::Number).is_err());
        assert!(encode(&Value::Unknown, &Type::String).is_err());
        assert_eq!(s(&Value::from("<a>\n"), &Type::String), r#""\u003ca\u003e\n""#);
    }

    #[test]
    fn objects_tolerate_schema_drift() {
        let ty = Type::object([("id", Type::String), ("n", Type::Number)]);
        let v = decode(br#"{"id":"x","old":[1,2],"zzz":{}}"#, &ty).expect("decode");
        assert_eq!(v, Value::Object([("id".into(), "x".into()), ("n".into(), Value::Null)].into()));
        assert_eq!(s(&v, &ty), r#"{"id":"x","n":null}"#);
        let e = decode(br#"{"id":"x","n":"abc"}"#, &ty).expect_err("bad number");
        assert_eq!(e.path(), ".n");
    }

    #[test]
    fn collections() {
        let ty = Type::object([
            ("l", Type::list(Type::Number)),
            ("s", Type::set(Type::String)),
            ("m", Type::map(Type::Bool)),
            ("t", Type::Tuple(vec![Type::String, Type::Number])),
        ]);
        let text = r#"{"l":[1,2],"m":{"a":true,"b":null},"s":["x"],"t":["y",3]}"#;
        let v = decode(text.as_bytes(), &ty).expect("decode");
        assert_eq!(s(&v, &ty), text);
        assert!(decode(br#"{"t":["y"]}"#, &ty).is_err());
        assert!(decode(br#"{"t":["y",1,2]}"#, &ty).is_err());
        let e = decode(br#"{"m":{"k":1}}"#, &ty).expect_err("bad bool");
        assert_eq!(e.path(), ".m[\"k\"]");
    }

    #[test]
    fn go_cty_vectors() {
        // From go-cty's cty/json/value_test.go.
        let b = |x: bool| Value::Bool(x);
        let list = Value::List(vec![b(true), b(false)]);
        assert_eq!(s(&list, &Type::list(Type::Dynamic)), r#"[{"value":true,"type":"bool"},{"value":false,"type":"bool"}]"#);
        let ty = Type::object([("dynamic", Type::Dynamic), ("static", Type::Bool)]);
        let obj = Value::Object([("dynamic".into(), b(true)), ("static".into(), b(true))].into());
        assert_eq!(s(&obj, &ty), r#"{"dynamic":{"value":true,"type":"bool"},"static":true}"#);
        assert_eq!(
            s(&obj, &Type::Dynamic),
            r#"{"value":{"dynamic":true,"static":true},"type":["object",{"dynamic":"bool","static":"bool"}]}"#
        );
        assert_eq!(
            s(&Value::Map([("no".into(), b(false)), ("yes".into(), b(true))].into()), &Type::map(Type::Bool)),
            r#"{"no":false,"yes":true}"#
        );
        assert_eq!(s(&num("2.5"), &Type::Number), "2.5");
        assert_eq!(decode(b"2.5", &Type::Number), Ok(num("2.5")));
        assert_eq!(decode(br#""5""#, &Type::Number), Ok(num("5")));
    }

    #[test]
    fn dynamic() {
        let v = Value::Dynamic(Box::new(Type::list(Type::String)), Box::new(Value::List(vec!["a".into()])));
        assert_eq!(s(&v, &Type::Dynamic), r#"{"value":["a"],"type":["list","string"]}"#);
        assert_eq!(decode(br#"{"type":["list","string"],"value":["a"]}"#, &Type::Dynamic), Ok(v));
        assert_eq!(decode(b"null", &Type::Dynamic), Ok(Value::Null));
        assert_eq!(s(&Value::from(true), &Type::Dynamic), r#"{"value":true,"type":"bool"}"#);
        assert!(decode(br#"{"value":1}"#, &Type::Dynamic).is_err());
        assert!(decode(br#"{"type":"number"}"#, &Type::Dynamic).is_err());
        assert!(decode(br#"{"type":"number","value":1,"x":2}"#, &Type::Dynamic).is_err());
        assert!(decode(br#"{"type":"numbr","value":1}"#, &Type::Dynamic).is_err());
        assert_eq!(
            decode(br#"{"type":"dynamic","value":{"type":"number","value":1}}"#, &Type::Dynamic),
            Ok(Value::Dynamic(Box::new(Type::Number), Box::new(num("1"))))
        );
        let unk = Value::Dynamic(Box::new(Type::String), Box::new(Value::Unknown));
        assert!(encode(&unk, &Type::Dynamic).is_err());
    }
}
