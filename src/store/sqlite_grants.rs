//! SQLite's hot grant writes (a grant's new tokens, a refresh token's rotation) on one thread
//! that owns a connection of its own. Through sqlx every statement is a round trip to its
//! connection's worker thread (six for a rotation), and the pool's connections contend for
//! SQLite's one write lock, waiting in its sleeping busy handler. Here a grant is one job on one
//! thread with its statements prepared once; the jobs that queued up while a batch ran are
//! committed together (one WAL append for them all), each in a savepoint of its own, so a grant
//! that fails leaves nothing behind and one that succeeds is reported only once committed.
//! Other writers (sqlx's pool) still share the file, under the same busy timeout.

use super::{
    IssuedTokens, Reissue, Renewal, StoreError, StoredAccessToken, StoredRefreshToken, TokenHash,
};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Most jobs committed in one transaction: a bound on how long the first of them waits.
const MAX_BATCH: usize = 64;

/// Runs inside its savepoint, then hands back how to report its outcome once the batch ended.
type Job = Box<dyn FnOnce(&Connection) -> Settle + Send>;

/// A job's outcome, sent when its batch committed (`None`) or failed (the error).
struct Settle {
    failed: bool,
    send: Reply,
}

type Reply = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

/// The queue of the grant thread; the thread ends (closing its connection) with the store.
pub struct GrantWriter {
    jobs: mpsc::Sender<Job>,
}

impl GrantWriter {
    /// Opens a second connection to the store's file, already created and migrated by sqlx
    /// (WAL is a property of the file), with the pool's settings.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(store_error)?;
        conn.busy_timeout(busy_timeout).map_err(store_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(store_error)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(store_error)?;
        // Every statement of the thread stays prepared (about a dozen; rusqlite keeps 16).
        conn.set_prepared_statement_cache_capacity(32);
        // A grant dirties ~10 pages (two tables, their indexes), most of them the same few hot
        // pages every commit; a checkpoint copies each page of the WAL once. Checkpointing
        // every 4000 frames (16 MiB of WAL, the file's high-water mark) instead of SQLite's
        // 1000 copies the hot pages a quarter as often and fsyncs a quarter as often.
        conn.pragma_update(None, "wal_autocheckpoint", 4000)
            .map_err(store_error)?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("gatehouse-sqlite-grants".into())
            .spawn(move || serve(conn, queue))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite grant thread: {e}"))
            })?;
        Ok(GrantWriter { jobs })
    }

    /// Runs `f` on the grant thread in a savepoint of the current batch.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Settle {
                failed: result.is_err(),
                send: Box::new(move |batch_error| {
                    let outcome = match (result, batch_error) {
                        (Ok(v), None) => Ok(v),
                        (Ok(_), Some(e)) => Err(store_error_ref(e)),
                        (Err(e), _) => Err(store_error(e)),
                    };
                    // The caller may have gone (a dropped request); the write stands.
                    let _ = reply.send(outcome);
                }),
            }
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes an access token and its refresh token, if any.
    pub async fn insert_tokens(&self, tokens: IssuedTokens) -> Result<(), StoreError> {
        self.call(move |c| insert_issued(c, &tokens)).await
    }

    /// A refresh token in any state.
    pub async fn find_refresh_token(
        &self,
        hash: TokenHash,
    ) -> Result<Option<StoredRefreshToken>, StoreError> {
        self.call(move |c| find_refresh(c, &hash)).await
    }

    /// `TokenStore::renew_refresh_token` as one job: the look-up, `reissue` and the writes in
    /// one savepoint, so the token read is the token claimed (no other job runs in between,
    /// and the look-up sees only what this batch's earlier jobs left standing). `reissue` must
    /// be cheap: every grant of the batch waits for it.
    pub async fn renew(
        &self,
        old: TokenHash,
        now: i64,
        mut reissue: Reissue,
    ) -> Result<Renewal, StoreError> {
        self.call(move |c| {
            let Some(stored) = find_refresh(c, &old)? else {
                return Ok(Renewal::Unusable);
            };
            // Refused whatever its state (another client's, a wider scope): no replay of it.
            let Some(tokens) = reissue.call(&stored) else {
                return Ok(Renewal::Declined(stored));
            };
            rotate(c, &old, now, &tokens)
        })
        .await
    }

    /// Claims `old` if it is live and not yet rotated and writes `tokens` in its place; a
    /// rotated `old` is a replay and its family is revoked (`TokenStore::renew_refresh_token`).
    pub async fn rotate(
        &self,
        old: TokenHash,
        now: i64,
        tokens: IssuedTokens,
    ) -> Result<Renewal, StoreError> {
        self.call(move |c| rotate(c, &old, now, &tokens)).await
    }
}

fn serve(conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch);
    }
}

/// One of the batch's own statements, prepared once: rusqlite's `Transaction` and `Savepoint`
/// compile theirs on every use (two compilations per job, two per batch).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// One transaction for the batch, one savepoint per job. A job that failed is rolled back to
/// its savepoint and reports its own error; the others report the commit's outcome.
fn run_batch(conn: &Connection, batch: Vec<Job>) {
    // IMMEDIATE: the write lock is taken (or waited for) at BEGIN, never upgraded mid-way.
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        // Dropping the jobs unanswered tells each caller the store is unavailable.
        tracing::warn!(error = %e, "SQLite grant batch could not begin");
        return;
    }
    let mut settled = Vec::with_capacity(batch.len());
    let mut broken = None;
    // A job alone in its batch needs no savepoint: the transaction is its own. (A savepoint
    // costs two statements and, in WAL mode, a copy of every page the job changes.)
    let alone = batch.len() == 1;
    for job in batch {
        if alone {
            settled.push(job(conn));
            break;
        }
        if let Err(e) = exec(conn, "SAVEPOINT grant_job") {
            broken = Some(e);
            break;
        }
        let settle = job(conn);
        let ended = if settle.failed {
            // The failed job's writes go; the batch's other jobs stand.
            exec(conn, "ROLLBACK TO grant_job").and_then(|()| exec(conn, "RELEASE grant_job"))
        } else {
            exec(conn, "RELEASE grant_job")
        };
        settled.push(settle);
        if let Err(e) = ended {
            broken = Some(e);
            break;
        }
    }
    let failed_alone = alone && settled.iter().any(|s| s.failed);
    let outcome = match broken {
        // The unrun jobs were dropped unanswered; the run ones are rolled back with the batch.
        Some(e) => Err(e),
        // It reports its own error; nothing of it may stay.
        None if failed_alone => exec(conn, "ROLLBACK"),
        None => exec(conn, "COMMIT"),
    };
    if outcome.is_err() && !conn.is_autocommit() {
        if let Err(e) = exec(conn, "ROLLBACK") {
            tracing::warn!(error = %e, "SQLite grant batch could not roll back");
        }
    }
    let error = outcome.err();
    for s in settled {
        (s.send)(error.as_ref());
    }
}

const INSERT_ACCESS: &str = "INSERT INTO access_tokens (token_hash, user_id, user_name, \
    client_id, scopes, admin, created_at, expires_at, revoked_at, family_id, user_groups) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, family_id, user_id, \
    user_name, client_id, scopes, admin, created_at, expires_at, user_groups) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const FIND_REFRESH: &str = "SELECT family_id, user_id, user_name, client_id, scopes, admin, \
    created_at, expires_at, rotated_at, revoked_at, user_groups FROM refresh_tokens \
    WHERE token_hash = ?1";

fn insert_access(c: &Connection, hash: &TokenHash, t: &StoredAccessToken) -> rusqlite::Result<()> {
    c.prepare_cached(INSERT_ACCESS)?.execute(params![
        &hash[..],
        t.user_id,
        t.user_name,
        t.client_id,
        t.scopes,
        t.admin,
        t.created_at,
        t.expires_at,
        t.revoked.then_some(t.created_at),
        t.family_id,
        t.groups,
    ])?;
    Ok(())
}

fn insert_issued(c: &Connection, tokens: &IssuedTokens) -> rusqlite::Result<()> {
    insert_access(c, &tokens.access.0, &tokens.access.1)?;
    if let Some((hash, r)) = &tokens.refresh {
        c.prepare_cached(INSERT_REFRESH)?.execute(params![
            &hash[..],
            r.family_id,
            r.user_id,
            r.user_name,
            r.client_id,
            r.scopes,
            r.admin,
            r.created_at,
            r.expires_at,
            r.groups,
        ])?;
    }
    Ok(())
}

fn find_refresh(c: &Connection, hash: &TokenHash) -> rusqlite::Result<Option<StoredRefreshToken>> {
    c.prepare_cached(FIND_REFRESH)?
        .query_row(params![&hash[..]], |row| {
            Ok(StoredRefreshToken {
                family_id: row.get(0)?,
                user_id: row.get(1)?,
                user_name: row.get(2)?,
                client_id: row.get(3)?,
                scopes: row.get(4)?,
                admin: row.get(5)?,
                created_at: row.get(6)?,
                expires_at: row.get(7)?,
                rotated: row.get::<_, Option<i64>>(8)?.is_some(),
                revoked: row.get::<_, Option<i64>>(9)?.is_some(),
                groups: row.get(10)?,
            })
        })
        .optional()
}

/// The same statements as `SqlStore::renew_once`'s transaction, in the job's savepoint.
fn rotate(
    c: &Connection,
    old: &TokenHash,
    now: i64,
    tokens: &IssuedTokens,
) -> rusqlite::Result<Renewal> {
    let claimed = c
        .prepare_cached(
            "UPDATE refresh_tokens SET rotated_at = ?1 WHERE token_hash = ?2 \
             AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?1",
        )?
        .execute(params![now, &old[..]])?;
    if claimed == 1 {
        insert_issued(c, tokens)?;
        return Ok(Renewal::Renewed);
    }
    // Rotated by now (perhaps by a job since the look-up): a replay.
    let family: Option<String> = c
        .prepare_cached(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = ?1 AND rotated_at IS NOT NULL",
        )?
        .query_row(params![&old[..]], |row| row.get(0))
        .optional()?;
    let Some(family) = family else {
        return Ok(Renewal::Unusable);
    };
    c.prepare_cached(
        "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE family_id = ?2",
    )?
    .execute(params![now, family])?;
    let mut revoke = c.prepare_cached(
        "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE family_id = ?2 \
         RETURNING token_hash",
    )?;
    let hashes = revoke
        .query_map(params![now, family], |row| row.get::<_, Vec<u8>>(0))?
        .map(|h| {
            h.and_then(|bytes| {
                TokenHash::try_from(bytes).map_err(|b| {
                    rusqlite::Error::FromSqlConversionFailure(
                        b.len(),
                        rusqlite::types::Type::Blob,
                        "token hash is not 32 bytes".into(),
                    )
                })
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Renewal::Replayed { revoked: hashes })
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite grant writer did not answer".into())
}

fn store_error(e: rusqlite::Error) -> StoreError {
    store_error_ref(&e)
}

/// As `From<sqlx::Error>`: a unique constraint is a conflict, a busy or unopenable file is
/// unavailability, anything else a failed query.
fn store_error_ref(e: &rusqlite::Error) -> StoreError {
    match e.sqlite_error() {
        Some(f)
            if f.code == ErrorCode::ConstraintViolation
                && matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            StoreError::Conflict
        }
        Some(f)
            if matches!(
                f.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::CannotOpen
                    | ErrorCode::SystemIoFailure
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Query(e.to_string()),
    }
}
