//! picket's integration tests: one binary, one module per capability (each test file would
//! otherwise be its own binary to link). Every test talks only to loopback servers it starts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod helpers;

mod api;
mod budgets;
mod checks;
mod cli;
mod cluster;
mod containment;
mod crash;
mod dashboard;
mod deploy;
mod docs;
mod e2e;
mod error_kinds;
mod files;
mod findings;
mod gate;
mod hostile;
mod hostile_api;
mod http_sd;
mod kubernetes;
mod library;
mod limits;
mod logs;
mod notify;
mod nuclei;
mod otlp;
mod pg;
mod pg_store;
mod probes;
mod props;
mod quickstart;
mod real_servers;
mod sarif;
mod secret_owners;
mod secrets;
mod service;
mod shard;
mod software_data;
mod software_eol;
mod software_props;
mod software_real;
mod ssrf;
mod structure;
mod tcp;
mod term;
mod tls;
mod tls_mtls;
mod tls_scan;
mod tls_servers;
mod tls_trust;
mod truncated;
mod validate;
mod warnings;
