//! Storage for Rounds: one sqlx code path serving SQLite and PostgreSQL.
//!
//! How one path serves both (decided once, see README "Storage"):
//! - Queries go through sqlx's `Any` driver, chosen at run time from the URL.
//! - Every query is written in the SQL both databases share, with `$1`-style
//!   parameters (SQLite accepts them as numbered parameters).
//! - Only portable types cross the boundary: TEXT, 64-bit integers (times are
//!   Unix milliseconds, flags are 0/1) and NULL. Ids are UUID text.
//! - The schema is kept as two migration folders, `migrations/sqlite` and
//!   `migrations/postgres`, one file per step with the same tables, columns
//!   and constraints; DDL is where the dialects really differ.
//! - Writes go through [`Db::write`], which serialises writers the way each
//!   backend needs (see [`WriteTx`]), so the audit chain stays one chain.
//!
//! Functions take `&mut AnyConnection`, so the caller decides whether they
//! run inside a write transaction or on a plain pooled connection.

mod db;
mod error;
mod migrations;
mod names;

pub mod access_report;
pub mod audit;
pub mod ehr;
pub mod events;
pub mod ipass;
pub mod last_looked;
pub mod lists;
pub mod meeting;
pub mod notes;
pub mod patients;
pub mod receipts;
pub mod sessions;
pub mod shift_handoff;
pub mod site;
pub mod sso;
pub mod tasks;
pub mod teams;
pub mod throttle;
pub mod urgent;
pub mod users;
pub mod vital_ranges;

pub use db::{inspect_sqlite, redact_url, Backend, Db, DbOptions, WriteTx};
pub use error::StoreError;
pub use sqlx::AnyConnection;

/// The row (if any) that `sql` finds with `key` as its one parameter, read
/// by `map`.
pub(crate) async fn optional_row<T>(
    conn: &mut AnyConnection,
    sql: &str,
    key: String,
    map: impl Fn(&sqlx::any::AnyRow) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    sqlx::query(sql)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(map)
        .transpose()
}

/// Every row that `sql` finds with `key` as its one parameter, read by
/// `map`, in the order the statement gives (into a list or a map).
pub(crate) async fn all_rows<T, C: FromIterator<T>>(
    conn: &mut AnyConnection,
    sql: &str,
    key: String,
    map: impl Fn(&sqlx::any::AnyRow) -> Result<T, StoreError>,
) -> Result<C, StoreError> {
    sqlx::query(sql)
        .bind(key)
        .fetch_all(conn)
        .await?
        .iter()
        .map(map)
        .collect()
}
