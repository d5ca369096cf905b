//! The whole configuration file: shared runtime sections plus one section per stage.
//! Layered: built-in defaults → TOML file → `WIREWATCH__SECTION__KEY` environment variables.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use wirewatch_alerter::AlerterConfig;
use wirewatch_classifier::ClassifierConfig;
use wirewatch_dedup::DedupConfig;
use wirewatch_fetcher::FetcherConfig;
use wirewatch_runtime::config::{BusConfig, HttpConfig, LogConfig, ShutdownConfig};
use wirewatch_store::StoreConfig;

/// `config/wirewatch.toml`. Unknown keys are errors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for state and the SQLite database.
    pub data_dir: PathBuf,
    /// Logging.
    pub log: LogConfig,
    /// `/metrics`, `/healthz`, `/readyz` and the store API.
    pub http: HttpConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// The bus (in-process for `run`, Kafka for `serve`).
    pub bus: BusConfig,
    /// Feed polling.
    pub fetcher: FetcherConfig,
    /// Duplicate detection.
    pub dedup: DedupConfig,
    /// Topics and entities.
    pub classifier: ClassifierConfig,
    /// Subscriptions and delivery.
    pub alerter: AlerterConfig,
    /// Database and search API.
    pub store: StoreConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: wirewatch_runtime::config::default_data_dir(),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            shutdown: ShutdownConfig::default(),
            bus: BusConfig::default(),
            fetcher: FetcherConfig::default(),
            dedup: DedupConfig::default(),
            classifier: ClassifierConfig::default(),
            alerter: AlerterConfig::default(),
            store: StoreConfig::default(),
        }
    }
}

/// The default config file, used when `--config` is not given and the file exists.
pub const DEFAULT_PATH: &str = "config/wirewatch.toml";

/// Build the layered figment for `path` (`None`: the default file if present).
pub fn figment(path: Option<&Path>) -> Figment {
    let mut f = Figment::from(Serialized::defaults(Config::default()));
    match path {
        Some(p) => f = f.merge(Toml::file_exact(p)),
        None => {
            if Path::new(DEFAULT_PATH).exists() {
                f = f.merge(Toml::file_exact(DEFAULT_PATH));
            }
        }
    }
    f.merge(Env::prefixed("WIREWATCH__").split("__"))
}

/// Load the config, or every error with its key path.
pub fn load(path: Option<&Path>) -> Result<Config, Vec<String>> {
    if let Some(p) = path {
        if !p.exists() {
            return Err(vec![format!("config file {} does not exist", p.display())]);
        }
    }
    figment(path).extract::<Config>().map_err(|e| {
        e.into_iter()
            .map(|err| {
                let key = if err.path.is_empty() {
                    "(top level)".to_string()
                } else {
                    err.path.join(".")
                };
                let origin = err
                    .metadata
                    .as_ref()
                    .map(|m| format!(" (from {})", m.name))
                    .unwrap_or_default();
                format!("{key}: {}{origin}", err.kind)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(s: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.toml");
        std::fs::write(&p, s).unwrap();
        (d, p)
    }

    #[test]
    fn unknown_keys_are_errors_with_their_path() {
        let (_d, p) = write("[bus.kafka]\nbootstrap_server = \"x\"\n");
        let errs = load(Some(&p)).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.starts_with("bus.kafka") && e.contains("bootstrap_server")),
            "{errs:?}"
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        let (_d, p) = write("[http]\nlisten = 42\n");
        let errs = load(Some(&p)).unwrap_err();
        assert!(
            errs.iter().any(|e| e.starts_with("http.listen")),
            "{errs:?}"
        );
    }

    #[test]
    fn file_values_override_defaults() {
        let (_d, p) = write("data_dir = \"/tmp/x\"\n[bus]\ntopic_prefix = \"p\"\n");
        let c = load(Some(&p)).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.bus.topic_prefix, "p");
        assert_eq!(
            c.bus.channel_capacity,
            BusConfig::default().channel_capacity
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        let errs = load(Some(Path::new("/nonexistent/w.toml"))).unwrap_err();
        assert!(errs[0].contains("does not exist"));
    }

    #[test]
    fn shipped_config_is_valid() {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/wirewatch.toml");
        load(Some(&p)).unwrap();
    }
}
