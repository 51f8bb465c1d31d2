//! Serves the default sandbox ward until Ctrl-C:
//!
//!     cargo run -p rounds-sandbox --example sandbox -- [ADDRESS] [SEED]
//!
//! (default 127.0.0.1:8090; the FHIR base is http://ADDRESS/fhir), then e.g.
//! `cargo run -p rounds -- ehr check http://127.0.0.1:8090/fhir`.

use rounds_sandbox::{serve, Ward, WardSpec};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let mut spec = WardSpec::default();
    if let Some(seed) = args.next().and_then(|s| s.parse().ok()) {
        spec.seed = seed;
    }
    let ward = Ward::generate(&spec);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "sandbox EHR at http://{}/fhir: {}",
        listener.local_addr()?,
        ward.stats()
    );
    println!("patients: {}", ward.patient_ids().join(" "));
    serve(listener, ward, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
