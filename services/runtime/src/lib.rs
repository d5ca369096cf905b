//! # wirewatch-runtime — what every stage shares
//!
//! Stages (fetcher, dedup, classifier, alerter, store) are libraries; this crate gives them:
//!
//! - [`config`]: the shared config sections (data dir, logging, HTTP, bus, shutdown). Each stage
//!   crate owns its own section; the `wirewatch` binary assembles the whole file.
//! - [`bus`]: the [`bus::Publisher`] / [`bus::Subscriber`] interface with two implementations,
//!   Kafka (rdkafka, at-least-once, dead-letter topic) and in-process (bounded channels).
//! - [`stage`]: the run-loop for transforms and sinks ([`stage::Processor`]): receive, process,
//!   publish every output, then acknowledge; poison messages go to the dead-letter topic.
//! - [`metrics`] and [`http`]: Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` server.
//! - [`logging`]: `tracing` set-up (text or JSON).
//! - [`backoff`]: exponential backoff with jitter.
//!
//! It reads nothing and writes nothing on its own: the bus reads and writes whatever topics a
//! stage asks for.

pub mod backoff;
pub mod bus;
pub mod config;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod stage;

pub use tokio_util::sync::CancellationToken;
pub use wirewatch_proto as proto;

/// Version string stages stamp into events (`fetcher_version`, …).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
