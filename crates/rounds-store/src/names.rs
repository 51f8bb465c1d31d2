//! The comparison keys of names (teams, lists, column sets), kept in step
//! with the rule that makes them ([`rounds_core::validate::name_key`]).
//!
//! Each table stores a name beside its key, and a UNIQUE constraint on the
//! key keeps names apart. When the rule changes (its name,
//! [`NAME_KEY_RULE`], is recorded in `site_state`), the keys of existing
//! rows are made again once, when the database is opened.

use rounds_core::validate::{name_key, NAME_KEY_RULE};
use rounds_core::Timestamp;
use sqlx::Row;

use crate::{site, Db, StoreError};

const RULE_STATE: &str = "name_key_rule";

/// The tables holding a name and its key, with the column the key is
/// unique within (None: unique in the whole table).
const KEYED: [(&str, Option<&str>); 3] = [
    ("teams", None),
    ("patient_lists", Some("team_id")),
    ("column_schemas", Some("team_id")),
];

/// Makes every stored key again under the current rule, if the database's
/// keys were made under another. A row whose new key is taken by another
/// row keeps its old key (both names stay as they are; a warning names
/// them), so opening never fails over names that already exist.
pub async fn rekey(db: &Db) -> Result<u64, StoreError> {
    let mut tx = db.write().await?;
    if site::get(tx.conn(), RULE_STATE).await?.as_deref() == Some(NAME_KEY_RULE) {
        return Ok(0);
    }
    let mut changed = 0;
    for (table, scope) in KEYED {
        let scope_col = scope.unwrap_or("''");
        let rows = sqlx::query(&format!(
            "SELECT id, name, name_key, {scope_col} AS scope FROM {table}"
        ))
        .fetch_all(&mut *tx.conn())
        .await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            let name: String = row.try_get("name")?;
            let old: String = row.try_get("name_key")?;
            let scope_value: String = row.try_get("scope")?;
            let new = name_key(&name);
            if new == old {
                continue;
            }
            let taken = sqlx::query(&format!(
                "SELECT id FROM {table} WHERE name_key = $1 AND {scope_col} = $2 AND id <> $3"
            ))
            .bind(&new)
            .bind(&scope_value)
            .bind(&id)
            .fetch_optional(&mut *tx.conn())
            .await?;
            if let Some(other) = taken {
                let other: String = other.try_get("id")?;
                tracing::warn!(
                    table,
                    id,
                    other,
                    "two names are the same under the name comparison rule; the older key is kept"
                );
                continue;
            }
            sqlx::query(&format!("UPDATE {table} SET name_key = $1 WHERE id = $2"))
                .bind(&new)
                .bind(&id)
                .execute(&mut *tx.conn())
                .await?;
            changed += 1;
        }
    }
    site::set(tx.conn(), RULE_STATE, NAME_KEY_RULE, Timestamp::now()).await?;
    tx.commit().await?;
    Ok(changed)
}
