//! The outbound address policy against real local servers: a base URL whose
//! address the site does not allow is refused before any connection (by IP
//! literal and, through the resolver, by host name); allowed addresses work;
//! a metadata address is refused at once, also as a discovered token URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rounds_fhir::{
    AuthConfig, ClientAuthMethod, ClientConfig, FhirClient, FhirError, OutboundPolicy, Secret,
};
use serde_json::json;

use crate::responder::{self, Reply};

/// A little R4 server with one patient; `token_url` goes into oauth-uris.
async fn server(token_url: Option<&'static str>) -> responder::Responder {
    responder::start(responder::sync_handler(move |hit| match hit.fhir_path() {
        "metadata" => Reply::json(
            200,
            &responder::metadata("4.0.1", &["Patient"], false, token_url),
        ),
        "Patient/p1" => Reply::json(
            200,
            &json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Allowed"}]}),
        ),
        _ => Reply::json(404, &json!({"resourceType": "OperationOutcome"})),
    }))
    .await
}

fn config(base: &str, allowed: &[&str]) -> ClientConfig {
    let mut c = ClientConfig::new(base).unwrap();
    c.request_timeout = Duration::from_secs(5);
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    c.outbound = Arc::new(OutboundPolicy::parse_allowed(&allowed).unwrap());
    c
}

fn config_message(e: &FhirError) -> &str {
    match e {
        FhirError::Config(m) => {
            assert!(!e.should_retry());
            m
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_address_outside_the_allowed_ranges_is_never_contacted() {
    let s = server(None).await;
    let e = FhirClient::connect(config(&s.base, &["10.0.0.0/8"]))
        .await
        .unwrap_err();
    assert_eq!(
        config_message(&e),
        "127.0.0.1 is outside the address ranges this site allows for EHR connections (ehr_allowed_networks: 10.0.0.0/8)"
    );
    let e = rounds_fhir::discover(&config(&s.base, &["10.0.0.0/8"]))
        .await
        .unwrap_err();
    assert!(matches!(e, FhirError::Config(_)), "{e:?}");
    assert!(
        s.hits().is_empty(),
        "the server was contacted: {:?}",
        s.hits()
    );

    // The same server, allowed.
    let client = FhirClient::connect(config(&s.base, &["10.0.0.0/8", "127.0.0.0/8"]))
        .await
        .unwrap();
    let p = client.read_patient("p1").await.unwrap();
    assert_eq!(p.family.as_deref(), Some("Allowed"));
    // And with no ranges listed (the default policy).
    let client = FhirClient::connect(ClientConfig::new(&s.base).unwrap())
        .await
        .unwrap();
    client.read_patient("p1").await.unwrap();
}

#[tokio::test]
async fn a_host_name_is_judged_by_the_addresses_it_resolves_to() {
    let s = server(None).await;
    let port = s.base.rsplit(':').next().unwrap().trim_end_matches("/fhir");
    let by_name = format!("http://localhost:{port}/fhir");

    let e = FhirClient::connect(config(&by_name, &["10.0.0.0/8"]))
        .await
        .unwrap_err();
    let m = config_message(&e);
    assert!(
        m.starts_with("localhost resolves only to addresses Rounds may not connect to: ")
            && m.contains("is outside the address ranges this site allows for EHR connections (ehr_allowed_networks: 10.0.0.0/8)"),
        "{m}"
    );
    assert!(
        s.hits().is_empty(),
        "the server was contacted: {:?}",
        s.hits()
    );

    // Loopback allowed: the resolver hands out 127.0.0.1 (and drops ::1).
    let client = FhirClient::connect(config(&by_name, &["127.0.0.0/8"]))
        .await
        .unwrap();
    client.read_patient("p1").await.unwrap();
    assert!(!s.hits().is_empty());
}

#[tokio::test]
async fn the_metadata_address_is_refused_without_a_connection_attempt() {
    for base in [
        "http://169.254.169.254/fhir",
        "http://[::ffff:169.254.169.254]/fhir",
        "http://metadata.google.internal/computeMetadata/v1",
    ] {
        for allowed in [&[][..], &["0.0.0.0/0", "::/0"][..]] {
            let started = Instant::now();
            let e = FhirClient::connect(config(base, allowed))
                .await
                .unwrap_err();
            let m = config_message(&e);
            assert!(m.ends_with("; Rounds never connects there"), "{base}: {m}");
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "{base}: took {:?}",
                started.elapsed()
            );
        }
    }
    let e = FhirClient::connect(config("http://169.254.169.254/fhir", &[]))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "configuration: 169.254.169.254 is a link-local (cloud metadata) address; Rounds never connects there"
    );
}

#[tokio::test]
async fn a_discovered_token_url_at_a_refused_address_is_never_called() {
    let s = server(Some("http://169.254.169.254/latest/token")).await;
    let mut c = config(&s.base, &["127.0.0.0/8"]);
    c.auth = AuthConfig::ClientCredentials {
        client_id: "rounds".into(),
        client_secret: Secret::new("s3cret-never-sent"),
        method: ClientAuthMethod::ClientSecretPost,
        scope: None,
        token_url: None,
    };
    // Discovery is allowed (loopback); the token endpoint it names is not.
    let client = FhirClient::connect(c).await.unwrap();
    let started = Instant::now();
    let e = client.read_patient("p1").await.unwrap_err();
    assert_eq!(
        config_message(&e),
        "token endpoint: 169.254.169.254 is a link-local (cloud metadata) address; Rounds never connects there"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(!e.to_string().contains("s3cret"));
    assert!(
        s.hits().iter().all(|h| h.fhir_path() != "Patient/p1"),
        "no request went out without a token"
    );
}
