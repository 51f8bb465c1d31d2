//! The key that seals connection secrets at rest.

use std::sync::Arc;

use rounds_core::Timestamp;

use crate::secret_box::SecretBox;
use crate::{App, AppError};

const SECRET_KEY_CHECK: &str = "secret_key_check";

/// Records holding a secret sealed with the site key: EHR connections and
/// single sign-on providers.
async fn sealed_count(conn: &mut rounds_store::AnyConnection) -> Result<usize, AppError> {
    Ok(rounds_store::ehr::sealed_secrets(conn).await?
        + rounds_store::sso::sealed_secrets(conn).await?)
}

impl App {
    /// The fingerprint of the key this database's secrets are sealed
    /// with, and how many records (teams' EHR connections and sign-in
    /// providers) hold a sealed secret.
    pub async fn secret_key_check(&self) -> Result<(Option<String>, usize), AppError> {
        let mut conn = self.db.read().await?;
        let fingerprint = rounds_store::site::get(&mut conn, SECRET_KEY_CHECK).await?;
        let sealed = sealed_count(&mut conn).await?;
        Ok((fingerprint, sealed))
    }

    /// Installs the key that seals connection secrets. The database records
    /// the fingerprint of the first key it is given; a key with another
    /// fingerprint is refused (`Conflict`, naming both fingerprints), sealed
    /// secrets or not, so that every instance on one database uses one key.
    pub async fn install_secret_key(&self, key: SecretBox) -> Result<(), AppError> {
        let fingerprint = key.fingerprint();
        let mut tx = self.db.write().await?;
        match rounds_store::site::get(tx.conn(), SECRET_KEY_CHECK).await? {
            Some(recorded) if recorded == fingerprint => {}
            Some(recorded) => {
                let sealed = sealed_count(tx.conn()).await?;
                return Err(AppError::Conflict {
                    message: format!(
                        "this database expects the secret key with fingerprint {recorded}, but was given the key with \
                         fingerprint {fingerprint} ({sealed} team(s) or sign-in provider(s) hold secrets sealed with the expected key)"
                    ),
                });
            }
            None => {
                rounds_store::site::set(
                    tx.conn(),
                    SECRET_KEY_CHECK,
                    &fingerprint,
                    Timestamp::now(),
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.set_secret_box(key);
        Ok(())
    }

    /// Makes `key` the database's secret key in place of the recorded one,
    /// which is only possible while nothing is sealed with the old one.
    pub async fn replace_secret_key(&self, key: SecretBox) -> Result<(), AppError> {
        let fingerprint = key.fingerprint();
        let mut tx = self.db.write().await?;
        let sealed = sealed_count(tx.conn()).await?;
        if sealed > 0 {
            return Err(AppError::Conflict {
                message: format!(
                    "{sealed} team(s) or sign-in provider(s) hold secrets sealed with the recorded key: replacing it would make them unreadable; \
                     give Rounds the recorded key instead"
                ),
            });
        }
        rounds_store::site::set(tx.conn(), SECRET_KEY_CHECK, &fingerprint, Timestamp::now())
            .await?;
        tx.commit().await?;
        self.set_secret_box(key);
        Ok(())
    }

    fn set_secret_box(&self, key: SecretBox) {
        let mut slot = self
            .ehr
            .secret_box
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(Arc::new(key));
    }

    pub(crate) fn secret_box(&self) -> Result<Arc<SecretBox>, AppError> {
        self.ehr
            .secret_box
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                AppError::Internal("no secret key installed for EHR connection secrets".into())
            })
    }
}
