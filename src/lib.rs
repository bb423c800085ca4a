//! picket continuously probes live service endpoints for security properties and reports
//! regressions: a security property that held and no longer holds.
//!
//! # Layout
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! config + probes (YAML) ─load/validate─▶ Plan (series = probe × target, with phase)
//! Plan ─▶ Scheduler ─fires─▶ Runner (http | tcp | tls) ─▶ Outcome (pass | fail{findings} | error)
//! Outcome ─▶ State machine (per series, persisted) ─▶ Transition (regression | recovery)
//! Outcome + Transition ─▶ Telemetry (OTel metrics, spans, logs)  and  ─▶ API / dashboard
//! Transition ─▶ Notify (webhooks: json | slack | teams)
//! Outcome ─▶ Report (text | json | sarif | junit) and exit code, for `picket check`
//! ```
//!
//! - [`config`]: the service config file, raw shapes and validated [`config::Config`].
//! - [`probe`]: probe files, raw shapes and validated [`probe::Probe`]; what varies between
//!   probe kinds is [`probe::Kind`], one variant and one module per kind (`probe/http.rs`,
//!   `probe/tcp.rs`, `probe/tls.rs`).
//! - [`load`]: reading files and collecting every [`diag::Diagnostic`] in one pass; the
//!   [`load::Compiled`] probe cache a reload loop owns, so a reload compiles only what changed.
//! - [`discover`]: where targets come from, one module per source (`targets_from` files in
//!   `discover/files.rs`).
//! - [`parse`]: parsing a file of a known format, with every shape problem found at once.
//! - [`shape`]: when a file does not deserialize, every wrong key and value in it, found
//!   against its format's JSON Schema, and the repair that lets validation go on.
//! - [`files`]: reading regular files only, non-blocking and with a byte cap; listing the YAML
//!   files under a folder.
//! - [`yaml`]: the YAML parser's options and budgets, and parsing text into a raw shape.
//! - [`library`]: the shipped probe library, embedded in the binary at build time and loaded
//!   like files on disk (`library:headers/hsts.yaml`).
//! - [`plan`]: series (probe × target) with stable keys and hashes.
//! - [`schedule`]: one timer for every series: stable phases, jitter, cron, skipped ticks.
//! - [`run`]: executing a series within concurrency, rate, time and size limits; one runner
//!   module per kind (`run/http.rs`, `run/tcp.rs`, `run/tls.rs`), and below them
//!   `run/net.rs`, name resolution and the one rule on which addresses every kind may reach.
//! - [`check`]: check definitions and their pure evaluation into [`outcome::Finding`]s.
//! - [`outcome`]: what a run produced ([`outcome::Outcome`], [`outcome::RunResult`]), shared
//!   by state, telemetry, API and reports without knowing the probe kind.
//! - [`state`]: the regression state machine, its redb store, and the [`state::Tracker`] that
//!   owns every series' state and publishes its changes (telemetry, the notifier and the demo
//!   follow them; the API and telemetry's state gauges read it).
//! - [`telemetry`]: OpenTelemetry metrics, spans and log records over OTLP.
//! - [`logging`]: what picket's own log on stderr shows by default.
//! - [`api`]: the HTTP API and dashboard.
//! - [`notify`]: webhook notifications of regressions and recoveries (`json`, `slack`,
//!   `teams` bodies), bounded queues and retries; like telemetry, it subscribes to the state.
//! - [`service`]: `picket run`, wiring the stages, reload and shutdown.
//! - [`shard`]: which share of the series this instance runs (`--shard I/N` or `auto`).
//! - [`report`]: the output formats of `picket check`.
//! - [`commands`]: `check`, `validate`, `list`, `probes`, each returning an exit code.
//! - [`demo`]: a deliberately misconfigured loopback service for `picket demo`.
//! - [`diag`], [`redact`], [`term`], [`units`]: diagnostics, secret handling, terminal-safe
//!   text, value types.
//! - [`fds`]: the file-descriptor limit, raised at start, and the API's share of it.
//! - [`crypto`]: the process's rustls crypto provider, installed once by `main`.
//!
//! No module reaches upstream: the runner knows nothing of state or telemetry, the state
//! machine knows nothing of HTTP, the API only reads the tracker.
//!
//! ## Stages
//!
//! Top first. A module imports only modules on its own line or below it, and no import
//! closes a circle (`tests/it/structure.rs` holds both):
//!
//! - `demo`: the demo, on top of the service
//! - `service`: `picket run`
//! - `commands`: the other commands
//! - `shard`, `api`, `notify`, `report`: what reads results
//! - `telemetry`: what records them
//! - `state`: the one owner of series state
//! - `schedule`: when series run
//! - `run`: running a series
//! - `plan`: series from probes and targets
//! - `load`: reading config and probe files
//! - `discover`: where targets come from
//! - `probe`: validated probes
//! - `check`, `tls_scan`: checks and what they evaluate
//! - `config`, `shape`, `parse`: the service config, shapes of files that do not deserialize,
//!   and parsing a file into its raw shape
//! - `outcome`: what a run produced
//! - `software`: products and versions a service volunteers, and their release data
//! - `library`, `files`, `yaml`, `diag`, `redact`, `units`, `term`, `logging`, `fds`, `crypto`:
//!   leaves shared by every stage

pub mod api;
pub mod check;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod diag;
pub mod discover;
pub mod fds;
pub mod files;
pub mod library;
pub mod load;
pub mod logging;
pub mod notify;
pub mod outcome;
pub mod parse;
pub mod plan;
pub mod probe;
pub mod redact;
pub mod report;
pub mod run;
pub mod schedule;
pub mod service;
pub mod shape;
pub mod shard;
pub mod software;
pub mod state;
pub mod telemetry;
pub mod term;
pub mod tls_scan;
pub mod units;
pub mod yaml;
