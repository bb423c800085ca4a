//! What a run produced, in terms every later stage shares without knowing the probe kind:
//! the [`Outcome`] (pass, fail with [`Finding`]s, or error), and the [`RunResult`] around it.
//! State, telemetry, the API and reports depend on this module, never on a runner.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One failed check: which check, what it expected, what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check, as a short sentence (`header strict-transport-security present`).
    pub check: String,
    /// What the check expected.
    pub expected: String,
    /// What the response showed.
    pub observed: String,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// At least one check failed.
    Fail(Vec<Finding>),
    /// The run could not be evaluated.
    Error(RunError),
}

impl Outcome {
    /// `pass`, `fail` or `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Error(_) => "error",
        }
    }

    /// The findings of a failed run (empty otherwise).
    pub fn findings(&self) -> &[Finding] {
        match self {
            Outcome::Fail(f) => f,
            _ => &[],
        }
    }
}

/// Why a run could not be evaluated. The message is already scrubbed of secrets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}: {message}")]
pub struct RunError {
    /// Short class, used as `error.type`.
    pub kind: ErrorKind,
    /// Detail for people.
    pub message: String,
}

/// Classes of run errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The run exceeded its timeout.
    Timeout,
    /// Name resolution failed.
    Dns,
    /// TCP connect failed or was refused.
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// The peer broke the HTTP protocol or the connection.
    Http,
    /// A request could not be built (a bug or a bad variable value).
    Request,
    /// The body was cut at `max_body_bytes` and some check could not be decided on the part
    /// that was read.
    BodyTooLarge,
}

impl ErrorKind {
    /// The name used in output and as `error.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Http => "http",
            ErrorKind::Request => "request",
            ErrorKind::BodyTooLarge => "body_too_large",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Probe id.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// What happened.
    pub outcome: Outcome,
    /// When the run started (wall clock).
    pub started: SystemTime,
    /// How long it took, including waits for rate slots.
    pub duration: Duration,
    /// The first request's URL, secrets removed.
    pub url: String,
    /// Host of the target.
    pub server_address: String,
    /// Port of the target.
    pub server_port: u16,
    /// Status code of the last response, if any.
    pub status: Option<u16>,
    /// What a `tls` run saw of the certificate: when the leaf expires.
    pub certificate_not_after: Option<SystemTime>,
    /// Kind-specific span attributes (`tls.protocol.version`, `tls.cipher`, …).
    pub attributes: Vec<(&'static str, String)>,
}
