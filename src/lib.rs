//! picket continuously probes live service endpoints for security properties and reports
//! regressions: a security property that held and no longer holds.
//!
//! # Layout
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! config + probes (YAML) ─load/validate─▶ Plan (series = probe × target)
//! Plan ─▶ Runner (http) ─▶ Outcome (pass | fail{findings} | error)
//! Outcome ─▶ Report (text | json | sarif | junit) and exit code
//! ```
//!
//! - [`config`]: the service config file, raw shapes and validated [`config::Config`].
//! - [`probe`]: probe files, raw shapes and validated [`probe::Probe`].
//! - [`check`]: check definitions and their pure evaluation into [`check::Finding`]s.
//! - [`load`]: reading files and collecting every [`diag::Diagnostic`] in one pass.
//! - [`plan`]: series (probe × target) with stable keys and hashes.
//! - [`run`]: executing a series within concurrency, rate, time and size limits.
//! - [`report`]: the output formats of `picket check`.
//! - [`commands`]: `check`, `validate`, `list`, each returning an exit code.
//! - [`demo`]: a deliberately misconfigured loopback service for `picket demo`.
//! - [`diag`], [`redact`], [`units`]: diagnostics, secret handling, value types.
//!
//! No module reaches upstream: the runner knows nothing of reports, checks know nothing of
//! HTTP clients.

pub mod api;
pub mod check;
pub mod commands;
pub mod config;
pub mod demo;
pub mod diag;
pub mod load;
pub mod plan;
pub mod probe;
pub mod redact;
pub mod report;
pub mod run;
pub mod schedule;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod units;
