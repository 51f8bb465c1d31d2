//! The SQLite and PostgreSQL migrations must describe the same schema:
//! same tables, same columns, same nullability.

use std::collections::BTreeSet;

use rounds_app::{App, AppConfig, Caller, DbOptions};
use sqlx::{Connection, Row};

use crate::common::{Backend, TestDb};

type Columns = BTreeSet<(String, String, bool)>;

async fn sqlite_columns(url: &str) -> Columns {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
    let mut out = Columns::new();
    for table in tables {
        for row in sqlx::query(&format!("PRAGMA table_info({table})"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let pk: i64 = row.get("pk");
            let notnull: i64 = row.get("notnull");
            out.insert((
                table.clone(),
                row.get::<String, _>("name"),
                notnull == 1 || pk > 0,
            ));
        }
    }
    out
}

async fn postgres_columns(url: &str) -> Columns {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text AS n FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c"), r.get::<String, _>("n") == "NO"))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_schema() {
    let lite = TestDb::new(Backend::Sqlite).await;
    let pg = TestDb::new(Backend::Postgres).await;
    for db in [&lite, &pg] {
        App::open(&db.url, &DbOptions::default(), AppConfig::default())
            .await
            .unwrap()
            .close()
            .await;
    }
    let a = sqlite_columns(&lite.url).await;
    let b = postgres_columns(&pg.url).await;
    assert!(a.len() > 30, "{a:?}");
    let only_sqlite: Vec<_> = a.difference(&b).collect();
    let only_pg: Vec<_> = b.difference(&a).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "only in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_pg:?}"
    );
}

/// Two instances starting together on one empty database: exactly one
/// creates the administrator.
async fn bootstrap_once_when_racing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let options = DbOptions {
        max_connections: 3,
        ..DbOptions::default()
    };
    let one = App::open(&db.url, &options, AppConfig::default())
        .await
        .unwrap();
    let two = App::open(&db.url, &options, AppConfig::default())
        .await
        .unwrap();
    let (a, b) = tokio::join!(one.bootstrap_admin(), two.bootstrap_admin());
    let created = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|r| r.is_some())
        .count();
    assert_eq!(created, 1);
    assert!(one.bootstrap_admin().await.unwrap().is_none());
    assert_eq!(one.list_users(Caller::Console).await.unwrap().len(), 1);
    one.close().await;
    two.close().await;
}
crate::both!(bootstrap_once_when_racing);
