//! UpgradeResourceState through the protocol service: same-version states keep their values
//! (extra and missing keys tolerated), older versions go through the resource's upgrader.

use app_cty::{msgpack, Value};
use app_proto::tfplugin6 as pb;
use app_proto::tfplugin6::provider_server::Provider;
use std::sync::Arc;
use terraform_provider_app::framework::schema::{Attribute, Block, Schema};
use terraform_provider_app::framework::{ApplyResult, Ctx, Diagnostics, ReadResult, Resource};
use terraform_provider_app::tfplugin6::ProviderService;

/// Version 1 renamed `address` (version 0) to `url`.
struct Renamed;

#[async_trait::async_trait]
impl Resource for Renamed {
    fn type_name(&self) -> &'static str {
        "app_test"
    }
    fn schema(&self) -> Schema {
        Schema { version: 1, block: Block::new("test").attr(Attribute::string("id").computed()).attr(Attribute::string("url").optional()) }
    }
    fn upgrade_state(&self, from: i64, mut state: serde_json::Value) -> Result<serde_json::Value, String> {
        if from == 0 {
            let address = state.as_object_mut().and_then(|o| o.remove("address")).unwrap_or(serde_json::Value::Null);
            state["url"] = address;
        }
        Ok(state)
    }
    async fn create(&self, _: &Ctx, p: &Value, _: &Value) -> ApplyResult {
        ApplyResult { state: p.clone(), private: Vec::new(), diags: Diagnostics::new() }
    }
    async fn read(&self, _: &Ctx, s: &Value, _: &[u8]) -> ReadResult {
        ReadResult { state: s.clone(), private: Vec::new(), diags: Diagnostics::new() }
    }
    async fn update(&self, _: &Ctx, _: &Value, p: &Value, _: &Value, _: &[u8]) -> ApplyResult {
        ApplyResult { state: p.clone(), private: Vec::new(), diags: Diagnostics::new() }
    }
    async fn delete(&self, _: &Ctx, _: &Value, _: &[u8]) -> ApplyResult {
        ApplyResult { state: Value::Null, private: Vec::new(), diags: Diagnostics::new() }
    }
    async fn import(&self, _: &Ctx, _: &str) -> ReadResult {
        ReadResult { state: Value::Null, private: Vec::new(), diags: Diagnostics::new() }
    }
}

async fn upgrade(version: i64, json: &str) -> pb::upgrade_resource_state::Response {
    let service = ProviderService::new(vec![Arc::new(Renamed)]);
    let request = pb::upgrade_resource_state::Request {
        type_name: "app_test".into(),
        version,
        raw_state: Some(pb::RawState { json: json.as_bytes().to_vec(), flatmap: Default::default() }),
    };
    service.upgrade_resource_state(tonic::Request::new(request)).await.expect("rpc").into_inner()
}

fn decoded(response: &pb::upgrade_resource_state::Response) -> Value {
    let ty = Renamed.schema().value_type();
    let dv = response.upgraded_state.as_ref().expect("upgraded state");
    msgpack::decode(&dv.msgpack, &ty).expect("msgpack")
}

#[tokio::test]
async fn same_version_keeps_values_and_tolerates_extra_keys() {
    let response = upgrade(1, r#"{"id":"a","url":"http://x","removed_later":true}"#).await;
    assert!(response.diagnostics.is_empty(), "{:?}", response.diagnostics);
    let v = decoded(&response);
    assert_eq!(v.attr("url"), Some(&Value::string("http://x")));
    assert_eq!(v.attr("id"), Some(&Value::string("a")));
}

#[tokio::test]
async fn older_version_runs_the_upgrader() {
    let response = upgrade(0, r#"{"id":"a","address":"http://old"}"#).await;
    assert!(response.diagnostics.is_empty(), "{:?}", response.diagnostics);
    assert_eq!(decoded(&response).attr("url"), Some(&Value::string("http://old")));
}

#[tokio::test]
async fn newer_version_is_an_error_not_a_guess() {
    let response = upgrade(7, r#"{"id":"a"}"#).await;
    assert!(response.upgraded_state.is_none());
    assert!(response.diagnostics.iter().any(|d| d.detail.contains("newer version of the provider")));
}
