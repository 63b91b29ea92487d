//! DynamoDB Local in the `amazon/dynamodb-local` container (feature `docker`).
//!
//! Limitation: testcontainers removes a container when its handle is dropped, and the
//! [`shared`](super::DynamoDbLocal::shared) instance is a `static` that is never dropped, so a
//! shared container outlives the test process until Docker (or `docker rm`) removes it. The jar
//! backend has no such gap.

use testcontainers_modules::dynamodb_local::DynamoDb;
use testcontainers_modules::testcontainers::ContainerAsync;
use testcontainers_modules::testcontainers::core::IntoContainerPort;
use testcontainers_modules::testcontainers::runners::AsyncRunner;

use super::HarnessError;

/// The port DynamoDB Local listens on inside the container.
const CONTAINER_PORT: u16 = 8000;

/// A running container; dropping it removes the container.
#[derive(Debug)]
pub(super) struct Container {
    _container: ContainerAsync<DynamoDb>,
}

impl Container {
    /// Starts the container and returns it with its endpoint.
    pub(super) async fn start() -> Result<(Self, String), HarnessError> {
        let docker = |source: testcontainers_modules::testcontainers::TestcontainersError| {
            HarnessError::Docker {
                source: Box::new(source),
            }
        };
        let container = DynamoDb::default().start().await.map_err(docker)?;
        let host = container.get_host().await.map_err(docker)?;
        let port = container
            .get_host_port_ipv4(CONTAINER_PORT.tcp())
            .await
            .map_err(docker)?;
        Ok((
            Self {
                _container: container,
            },
            format!("http://{host}:{port}"),
        ))
    }
}
