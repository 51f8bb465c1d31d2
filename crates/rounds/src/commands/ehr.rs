//! `rounds ehr`: talk to a FHIR server the way EHR mode does, for
//! integrators and for us. Needs no database.
//!
//! (Over 500 lines: one console command with its sub-commands and their
//! printed reports, read top to bottom.)

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use rounds_fhir::check::{self, Outcome};
use rounds_fhir::{
    AuthConfig, BatchMode, ClientAuthMethod, ClientConfig, FhirClient, JwtAlgorithm, PatientQuery,
    PatientSummary, Secret, SectionStatus,
};

#[derive(Debug, Subcommand)]
pub enum EhrCommand {
    /// What the server declares: version, auth, token URL, batch, contract resources
    Probe {
        #[command(flatten)]
        conn: Connection,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Search patients; prints the matches and the total
    Search {
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        query: SearchArgs,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// The summary of one patient: demographics and every section
    Patient {
        #[command(flatten)]
        conn: Connection,
        /// The Patient id
        id: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Check the server against the Rounds FHIR contract (exit 1 when a
    /// mandatory part fails)
    Check {
        #[command(flatten)]
        conn: Connection,
        /// Read this Patient's sections (default: the first one a search finds)
        #[arg(long)]
        patient: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthKind {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyAlg {
    Rs384,
    Es384,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Batch {
    Auto,
    Never,
    Always,
}

/// Where the server is and how to authenticate. Secrets are best given
/// through the environment (command lines are visible to other users).
#[derive(Debug, Args)]
pub struct Connection {
    /// The FHIR base URL, e.g. https://ehr.example.org/fhir/R4
    pub base: String,
    /// How to authenticate at the server's token endpoint
    #[arg(long, env = "ROUNDS_EHR_AUTH", value_enum, default_value = "none")]
    pub auth: AuthKind,
    /// The client id registered at the token endpoint
    #[arg(long, env = "ROUNDS_EHR_CLIENT_ID")]
    pub client_id: Option<String>,
    /// For client-secret-basic / client-secret-post
    #[arg(long, env = "ROUNDS_EHR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// PEM file of the private key, for private-key-jwt
    #[arg(long, env = "ROUNDS_EHR_PRIVATE_KEY")]
    pub private_key: Option<PathBuf>,
    /// Signing algorithm of the private key (private-key-jwt)
    #[arg(long, env = "ROUNDS_EHR_KEY_ALG", value_enum, default_value = "rs384")]
    pub key_alg: KeyAlg,
    /// `kid` of the key (private-key-jwt)
    #[arg(long, env = "ROUNDS_EHR_KEY_ID")]
    pub key_id: Option<String>,
    /// OAuth scope; carries the tenant hint where a gateway wants one
    #[arg(long, env = "ROUNDS_EHR_SCOPE")]
    pub scope: Option<String>,
    /// Token endpoint (default: from the server's metadata)
    #[arg(long, env = "ROUNDS_EHR_TOKEN_URL")]
    pub token_url: Option<String>,
    /// Extra CA certificates (PEM) trusted besides the system's
    #[arg(long, env = "ROUNDS_EHR_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Seconds per request
    #[arg(long, env = "ROUNDS_EHR_TIMEOUT", default_value_t = 20)]
    pub timeout: u64,
    /// Several queries as batch Bundles: auto (when declared and faster), never, always
    #[arg(long, env = "ROUNDS_EHR_BATCH", value_enum, default_value = "auto")]
    pub batch: Batch,
}

impl Connection {
    fn config(&self) -> anyhow::Result<ClientConfig> {
        let mut c = ClientConfig::new(&self.base)?;
        c.request_timeout = Duration::from_secs(self.timeout.max(1));
        c.extra_ca_file = self.ca_file.clone();
        c.batch_mode = match self.batch {
            Batch::Auto => BatchMode::Auto,
            Batch::Never => BatchMode::Never,
            Batch::Always => BatchMode::Always,
        };
        let token_url = self
            .token_url
            .as_deref()
            .map(url::Url::parse)
            .transpose()
            .context("--token-url is not a URL")?;
        let client_id = || {
            self.client_id
                .clone()
                .context("--client-id (ROUNDS_EHR_CLIENT_ID) is required for this --auth")
        };
        c.auth = match self.auth {
            AuthKind::None => AuthConfig::None,
            AuthKind::ClientSecretBasic | AuthKind::ClientSecretPost => {
                AuthConfig::ClientCredentials {
                    client_id: client_id()?,
                    client_secret: Secret::new(self.client_secret.clone().context(
                        "--client-secret (ROUNDS_EHR_CLIENT_SECRET) is required for this --auth",
                    )?),
                    method: if matches!(self.auth, AuthKind::ClientSecretBasic) {
                        ClientAuthMethod::ClientSecretBasic
                    } else {
                        ClientAuthMethod::ClientSecretPost
                    },
                    scope: self.scope.clone(),
                    token_url,
                }
            }
            AuthKind::PrivateKeyJwt => {
                let path = self.private_key.as_ref().context(
                    "--private-key (ROUNDS_EHR_PRIVATE_KEY) is required for private-key-jwt",
                )?;
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the key file {}", path.display()))?;
                AuthConfig::BackendServices {
                    client_id: client_id()?,
                    private_key_pem: Secret::new(pem),
                    algorithm: match self.key_alg {
                        KeyAlg::Rs384 => JwtAlgorithm::Rs384,
                        KeyAlg::Es384 => JwtAlgorithm::Es384,
                    },
                    key_id: self.key_id.clone(),
                    scope: self.scope.clone(),
                    token_url,
                }
            }
        };
        Ok(c)
    }
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Any part of the name
    #[arg(long)]
    pub name: Option<String>,
    /// Family name
    #[arg(long)]
    pub family: Option<String>,
    /// Given name
    #[arg(long)]
    pub given: Option<String>,
    /// Medical record number (identifier)
    #[arg(long)]
    pub mrn: Option<String>,
    /// Birth date, YYYY-MM-DD (exact)
    #[arg(long)]
    pub birthdate: Option<String>,
    /// male, female, other or unknown
    #[arg(long)]
    pub gender: Option<String>,
    /// The Patient id
    #[arg(long)]
    pub id: Option<String>,
    /// Page size (`_count`); the total counts every match
    #[arg(long, default_value_t = 20)]
    pub count: u32,
}

pub async fn run(cmd: EhrCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EhrCommand::Probe { conn, json } => probe(&conn, json).await,
        EhrCommand::Search { conn, query, json } => search(&conn, query, json).await,
        EhrCommand::Patient { conn, id, json } => patient(&conn, &id, json).await,
        EhrCommand::Check {
            conn,
            patient,
            json,
        } => run_check(&conn, patient, json).await,
    }
}

/// The contract's resources and the search parameters each query uses.
const CONTRACT: [(&str, &[&str]); 9] = [
    ("Patient", &check::PATIENT_PARAMS),
    ("Observation", &["patient", "category", "date"]),
    ("Condition", &["patient"]),
    ("Encounter", &["patient", "date"]),
    ("AllergyIntolerance", &["patient"]),
    ("MedicationOrder", &["patient"]),
    ("MedicationRequest", &["patient"]),
    ("MedicationStatement", &["patient"]),
    ("Coverage", &["patient", "beneficiary"]),
];

async fn probe(conn: &Connection, json: bool) -> anyhow::Result<ExitCode> {
    let config = conn.config()?;
    let method = config.auth.method_name();
    let caps = rounds_fhir::discover(&config).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&caps)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("server:      {}", config.base_url);
    println!(
        "version:     {} ({} {})",
        caps.version, caps.resource_type, caps.fhir_version
    );
    if let Some(s) = &caps.software {
        println!("software:    {s}");
    }
    println!("auth (ours): {method}");
    println!(
        "token URL:   {}",
        caps.token_endpoint().unwrap_or("(none published)")
    );
    println!(
        "authorize:   {}",
        caps.smart
            .as_ref()
            .and_then(|s| s.authorize.as_deref())
            .or(caps.oauth.authorize.as_deref())
            .unwrap_or("(none published)")
    );
    println!(
        "SMART conf:  {}",
        if caps.smart.is_some() {
            "published"
        } else {
            "not published"
        }
    );
    println!("batch:       {}", if caps.batch { "yes" } else { "no" });
    println!("contract resources:");
    for (rtype, params) in CONTRACT {
        match caps.resources.get(rtype) {
            None => println!("  {rtype:<20} not declared"),
            Some(r) => {
                let missing: Vec<&str> = params
                    .iter()
                    .copied()
                    .filter(|p| !r.search_params.contains(*p))
                    .collect();
                if missing.is_empty() {
                    println!("  {rtype:<20} declared, search parameters: all");
                } else {
                    println!(
                        "  {rtype:<20} declared, search parameters not declared: {}",
                        missing.join(", ")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn search(conn: &Connection, args: SearchArgs, json: bool) -> anyhow::Result<ExitCode> {
    let client = FhirClient::connect(conn.config()?).await?;
    let query = PatientQuery {
        id: args.id,
        family: args.family,
        given: args.given,
        name: args.name,
        birthdate: args.birthdate,
        gender: args.gender,
        identifier: args.mrn,
        count: Some(args.count),
    };
    let found = client.search_patients(&query).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(ExitCode::SUCCESS);
    }
    for p in &found.patients {
        println!(
            "{:<38} {:<30} {:<7} {:<10} MRN {}",
            p.id,
            p.display_name(),
            p.gender.as_deref().unwrap_or("-"),
            p.birth_date.as_deref().unwrap_or("-"),
            p.mrn.as_deref().unwrap_or("-"),
        );
    }
    println!(
        "{} shown, total {}{}",
        found.patients.len(),
        found
            .total
            .map_or_else(|| "not given".to_owned(), |t| t.to_string()),
        if found.via_post {
            ""
        } else {
            " (POST search refused; GET used)"
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn patient(conn: &Connection, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let client = FhirClient::connect(conn.config()?).await?;
    let summary = client.summary(id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

/// A section's heading: its name, how its read went, and what was dropped.
fn section_head(name: &str, status: &SectionStatus, dropped: usize) {
    let extra = if dropped > 0 {
        format!(", {dropped} of other patients dropped")
    } else {
        String::new()
    };
    println!("{name}: {status}{extra}");
}

/// The vital signs, one line each (components of a panel on its line).
fn print_vitals(s: &PatientSummary) {
    let head = section_head;
    head("vital signs", &s.vitals.status, s.vitals.foreign_dropped);
    for v in &s.vitals.items {
        let value = |m: &rounds_fhir::model::Measurement| {
            format!(
                "{} {}",
                m.value.map_or_else(|| "-".into(), |v| v.to_string()),
                opt(&m.unit)
            )
        };
        let comps: Vec<String> = v
            .components
            .iter()
            .map(|c| format!("{} {}", opt(&c.display), value(c)))
            .collect();
        println!(
            "  {:<26} {}{} at {}",
            v.measurement
                .display
                .as_deref()
                .unwrap_or(&v.measurement.code),
            if v.components.is_empty() {
                value(&v.measurement)
            } else {
                String::new()
            },
            comps.join(", "),
            opt(&v.effective)
        );
    }
}

fn print_summary(s: &PatientSummary) {
    let p = &s.patient;
    println!("{} (Patient/{})", p.display_name(), p.id);
    println!(
        "  gender {}, born {}, age {}, MRN {}",
        opt(&p.gender),
        opt(&p.birth_date),
        s.age.map_or_else(|| "-".into(), |a| a.to_string()),
        opt(&p.mrn)
    );
    println!(
        "  GP {}, location {}",
        opt(&p.general_practitioner),
        opt(&s.location)
    );
    print_vitals(s);
    let head = section_head;
    head(
        "conditions",
        &s.conditions.status,
        s.conditions.foreign_dropped,
    );
    for c in &s.conditions.items {
        println!(
            "  {} [{}, {}] severity {}, recorded {}",
            opt(&c.display),
            opt(&c.clinical_status),
            opt(&c.verification_status),
            opt(&c.severity),
            opt(&c.recorded)
        );
    }
    head(
        "last encounter",
        &s.encounter.status,
        s.encounter.foreign_dropped,
    );
    for e in &s.encounter.items {
        println!(
            "  {} {} from {} to {}: {}",
            opt(&e.kind),
            opt(&e.status),
            opt(&e.start),
            opt(&e.end),
            opt(&e.location_text())
        );
    }
    head(
        "allergies",
        &s.allergies.status,
        s.allergies.foreign_dropped,
    );
    for a in &s.allergies.items {
        println!(
            "  {} [{}, {}] recorded {}{}",
            opt(&a.substance),
            opt(&a.clinical_status),
            opt(&a.verification_status),
            opt(&a.recorded),
            if a.reactions.is_empty() {
                String::new()
            } else {
                format!(": {}", a.reactions.join(", "))
            }
        );
    }
    head(
        "medications",
        &s.medications.status,
        s.medications.foreign_dropped,
    );
    for m in &s.medications.items {
        println!(
            "  {} [{}] written {} by {}; {}",
            opt(&m.medication),
            opt(&m.status),
            opt(&m.written),
            opt(&m.prescriber),
            m.dosage.join("; ")
        );
    }
    head("coverage", &s.coverage.status, s.coverage.foreign_dropped);
    for c in &s.coverage.items {
        println!(
            "  {} / {} by {} [{}], subscriber {}, {} to {}",
            opt(&c.plan),
            opt(&c.group),
            opt(&c.payor.clone().or_else(|| c.payor_reference.clone())),
            opt(&c.status),
            opt(&c.subscriber_id),
            opt(&c.period_start),
            opt(&c.period_end)
        );
    }
}

async fn run_check(
    conn: &Connection,
    patient: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let report = check::check(conn.config()?, patient).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "Rounds FHIR contract check of {} ({})",
            report.base,
            report
                .version
                .map_or_else(|| "version unknown".into(), |v| v.to_string())
        );
        for item in &report.items {
            println!(
                "[{:<11}] §{:<2} {}{}",
                item.outcome.to_string(),
                item.section,
                item.requirement,
                if item.mandatory { " (mandatory)" } else { "" }
            );
            println!("               {}", item.reason);
            if let Some(r) = &item.request {
                println!("               request: {r}");
            }
        }
        println!(
            "{} pass, {} fail, {} not offered{}",
            report.count(Outcome::Pass),
            report.count(Outcome::Fail),
            report.count(Outcome::NotOffered),
            if report.mandatory_failed() {
                " - a MANDATORY part failed"
            } else {
                ""
            }
        );
    }
    Ok(if report.mandatory_failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
