//! Hardening finding 10, for databases that predate it: users written under the old schema
//! (no skeleton column) and under the old rules (look-alikes, spaces, fullwidth names) keep
//! logging in after the migration; start-up gives them their skeletons, so new look-alikes of
//! them are refused; a second start on the same database works. On SQLite and PostgreSQL.

use crate::support;

use serde_json::json;
use sqlx::migrate::Migrator;
use std::path::{Path, PathBuf};
use support::oauth::*;
use support::*;

const PASSWORD: &str = "password123";

/// Users as the old sign-up stored them: (username, username_key).
const OLD_USERS: [(&str, &str); 4] = [
    ("Alice", "alice"),
    // A look-alike of Alice the old rules let through (Cyrillic а); it signed up second.
    ("\u{430}lice", "\u{430}lice"),
    ("bob smith", "bob smith"),
    ("ＣＡＲＯＬ", "carol"),
];

/// A copy of the backend's migrations from before the skeleton column.
fn old_migrations(backend: &str, into: &Path) -> PathBuf {
    let dir = into.join(format!("{backend}-migrations"));
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/store/migrations/{backend}"));
    let mut names: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let skeleton = names
        .iter()
        .position(|n| n.contains("username_skeleton"))
        .expect("the skeleton migration");
    for name in &names[..skeleton] {
        std::fs::copy(src.join(name), dir.join(name)).unwrap();
    }
    dir
}

async fn insert_old_users<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, hash: &str)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (i, (name, key)) in OLD_USERS.iter().enumerate() {
        sqlx::query::<DB>(
            "INSERT INTO users (username, username_key, password_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(*name)
        .bind(*key)
        .bind(hash)
        .bind(1_700_000_000_i64 + i as i64)
        .execute(pool)
        .await
        .unwrap();
    }
}

/// Everything a user of the old database relies on, and the new rules applied to newcomers.
async fn exercise(gh: &TestGatehouse) {
    for (name, _) in OLD_USERS {
        let login = gh.login(name, PASSWORD).await;
        assert!(login["access_token"].is_string(), "{name}");
    }
    // Key lookups are unchanged: the fullwidth name logs in as plain `carol` too.
    gh.login("carol", PASSWORD).await;
    for (name, status) in [
        ("ALICE", 409),
        // Only the skeleton filled in at start-up can refuse these.
        ("a1ice", 409),
        ("\u{430}l\u{456}ce", 409),
        ("bob smith", 422),
        ("dave", 201),
    ] {
        let r = gh
            .post_json(
                "/sign-up",
                &json!({"username": name, "password": PASSWORD, "client_id": LEGACY}),
            )
            .await;
        assert_eq!(r.status(), status, "sign-up {name}");
    }
}

fn gatehouse(store_section: &str) -> TestGatehouse {
    TestGatehouse::start_with_store(
        tempfile::tempdir().unwrap(),
        store_section,
        &oauth_sections(""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_sqlite_database_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let hash = gatehouse::users::passwords::hash_now(PASSWORD).unwrap();
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        Migrator::new(old_migrations("sqlite", dir.path()))
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        insert_old_users(&pool, &hash).await;
        pool.close().await;
    }
    let store = format!("[store]\nurl = \"sqlite://{}\"\n", db.display());
    let gh = gatehouse(&store);
    exercise(&gh).await;
    drop(gh);

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let unfilled: Vec<String> =
        sqlx::query_scalar("SELECT username FROM users WHERE username_skeleton IS NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(unfilled, ["\u{430}lice"], "only the later look-alike");
    pool.close().await;

    // A second start meets the look-alike left without a skeleton again, and goes on.
    let gh = gatehouse(&store);
    gh.login("\u{430}lice", PASSWORD).await;
    gh.login("dave", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_postgres_database_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::postgres::url("old_postgres_database_keeps_working").await;
    let schema = support::postgres::fresh_schema();
    let hash = gatehouse::users::passwords::hash_now(PASSWORD).unwrap();
    {
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        let pool = sqlx::PgPool::connect_with(options.options([("search_path", &schema)]))
            .await
            .unwrap();
        Migrator::new(old_migrations("postgres", dir.path()))
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        insert_old_users(&pool, &hash).await;
        pool.close().await;
    }
    let store = support::postgres::store_section(&url, &schema, "");
    let gh = gatehouse(&store);
    exercise(&gh).await;
    drop(gh);
    let gh = gatehouse(&store);
    gh.login("\u{430}lice", PASSWORD).await;
    gh.login("dave", PASSWORD).await;
}
