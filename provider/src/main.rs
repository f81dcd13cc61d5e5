//! The provider binary: glue between the process and the library.

use std::sync::Arc;
use terraform_provider_app::plugin::{self, ServeOptions};
use terraform_provider_app::tfplugin6::ProviderService;
use terraform_provider_app::{resources, PROVIDER_ADDRESS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "version") {
        println!("terraform-provider-app {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let debug = args.iter().any(|a| a == "--debug");
    if let Some(unknown) = args.iter().find(|a| *a != "--debug") {
        eprintln!("terraform-provider-app: unknown argument {unknown:?}; the only options are --debug and --version");
        std::process::exit(2);
    }
    app_log::init("provider", app_log::level_from_env());
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terraform-provider-app: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let service = Arc::new(ProviderService::new(resources::all()));
    let for_exit = service.clone();
    let on_exit: plugin::ExitHook = Arc::new(move || {
        let service = for_exit.clone();
        Box::pin(async move { service.shutdown().await })
    });
    let options = ServeOptions { debug, provider_address: PROVIDER_ADDRESS, on_exit };
    let result = runtime.block_on(plugin::serve(service.clone(), options));
    runtime.block_on(service.shutdown());
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
    // Leave at once: running jobs were told to stop; the runner exits when our pipes close.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
}
