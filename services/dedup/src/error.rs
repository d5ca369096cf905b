//! Dedup errors.

use std::path::PathBuf;

/// What can go wrong in dedup.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    /// The state database could not be opened or migrated.
    #[error("dedup state {path}: {source}")]
    Open {
        /// File.
        path: PathBuf,
        /// Cause.
        source: sqlx::Error,
    },
    /// Reading or writing the state failed.
    #[error("dedup state: {0}")]
    State(#[from] sqlx::Error),
    /// The state file was written by a newer version of the format (not retryable: run the
    /// newer build, or move the file away to start afresh).
    #[error("dedup state {path} has format version {found}; this build reads up to {supported}")]
    Version {
        /// File.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build reads.
        supported: i64,
    },
    /// A stored verdict could not be decoded (corrupt state).
    #[error("dedup state holds an undecodable verdict for story {story_id}: {reason}")]
    Corrupt {
        /// Story.
        story_id: String,
        /// Cause.
        reason: String,
    },
    /// An input line (CLI) is not a story.
    #[error("line {line}: {reason}")]
    Input {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl DedupError {
    /// Whether retrying may help (busy or locked database).
    pub fn retryable(&self) -> bool {
        match self {
            DedupError::State(e) => {
                matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_))
                    || e.as_database_error()
                        .and_then(|d| d.code())
                        .is_some_and(|c| c == "5" || c == "6")
            }
            _ => false,
        }
    }
}
