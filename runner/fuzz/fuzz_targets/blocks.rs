//! Feeds arbitrary JSON to the validation of every declared block: none may panic (overflow checks
//! are on under cargo fuzz), and a block it accepts with every field known builds its engine and API
//! requests in the runner (`app_runner::platforms::dry_run`).
#![no_main]

use app_spec::catalog::every_block;
use libfuzzer_sys::fuzz_target;

/// No null anywhere: what Terraform sends at apply time, when nothing is unknown.
fn wholly_known(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Array(items) => items.iter().all(wholly_known),
        serde_json::Value::Object(map) => map.values().all(wholly_known),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for block in every_block() {
        let errors = (block.validate)(&json);
        let spec = (block.spec)();
        let complete = json.as_object().is_some_and(|o| spec.names().iter().all(|n| o.get(*n).is_some_and(wholly_known)));
        if complete && errors.is_empty() {
            if let Err(e) = app_runner::platforms::dry_run::requests(&block.place, &json) {
                panic!("{}: validation accepted {json} but {e}", block.place);
            }
        }
    }
});
