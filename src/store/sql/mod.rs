//! The SQL both backends run, written once: `SqlStore<DB>` implements every store trait over the
//! sqlx database type, one file per trait. SQLite and PostgreSQL agree on everything used here
//! (`$n` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`, booleans bound as `bool`); what
//! differs between them is the `Dialect`.

mod facebook;
mod grants;
mod keys;
mod maintenance;
mod oidc;
mod redeem;
mod rows;
mod sessions;
mod throttle;
mod tokens;
mod users;

use super::sqlite_grants::GrantWriter;
use super::TokenHash;
use sqlx::{Database, Decode, Encode, Pool, Type};
use std::future::Future;

/// A store on one SQL backend; `SqliteStore` and `PostgresStore` name its two instances.
///
/// Every impl on it repeats the same `where` clause: Rust implies only a trait's supertraits,
/// never its other bounds, so the sqlx requirements cannot be gathered into one trait. They
/// say that the backend's connections run queries, its rows are read by column name or
/// position, and the `ColumnValue` types are bound and read. `&str` and `&[u8]` are listed
/// apart because sqlx encodes them per backend, not through its generic impl for references.
pub struct SqlStore<DB: Database> {
    pub(super) pool: Pool<DB>,
    /// SQLite only: the thread that writes the hot grants (`store/sqlite_grants.rs`).
    pub(super) grants: Option<GrantWriter>,
}

/// What differs between the backends; everything else is the same SQL on both.
pub trait Dialect: Database {
    /// Announces revoked access tokens to other replicas. Runs inside the revoking transaction
    /// so that the announcement goes out exactly when the revocation commits.
    fn notify_revoked(
        conn: &mut Self::Connection,
        hashes: &[TokenHash],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Rows an INSERT, UPDATE or DELETE touched: sqlx reports it only on each backend's own
    /// result type, not through `Database`.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// A Rust type stored in a column: bound as a parameter and read back from a row.
pub trait ColumnValue<DB: Database>:
    Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Send
{
}

impl<DB: Database, T> ColumnValue<DB> for T where
    T: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Send
{
}

/// Hashes come back from binary columns; anything not 32 bytes is a corrupt row.
fn to_hash(bytes: Vec<u8>) -> Result<TokenHash, sqlx::Error> {
    bytes
        .try_into()
        .map_err(|_| sqlx::Error::Decode("token hash is not 32 bytes".into()))
}

fn to_hashes(rows: Vec<Vec<u8>>) -> Result<Vec<TokenHash>, sqlx::Error> {
    rows.into_iter().map(to_hash).collect()
}
