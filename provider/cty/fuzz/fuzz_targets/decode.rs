//! Feeds arbitrary bytes to every decoder: none may panic, and whatever
//! decodes must re-encode and decode to the same value.
#![no_main]

use app_cty::{json, msgpack, Type};
use libfuzzer_sys::fuzz_target;

fn types() -> Vec<Type> {
    vec![
        Type::Dynamic,
        Type::Number,
        Type::String,
        Type::list(Type::Dynamic),
        Type::map(Type::set(Type::Number)),
        Type::object([
            ("id", Type::String),
            ("n", Type::Number),
            ("tags", Type::map(Type::String)),
            (
                "exec",
                Type::object([
                    ("create", Type::list(Type::String)),
                    ("env", Type::Dynamic),
                    ("t", Type::Tuple(vec![Type::Bool, Type::Number])),
                ]),
            ),
        ]),
    ]
}

fuzz_target!(|data: &[u8]| {
    let _ = Type::from_json_bytes(data);
    for ty in types() {
        if let Ok(v) = msgpack::decode(data, &ty) {
            let enc = msgpack::encode(&v, &ty).expect("decoded value re-encodes");
            let back = msgpack::decode(&enc, &ty).expect("re-encoded value decodes");
            assert_eq!(back, v, "msgpack round trip");
        }
        if let Ok(v) = json::decode(data, &ty) {
            match json::encode(&v, &ty) {
                Ok(enc) => {
                    let back = json::decode(&enc, &ty).expect("re-encoded value decodes");
                    assert_eq!(back, v, "json round trip");
                }
                // A string such as "Inf" decodes to a number JSON cannot hold.
                Err(e) => assert!(e.to_string().contains("infinity"), "{e}"),
            }
        }
    }
});
