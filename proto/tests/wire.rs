//! Interop-critical facts of the generated types, checked through their wire encoding:
//! a typo in a field number, a label or an enum value in a `.proto` file fails here.

use app_proto::{grpc_health_v1, plugin, tfplugin6 as tf};
use prost::Message;

/// Decodes the top-level keys of an encoded message: (field number, wire type) pairs.
fn keys(mut buf: &[u8]) -> Vec<(u32, u8)> {
    fn varint(buf: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = buf.split_first().expect("truncated varint");
            *buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
        }
        panic!("varint too long")
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf);
        let number = u32::try_from(key >> 3).expect("field number");
        let wire_type = (key & 7) as u8;
        match wire_type {
            0 => {
                varint(&mut buf);
            }
            1 => buf = &buf[8..],
            2 => {
                let len = usize::try_from(varint(&mut buf)).expect("length");
                buf = &buf[len..];
            }
            5 => buf = &buf[4..],
            other => panic!("unexpected wire type {other}"),
        }
        out.push((number, wire_type));
    }
    out
}

const VARINT: u8 = 0;
const LEN: u8 = 2;

/// Asserts that a message with exactly one field set encodes to that field's key.
macro_rules! field {
    ($msg:expr => $number:expr, $wire:expr) => {{
        let bytes = $msg.encode_to_vec();
        assert_eq!(keys(&bytes), vec![($number, $wire)], "{} should encode as field {} (wire type {})", stringify!($msg), $number, $wire);
    }};
}

fn dv() -> Option<tf::DynamicValue> {
    Some(tf::DynamicValue { msgpack: vec![0xc0], json: vec![] })
}
fn diag() -> Vec<tf::Diagnostic> {
    vec![tf::Diagnostic::default()]
}
fn schema() -> tf::Schema {
    tf::Schema { version: 1, block: None }
}
fn ident() -> Option<tf::ResourceIdentityData> {
    Some(tf::ResourceIdentityData { identity_data: dv() })
}
fn caps() -> Option<tf::ClientCapabilities> {
    Some(tf::ClientCapabilities { deferral_allowed: true, write_only_attributes_allowed: false })
}

#[test]
fn dynamic_value_exact_bytes() {
    let v = tf::DynamicValue { msgpack: vec![0xc0], json: b"{}".to_vec() };
    assert_eq!(v.encode_to_vec(), vec![0x0a, 1, 0xc0, 0x12, 2, b'{', b'}']);
    let back = tf::DynamicValue::decode(&[0x12u8, 4, b'n', b'u', b'l', b'l'][..]).expect("decode");
    assert_eq!(back.json, b"null");
    assert!(back.msgpack.is_empty());
}

#[test]
fn get_provider_schema_response() {
    use tf::get_provider_schema::Response as R;
    let map = |s: tf::Schema| [("x".to_string(), s)].into_iter().collect();
    field!(R { provider: Some(schema()), ..Default::default() } => 1, LEN);
    field!(R { resource_schemas: map(schema()), ..Default::default() } => 2, LEN);
    field!(R { data_source_schemas: map(schema()), ..Default::default() } => 3, LEN);
    field!(R { diagnostics: diag(), ..Default::default() } => 4, LEN);
    field!(R { provider_meta: Some(schema()), ..Default::default() } => 5, LEN);
    field!(R { server_capabilities: Some(tf::ServerCapabilities::default()), ..Default::default() } => 6, LEN);
    field!(R { functions: [("f".to_string(), tf::Function::default())].into_iter().collect(), ..Default::default() } => 7, LEN);
    field!(R { ephemeral_resource_schemas: map(schema()), ..Default::default() } => 8, LEN);
    field!(R { list_resource_schemas: map(schema()), ..Default::default() } => 9, LEN);
    field!(R { state_store_schemas: map(schema()), ..Default::default() } => 10, LEN);
    field!(R { action_schemas: [("a".to_string(), tf::ActionSchema::default())].into_iter().collect(), ..Default::default() } => 11, LEN);
}

#[test]
fn capabilities() {
    use tf::ServerCapabilities as S;
    field!(S { plan_destroy: true, ..Default::default() } => 1, VARINT);
    field!(S { get_provider_schema_optional: true, ..Default::default() } => 2, VARINT);
    field!(S { move_resource_state: true, ..Default::default() } => 3, VARINT);
    field!(S { generate_resource_config: true, ..Default::default() } => 4, VARINT);
    use tf::ClientCapabilities as C;
    field!(C { deferral_allowed: true, ..Default::default() } => 1, VARINT);
    field!(C { write_only_attributes_allowed: true, ..Default::default() } => 2, VARINT);
}

#[test]
fn schema_messages() {
    use tf::schema::{Attribute as A, Block as B, NestedBlock as N, Object as O};
    field!(tf::Schema { version: 3, block: None } => 1, VARINT);
    field!(tf::Schema { version: 0, block: Some(B::default()) } => 2, LEN);

    field!(B { version: 1, ..Default::default() } => 1, VARINT);
    field!(B { attributes: vec![A::default()], ..Default::default() } => 2, LEN);
    field!(B { block_types: vec![N::default()], ..Default::default() } => 3, LEN);
    field!(B { description: "d".into(), ..Default::default() } => 4, LEN);
    field!(B { description_kind: tf::StringKind::Markdown as i32, ..Default::default() } => 5, VARINT);
    field!(B { deprecated: true, ..Default::default() } => 6, VARINT);
    field!(B { deprecation_message: "m".into(), ..Default::default() } => 7, LEN);

    field!(A { name: "n".into(), ..Default::default() } => 1, LEN);
    field!(A { r#type: b"\"string\"".to_vec(), ..Default::default() } => 2, LEN);
    field!(A { description: "d".into(), ..Default::default() } => 3, LEN);
    field!(A { required: true, ..Default::default() } => 4, VARINT);
    field!(A { optional: true, ..Default::default() } => 5, VARINT);
    field!(A { computed: true, ..Default::default() } => 6, VARINT);
    field!(A { sensitive: true, ..Default::default() } => 7, VARINT);
    field!(A { description_kind: 1, ..Default::default() } => 8, VARINT);
    field!(A { deprecated: true, ..Default::default() } => 9, VARINT);
    field!(A { nested_type: Some(O::default()), ..Default::default() } => 10, LEN);
    field!(A { write_only: true, ..Default::default() } => 11, VARINT);
    field!(A { deprecation_message: "m".into(), ..Default::default() } => 12, LEN);

    field!(N { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(N { block: Some(B::default()), ..Default::default() } => 2, LEN);
    field!(N { nesting: 1, ..Default::default() } => 3, VARINT);
    field!(N { min_items: 1, ..Default::default() } => 4, VARINT);
    field!(N { max_items: 1, ..Default::default() } => 5, VARINT);

    field!(O { attributes: vec![A::default()], ..Default::default() } => 1, LEN);
    field!(O { nesting: 1, ..Default::default() } => 3, VARINT);

    use tf::schema::nested_block::NestingMode as NB;
    let modes = [NB::Invalid, NB::Single, NB::List, NB::Set, NB::Map, NB::Group];
    assert_eq!(modes.map(|m| m as i32), [0, 1, 2, 3, 4, 5]);
    assert_eq!(NB::Group.as_str_name(), "GROUP");
    use tf::schema::object::NestingMode as OB;
    let modes = [OB::Invalid, OB::Single, OB::List, OB::Set, OB::Map];
    assert_eq!(modes.map(|m| m as i32), [0, 1, 2, 3, 4]);
    assert_eq!([tf::StringKind::Plain as i32, tf::StringKind::Markdown as i32], [0, 1]);
}

#[test]
fn diagnostics_and_paths() {
    use tf::diagnostic::Severity;
    use tf::Diagnostic as D;
    assert_eq!([Severity::Invalid as i32, Severity::Error as i32, Severity::Warning as i32], [0, 1, 2]);
    field!(D { severity: Severity::Error as i32, ..Default::default() } => 1, VARINT);
    field!(D { summary: "s".into(), ..Default::default() } => 2, LEN);
    field!(D { detail: "d".into(), ..Default::default() } => 3, LEN);
    field!(D { attribute: Some(tf::AttributePath::default()), ..Default::default() } => 4, LEN);

    use tf::attribute_path::{step::Selector, Step};
    field!(tf::AttributePath { steps: vec![Step::default()] } => 1, LEN);
    field!(Step { selector: Some(Selector::AttributeName("a".into())) } => 1, LEN);
    field!(Step { selector: Some(Selector::ElementKeyString("k".into())) } => 2, LEN);
    field!(Step { selector: Some(Selector::ElementKeyInt(0)) } => 3, VARINT);

    field!(tf::stop_provider::Response { error: "e".into() } => 1, LEN);
    field!(tf::RawState { json: b"{}".to_vec(), flatmap: Default::default() } => 1, LEN);
    field!(tf::RawState { json: vec![], flatmap: [("a".into(), "b".into())].into_iter().collect() } => 2, LEN);

    use tf::deferred::Reason;
    let reasons = [Reason::Unknown, Reason::ResourceConfigUnknown, Reason::ProviderConfigUnknown, Reason::AbsentPrereq];
    assert_eq!(reasons.map(|r| r as i32), [0, 1, 2, 3]);
}

#[test]
fn resource_lifecycle() {
    use tf::validate_provider_config as vp;
    field!(vp::Request { config: dv() } => 1, LEN);
    field!(vp::Response { diagnostics: diag() } => 2, LEN);

    use tf::configure_provider as cp;
    field!(cp::Request { terraform_version: "1".into(), ..Default::default() } => 1, LEN);
    field!(cp::Request { config: dv(), ..Default::default() } => 2, LEN);
    field!(cp::Request { client_capabilities: caps(), ..Default::default() } => 3, LEN);
    field!(cp::Response { diagnostics: diag() } => 1, LEN);

    use tf::validate_resource_config as vr;
    field!(vr::Request { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(vr::Request { config: dv(), ..Default::default() } => 2, LEN);
    field!(vr::Request { client_capabilities: caps(), ..Default::default() } => 3, LEN);
    field!(vr::Response { diagnostics: diag() } => 1, LEN);

    use tf::upgrade_resource_state as up;
    field!(up::Request { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(up::Request { version: 1, ..Default::default() } => 2, VARINT);
    field!(up::Request { raw_state: Some(tf::RawState::default()), ..Default::default() } => 3, LEN);
    field!(up::Response { upgraded_state: dv(), ..Default::default() } => 1, LEN);
    field!(up::Response { diagnostics: diag(), ..Default::default() } => 2, LEN);

    use tf::read_resource as rr;
    field!(rr::Request { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(rr::Request { current_state: dv(), ..Default::default() } => 2, LEN);
    field!(rr::Request { private: vec![1], ..Default::default() } => 3, LEN);
    field!(rr::Request { provider_meta: dv(), ..Default::default() } => 4, LEN);
    field!(rr::Request { client_capabilities: caps(), ..Default::default() } => 5, LEN);
    field!(rr::Request { current_identity: ident(), ..Default::default() } => 6, LEN);
    field!(rr::Response { new_state: dv(), ..Default::default() } => 1, LEN);
    field!(rr::Response { diagnostics: diag(), ..Default::default() } => 2, LEN);
    field!(rr::Response { private: vec![1], ..Default::default() } => 3, LEN);
    field!(rr::Response { deferred: Some(tf::Deferred::default()), ..Default::default() } => 4, LEN);
    field!(rr::Response { new_identity: ident(), ..Default::default() } => 5, LEN);

    use tf::plan_resource_change as pr;
    field!(pr::Request { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(pr::Request { prior_state: dv(), ..Default::default() } => 2, LEN);
    field!(pr::Request { proposed_new_state: dv(), ..Default::default() } => 3, LEN);
    field!(pr::Request { config: dv(), ..Default::default() } => 4, LEN);
    field!(pr::Request { prior_private: vec![1], ..Default::default() } => 5, LEN);
    field!(pr::Request { provider_meta: dv(), ..Default::default() } => 6, LEN);
    field!(pr::Request { client_capabilities: caps(), ..Default::default() } => 7, LEN);
    field!(pr::Request { prior_identity: ident(), ..Default::default() } => 8, LEN);
    field!(pr::Response { planned_state: dv(), ..Default::default() } => 1, LEN);
    field!(pr::Response { requires_replace: vec![tf::AttributePath::default()], ..Default::default() } => 2, LEN);
    field!(pr::Response { planned_private: vec![1], ..Default::default() } => 3, LEN);
    field!(pr::Response { diagnostics: diag(), ..Default::default() } => 4, LEN);
    field!(pr::Response { legacy_type_system: true, ..Default::default() } => 5, VARINT);
    field!(pr::Response { deferred: Some(tf::Deferred::default()), ..Default::default() } => 6, LEN);
    field!(pr::Response { planned_identity: ident(), ..Default::default() } => 7, LEN);

    use tf::apply_resource_change as ar;
    field!(ar::Request { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(ar::Request { prior_state: dv(), ..Default::default() } => 2, LEN);
    field!(ar::Request { planned_state: dv(), ..Default::default() } => 3, LEN);
    field!(ar::Request { config: dv(), ..Default::default() } => 4, LEN);
    field!(ar::Request { planned_private: vec![1], ..Default::default() } => 5, LEN);
    field!(ar::Request { provider_meta: dv(), ..Default::default() } => 6, LEN);
    field!(ar::Request { planned_identity: ident(), ..Default::default() } => 7, LEN);
    field!(ar::Response { new_state: dv(), ..Default::default() } => 1, LEN);
    field!(ar::Response { private: vec![1], ..Default::default() } => 2, LEN);
    field!(ar::Response { diagnostics: diag(), ..Default::default() } => 3, LEN);
    field!(ar::Response { legacy_type_system: true, ..Default::default() } => 4, VARINT);
    field!(ar::Response { new_identity: ident(), ..Default::default() } => 5, LEN);

    use tf::import_resource_state as ir;
    field!(ir::Request { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(ir::Request { id: "i".into(), ..Default::default() } => 2, LEN);
    field!(ir::Request { client_capabilities: caps(), ..Default::default() } => 3, LEN);
    field!(ir::Request { identity: ident(), ..Default::default() } => 4, LEN);
    field!(ir::ImportedResource { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(ir::ImportedResource { state: dv(), ..Default::default() } => 2, LEN);
    field!(ir::ImportedResource { private: vec![1], ..Default::default() } => 3, LEN);
    field!(ir::ImportedResource { identity: ident(), ..Default::default() } => 4, LEN);
    field!(ir::Response { imported_resources: vec![Default::default()], ..Default::default() } => 1, LEN);
    field!(ir::Response { diagnostics: diag(), ..Default::default() } => 2, LEN);
    field!(ir::Response { deferred: Some(tf::Deferred::default()), ..Default::default() } => 3, LEN);

    use tf::read_data_source as rd;
    field!(rd::Request { type_name: "t".into(), ..Default::default() } => 1, LEN);
    field!(rd::Request { config: dv(), ..Default::default() } => 2, LEN);
    field!(rd::Request { provider_meta: dv(), ..Default::default() } => 3, LEN);
    field!(rd::Request { client_capabilities: caps(), ..Default::default() } => 4, LEN);
    field!(rd::Response { state: dv(), ..Default::default() } => 1, LEN);
    field!(rd::Response { diagnostics: diag(), ..Default::default() } => 2, LEN);
    field!(rd::Response { deferred: Some(tf::Deferred::default()), ..Default::default() } => 3, LEN);
}

#[test]
fn proto3_optional_fields_are_options() {
    // Explicit presence: an empty `private` is still sent when set.
    let r = tf::close_ephemeral_resource::Request { type_name: String::new(), private: Some(vec![]) };
    assert_eq!(r.encode_to_vec(), vec![0x12, 0]);
    let f = tf::FunctionError { text: String::new(), function_argument: Some(0) };
    assert_eq!(f.encode_to_vec(), vec![0x10, 0]);
}

#[test]
fn go_plugin_and_health() {
    use plugin::stdio_data::Channel;
    assert_eq!([Channel::Invalid as i32, Channel::Stdout as i32, Channel::Stderr as i32], [0, 1, 2]);
    field!(plugin::StdioData { channel: 1, data: vec![] } => 1, VARINT);
    field!(plugin::StdioData { channel: 0, data: vec![1] } => 2, LEN);
    assert!(plugin::Empty {}.encode_to_vec().is_empty());

    use grpc_health_v1::health_check_response::ServingStatus as S;
    let all = [S::Unknown, S::Serving, S::NotServing, S::ServiceUnknown];
    assert_eq!(all.map(|s| s as i32), [0, 1, 2, 3]);
    field!(grpc_health_v1::HealthCheckRequest { service: "plugin".into() } => 1, LEN);
    field!(grpc_health_v1::HealthCheckResponse { status: 1 } => 1, VARINT);
}

#[test]
fn service_names() {
    use tonic::server::NamedService;
    assert_eq!(tf::provider_server::SERVICE_NAME, "tfplugin6.Provider");
    assert_eq!(plugin::grpc_controller_server::SERVICE_NAME, "plugin.GRPCController");
    assert_eq!(plugin::grpc_stdio_server::SERVICE_NAME, "plugin.GRPCStdio");
    assert_eq!(grpc_health_v1::health_server::SERVICE_NAME, "grpc.health.v1.Health");
    assert_eq!(app_proto::runner::runner_server::SERVICE_NAME, "apprunner.v1.Runner");

    struct P;
    impl tf::provider_server::Provider for P {}
    assert_eq!(<tf::provider_server::ProviderServer<P> as NamedService>::NAME, "tfplugin6.Provider");
}
