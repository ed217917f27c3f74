//! PostgreSQL for tests: `GATEHOUSE_TEST_POSTGRES_URL` (CI sets it); each test gets its own
//! schema so tests run in parallel on one database. Without the variable, PostgreSQL tests
//! print why and pass without running.

pub const ENV: &str = "GATEHOUSE_TEST_POSTGRES_URL";

/// The database URL, or `None` after printing the reason the caller is skipping.
pub fn url(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("SKIPPED {test}: {ENV} is not set (CI sets it to postgres://postgres@127.0.0.1:5432/test)");
            None
        }
    }
}

/// A schema name no other test uses.
pub fn fresh_schema() -> String {
    format!("gh_t_{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// The `[store]` section for a Gatehouse on that database and schema.
pub fn store_section(url: &str, schema: &str, extra: &str) -> String {
    format!("[store]\nurl = \"{url}\"\nschema = \"{schema}\"\n{extra}\n")
}
