//! What the runner builds from a block the provider validated never panics: arbitrary
//! configurations shaped like every declared block (app_spec's `arbitrary`), validated as the
//! provider does, then turned into engine and API requests ([`super::dry_run`]).

use app_spec::arbitrary::{block_json, is_complete};
use app_spec::catalog::every_block;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value as Json;

#[test]
fn every_accepted_block_builds_its_requests() {
    for block in every_block() {
        let spec = (block.spec)();
        let mut runner = TestRunner::new(Config { cases: 512, failure_persistence: None, ..Config::default() });
        runner
            .run(&block_json(&spec), |json: Json| {
                if is_complete(&spec, &json) && (block.validate)(&json).is_empty() {
                    super::dry_run::requests(&block.place, &json)
                        .map_err(|e| TestCaseError::fail(format!("{}: accepted {json} but {e}", block.place)))?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
