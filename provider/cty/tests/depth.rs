//! Deeply nested input fits a default 2 MiB thread stack (Rust's and
//! tokio's default) in every codec, even in unoptimized builds (measured at
//! about 2 KiB per nesting level in debug, under 1 KiB in release), and
//! nesting beyond `MAX_DEPTH` is an error rather than a crash.

use app_cty::{json, msgpack, Type, Value, MAX_DEPTH};

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    let h = std::thread::Builder::new().stack_size(2 << 20).spawn(f).expect("spawn");
    assert!(h.join().is_ok(), "thread panicked or overflowed");
}

fn nested(n: usize) -> (Type, Value) {
    let mut ty = Type::String;
    let mut v = Value::from("leaf");
    for i in 0..n {
        if i % 2 == 0 {
            ty = Type::list(ty);
            v = Value::List(vec![v]);
        } else {
            ty = Type::object([("a", ty)]);
            v = Value::Object([("a".to_string(), v)].into());
        }
    }
    (ty, v)
}

#[test]
fn max_depth_roundtrips() {
    on_small_stack(|| {
        let (ty, v) = nested(MAX_DEPTH);
        let b = msgpack::encode(&v, &ty).expect("msgpack encode");
        assert_eq!(msgpack::decode(&b, &ty).expect("msgpack decode"), v);
        let j = json::encode(&v, &ty).expect("json encode");
        assert_eq!(json::decode(&j, &ty).expect("json decode"), v);
        let t = ty.to_json_bytes();
        let _ = Type::from_json_bytes(&t);
    });
}

#[test]
fn beyond_max_depth_is_an_error() {
    on_small_stack(|| {
        let (ty, v) = nested(MAX_DEPTH + 1);
        assert!(msgpack::encode(&v, &ty).is_err());
        assert!(json::encode(&v, &ty).is_err());
        let mut deep = vec![0x91u8; MAX_DEPTH * 4];
        deep.push(0xc0);
        let mut lt = Type::String;
        for _ in 0..MAX_DEPTH * 4 {
            lt = Type::list(lt);
        }
        assert!(msgpack::decode(&deep, &lt).is_err());
        let text = "[".repeat(100_000);
        assert!(json::decode(text.as_bytes(), &Type::Dynamic).is_err());
        assert!(Type::from_json_bytes(text.as_bytes()).is_err());
        let tj = "[\"list\",".repeat(10_000);
        assert!(Type::from_json_bytes(tj.as_bytes()).is_err());
        // Dynamic wrappers nest too.
        let mut chain = Vec::new();
        for _ in 0..10_000 {
            chain.extend_from_slice(b"\x92\xc4\x09\"dynamic\"");
        }
        chain.push(0xc0);
        assert!(msgpack::decode(&chain, &Type::Dynamic).is_err());
        let mut jchain = String::new();
        for _ in 0..10_000 {
            jchain.push_str(r#"{"type":"dynamic","value":"#);
        }
        assert!(json::decode(jchain.as_bytes(), &Type::Dynamic).is_err());
    });
}

#[test]
fn huge_claimed_lengths_do_not_allocate() {
    // array32 claiming 4 billion elements, map32 likewise, str32 likewise.
    let list = Type::list(Type::String);
    assert!(msgpack::decode(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0], &list).is_err());
    let map = Type::map(Type::String);
    assert!(msgpack::decode(&[0xdf, 0xff, 0xff, 0xff, 0xff], &map).is_err());
    assert!(msgpack::decode(&[0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], &Type::String).is_err());
    assert!(msgpack::decode(&[0xc9, 0xff, 0xff, 0xff, 0xff, 0x00], &Type::String).is_err());
}
