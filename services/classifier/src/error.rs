//! Errors of the classifier: loading its rule files and model, reading a story from JSON,
//! training.

use std::path::PathBuf;

/// What went wrong, with the file, entry and field (or the story field) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// A rule file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A rule file is not valid TOML or does not have the expected shape (the message carries
    /// line, column and the offending key).
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// An entry of a rule file has an invalid value.
    #[error("{}: {entry}: field `{field}`: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which entry, e.g. `country #3 (code "XX")`.
        entry: String,
        /// Which field of the entry.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A line of a training file is invalid.
    #[error("{}: line {line}: {reason}", path.display())]
    Data {
        /// The training file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Training could not run (too few labels, options out of range).
    #[error("cannot train: {reason}")]
    Train {
        /// Why.
        reason: String,
    },
    /// A model file is invalid (wrong format or version, inconsistent shapes, labels that are
    /// not taxonomy topics).
    #[error("model {}: {reason}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An output file (model, report) could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A story given as JSON lacks a field or has one of the wrong type.
    #[error("invalid story: field `{field}`: {reason}")]
    Input {
        /// The field (`(json)` when the line is not JSON at all).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ClassifierError {
    /// Whether trying again can help: never, all of these need a changed file or input.
    pub fn retryable(&self) -> bool {
        false
    }

    pub(crate) fn invalid(
        path: &std::path::Path,
        entry: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ClassifierError::Invalid {
            path: path.to_path_buf(),
            entry: entry.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ClassifierError::Input {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Read and parse one TOML rule file.
pub(crate) fn load_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<(T, String), ClassifierError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClassifierError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = toml::from_str(&text).map_err(|e| ClassifierError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string().trim_end().to_string(),
    })?;
    Ok((parsed, text))
}
