//! The generated client and server talk over a loopback connection: overridden methods
//! answer, the rest answer UNIMPLEMENTED (default stubs), streaming included.

use app_proto::tfplugin6 as tf;
use tf::provider_client::ProviderClient;
use tf::provider_server::{Provider, ProviderServer};
use tonic::codegen::BoxStream;
use tonic::{Code, Request, Response, Status};

struct Minimal;

#[tonic::async_trait]
impl Provider for Minimal {
    async fn get_provider_schema(
        &self,
        _request: Request<tf::get_provider_schema::Request>,
    ) -> Result<Response<tf::get_provider_schema::Response>, Status> {
        Ok(Response::new(tf::get_provider_schema::Response {
            provider: Some(tf::Schema { version: 0, block: Some(Default::default()) }),
            server_capabilities: Some(tf::ServerCapabilities { plan_destroy: true, ..Default::default() }),
            ..Default::default()
        }))
    }

    async fn invoke_action(
        &self,
        _request: Request<tf::invoke_action::Request>,
    ) -> Result<Response<BoxStream<tf::invoke_action::Event>>, Status> {
        use tf::invoke_action::event::{Completed, Type};
        let done = tf::invoke_action::Event { r#type: Some(Type::Completed(Completed { diagnostics: vec![] })) };
        Ok(Response::new(Box::pin(tokio_stream::iter([Ok(done)]))))
    }
}

#[tokio::test]
async fn client_and_server_interoperate() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tonic::transport::Server::builder().add_service(ProviderServer::new(Minimal)).serve_with_incoming_shutdown(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        async {
            let _ = stop_rx.await;
        },
    ));

    let mut client = ProviderClient::connect(format!("http://{addr}")).await.expect("connect");

    let schema = client.get_provider_schema(tf::get_provider_schema::Request {}).await.expect("GetProviderSchema").into_inner();
    assert!(schema.provider.is_some());
    assert!(schema.server_capabilities.expect("capabilities").plan_destroy);

    let mut events = client.invoke_action(tf::invoke_action::Request::default()).await.expect("InvokeAction").into_inner();
    let first = events.message().await.expect("stream").expect("one event");
    assert!(matches!(first.r#type, Some(tf::invoke_action::event::Type::Completed(_))));
    assert!(events.message().await.expect("stream end").is_none());

    let status = client.stop_provider(tf::stop_provider::Request {}).await.expect_err("StopProvider is not overridden");
    assert_eq!(status.code(), Code::Unimplemented);

    let status = client.list_resource(tf::list_resource::Request::default()).await.expect_err("ListResource is not overridden");
    assert_eq!(status.code(), Code::Unimplemented);

    let _ = stop_tx.send(());
    server.await.expect("server task").expect("server");
}
