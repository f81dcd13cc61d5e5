//! Property tests: random (type, value) pairs survive both codecs, and the
//! decoders never panic on arbitrary or corrupted input.

use std::collections::BTreeMap;

use app_cty::{json, msgpack, Number, Type, Value};
use proptest::prelude::*;

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,6}",
        1 => "\\PC{0,4}",
    ]
}

/// Any type; `concrete` excludes a top-level `dynamic`.
fn arb_type(depth: u32, concrete: bool) -> BoxedStrategy<Type> {
    let mut leaves = vec![Just(Type::Bool).boxed(), Just(Type::Number).boxed(), Just(Type::String).boxed()];
    if !concrete {
        leaves.push(Just(Type::Dynamic).boxed());
    }
    let leaf = proptest::strategy::Union::new(leaves).boxed();
    if depth == 0 {
        return leaf;
    }
    let inner = || arb_type(depth - 1, false);
    prop_oneof![
        2 => leaf,
        1 => inner().prop_map(Type::list),
        1 => inner().prop_map(Type::set),
        1 => inner().prop_map(Type::map),
        1 => proptest::collection::btree_map(attr_name(), inner(), 0..4)
            .prop_flat_map(|attrs| {
                let names: Vec<String> = attrs.keys().cloned().collect();
                let n = names.len();
                (Just(attrs), proptest::sample::subsequence(names, 0..=n))
            })
            .prop_map(|(attrs, opt)| Type::Object { attrs, optional: opt.into_iter().collect() }),
        1 => proptest::collection::vec(inner(), 0..3).prop_map(Type::Tuple),
    ]
    .boxed()
}

fn arb_number(json: bool) -> BoxedStrategy<Number> {
    let floats = any::<f64>().prop_filter_map("NaN/Inf", move |f| if json && f.is_infinite() { None } else { Number::from_f64(f) });
    let decimal =
        ("-?[0-9]{1,40}", proptest::option::of("[0-9]{1,40}"), proptest::option::of(-400i32..400)).prop_map(|(int, frac, exp)| {
            let mut s = int;
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            if let Some(e) = exp {
                s.push_str(&format!("e{e}"));
            }
            Number::parse(&s).expect("generated decimal parses")
        });
    let special = prop_oneof![
        Just(Number::from_u64(1 << 63)),
        Just(Number::from_u64(u64::MAX)),
        Just(Number::from_i64(i64::MIN)),
        Just(Number::from_f64(0.1).expect("f")),
        Just(Number::parse("0.1").expect("d")),
        Just(Number::parse("12345678901234567890.5").expect("d")),
        Just(Number::parse("1e5000").expect("d")),
        Just(Number::parse("-3.25e-7000").expect("d")),
    ];
    let mut options = vec![
        any::<i64>().prop_map(Number::from_i64).boxed(),
        any::<u64>().prop_map(Number::from_u64).boxed(),
        floats.boxed(),
        decimal.boxed(),
        special.boxed(),
    ];
    if !json {
        options.push(Just(Number::parse("-Inf").expect("inf")).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

/// A value conforming to `ty`. Values in `dynamic` positions are `Null`,
/// `Unknown` or `Dynamic(concrete type, value)`.
fn arb_value(ty: &Type, unknowns: bool, json: bool, depth: u32) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Number => arb_number(json).prop_map(Value::Number).boxed(),
        Type::String => "\\PC{0,12}".prop_map(Value::String).boxed(),
        Type::List(e) => proptest::collection::vec(arb_value(e, unknowns, json, depth), 0..4).prop_map(Value::List).boxed(),
        Type::Set(e) => proptest::collection::vec(arb_value(e, unknowns, json, depth), 0..4).prop_map(Value::Set).boxed(),
        Type::Map(e) => {
            proptest::collection::btree_map(attr_name(), arb_value(e, unknowns, json, depth), 0..4).prop_map(Value::Map).boxed()
        }
        Type::Object { attrs, .. } => {
            let parts: Vec<(String, BoxedStrategy<Value>)> =
                attrs.iter().map(|(k, t)| (k.clone(), arb_value(t, unknowns, json, depth))).collect();
            let (names, strats): (Vec<String>, Vec<BoxedStrategy<Value>>) = parts.into_iter().unzip();
            strats.prop_map(move |vals| Value::Object(names.iter().cloned().zip(vals).collect::<BTreeMap<_, _>>())).boxed()
        }
        Type::Tuple(ts) => {
            let strats: Vec<BoxedStrategy<Value>> = ts.iter().map(|t| arb_value(t, unknowns, json, depth)).collect();
            strats.prop_map(Value::Tuple).boxed()
        }
        Type::Dynamic => {
            let d = depth.saturating_sub(1);
            arb_type(d, true)
                .prop_flat_map(move |t| {
                    arb_value(&t, unknowns, json, d).prop_map(move |v| Value::Dynamic(Box::new(t.clone()), Box::new(v)))
                })
                .boxed()
        }
    };
    let mut options = vec![(1, Just(Value::Null).boxed()), (6, known)];
    if unknowns {
        options.push((1, Just(Value::Unknown).boxed()));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

fn pair(unknowns: bool, json: bool) -> impl Strategy<Value = (Type, Value)> {
    arb_type(4, false).prop_flat_map(move |t| {
        let v = arb_value(&t, unknowns, json, 2);
        (Just(t), v)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn msgpack_roundtrip((ty, v) in pair(true, false)) {
        let bytes = msgpack::encode(&v, &ty).expect("encode");
        let back = msgpack::decode(&bytes, &ty).expect("decode");
        prop_assert_eq!(&back, &v);
        // Re-encoding is byte-stable.
        prop_assert_eq!(msgpack::encode(&back, &ty).expect("re-encode"), bytes);
    }

    #[test]
    fn json_roundtrip((ty, v) in pair(false, true)) {
        let bytes = json::encode(&v, &ty).expect("encode");
        let back = json::decode(&bytes, &ty).expect("decode");
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(json::encode(&back, &ty).expect("re-encode"), bytes);
    }

    #[test]
    fn type_json_roundtrip(ty in arb_type(4, false)) {
        let b = ty.to_json_bytes();
        prop_assert_eq!(Type::from_json_bytes(&b).expect("parse"), ty.clone());
        // serde_json does not HTML-escape like Go, so compare as JSON trees.
        let tree: serde_json::Value = serde_json::from_slice(&b).expect("valid JSON");
        prop_assert_eq!(&tree, &ty.to_json());
        prop_assert_eq!(Type::from_json(&tree).expect("from tree"), ty);
    }

    #[test]
    fn number_text_roundtrip(n in arb_number(false)) {
        // Display is exact except for float64 values, which print their
        // shortest round-tripping digits (like Go's Text('f', -1)).
        let back = Number::parse(&n.to_string()).expect("display text parses");
        prop_assert!(back == n || back.as_f64() == n.as_f64(), "{} vs {:?}", n, back);
        prop_assert_eq!(n.clone().cmp(&n), std::cmp::Ordering::Equal);
    }

    #[test]
    fn number_order_matches_f64(a in any::<f64>(), b in any::<f64>()) {
        if let (Some(x), Some(y)) = (Number::from_f64(a), Number::from_f64(b)) {
            prop_assert_eq!(Some(x.cmp(&y)), a.partial_cmp(&b));
            let dx = Number::parse(&format!("{a:e}")).expect("sci text");
            prop_assert_eq!(dx.as_f64(), a);
            let _ = x;
        }
    }

    #[test]
    fn decoders_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_input(&bytes, None);
    }

    #[test]
    fn decoders_never_panic_on_corrupted_input(
        (ty, v) in pair(true, false),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = msgpack::encode(&v, &ty).expect("encode");
        for (i, b) in &edits {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
        check_input(&bytes, Some(&ty));
        let cut_at = cut.index(bytes.len() + 1);
        let _ = msgpack::decode(&bytes[..cut_at], &ty);
        if v.is_wholly_known() {
            let mut text = json::encode(&v, &ty).unwrap_or_default();
            for (i, b) in &edits {
                if !text.is_empty() {
                    let at = i.index(text.len());
                    text[at] = *b;
                }
            }
            check_input(&text, Some(&ty));
        }
    }
}

/// What the fuzz target checks: no decoder panics, and anything that
/// decodes re-encodes to something that decodes to the same value.
fn check_input(bytes: &[u8], extra: Option<&Type>) {
    let _ = Type::from_json_bytes(bytes);
    let mut types = fixed_types();
    types.extend(extra.cloned());
    for ty in types {
        if let Ok(v) = msgpack::decode(bytes, &ty) {
            let enc = msgpack::encode(&v, &ty).expect("decoded value re-encodes");
            assert_eq!(msgpack::decode(&enc, &ty).expect("re-decodes"), v);
        }
        if let Ok(v) = json::decode(bytes, &ty) {
            match json::encode(&v, &ty) {
                Ok(enc) => assert_eq!(json::decode(&enc, &ty).expect("re-decodes"), v),
                Err(e) => assert!(e.to_string().contains("infinity"), "{e}"),
            }
        }
    }
}

fn fixed_types() -> Vec<Type> {
    vec![
        Type::Dynamic,
        Type::Number,
        Type::String,
        Type::list(Type::Dynamic),
        Type::object([
            ("id", Type::String),
            ("n", Type::Number),
            ("tags", Type::map(Type::String)),
            ("exec", Type::object([("create", Type::list(Type::String)), ("any", Type::Dynamic)])),
            ("t", Type::Tuple(vec![Type::Bool, Type::set(Type::Number)])),
        ]),
    ]
}

#[test]
fn dynamic_implied_type_roundtrip() {
    // A plain value written to a dynamic position comes back wrapped with its
    // implied type.
    let v = Value::Object(
        [
            ("a".to_string(), Value::List(vec![Value::from(1), Value::Null])),
            ("b".to_string(), Value::Tuple(vec![Value::from("x"), Value::from(true)])),
        ]
        .into(),
    );
    for codec in [0, 1] {
        let (bytes, back) = if codec == 0 {
            let b = msgpack::encode(&v, &Type::Dynamic).expect("encode");
            let back = msgpack::decode(&b, &Type::Dynamic).expect("decode");
            (b, back)
        } else {
            let b = json::encode(&v, &Type::Dynamic).expect("encode");
            let back = json::decode(&b, &Type::Dynamic).expect("decode");
            (b, back)
        };
        assert!(!bytes.is_empty());
        let want_ty = Type::object([("a", Type::list(Type::Number)), ("b", Type::Tuple(vec![Type::String, Type::Bool]))]);
        assert_eq!(back, Value::Dynamic(Box::new(want_ty), Box::new(v.clone())));
    }
}
