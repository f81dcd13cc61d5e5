//! Properties every declared block has: the schema and the struct agree, and no configuration
//! makes validation or the runner's reading panic.

use crate::arbitrary::{block_json, is_complete, sample};
use crate::catalog::every_block;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value as Json;

/// Schema → struct: a configuration with every schema field set is read by the struct (a field
/// only in the schema would be refused: the structs deny unknown fields); one with a field the
/// schema lacks is refused (a field only in the struct would be accepted by a lenient reader).
#[test]
fn schema_and_struct_agree_for_every_block() {
    let blocks = every_block();
    assert!(blocks.len() >= 10, "{} blocks", blocks.len());
    for block in blocks {
        let spec = (block.spec)();
        let full = sample(&spec);
        assert!(!(block.validate)(&full).iter().any(|e| e.summary == "Unsupported field"), "{}: {full}", block.place);
        (block.parse)(&full).unwrap_or_else(|e| panic!("{}: every schema field set: the struct refuses it: {e}\n{full}", block.place));
        let mut extra = full.clone();
        if let Some(map) = extra.as_object_mut() {
            map.insert("not_in_the_schema".into(), Json::Bool(true));
        }
        assert!((block.parse)(&extra).is_err(), "{}: a field the schema lacks must be refused", block.place);
        assert!(
            (block.validate)(&extra).iter().any(|e| e.path == ["not_in_the_schema"] && e.summary == "Unsupported field"),
            "{}: validation names the unknown field",
            block.place
        );
        for nested in &spec.blocks {
            let mut without = full.clone();
            if let Some(map) = without.as_object_mut() {
                if let Some(Json::Object(inner)) = map.get_mut(nested.name) {
                    inner.insert("not_in_the_schema".into(), Json::Bool(true));
                }
            }
            if without != full {
                assert!(
                    (block.parse)(&without).is_err(),
                    "{}.{}: a nested field the schema lacks must be refused",
                    block.place,
                    nested.name
                );
            }
        }
    }
}

/// Any configuration shaped like a block: validation never panics (overflow checks are on in
/// tests), and a complete configuration it accepts is one the runner can read.
#[test]
fn validation_never_panics_and_what_it_accepts_the_runner_reads() {
    for block in every_block() {
        let spec = (block.spec)();
        let mut runner = TestRunner::new(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() });
        let result = runner.run(&block_json(&spec), |json| {
            let errors = (block.validate)(&json);
            if is_complete(&spec, &json) && errors.is_empty() {
                let parsed = (block.parse)(&json);
                prop_assert!(parsed.is_ok(), "validation accepted {json} but the runner cannot read it: {:?}", parsed);
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{}: {e}", block.place);
        }
    }
}
