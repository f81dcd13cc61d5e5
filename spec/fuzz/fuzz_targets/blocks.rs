//! Feeds arbitrary JSON to the validation of every declared block: none may panic (overflow checks
//! are on under cargo fuzz), and a block it accepts with no unknowns is one the runner can read.
#![no_main]

use app_spec::catalog::every_block;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for block in every_block() {
        let errors = (block.validate)(&json);
        // Everything set and known (no nulls anywhere): validation's verdict must hold for the runner.
        let complete = json.as_object().is_some_and(|o| {
            let spec = (block.spec)();
            spec.fields.iter().all(|f| o.get(f.name).is_some_and(|v| !v.to_string().contains("null")))
                && spec.blocks.iter().all(|b| o.get(b.name).is_some_and(|v| !v.to_string().contains("null")))
        });
        if complete && errors.is_empty() {
            if let Err(e) = (block.parse)(&json) {
                panic!("{}: validation accepted {json} but the runner cannot read it: {e}", block.place);
            }
        }
    }
});
