//! PostgreSQL for tests: `GATEHOUSE_TEST_POSTGRES_URL` when set, otherwise the local server on
//! its standard port as CI has it (`postgres://postgres@127.0.0.1:5432/test`). Each test gets
//! its own schema so tests run in parallel on one database. A test that needs PostgreSQL and
//! cannot reach it fails, saying so; it is never skipped.

use sqlx::Connection;
use std::time::Duration;

pub const ENV: &str = "GATEHOUSE_TEST_POSTGRES_URL";

/// Where the tests look when `ENV` is not set.
pub const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The database URL, checked by connecting to it; panics naming PostgreSQL and `ENV` when
/// nothing answers there.
pub async fn url(test: &str) -> String {
    let (url, from) = match std::env::var(ENV) {
        Ok(u) if !u.is_empty() => (u, format!("{ENV} is set to it")),
        _ => (LOCAL.to_string(), format!("{ENV} is not set")),
    };
    let error = match tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::PgConnection::connect(&url),
    )
    .await
    {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            return url;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 10 s".to_string(),
    };
    panic!(
        "{test} needs PostgreSQL, which does not answer at {url} ({from}): {error}. \
         Start PostgreSQL there (user postgres, trust auth, database test, as on CI) \
         or set {ENV} to a database URL that answers."
    )
}

/// A schema name no other test uses.
pub fn fresh_schema() -> String {
    format!("gh_t_{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// The `[store]` section for a Gatehouse on that database and schema.
pub fn store_section(url: &str, schema: &str, extra: &str) -> String {
    format!("[store]\nurl = \"{url}\"\nschema = \"{schema}\"\n{extra}\n")
}
