//! The msgpack value encoding of `cty/msgpack` (Terraform's
//! `DynamicValue.msgpack`).
//!
//! * null is `nil`; an unknown is written as `d4 00 00`, and every msgpack
//!   extension value (including refined unknowns, ext 12) decodes as
//!   [`Value::Unknown`];
//! * numbers: integers as msgpack ints (go-cty's compact forms), integers in
//!   `(i64::MAX, u64::MAX]` as uint64, float64-exact values as float64,
//!   anything else as a decimal string;
//! * lists, sets and tuples are arrays; maps and objects are maps with
//!   string keys, and an object carries every attribute of its type;
//! * a `dynamic` position holds `[type JSON (bin), value]`.

use std::collections::BTreeMap;

use crate::number::Repr;
use crate::path::{Path, Step};
use crate::{Error, Number, Type, Value, MAX_DEPTH};

/// Decodes msgpack `bytes` as a value of type `ty`. The whole input must be
/// one value.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, Error> {
    let mut d = Decoder { b: bytes, pos: 0, path: Path::default() };
    let v = d.value(ty, 0)?;
    if d.pos != bytes.len() {
        return Err(d.err(format!("{} unexpected trailing bytes after the value", bytes.len() - d.pos)));
    }
    Ok(v)
}

/// Encodes `v` as msgpack for type `ty`, as go-cty's `msgpack.Marshal`.
///
/// A value is accepted for a type when it has the matching shape; `List`,
/// `Set` and `Tuple` values are interchangeable for any array type, and
/// `Map`/`Object` values for map and object types. Object attributes the
/// value lacks are written as null; attributes the type lacks are an error.
/// A plain value in a `dynamic` position is written with its
/// [`Value::implied_type`]; a [`Value::Dynamic`] in a statically typed
/// position is written as its inner value.
pub fn encode(v: &Value, ty: &Type) -> Result<Vec<u8>, Error> {
    let mut e = Encoder { out: Vec::new(), path: Path::default() };
    e.value(v, ty, 0)?;
    Ok(e.out)
}

/// What a msgpack marker byte introduces, for error messages.
fn describe(c: u8) -> &'static str {
    match c {
        0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => "an integer",
        0x80..=0x8f | 0xde | 0xdf => "a map",
        0x90..=0x9f | 0xdc | 0xdd => "an array",
        0xa0..=0xbf | 0xd9..=0xdb => "a string",
        0xc0 => "nil",
        0xc1 => "the reserved byte 0xc1",
        0xc2 | 0xc3 => "a bool",
        0xc4..=0xc6 => "binary data",
        0xc7..=0xc9 | 0xd4..=0xd8 => "an extension",
        0xca | 0xcb => "a float",
    }
}

fn is_ext(c: u8) -> bool {
    matches!(c, 0xc7..=0xc9 | 0xd4..=0xd8)
}

struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
    path: Path,
}

impl<'a> Decoder<'a> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Msgpack { path: self.path.render(), msg: msg.into() }
    }

    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn peek(&self) -> Result<u8, Error> {
        self.b.get(self.pos).copied().ok_or_else(|| self.err("unexpected end of input"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(self.err(format!("unexpected end of input: {n} bytes needed, {} left", self.remaining())));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Error> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len_field(&mut self, n: usize) -> Result<usize, Error> {
        let v = self.be(n)?;
        usize::try_from(v).map_err(|_| self.err("length out of range"))
    }

    /// Skips one extension value (the marker is at `pos`).
    fn skip_ext(&mut self) -> Result<(), Error> {
        let c = self.peek()?;
        self.pos += 1;
        let len = match c {
            0xd4 => 1,
            0xd5 => 2,
            0xd6 => 4,
            0xd7 => 8,
            0xd8 => 16,
            0xc7 => self.len_field(1)?,
            0xc8 => self.len_field(2)?,
            _ => self.len_field(4)?,
        };
        self.take(1)?; // extension type code
        self.take(len)?;
        Ok(())
    }

    /// Reads a str or bin payload (go-cty's decoder accepts either).
    fn raw_str(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let c = self.peek()?;
        let len = match c {
            0xa0..=0xbf => {
                self.pos += 1;
                usize::from(c & 0x1f)
            }
            0xd9 | 0xc4 => {
                self.pos += 1;
                self.len_field(1)?
            }
            0xda | 0xc5 => {
                self.pos += 1;
                self.len_field(2)?
            }
            0xdb | 0xc6 => {
                self.pos += 1;
                self.len_field(4)?
            }
            _ => return Err(self.err(format!("{what} is required, found {}", describe(c)))),
        };
        self.take(len)
    }

    fn string(&mut self, what: &str) -> Result<String, Error> {
        let raw = self.raw_str(what)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(self.err(format!("{what} is not valid UTF-8"))),
        }
    }

    fn array_len(&mut self, what: &str) -> Result<usize, Error> {
        let c = self.peek()?;
        match c {
            0x90..=0x9f => {
                self.pos += 1;
                Ok(usize::from(c & 0x0f))
            }
            0xdc => {
                self.pos += 1;
                self.len_field(2)
            }
            0xdd => {
                self.pos += 1;
                self.len_field(4)
            }
            _ => Err(self.err(format!("{what} is required, found {}", describe(c)))),
        }
    }

    fn map_len(&mut self, what: &str) -> Result<usize, Error> {
        let c = self.peek()?;
        match c {
            0x80..=0x8f => {
                self.pos += 1;
                Ok(usize::from(c & 0x0f))
            }
            0xde => {
                self.pos += 1;
                self.len_field(2)
            }
            0xdf => {
                self.pos += 1;
                self.len_field(4)
            }
            _ => Err(self.err(format!("{what} is required, found {}", describe(c)))),
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, Error> {
        if depth >= MAX_DEPTH {
            return Err(self.err(format!("value is nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(depth + 1)
    }

    // The recursive path (value -> container -> value) is split into small
    // functions, with the non-recursive work in helpers, so that each
    // nesting level costs little stack even in unoptimized builds.
    fn value(&mut self, ty: &Type, depth: usize) -> Result<Value, Error> {
        match self.leaf(ty)? {
            Some(v) => Ok(v),
            None => self.container(ty, depth),
        }
    }

    /// Decodes anything that needs no recursion: unknowns, nulls and
    /// primitives. `None` means a container (or dynamic) follows.
    fn leaf(&mut self, ty: &Type) -> Result<Option<Value>, Error> {
        let c = self.peek()?;
        if is_ext(c) {
            // Every extension is an unknown (ext 0, or ext 12 carrying a
            // refinement map, which is skipped).
            self.skip_ext()?;
            return Ok(Some(Value::Unknown));
        }
        if *ty == Type::Dynamic {
            return Ok(None);
        }
        if c == 0xc0 {
            self.pos += 1;
            return Ok(Some(Value::Null));
        }
        Ok(Some(match ty {
            Type::Bool => self.bool(c)?,
            Type::Number => Value::Number(self.number()?),
            Type::String => Value::String(self.string("string")?),
            _ => return Ok(None),
        }))
    }

    fn container(&mut self, ty: &Type, depth: usize) -> Result<Value, Error> {
        match ty {
            Type::List(e) => self.list(e, false, depth),
            Type::Set(e) => self.list(e, true, depth),
            Type::Tuple(ts) => self.tuple(ts, depth),
            Type::Map(e) => self.map(e, depth),
            Type::Object { attrs, .. } => self.object(attrs, depth),
            _ => self.dynamic(depth),
        }
    }

    fn bool(&mut self, c: u8) -> Result<Value, Error> {
        match c {
            0xc2 | 0xc3 => {
                self.pos += 1;
                Ok(Value::Bool(c == 0xc3))
            }
            _ => Err(self.err(format!("bool is required, found {}", describe(c)))),
        }
    }

    /// Reads an array header and checks the depth; returns the new depth
    /// and an empty vector with a safe capacity.
    fn open_array(&mut self, what: &str, depth: usize) -> Result<(usize, usize, Vec<Value>), Error> {
        let n = self.array_len(what)?;
        let depth = self.enter(depth)?;
        Ok((n, depth, Vec::with_capacity(n.min(self.remaining()))))
    }

    fn list(&mut self, e: &Type, set: bool, depth: usize) -> Result<Value, Error> {
        let (n, depth, mut vals) = self.open_array("a list or set", depth)?;
        for i in 0..n {
            self.path.push(Step::Index(i));
            vals.push(self.value(e, depth)?);
            self.path.pop();
        }
        Ok(if set { Value::Set(vals) } else { Value::List(vals) })
    }

    fn tuple(&mut self, ts: &[Type], depth: usize) -> Result<Value, Error> {
        let (n, depth, mut vals) = self.open_array("a tuple", depth)?;
        if n != ts.len() {
            return Err(self.tuple_len(ts.len(), n));
        }
        for (i, t) in ts.iter().enumerate() {
            self.path.push(Step::Index(i));
            vals.push(self.value(t, depth)?);
            self.path.pop();
        }
        Ok(Value::Tuple(vals))
    }

    #[cold]
    fn tuple_len(&self, want: usize, got: usize) -> Error {
        self.err(format!("a tuple of length {want} is required ({got} elements given)"))
    }

    fn map(&mut self, e: &Type, depth: usize) -> Result<Value, Error> {
        let n = self.map_len("a map")?;
        let depth = self.enter(depth)?;
        let mut vals = BTreeMap::new();
        for _ in 0..n {
            let k = self.map_key()?;
            let v = self.value(e, depth)?;
            self.path.pop();
            vals.insert(k, v);
        }
        Ok(Value::Map(vals))
    }

    /// Reads a map key and pushes it onto the path.
    fn map_key(&mut self) -> Result<String, Error> {
        let k = self.string("a string map key")?;
        self.path.push(Step::Key(k.clone()));
        Ok(k)
    }

    fn object(&mut self, attrs: &BTreeMap<String, Type>, depth: usize) -> Result<Value, Error> {
        let n = self.map_len("an object")?;
        if n != attrs.len() {
            return Err(self.object_len(attrs.len(), n));
        }
        let depth = self.enter(depth)?;
        let mut vals = BTreeMap::new();
        for _ in 0..n {
            let (k, at) = self.attr_key(attrs, &vals)?;
            let v = self.value(at, depth)?;
            self.path.pop();
            vals.insert(k, v);
        }
        Ok(Value::Object(vals))
    }

    /// Reads an attribute name, checks it, and pushes it onto the path.
    fn attr_key<'t>(&mut self, attrs: &'t BTreeMap<String, Type>, seen: &BTreeMap<String, Value>) -> Result<(String, &'t Type), Error> {
        let k = self.string("a string attribute name")?;
        self.path.push(Step::Attr(k.clone()));
        let Some(at) = attrs.get(&k) else {
            return Err(self.err("unsupported attribute"));
        };
        if seen.contains_key(&k) {
            return Err(self.err("duplicate attribute"));
        }
        Ok((k, at))
    }

    #[cold]
    fn object_len(&self, want: usize, got: usize) -> Error {
        self.err(format!("an object with {want} attributes is required ({got} given)"))
    }

    fn number(&mut self) -> Result<Number, Error> {
        let c = self.peek()?;
        let n = match c {
            0x00..=0x7f => {
                self.pos += 1;
                Number::from_i64(i64::from(c))
            }
            0xe0..=0xff => {
                self.pos += 1;
                Number::from_i64(i64::from(c as i8))
            }
            0xcc => {
                self.pos += 1;
                Number::from_u64(self.be(1)?)
            }
            0xcd => {
                self.pos += 1;
                Number::from_u64(self.be(2)?)
            }
            0xce => {
                self.pos += 1;
                Number::from_u64(self.be(4)?)
            }
            0xcf => {
                self.pos += 1;
                Number::from_u64(self.be(8)?)
            }
            0xd0 => {
                self.pos += 1;
                Number::from_i64(i64::from(self.be(1)? as u8 as i8))
            }
            0xd1 => {
                self.pos += 1;
                Number::from_i64(i64::from(self.be(2)? as u16 as i16))
            }
            0xd2 => {
                self.pos += 1;
                Number::from_i64(i64::from(self.be(4)? as u32 as i32))
            }
            0xd3 => {
                self.pos += 1;
                Number::from_i64(self.be(8)? as i64)
            }
            0xca | 0xcb => {
                self.pos += 1;
                let f = if c == 0xca { f64::from(f32::from_bits(self.be(4)? as u32)) } else { f64::from_bits(self.be(8)?) };
                Number::from_f64(f).ok_or_else(|| self.err("number is required, found NaN"))?
            }
            0xa0..=0xbf | 0xd9..=0xdb | 0xc4..=0xc6 => {
                let raw = self.raw_str("number")?;
                std::str::from_utf8(raw).ok().and_then(Number::parse).ok_or_else(|| {
                    self.err(format!("number is required, found the string {:?}", String::from_utf8_lossy(&raw[..raw.len().min(64)])))
                })?
            }
            _ => return Err(self.err(format!("number is required, found {}", describe(c)))),
        };
        Ok(n)
    }

    fn dynamic(&mut self, depth: usize) -> Result<Value, Error> {
        let Some((ty, depth)) = self.dynamic_header(depth)? else {
            return Ok(Value::Null);
        };
        let v = self.value(&ty, depth)?;
        Ok(if ty == Type::Dynamic { v } else { Value::Dynamic(Box::new(ty), Box::new(v)) })
    }

    /// Reads `nil` (-> `None`) or the `[type JSON, ` part of a dynamic value.
    fn dynamic_header(&mut self, depth: usize) -> Result<Option<(Type, usize)>, Error> {
        let c = self.peek()?;
        if c == 0xc0 {
            self.pos += 1;
            return Ok(None);
        }
        let n = self.array_len("a dynamic value ([type, value] array)")?;
        if n != 2 {
            return Err(self.err(format!("dynamic value array must have exactly two elements ({n} given)")));
        }
        let depth = self.enter(depth)?;
        let raw = self.raw_str("dynamic value type JSON")?;
        let ty = Type::from_json_bytes(raw).map_err(|e| self.err(format!("dynamic value type: {e}")))?;
        Ok(Some((ty, depth)))
    }
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

    fn mismatch(&self, ty: &Type, v: &Value) -> Error {
        self.err(format!("{ty} is required, found {}", kind(v)))
    }

    fn len32(&self, n: usize) -> Result<u32, Error> {
        u32::try_from(n).map_err(|_| self.err("length exceeds msgpack limits"))
    }

    fn header(&mut self, n: usize, fix: u8, fix_max: usize, m16: u8, m32: u8) -> Result<(), Error> {
        let n32 = self.len32(n)?;
        if n <= fix_max {
            self.out.push(fix | n as u8);
        } else if let Ok(n16) = u16::try_from(n32) {
            self.out.push(m16);
            self.out.extend_from_slice(&n16.to_be_bytes());
        } else {
            self.out.push(m32);
            self.out.extend_from_slice(&n32.to_be_bytes());
        }
        Ok(())
    }

    fn array_len(&mut self, n: usize) -> Result<(), Error> {
        self.header(n, 0x90, 15, 0xdc, 0xdd)
    }

    fn map_len(&mut self, n: usize) -> Result<(), Error> {
        self.header(n, 0x80, 15, 0xde, 0xdf)
    }

    fn str(&mut self, s: &str) -> Result<(), Error> {
        let n = s.len();
        let n32 = self.len32(n)?;
        if n < 32 {
            self.out.push(0xa0 | n as u8);
        } else if let Ok(n8) = u8::try_from(n32) {
            self.out.extend_from_slice(&[0xd9, n8]);
        } else if let Ok(n16) = u16::try_from(n32) {
            self.out.push(0xda);
            self.out.extend_from_slice(&n16.to_be_bytes());
        } else {
            self.out.push(0xdb);
            self.out.extend_from_slice(&n32.to_be_bytes());
        }
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn bin(&mut self, b: &[u8]) -> Result<(), Error> {
        let n32 = self.len32(b.len())?;
        if let Ok(n8) = u8::try_from(n32) {
            self.out.extend_from_slice(&[0xc4, n8]);
        } else if let Ok(n16) = u16::try_from(n32) {
            self.out.push(0xc5);
            self.out.extend_from_slice(&n16.to_be_bytes());
        } else {
            self.out.push(0xc6);
            self.out.extend_from_slice(&n32.to_be_bytes());
        }
        self.out.extend_from_slice(b);
        Ok(())
    }

    /// vmihailenco/msgpack `EncodeInt` (compact): non-negative values use
    /// the unsigned forms, negative ones the signed forms.
    fn int(&mut self, i: i64) {
        if i >= 0 {
            let u = i as u64;
            if u <= 0x7f {
                self.out.push(u as u8);
            } else if let Ok(v) = u8::try_from(u) {
                self.out.extend_from_slice(&[0xcc, v]);
            } else if let Ok(v) = u16::try_from(u) {
                self.out.push(0xcd);
                self.out.extend_from_slice(&v.to_be_bytes());
            } else if let Ok(v) = u32::try_from(u) {
                self.out.push(0xce);
                self.out.extend_from_slice(&v.to_be_bytes());
            } else {
                self.out.push(0xcf);
                self.out.extend_from_slice(&u.to_be_bytes());
            }
        } else if i >= -32 {
            self.out.push(i as i8 as u8);
        } else if let Ok(v) = i8::try_from(i) {
            self.out.extend_from_slice(&[0xd0, v as u8]);
        } else if let Ok(v) = i16::try_from(i) {
            self.out.push(0xd1);
            self.out.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = i32::try_from(i) {
            self.out.push(0xd2);
            self.out.extend_from_slice(&v.to_be_bytes());
        } else {
            self.out.push(0xd3);
            self.out.extend_from_slice(&i.to_be_bytes());
        }
    }

    fn number(&mut self, n: &Number) -> Result<(), Error> {
        match n.repr() {
            Repr::Int(i) => self.int(*i),
            Repr::UInt(u) => {
                self.out.push(0xcf);
                self.out.extend_from_slice(&u.to_be_bytes());
            }
            Repr::Float(f) => {
                self.out.push(0xcb);
                self.out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Repr::Decimal(_) => self.str(&n.to_string())?,
        }
        Ok(())
    }

    fn enter(&self, depth: usize) -> Result<usize, Error> {
        if depth >= MAX_DEPTH {
            return Err(self.err(format!("value is nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(depth + 1)
    }

    fn value(&mut self, v: &Value, ty: &Type, depth: usize) -> Result<(), Error> {
        match v {
            Value::Null => {
                self.out.push(0xc0);
                return Ok(());
            }
            Value::Unknown => {
                self.out.extend_from_slice(&[0xd4, 0x00, 0x00]);
                return Ok(());
            }
            _ => {}
        }
        if *ty == Type::Dynamic {
            return self.dynamic(v, depth);
        }
        match (ty, v) {
            // A dynamic wrapper in a statically typed position: write the
            // inner value as that position's type.
            (_, Value::Dynamic(_, inner)) => {
                let depth = self.enter(depth)?;
                self.value(inner, ty, depth)
            }
            (Type::Bool, Value::Bool(b)) => {
                self.out.push(if *b { 0xc3 } else { 0xc2 });
                Ok(())
            }
            (Type::Number, Value::Number(n)) => self.number(n),
            (Type::String, Value::String(s)) => self.str(s),
            (Type::List(e) | Type::Set(e), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => self.list(vs, e, depth),
            (Type::Tuple(ts), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => self.tuple(vs, ts, depth),
            (Type::Map(e), Value::Map(m) | Value::Object(m)) => self.map(m, e, depth),
            (Type::Object { attrs, .. }, Value::Object(m) | Value::Map(m)) => self.object(m, attrs, depth),
            _ => Err(self.mismatch(ty, v)),
        }
    }

    fn dynamic(&mut self, v: &Value, depth: usize) -> Result<(), Error> {
        let depth = self.enter(depth)?;
        match v {
            Value::Dynamic(t, inner) if **t == Type::Dynamic => self.value(inner, t, depth),
            Value::Dynamic(t, inner) => {
                self.out.push(0x92);
                self.bin(&t.to_json_bytes())?;
                self.value(inner, t, depth)
            }
            plain => {
                let t = plain.implied_type();
                self.out.push(0x92);
                self.bin(&t.to_json_bytes())?;
                self.value(plain, &t, depth)
            }
        }
    }

    fn list(&mut self, vs: &[Value], e: &Type, depth: usize) -> Result<(), Error> {
        let depth = self.enter(depth)?;
        self.array_len(vs.len())?;
        for (i, x) in vs.iter().enumerate() {
            self.path.push(Step::Index(i));
            self.value(x, e, depth)?;
            self.path.pop();
        }
        Ok(())
    }

    fn tuple(&mut self, vs: &[Value], ts: &[Type], depth: usize) -> Result<(), Error> {
        if ts.len() != vs.len() {
            return Err(self.tuple_len(ts.len(), vs.len()));
        }
        let depth = self.enter(depth)?;
        self.array_len(vs.len())?;
        for (i, (x, t)) in vs.iter().zip(ts).enumerate() {
            self.path.push(Step::Index(i));
            self.value(x, t, depth)?;
            self.path.pop();
        }
        Ok(())
    }

    #[cold]
    fn tuple_len(&self, want: usize, got: usize) -> Error {
        self.err(format!("a tuple of length {want} is required ({got} elements given)"))
    }

    fn map(&mut self, m: &BTreeMap<String, Value>, e: &Type, depth: usize) -> Result<(), Error> {
        let depth = self.enter(depth)?;
        self.map_len(m.len())?;
        for (k, x) in m {
            self.path.push(Step::Key(k.clone()));
            self.str(k)?;
            self.value(x, e, depth)?;
            self.path.pop();
        }
        Ok(())
    }

    fn object(&mut self, m: &BTreeMap<String, Value>, attrs: &BTreeMap<String, Type>, depth: usize) -> Result<(), Error> {
        if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
            self.path.push(Step::Attr(extra.clone()));
            return Err(self.err("unsupported attribute (not in the object type)"));
        }
        let depth = self.enter(depth)?;
        self.map_len(attrs.len())?;
        for (k, t) in attrs {
            self.path.push(Step::Attr(k.clone()));
            self.str(k)?;
            match m.get(k) {
                Some(x) => self.value(x, t, depth)?,
                None => self.out.push(0xc0),
            }
            self.path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    fn num(s: &str) -> Value {
        Value::Number(Number::parse(s).expect("number"))
    }

    #[track_caller]
    fn both_ways(bytes: &str, ty: &Type, v: Value) {
        let b = hex(bytes);
        assert_eq!(decode(&b, ty).expect("decode"), v);
        assert_eq!(encode(&v, ty).expect("encode"), b);
    }

    #[test]
    fn primitives() {
        both_ways("c0", &Type::String, Value::Null);
        both_ways("d40000", &Type::String, Value::Unknown);
        both_ways("c3", &Type::Bool, Value::Bool(true));
        both_ways("c2", &Type::Bool, Value::Bool(false));
        both_ways("a568656c6c6f", &Type::String, Value::from("hello"));
        both_ways("a0", &Type::String, Value::from(""));
        let long = "x".repeat(40);
        both_ways(&format!("d928{}", "78".repeat(40)), &Type::String, Value::from(long.as_str()));
    }

    #[test]
    fn numbers() {
        // Compact integer forms as vmihailenco/msgpack writes them.
        both_ways("01", &Type::Number, num("1"));
        both_ways("7f", &Type::Number, num("127"));
        both_ways("cc80", &Type::Number, num("128"));
        both_ways("cd0100", &Type::Number, num("256"));
        both_ways("ce00010000", &Type::Number, num("65536"));
        both_ways("cf0000000100000000", &Type::Number, num("4294967296"));
        both_ways("ff", &Type::Number, num("-1"));
        both_ways("e0", &Type::Number, num("-32"));
        both_ways("d0df", &Type::Number, num("-33"));
        both_ways("d1ff7f", &Type::Number, num("-129"));
        both_ways("d2ffff7fff", &Type::Number, num("-32769"));
        both_ways("d38000000000000000", &Type::Number, num("-9223372036854775808"));
        // 2^63 and u64::MAX as uint64.
        both_ways("cf8000000000000000", &Type::Number, num("9223372036854775808"));
        both_ways("cfffffffffffffffff", &Type::Number, num("18446744073709551615"));
        // float64 0.1 stays a float64, bit for bit.
        both_ways("cb3fb999999999999a", &Type::Number, Value::Number(Number::from_f64(0.1).expect("f")));
        both_ways("cb3fe0000000000000", &Type::Number, num("0.5"));
        both_ways("cb7ff0000000000000", &Type::Number, num("+Inf"));
        both_ways("cbfff0000000000000", &Type::Number, num("-Inf"));
        // Too precise for float64: decimal text.
        both_ways("b63132333435363738393031323334353637383930 2e35", &Type::Number, num("12345678901234567890.5"));
        both_ways("a3302e31", &Type::Number, num("0.1"));
        both_ways("b431383434363734343037333730393535313631 36", &Type::Number, num("18446744073709551616"));
        // Other widths and forms decode.
        assert_eq!(decode(&hex("d001"), &Type::Number), Ok(num("1")));
        assert_eq!(decode(&hex("cd0001"), &Type::Number), Ok(num("1")));
        assert_eq!(decode(&hex("ca3f000000"), &Type::Number), Ok(num("0.5")));
        assert_eq!(decode(&hex("cb4000000000000000"), &Type::Number), Ok(num("2")));
        assert_eq!(decode(&hex("a431653130"), &Type::Number), Ok(num("10000000000")));
        assert_eq!(decode(&hex("c40132"), &Type::Number), Ok(num("2")));
        // float64 2.0 re-encodes as the integer 2, as go-cty does.
        assert_eq!(encode(&num("2"), &Type::Number), Ok(hex("02")));
        assert!(decode(&hex("cb7ff8000000000000"), &Type::Number).is_err()); // NaN
        assert!(decode(&hex("a3616263"), &Type::Number).is_err());
        assert!(decode(&hex("c3"), &Type::Number).is_err());
    }

    #[test]
    fn unknowns() {
        // Every extension is an unknown, including refined unknowns (ext 12).
        // A not-null string with prefix "foo": c7 len 0c 82 01 c2 02 a3 "foo".
        let refined = "c7080c8201c202a3666f6f";
        assert_eq!(decode(&hex(refined), &Type::String), Ok(Value::Unknown));
        assert_eq!(decode(&hex("c7030c8101c2"), &Type::List(Box::new(Type::String))), Ok(Value::Unknown));
        assert_eq!(decode(&hex("d40000"), &Type::Dynamic), Ok(Value::Unknown));
        assert_eq!(decode(&hex("c700ff"), &Type::Number), Ok(Value::Unknown));
        assert_eq!(decode(&hex("d8010000000000000000000000000000 0000"), &Type::Bool), Ok(Value::Unknown));
        assert!(decode(&hex("c7080c8201c2"), &Type::String).is_err()); // truncated payload
        let ty = Type::object([("a", Type::String), ("b", Type::Number)]);
        let v = decode(&hex("82a161c7080c8201c202a3666f6fa162d40000"), &ty).expect("decode");
        assert_eq!(v.attr("a"), Some(&Value::Unknown));
        assert!(!v.is_wholly_known());
    }

    #[test]
    fn collections() {
        let list = Type::List(Box::new(Type::String));
        both_ways("92a161a162", &list, Value::List(vec!["a".into(), "b".into()]));
        both_ways("90", &list, Value::List(vec![]));
        let set = Type::Set(Box::new(Type::Number));
        both_ways("920102", &set, Value::Set(vec![num("1"), num("2")]));
        let map = Type::Map(Box::new(Type::Bool));
        both_ways("82a161c3a162c0", &map, Value::Map([("a".into(), Value::Bool(true)), ("b".into(), Value::Null)].into()));
        let tup = Type::Tuple(vec![Type::String, Type::Number]);
        both_ways("92a17801", &tup, Value::Tuple(vec!["x".into(), num("1")]));
        assert!(decode(&hex("91a178"), &tup).is_err());
        let big: Vec<Value> = (0..20).map(Value::number_i64).collect();
        let mut b = vec![0xdc, 0x00, 20];
        b.extend(0u8..20);
        assert_eq!(decode(&b, &Type::List(Box::new(Type::Number))), Ok(Value::List(big)));
    }

    #[test]
    fn objects() {
        let ty = Type::object([("id", Type::String), ("n", Type::Number)]);
        let v = Value::Object([("id".into(), "x".into()), ("n".into(), num("1"))].into());
        both_ways("82a26964a178a16e01", &ty, v);
        // Missing attributes are written as null.
        let partial = Value::Object([("n".into(), num("1"))].into());
        assert_eq!(encode(&partial, &ty), Ok(hex("82a26964c0a16e01")));
        // Decoding needs every attribute, and nothing else.
        assert!(decode(&hex("81a16e01"), &ty).is_err());
        assert!(decode(&hex("82a26964c0a17801"), &ty).is_err());
        assert!(decode(&hex("82a26964c0a26964c0"), &ty).is_err());
        let extra = Value::Object([("zzz".into(), num("1"))].into());
        let e = encode(&extra, &ty).expect_err("extra attribute");
        assert_eq!(e.path(), ".zzz");
        // Nested error path.
        let nested = Type::object([("exec", Type::object([("create", Type::List(Box::new(Type::String)))]))]);
        let e = decode(&hex("81a46578656381a6637265617465 91 01"), &nested).expect_err("bad");
        assert_eq!(e.path(), ".exec.create[0]");
        assert_eq!(e.to_string(), "invalid msgpack value at .exec.create[0]: string is required, found an integer");
    }

    #[test]
    fn dynamic() {
        // ["string" as bin, "x"]
        let b = hex("92c40822737472696e6722a178");
        let v = Value::Dynamic(Box::new(Type::String), Box::new(Value::from("x")));
        both_ways("92c40822737472696e6722a178", &Type::Dynamic, v.clone());
        // Type JSON as str is accepted too.
        assert_eq!(decode(&hex("92a822737472696e6722a178"), &Type::Dynamic), Ok(v.clone()));
        both_ways("c0", &Type::Dynamic, Value::Null);
        both_ways("d40000", &Type::Dynamic, Value::Unknown);
        // A plain value in a dynamic position gets its implied type.
        assert_eq!(encode(&Value::from("x"), &Type::Dynamic), Ok(b));
        let obj = Value::Object([("a".into(), num("1"))].into());
        let enc = encode(&obj, &Type::Dynamic).expect("encode");
        let tj = br#"["object",{"a":"number"}]"#;
        let mut want = vec![0x92, 0xc4, tj.len() as u8];
        want.extend_from_slice(tj);
        want.extend_from_slice(&hex("81a16101"));
        assert_eq!(enc, want);
        assert_eq!(decode(&enc, &Type::Dynamic), Ok(Value::Dynamic(Box::new(Type::object([("a", Type::Number)])), Box::new(obj))));
        // ["dynamic", x] flattens.
        assert_eq!(decode(&hex("92c4092264796e616d696322 92c408 22737472696e6722 a178"), &Type::Dynamic), Ok(v));
        // Null of a concrete type inside a dynamic.
        both_ways("92c408 22737472696e6722 c0", &Type::Dynamic, Value::Dynamic(Box::new(Type::String), Box::new(Value::Null)));
        assert!(decode(&hex("91c408 22737472696e6722"), &Type::Dynamic).is_err());
        assert!(decode(&hex("92c403227822a178"), &Type::Dynamic).is_err()); // type "x"
        assert!(decode(&hex("a178"), &Type::Dynamic).is_err());
    }

    #[test]
    fn malformed() {
        assert!(decode(&[], &Type::String).is_err());
        assert!(decode(&hex("c0c0"), &Type::String).is_err()); // trailing
        assert!(decode(&hex("a5616263"), &Type::String).is_err()); // truncated
        assert!(decode(&hex("a2ffff"), &Type::String).is_err()); // bad UTF-8
        assert!(decode(&hex("dd ffffffff"), &Type::List(Box::new(Type::String))).is_err());
        assert!(decode(&hex("c1"), &Type::Bool).is_err());
        let mut deep = vec![0x91; MAX_DEPTH + 1];
        deep.push(0xc0);
        let mut ty = Type::String;
        for _ in 0..=MAX_DEPTH {
            ty = Type::List(Box::new(ty));
        }
        assert!(decode(&deep, &ty).is_err());
        // A chain of dynamic wrappers is bounded too.
        let mut chain = Vec::new();
        for _ in 0..(MAX_DEPTH + 2) {
            chain.extend_from_slice(&hex("92c4092264796e616d696322"));
        }
        chain.push(0xc0);
        assert!(decode(&chain, &Type::Dynamic).is_err());
    }

    #[test]
    fn encode_mismatch() {
        let e = encode(&Value::from(true), &Type::String).expect_err("mismatch");
        assert_eq!(e.to_string(), "cannot encode value: string is required, found bool");
        assert!(encode(&Value::Tuple(vec![]), &Type::Tuple(vec![Type::Bool])).is_err());
    }
}
