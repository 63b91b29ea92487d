//! Tests of crm-testkit's secrets module: the harness runs a real moto server that answers
//! Secrets Manager, keeps tests apart by namespace, stops on drop, and fails loudly when it
//! cannot start.

use std::time::{Duration, Instant};

use crm_testkit::secrets::{MotoError, MotoServer};

async fn current_value(moto: &MotoServer, id: &str) -> String {
    moto.client()
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string()
        .expect("a string secret")
        .to_owned()
}

#[tokio::test]
async fn moto_answers_secrets_manager_and_a_new_value_replaces_the_old() {
    let moto = MotoServer::shared().await.expect("moto server");
    let ns = moto.new_namespace();
    assert!(ns.starts_with("/t-") && ns.ends_with('/'), "{ns}");
    assert_ne!(ns, moto.new_namespace());
    let id = format!("{ns}aws-connection");
    moto.create_secret(&id, r#"{"aws-api-key": "one"}"#)
        .await
        .unwrap();
    assert_eq!(current_value(moto, &id).await, r#"{"aws-api-key": "one"}"#);
    moto.put_secret_value(&id, r#"{"aws-api-key": "two"}"#)
        .await
        .unwrap();
    assert_eq!(current_value(moto, &id).await, r#"{"aws-api-key": "two"}"#);
    // Another namespace does not see it.
    let other = format!("{}aws-connection", moto.new_namespace());
    let err = moto
        .client()
        .get_secret_value()
        .secret_id(&other)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_dropped_server_stops() {
    let moto = MotoServer::start().await.expect("moto server");
    let address = moto.endpoint().trim_start_matches("http://").to_owned();
    assert!(std::net::TcpStream::connect(&address).is_ok());
    drop(moto);
    let started = Instant::now();
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "moto still answers at {address} after the drop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_server_that_cannot_start_is_an_error_naming_why() {
    let err = MotoServer::start_bin("/nonexistent/moto_server", Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, MotoError::Exited { .. }), "{err:?}");
    assert!(err.to_string().contains("moto_server exited"), "{err}");
}
