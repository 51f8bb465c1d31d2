//! Building a team's FHIR client from its stored connection (its secret
//! opened), and connecting once per connection generation.

use rounds_core::validate::InvalidInput;
use rounds_core::TeamId;
use rounds_fhir::{
    AuthConfig, BatchMode, ClientAuthMethod, ClientConfig, FhirClient, JwtAlgorithm, Secret,
};
use rounds_store::ehr::{AuthKind, AuthMethod, BatchMode as StoredBatchMode, StoredConnection};

use super::health::{HealthState, Problem};
use super::{lock, secret_context};
use crate::{App, AppError};

pub(super) struct ClientSlot {
    pub(super) generation: String,
    pub(super) client: FhirClient,
}

/// A fingerprint of everything that decides which server Rounds reads and
/// as whom. It changes with any change of the connection (a sealed secret
/// changes with every save) and never comes back after a delete, so a
/// client or a cached read of an earlier connection is never used for a
/// later one, on this instance or another.
pub(super) fn generation(c: &StoredConnection) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        Some(c.team_id.to_string()),
        Some(c.base_url.clone()),
        Some(c.auth_kind.as_str().to_owned()),
        c.client_id.clone(),
        c.auth_method.map(|m| m.as_str().to_owned()),
        c.scope.clone(),
        c.token_url.clone(),
        c.secret_sealed.clone(),
        c.key_id.clone(),
        Some(c.batch_mode.as_str().to_owned()),
        c.batch_shape.clone(),
        Some(c.updated_at.millis().to_string()),
    ] {
        h.update(part.unwrap_or_default().as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..12])
}

impl App {
    pub(super) async fn stored_connection(
        &self,
        team: TeamId,
    ) -> Result<Option<StoredConnection>, AppError> {
        let mut conn = self.db.read().await?;
        Ok(rounds_store::ehr::connection(&mut conn, team).await?)
    }

    /// The client settings of a stored connection, its secret opened.
    pub(super) fn client_config(&self, c: &StoredConnection) -> Result<ClientConfig, AppError> {
        let s = self.ehr_settings();
        let mut config = ClientConfig::new(&c.base_url)
            .map_err(|e| InvalidInput::new("baseUrl", e.to_string()))?;
        config.request_timeout = s.request_timeout;
        config.extra_ca_file = s.extra_ca_file.clone();
        config.outbound = s.outbound.clone();
        config.batch_mode = match c.batch_mode {
            StoredBatchMode::Always => BatchMode::Always,
            StoredBatchMode::Never => BatchMode::Never,
            StoredBatchMode::Auto => BatchMode::Auto,
        };
        let token_url = c
            .token_url
            .as_deref()
            .map(url::Url::parse)
            .transpose()
            .map_err(|e| InvalidInput::new("auth.tokenUrl", e.to_string()))?;
        let secret = || -> Result<Secret, AppError> {
            let sealed = c.secret_sealed.as_deref().ok_or_else(|| {
                InvalidInput::new("auth", "the connection has no saved secret: set it again")
            })?;
            let plain = self
                .secret_box()?
                .open(sealed, &secret_context(c.team_id))
                .map_err(|e| {
                    AppError::Internal(format!("cannot open the connection secret: {e}"))
                })?;
            let text = String::from_utf8(plain)
                .map_err(|_| AppError::Internal("the connection secret is not text".into()))?;
            Ok(Secret::new(text))
        };
        config.auth = match c.auth_kind {
            AuthKind::ClientCredentials => AuthConfig::ClientCredentials {
                client_id: c.client_id.clone().unwrap_or_default(),
                client_secret: secret()?,
                method: if c.auth_method == Some(AuthMethod::Post) {
                    ClientAuthMethod::ClientSecretPost
                } else {
                    ClientAuthMethod::ClientSecretBasic
                },
                scope: c.scope.clone(),
                token_url,
            },
            AuthKind::BackendServices => AuthConfig::BackendServices {
                client_id: c.client_id.clone().unwrap_or_default(),
                private_key_pem: secret()?,
                algorithm: JwtAlgorithm::Es384,
                key_id: c.key_id.clone(),
                scope: c.scope.clone(),
                token_url,
            },
            AuthKind::None => AuthConfig::None,
        };
        Ok(config)
    }

    /// The team's FHIR client, connecting (reading `metadata`) when needed.
    pub(super) async fn client_for(&self, c: &StoredConnection) -> Result<FhirClient, Problem> {
        let gen = generation(c);
        let cached = |app: &Self| {
            lock(&app.ehr.clients)
                .get(&c.team_id)
                .filter(|slot| slot.generation == gen)
                .map(|slot| slot.client.clone())
        };
        if let Some(client) = cached(self) {
            return Ok(client);
        }
        let team_lock = lock(&self.ehr.connect_locks)
            .entry(c.team_id)
            .or_default()
            .clone();
        let _one_connect = team_lock.lock().await;
        if let Some(client) = cached(self) {
            return Ok(client);
        }
        let health = self.health_of(c.team_id);
        if health.state == HealthState::Down {
            if let Some(at) = health.last_attempt {
                if at.elapsed() < self.ehr_settings().retry_after_failure {
                    let general = health
                        .message
                        .unwrap_or_else(|| "the EHR is not answering".into());
                    return Err(Problem {
                        detail: health.detail.unwrap_or_else(|| general.clone()),
                        general,
                    });
                }
            }
        }
        let config = self.client_config(c).map_err(|e| Problem {
            general: "the EHR connection's settings cannot work; a team owner sees the details on the team's EHR page".into(),
            detail: e.to_string(),
        })?;
        match FhirClient::connect(config).await {
            Ok(client) => {
                self.apply_shape(c, &client).await;
                lock(&self.ehr.clients).insert(
                    c.team_id,
                    ClientSlot {
                        generation: gen,
                        client: client.clone(),
                    },
                );
                Ok(client)
            }
            Err(e) => {
                let problem = Problem::of(&e);
                tracing::warn!(team = %c.team_id, error = %e, "EHR connection failed");
                self.note_health(c.team_id, 0, 1, Some(problem.clone()));
                Err(problem)
            }
        }
    }

    pub(super) async fn connected(
        &self,
        team: TeamId,
    ) -> Result<(StoredConnection, FhirClient), AppError> {
        let Some(c) = self.stored_connection(team).await? else {
            return Err(AppError::Conflict {
                message:
                    "the team has no EHR connection: a team owner sets one on the team's EHR page"
                        .into(),
            });
        };
        let client = self
            .client_for(&c)
            .await
            .map_err(|problem| AppError::EhrUnavailable {
                message: problem.general,
            })?;
        Ok((c, client))
    }
}
