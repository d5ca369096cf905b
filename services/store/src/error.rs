//! The store's error type and how each error maps onto the run-loop's retry / poison / fatal.

use std::path::PathBuf;

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient (database busy or locked, pool exhausted): try again later.
    Retryable,
    /// Something about this message or request: retrying the same input cannot help.
    Data,
    /// The database itself is unusable (corrupt, I/O error, cannot open): stop.
    Fatal,
}

/// Store errors, with the file, record kind and id they concern.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration cannot work.
    #[error("invalid store config: {0}")]
    Config(String),
    /// The database directory could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// Database file.
        path: PathBuf,
        /// Cause.
        source: sqlx::Error,
    },
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// Server URL, password redacted.
        url: String,
        /// Cause.
        source: sqlx::Error,
    },
    /// A PostgreSQL migration failed.
    #[error("cannot migrate database {url}: {source}")]
    MigratePostgres {
        /// Server URL, password redacted.
        url: String,
        /// Cause.
        source: sqlx::migrate::MigrateError,
    },
    /// Writing command output (search results, an export) failed.
    #[error("cannot write {what}: {source}")]
    Output {
        /// What was being written.
        what: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// A migration failed.
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        /// Database file.
        path: PathBuf,
        /// Cause.
        source: sqlx::migrate::MigrateError,
    },
    /// An event cannot be stored as it is (empty id, score not a number…).
    #[error("invalid {kind} {id:?}: {reason}")]
    Invalid {
        /// Record kind (`story`, `link`, `alert`, `feed_health`, `dead_letter`).
        kind: &'static str,
        /// Its id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing a record failed.
    #[error("cannot write {kind} {id}: {source}")]
    Write {
        /// Record kind.
        kind: &'static str,
        /// Its id.
        id: String,
        /// Cause.
        source: sqlx::Error,
    },
    /// A read query failed.
    #[error("{what} query failed: {source}")]
    Query {
        /// Which query.
        what: &'static str,
        /// Cause.
        source: sqlx::Error,
    },
    /// A stored JSON column does not parse (the file was altered or is damaged).
    #[error("stored {kind} {id} holds invalid JSON: {source}")]
    Corrupt {
        /// Record kind.
        kind: &'static str,
        /// Its id.
        id: String,
        /// Cause.
        source: serde_json::Error,
    },
    /// A search parameter is invalid.
    #[error("invalid parameter {param}: {reason}")]
    InvalidParam {
        /// Parameter name as in the URL.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    /// Whether trying the same operation again may succeed.
    pub fn retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// Retry, drop as bad data, or stop.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Config(_)
            | StoreError::CreateDir { .. }
            | StoreError::Open { .. }
            | StoreError::Migrate { .. }
            | StoreError::MigratePostgres { .. }
            | StoreError::Output { .. }
            | StoreError::Corrupt { .. } => ErrorClass::Fatal,
            // A server that is down or restarting may come back.
            StoreError::Connect { source, .. } => match source {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => ErrorClass::Retryable,
                other => classify_sqlx(other),
            },
            StoreError::Invalid { .. } | StoreError::InvalidParam { .. } => ErrorClass::Data,
            StoreError::Write { source, .. } | StoreError::Query { source, .. } => {
                classify_sqlx(source)
            }
        }
    }
}

// SQLite primary result codes (the low byte of an extended code).
const SQLITE_PERM: i64 = 3;
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PROTOCOL: i64 = 15;
const SQLITE_NOTADB: i64 = 26;

/// Classify an sqlx error: busy/locked and pool waits are transient; a corrupt file, I/O and
/// disk-full errors stop the stage; anything else (constraints, type mismatch, too big) is
/// about the data.
pub fn classify_sqlx(e: &sqlx::Error) -> ErrorClass {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => ErrorClass::Retryable,
        sqlx::Error::Database(db)
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some() =>
        {
            classify_sqlstate(db.code().as_deref().unwrap_or(""))
        }
        sqlx::Error::Database(db) => {
            let code = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            match code {
                Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_PROTOCOL) => ErrorClass::Retryable,
                Some(
                    SQLITE_PERM | SQLITE_NOMEM | SQLITE_READONLY | SQLITE_IOERR | SQLITE_CORRUPT
                    | SQLITE_FULL | SQLITE_CANTOPEN | SQLITE_NOTADB,
                ) => ErrorClass::Fatal,
                _ => ErrorClass::Data,
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Configuration(_)
        | sqlx::Error::WorkerCrashed => ErrorClass::Fatal,
        _ => ErrorClass::Data,
    }
}

/// Classify a PostgreSQL SQLSTATE: serialization failures, deadlocks, lock timeouts, too many
/// connections, a server shutting down or a lost connection are transient; disk full, out of
/// memory, a corrupt database, a privilege or schema problem stop the stage; data exceptions
/// and constraint violations are about the data.
pub fn classify_sqlstate(code: &str) -> ErrorClass {
    match code {
        "40001" | "40P01" | "55P03" | "53300" | "57014" | "57P01" | "57P02" | "57P03" => {
            ErrorClass::Retryable
        }
        c if c.starts_with("08") => ErrorClass::Retryable,
        c if c.starts_with("53") || c.starts_with("58") || c.starts_with("XX") => ErrorClass::Fatal,
        // Privileges, undefined tables or columns: the schema or the role is wrong.
        "42501" | "42P01" | "42703" | "42883" => ErrorClass::Fatal,
        _ => ErrorClass::Data,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_are_retryable() {
        let e = StoreError::Write {
            kind: "story",
            id: "s1".into(),
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(e.retryable());
        assert!(e.to_string().contains("story s1"));
    }

    #[test]
    fn invalid_data_is_not_retryable() {
        let e = StoreError::Invalid {
            kind: "link",
            id: String::new(),
            reason: "empty id".into(),
        };
        assert_eq!(e.class(), ErrorClass::Data);
        assert!(!e.retryable());
        let e = StoreError::Config("x".into());
        assert_eq!(e.class(), ErrorClass::Fatal);
    }

    #[test]
    fn sqlstates() {
        assert_eq!(classify_sqlstate("40001"), ErrorClass::Retryable);
        assert_eq!(classify_sqlstate("08006"), ErrorClass::Retryable);
        assert_eq!(classify_sqlstate("53100"), ErrorClass::Fatal);
        assert_eq!(classify_sqlstate("42P01"), ErrorClass::Fatal);
        assert_eq!(classify_sqlstate("23505"), ErrorClass::Data);
        assert_eq!(classify_sqlstate("22P02"), ErrorClass::Data);
    }
}
