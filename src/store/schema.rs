//! The schema migrations, compiled into the binary: `src/store/migrations/<dialect>/`, applied
//! by sqlx's `Migrator` as `sqlx::migrate!` would apply them (same versions, descriptions and
//! checksums, so a store migrated by an older build is recognised).
//!
//! Built here rather than with `sqlx::migrate!` because that macro lives in `sqlx-macros`,
//! which, once enabled, compiles sqlx's SQLite and PostgreSQL drivers (and SQLite's C source) a
//! second time for the compiler host: most of a minute of every clean build, for a list of
//! eight files. A unit test checks the lists against the directories.

use futures_core::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;

/// `(file name, SQL)`, in version order.
type Files = &'static [(&'static str, &'static str)];

macro_rules! migration_files {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("migrations/", $dir, "/", $file)))),+]
    };
}

pub const SQLITE: Files = migration_files!("sqlite":
    "0001_access_tokens.sql",
    "0002_oauth.sql",
    "0003_facebook.sql",
    "0004_username_skeleton.sql",
    "0005_groups.sql",
    "0006_sessions.sql",
    "0007_server_keys.sql",
    "0008_oidc.sql",
);

pub const POSTGRES: Files = migration_files!("postgres":
    "0001_initial.sql",
    "0002_facebook.sql",
    "0003_username_skeleton.sql",
    "0004_groups.sql",
    "0005_sessions.sql",
    "0006_server_keys.sql",
    "0007_oidc.sql",
);

/// A `Migrator` over `files`; fails only on a file name without a `NNNN_` version.
pub async fn migrator(files: Files) -> Result<Migrator, String> {
    Migrator::new(Embedded(files))
        .await
        .map_err(|e| e.to_string())
}

#[derive(Debug)]
struct Embedded(Files);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            self.0
                .iter()
                .map(|&(file, sql)| migration(file, sql))
                .collect::<Result<Vec<_>, _>>()
                .map_err(BoxDynError::from)
        })
    }
}

/// As sqlx reads a migrations directory: `<version>_<description>.sql`, underscores in the
/// description read as spaces; `-- no-transaction` on the first line runs it outside one.
fn migration(file: &'static str, sql: &'static str) -> Result<Migration, String> {
    let stem = file.strip_suffix(".sql").unwrap_or(file);
    let (version, description) = stem
        .split_once('_')
        .ok_or_else(|| format!("migration {file}: no `NNNN_` version"))?;
    let version = version
        .parse()
        .map_err(|_| format!("migration {file}: `{version}` is not a version number"))?;
    Ok(Migration::new(
        version,
        Cow::Owned(description.replace('_', " ")),
        MigrationType::Simple,
        Cow::Borrowed(sql),
        sql.starts_with("-- no-transaction"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.sql` file of the dialect's directory is listed, in order, and none twice.
    fn check(dir: &str, files: Files) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/store/migrations")
            .join(dir);
        let mut on_disk: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let listed: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            listed, on_disk,
            "src/store/schema.rs lists {dir}'s migrations"
        );
    }

    #[test]
    fn lists_match_the_directories() {
        check("sqlite", SQLITE);
        check("postgres", POSTGRES);
    }

    #[tokio::test]
    async fn versions_and_descriptions_as_sqlx_reads_them() {
        let m = migrator(SQLITE).await.unwrap();
        let versions: Vec<i64> = m.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=8).collect::<Vec<_>>());
        assert_eq!(m.iter().next().unwrap().description, "access tokens");
        // sqlx's checksum: SHA-384 of the file's text, as `migrate!` computed it.
        use sha2::{Digest, Sha384};
        let first = m.iter().next().unwrap();
        assert_eq!(&*first.checksum, &Sha384::digest(SQLITE[0].1)[..]);
        assert!(migration("oops.sql", "").is_err());
    }
}
