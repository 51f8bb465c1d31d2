//! Backups of a SQLite database while Rounds runs. PostgreSQL has its own
//! tools (`pg_dump`), which README describes.

use std::path::Path;

use rounds_core::audit::{AuditEntry, ClientInfo, Operation, Outcome};
use rounds_store::Backend;
use serde_json::json;

use crate::{App, AppError};

impl App {
    /// Writes a consistent copy of the whole database to `path`, a file
    /// that must not exist yet, while writes go on; the copy is readable by
    /// its owner only. The backup is recorded (ExportInitiation) first, so
    /// the copy holds the record of its own making.
    pub async fn backup_to(&self, path: &Path) -> Result<(), AppError> {
        if self.backend() != Backend::Sqlite {
            return Err(AppError::Conflict {
                message: "rounds backup copies SQLite databases; back up PostgreSQL with pg_dump (see README)".into(),
            });
        }
        // An empty file of the owner's only, made here so no one else can
        // open the copy while it is written (VACUUM INTO fills an empty file).
        create_private(path).map_err(|e| AppError::Conflict {
            message: format!("cannot create the backup file {}: {e}", path.display()),
        })?;
        let Some(target) = path.to_str() else {
            return Err(AppError::Conflict {
                message: "the backup file's name must be valid UTF-8".into(),
            });
        };
        let mut entry = AuditEntry::new(
            Operation::ExportInitiation,
            Outcome::Success,
            ClientInfo::default(),
        );
        entry.actor_username = Some("(console)".into());
        entry.detail = json!({ "export": "backup", "file": target });
        {
            let mut tx = self.db.write().await?;
            rounds_store::audit::append(&mut tx, &entry).await?;
            tx.commit().await?;
        }
        if let Err(err) = self.db.backup_into(target).await {
            // A half-written copy is no backup.
            let _ = std::fs::remove_file(path);
            return Err(err.into());
        }
        Ok(())
    }
}

/// Creates `path`, which must not exist, readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// Copies the backup `from` (a SQLite file written by [`App::backup_to`])
/// to `to`, the database file of a stopped Rounds, which must not exist;
/// then opens it (bringing its schema up to date) for the caller to verify
/// and use. Nothing is ever overwritten.
pub async fn restore_sqlite(
    from: &Path,
    to: &Path,
    options: &crate::DbOptions,
    config: crate::AppConfig,
) -> Result<App, AppError> {
    let conflict = |message: String| AppError::Conflict { message };
    let Some(source) = from.to_str() else {
        return Err(conflict(
            "the backup file's name must be valid UTF-8".into(),
        ));
    };
    if !from.is_file() {
        return Err(conflict(format!(
            "there is no backup file {}",
            from.display()
        )));
    }
    if rounds_store::inspect_sqlite(source).await?.is_none() {
        return Err(conflict(format!(
            "{} is not a Rounds database (not a SQLite file, or not one of Rounds' schema)",
            from.display()
        )));
    }
    let wal = |suffix: &str| {
        let mut name = to.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    if to.exists() || wal("-wal").exists() {
        return Err(conflict(format!(
            "the database {} exists: stop Rounds and move it (with its -wal and -shm files) away first; restore never overwrites",
            to.display()
        )));
    }
    create_private(to).map_err(|e| conflict(format!("cannot create {}: {e}", to.display())))?;
    let copied = std::fs::File::open(from).and_then(|mut src| {
        let mut dst = std::fs::OpenOptions::new().write(true).open(to)?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(to);
        return Err(conflict(format!(
            "cannot copy the backup to {}: {e}",
            to.display()
        )));
    }
    let url = format!("sqlite://{}", to.display());
    Ok(App::open(&url, options, config).await?)
}
