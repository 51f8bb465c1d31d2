//! TLS with a hospital's private CA: a local HTTPS server whose certificate
//! is issued by a CA made for the test. Without the CA file the client
//! refuses it (a TLS error, not worth a retry); with it, it connects; a
//! name the certificate does not carry is refused even with the CA.

use std::sync::Arc;

use rounds_fhir::{ClientConfig, FhirClient, FhirError, FhirVersion};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Tls {
    port: u16,
    ca_pem: String,
}

/// A CA, a certificate for `localhost` issued by it, and an HTTPS server
/// that answers every request with an R4 CapabilityStatement.
async fn https_server() -> Tls {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Rounds Test Hospital CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(leaf.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = r#"{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","rest":[{"mode":"server"}]}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Tls {
        port,
        ca_pem: ca_cert.pem(),
    }
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_given() {
    let server = https_server().await;
    let base = format!("https://localhost:{}/fhir", server.port);

    let err = FhirClient::connect(ClientConfig::new(&base).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, FhirError::Tls { .. }), "{err:?}");
    assert!(!err.should_retry());

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("hospital-ca.pem");
    std::fs::write(&ca_file, &server.ca_pem).unwrap();
    let mut config = ClientConfig::new(&base).unwrap();
    config.extra_ca_file = Some(ca_file.clone());
    let client = FhirClient::connect(config).await.unwrap();
    assert_eq!(client.version(), FhirVersion::R4);

    // The certificate names localhost, not 127.0.0.1: refused despite the CA.
    let mut config = ClientConfig::new(&format!("https://127.0.0.1:{}/fhir", server.port)).unwrap();
    config.extra_ca_file = Some(ca_file);
    let err = FhirClient::connect(config).await.unwrap_err();
    assert!(matches!(err, FhirError::Tls { .. }), "{err:?}");
}
