//! `tfplugin6.Provider`: the RPCs Terraform calls. Everything not implemented here answers
//! UNIMPLEMENTED (the generated trait's default) and is never advertised in the schema.

use super::convert;
use crate::config;
use crate::framework::plan::{self, unknowns_to_null};
use crate::framework::resource::PlanRequest;
use crate::framework::{timeouts, Ctx, Diagnostics, Resource, Schema};
use crate::runner::{Runner, RunnerSettings};
use app_cty::Type;
use app_proto::tfplugin6 as pb;
use app_proto::tfplugin6::provider_server::Provider;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

struct Registered {
    resource: Arc<dyn Resource>,
    schema: Schema,
    ty: Type,
}

pub struct ProviderService {
    resources: BTreeMap<&'static str, Registered>,
    provider_type: Type,
    /// Answered from a static value: Terraform asks for it in every one of its provider processes.
    schema_response: pb::get_provider_schema::Response,
    ctx: RwLock<Option<Ctx>>,
    stop: watch::Sender<bool>,
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

impl ProviderService {
    pub fn new(resources: Vec<Arc<dyn Resource>>) -> Self {
        let provider_schema = config::schema();
        let resources: BTreeMap<_, _> = resources
            .into_iter()
            .map(|r| {
                let schema = r.schema();
                let ty = schema.value_type();
                (r.type_name(), Registered { resource: r, schema, ty })
            })
            .collect();
        let schema_response = pb::get_provider_schema::Response {
            provider: Some(convert::schema(&provider_schema)),
            resource_schemas: resources.iter().map(|(name, r)| (name.to_string(), convert::schema(&r.schema))).collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        };
        let (stop, _) = watch::channel(false);
        Self { provider_type: provider_schema.value_type(), resources, schema_response, ctx: RwLock::new(None), stop }
    }

    /// Stops the runner this process started (at Shutdown).
    pub async fn shutdown(&self) {
        let ctx = self.ctx.read().ok().and_then(|g| g.clone());
        if let Some(ctx) = ctx {
            ctx.runner.shutdown().await;
        }
        app_log::log_exit();
    }

    fn resource(&self, type_name: &str) -> Result<&Registered, Status> {
        self.resources.get(type_name).ok_or_else(|| Status::not_found(format!("this provider has no resource type {type_name:?}")))
    }

    /// The configured context; before ConfigureProvider (never expected), defaults.
    fn ctx(&self) -> Ctx {
        if let Some(ctx) = self.ctx.read().ok().and_then(|g| g.clone()) {
            return ctx;
        }
        let mut guard = self.ctx.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard
            .get_or_insert_with(|| Ctx {
                runner: Arc::new(Runner::new(RunnerSettings::default())),
                stop: self.stop.subscribe(),
                engine: Default::default(),
                aws: Default::default(),
            })
            .clone()
    }
}

fn ok<T>(t: T) -> Result<Response<T>, Status> {
    Ok(Response::new(t))
}

#[tonic::async_trait]
impl Provider for ProviderService {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Result<Response<pb::get_metadata::Response>, Status> {
        ok(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: self.resources.keys().map(|name| pb::get_metadata::ResourceMetadata { type_name: name.to_string() }).collect(),
            ..Default::default()
        })
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        ok(self.schema_response.clone())
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        // No resource declares an identity yet.
        ok(pb::get_resource_identity_schemas::Response::default())
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let mut diags = Diagnostics::new();
        if let Some(cfg) = convert::decode(request.get_ref().config.as_ref(), &self.provider_type, "provider configuration", &mut diags) {
            config::validate(&cfg, &mut diags);
        }
        ok(pb::validate_provider_config::Response { diagnostics: convert::diagnostics(&diags) })
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let mut diags = Diagnostics::new();
        let request = request.into_inner();
        tracing::debug!(terraform_version = %request.terraform_version, "configuring the provider");
        if let Some(cfg) = convert::decode(request.config.as_ref(), &self.provider_type, "provider configuration", &mut diags) {
            config::validate(&cfg, &mut diags);
            if !cfg.is_wholly_known() {
                diags.error(
                    "Provider configuration depends on values not known yet",
                    "`runner_path`, `runner_env` and the `docker` and `aws` blocks must be known at plan time; use values that do not depend on resources created in the same apply.",
                );
            }
            if !diags.has_errors() {
                let ctx = Ctx {
                    runner: Arc::new(Runner::new(config::settings(&cfg))),
                    stop: self.stop.subscribe(),
                    engine: config::engine(&cfg),
                    aws: config::aws(&cfg),
                };
                if let Ok(mut guard) = self.ctx.write() {
                    *guard = Some(ctx);
                }
            }
        }
        ok(pb::configure_provider::Response { diagnostics: convert::diagnostics(&diags) })
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let request = request.into_inner();
        let r = self.resource(&request.type_name)?;
        let mut diags = Diagnostics::new();
        if let Some(cfg) = convert::decode(request.config.as_ref(), &r.ty, "resource configuration", &mut diags) {
            timeouts::validate(&cfg, &mut diags);
            r.resource.validate(&cfg, &mut diags);
            let write_only_allowed = request.client_capabilities.as_ref().is_some_and(|c| c.write_only_attributes_allowed);
            if !write_only_allowed {
                write_only_unsupported(&r.schema, &cfg, &mut diags);
            }
        }
        ok(pb::validate_resource_config::Response { diagnostics: convert::diagnostics(&diags) })
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let request = request.into_inner();
        let r = self.resource(&request.type_name)?;
        let mut diags = Diagnostics::new();
        let raw = request.raw_state.unwrap_or_default();
        if raw.json.is_empty() {
            if !raw.flatmap.is_empty() {
                diags.error("Unsupported state format", "This state was written in the flatmap format of Terraform 0.11, which this provider never used. Remove the resource from state and import it.");
            }
            return ok(pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: convert::diagnostics(&diags) });
        }
        let upgraded = if request.version == r.schema.version {
            Ok(raw.json)
        } else if request.version > r.schema.version {
            Err(format!(
                "The state was written by a newer version of the provider (schema version {}, this one knows up to {}). Upgrade the provider.",
                request.version, r.schema.version
            ))
        } else {
            serde_json::from_slice::<serde_json::Value>(&raw.json)
                .map_err(|e| format!("stored state is not JSON: {e}"))
                .and_then(|json| r.resource.upgrade_state(request.version, json))
                .and_then(|json| serde_json::to_vec(&json).map_err(|e| e.to_string()))
        };
        let state = match upgraded {
            Ok(json) => match app_cty::json::decode(&json, &r.ty) {
                Ok(v) => Some(v),
                Err(e) => {
                    diags.error("Could not upgrade the stored state", format!("{e}"));
                    None
                }
            },
            Err(e) => {
                diags.error("Could not upgrade the stored state", e);
                None
            }
        };
        let upgraded_state = state.and_then(|s| convert::encode(&s, &r.ty, "upgraded state", &mut diags));
        ok(pb::upgrade_resource_state::Response { upgraded_state, diagnostics: convert::diagnostics(&diags) })
    }

    async fn read_resource(&self, request: Request<pb::read_resource::Request>) -> Result<Response<pb::read_resource::Response>, Status> {
        let request = request.into_inner();
        let r = self.resource(&request.type_name)?;
        let mut diags = Diagnostics::new();
        let Some(current) = convert::decode(request.current_state.as_ref(), &r.ty, "current state", &mut diags) else {
            return ok(pb::read_resource::Response { diagnostics: convert::diagnostics(&diags), ..Default::default() });
        };
        if current.is_null() {
            return ok(pb::read_resource::Response { new_state: request.current_state, private: request.private, ..Default::default() });
        }
        let ctx = self.ctx();
        let result = r.resource.read(&ctx, &current, &request.private).await;
        diags.extend(result.diags);
        // On a failed read keep what Terraform has: never lose state because a check failed.
        let (state, private) =
            if diags.has_errors() { (current, request.private) } else { (unknowns_to_null(&result.state), result.private) };
        let new_state = convert::encode(&state, &r.ty, "refreshed state", &mut diags);
        ok(pb::read_resource::Response { new_state, diagnostics: convert::diagnostics(&diags), private, ..Default::default() })
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let request = request.into_inner();
        let r = self.resource(&request.type_name)?;
        let mut diags = Diagnostics::new();
        let decoded = (
            convert::decode(request.prior_state.as_ref(), &r.ty, "prior state", &mut diags),
            convert::decode(request.proposed_new_state.as_ref(), &r.ty, "proposed new state", &mut diags),
            convert::decode(request.config.as_ref(), &r.ty, "configuration", &mut diags),
        );
        let (Some(prior), Some(proposed), Some(config)) = decoded else {
            return ok(pb::plan_resource_change::Response { diagnostics: convert::diagnostics(&diags), ..Default::default() });
        };
        if proposed.is_null() {
            // Destroy: nothing to plan.
            return ok(pb::plan_resource_change::Response {
                planned_state: request.proposed_new_state,
                planned_private: request.prior_private,
                ..Default::default()
            });
        }
        let mut planned = plan::plan(&r.schema, &prior, &proposed, &config);
        let ctx = self.ctx();
        r.resource
            .modify_plan(
                &ctx,
                PlanRequest { prior: &prior, config: &config, prior_private: &request.prior_private },
                &mut planned,
                &mut diags,
            )
            .await;
        let planned_state = convert::encode(&planned.state, &r.ty, "planned state", &mut diags);
        ok(pb::plan_resource_change::Response {
            planned_state,
            requires_replace: planned.requires_replace.iter().map(convert::path).collect(),
            planned_private: request.prior_private,
            diagnostics: convert::diagnostics(&diags),
            ..Default::default()
        })
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let request = request.into_inner();
        let r = self.resource(&request.type_name)?;
        let mut diags = Diagnostics::new();
        let decoded = (
            convert::decode(request.prior_state.as_ref(), &r.ty, "prior state", &mut diags),
            convert::decode(request.planned_state.as_ref(), &r.ty, "planned state", &mut diags),
            convert::decode(request.config.as_ref(), &r.ty, "configuration", &mut diags),
        );
        let (Some(prior), Some(planned), Some(config)) = decoded else {
            return ok(pb::apply_resource_change::Response {
                new_state: request.prior_state,
                diagnostics: convert::diagnostics(&diags),
                ..Default::default()
            });
        };
        let ctx = self.ctx();
        let private = request.planned_private;
        let result = if planned.is_null() {
            r.resource.delete(&ctx, &prior, &private).await
        } else if prior.is_null() {
            r.resource.create(&ctx, &planned, &config).await
        } else {
            r.resource.update(&ctx, &prior, &planned, &config, &private).await
        };
        diags.extend(result.diags);
        let state = if diags.has_errors() { unknowns_to_null(&result.state) } else { result.state };
        let new_state = convert::encode(&state, &r.ty, "new state", &mut diags);
        ok(pb::apply_resource_change::Response {
            new_state,
            private: result.private,
            diagnostics: convert::diagnostics(&diags),
            ..Default::default()
        })
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let request = request.into_inner();
        let r = self.resource(&request.type_name)?;
        let mut diags = Diagnostics::new();
        let ctx = self.ctx();
        let result = r.resource.import(&ctx, &request.id).await;
        diags.extend(result.diags);
        let mut imported_resources = Vec::new();
        if !diags.has_errors() && !result.state.is_null() {
            if let Some(state) = convert::encode(&unknowns_to_null(&result.state), &r.ty, "imported state", &mut diags) {
                imported_resources.push(pb::import_resource_state::ImportedResource {
                    type_name: request.type_name.clone(),
                    state: Some(state),
                    private: result.private,
                    identity: None,
                });
            }
        }
        ok(pb::import_resource_state::Response { imported_resources, diagnostics: convert::diagnostics(&diags), deferred: None })
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::warn!("Terraform asked the provider to stop: cancelling running jobs");
        let _ = self.stop.send(true);
        ok(pb::stop_provider::Response { error: String::new() })
    }
}

/// Terraform before 1.11 does not know write-only attributes: it would keep the value in plan and
/// state, and reject the provider's plan ("Provider produced invalid plan"). Say so up front.
fn write_only_unsupported(schema: &crate::framework::Schema, config: &app_cty::Value, diags: &mut Diagnostics) {
    let mut set = Vec::new();
    crate::framework::schema::write_only_values_set(&schema.block, config, &crate::framework::AttrPath::root(), &mut set);
    for path in set {
        diags.error_at(
            path.clone(),
            "Write-only attribute needs Terraform 1.11 or later",
            format!(
                "`{path}` is write-only: its value is used by the apply and never stored in plan or state, which this Terraform \
(older than 1.11) cannot do. Upgrade Terraform to 1.11 or later (or OpenTofu 1.11), or leave `{path}` unset and pass \
the value another way, e.g. as a sensitive variable in `env` (it is then stored in state)."
            ),
        );
    }
}
