//! The gateway's twin migrations (SQLite and PostgreSQL) must describe the
//! same schema: the same tables and columns with the same nullability and
//! kind of type, the same primary keys, and the same index names over the
//! same columns.

use std::collections::BTreeSet;

use rounds_gateway::db::Db;
use sqlx::{Connection, Row};

use crate::common::{Backend, TestDb};

#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    /// (table, column, not null, type kind)
    columns: BTreeSet<(String, String, bool, &'static str)>,
    /// (table, primary key columns in order)
    primary_keys: BTreeSet<(String, Vec<String>)>,
    /// (table, index, columns in order), without the indexes that back a
    /// primary key or unique constraint (named by the database itself).
    indexes: BTreeSet<(String, String, Vec<String>)>,
}

fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "bigint" | "integer" | "int" | "int8" => "integer",
        "text" | "character varying" | "varchar" => "text",
        _ => "other",
    }
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("name"))
    .collect();
    let mut s = Schema::default();
    for table in tables {
        let mut pk: Vec<(i64, String)> = Vec::new();
        for row in sqlx::query(&format!("PRAGMA table_info({table})"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let name: String = row.get("name");
            let key: i64 = row.get("pk");
            let notnull: i64 = row.get("notnull");
            let declared: String = row.get("type");
            s.columns.insert((
                table.clone(),
                name.clone(),
                notnull == 1 || key > 0,
                kind(&declared),
            ));
            if key > 0 {
                pk.push((key, name));
            }
        }
        pk.sort();
        s.primary_keys
            .insert((table.clone(), pk.into_iter().map(|(_, n)| n).collect()));
        for index in sqlx::query(&format!("PRAGMA index_list({table})"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let name: String = index.get("name");
            if name.starts_with("sqlite_autoindex") {
                continue;
            }
            let cols: Vec<String> = sqlx::query(&format!("PRAGMA index_info({name})"))
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("name"))
                .collect();
            s.indexes.insert((table.clone(), name, cols));
        }
    }
    s
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let mut s = Schema::default();
    for r in sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text AS n, data_type::text AS d \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    {
        let d: String = r.get("d");
        s.columns.insert((
            r.get("t"),
            r.get("c"),
            r.get::<String, _>("n") == "NO",
            kind(&d),
        ));
    }
    // Every index with its columns in order, and whether it backs a
    // constraint (primary key, unique).
    for r in sqlx::query(
        "SELECT t.relname::text AS t, i.relname::text AS i, ix.indisprimary AS pk, \
                EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) AS backs, \
                array_agg(a.attname::text ORDER BY k.n) AS cols \
         FROM pg_index ix \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_namespace ns ON ns.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE ns.nspname = 'public' AND t.relname NOT LIKE '\\_sqlx%' \
         GROUP BY t.relname, i.relname, ix.indisprimary, ix.indexrelid",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    {
        let table: String = r.get("t");
        let cols: Vec<String> = r.get("cols");
        if r.get::<bool, _>("pk") {
            s.primary_keys.insert((table, cols));
        } else if !r.get::<bool, _>("backs") {
            s.indexes.insert((table, r.get("i"), cols));
        }
    }
    // Tables without a primary key still count (as SQLite lists them).
    let tables: BTreeSet<String> = s.columns.iter().map(|c| c.0.clone()).collect();
    for t in tables {
        if !s.primary_keys.iter().any(|(pt, _)| *pt == t) {
            s.primary_keys.insert((t, Vec::new()));
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_schema() {
    let lite = TestDb::new(Backend::Sqlite).await;
    let pg = TestDb::new(Backend::Postgres).await;
    for db in [&lite, &pg] {
        Db::open(&db.url, 1).await.unwrap().close().await;
    }
    let a = sqlite_schema(&lite.url).await;
    let b = postgres_schema(&pg.url).await;
    assert!(a.columns.len() > 40, "{a:?}");
    assert!(a.indexes.len() >= 5, "{a:?}");
    assert!(
        a.columns.iter().all(|c| c.3 != "other") && b.columns.iter().all(|c| c.3 != "other"),
        "a column of a type this test does not know: {a:?}\n{b:?}"
    );
    let diff = |x: &Schema, y: &Schema| {
        format!(
            "columns {:?}\nprimary keys {:?}\nindexes {:?}",
            x.columns.difference(&y.columns).collect::<Vec<_>>(),
            x.primary_keys
                .difference(&y.primary_keys)
                .collect::<Vec<_>>(),
            x.indexes.difference(&y.indexes).collect::<Vec<_>>(),
        )
    };
    assert!(
        a == b,
        "only in SQLite:\n{}\nonly in PostgreSQL:\n{}",
        diff(&a, &b),
        diff(&b, &a)
    );
}
