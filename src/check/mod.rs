//! Checks: what must hold about an observation, one module per probe kind.
//!
//! A failed check is data, not an error: each kind's `evaluate` returns [`Finding`]s (expected
//! vs observed) and never fails; only the runner deals with infrastructure faults. Evaluation is
//! pure, over what the runner captured, so every check is testable without a network.
//!
//! - [`http`]: status, headers, body, JSON, cookies, Content-Security-Policy ([`csp`]), the
//!   redirect target and timing of a response, with `all_of`, `any_of` and `not`;
//! - [`nuclei`]: a nuclei template's matcher block, as one more http check;
//! - [`tcp`]: whether a port connects, and the banner it sends;
//! - [`tls`]: protocol versions, cipher suites, the certificate and client-certificate demands.

pub mod canary;
pub mod csp;
pub mod http;
pub mod nuclei;
pub mod regex;
pub mod response;
pub mod software;
pub mod tcp;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::outcome::Finding;
use crate::redact::Redactor;
use crate::units::Severity;

/// Lets the runner stop an evaluation it no longer waits for (its run timed out): evaluation
/// runs off the async workers, where a timeout cannot cancel it, so the long loops (checks,
/// matchers, regexes, word matches) look at this between steps and give up once it is set.
/// What an interrupted evaluation returns is meaningless and is discarded.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// An interrupt nobody has set yet.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Asks the evaluation to stop.
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the evaluation should stop.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A check of any kind, with the severity its findings carry when a probe grades its checks
/// (`severity:` beside the check); without one, findings count at the probe's severity.
#[derive(Debug, Clone)]
pub struct Graded<C> {
    /// The check.
    pub check: C,
    /// Overrides the probe's severity for this check's findings.
    pub severity: Option<Severity>,
    /// The probe's words for the check (`title:`), replacing the derived ones.
    pub title: Option<String>,
    /// The probe's words for what should hold (`expected:`), replacing the derived ones.
    pub expected: Option<String>,
}

impl<C> From<C> for Graded<C> {
    fn from(check: C) -> Self {
        Graded {
            check,
            severity: None,
            title: None,
            expected: None,
        }
    }
}

impl<C> Graded<C> {
    /// Marks the findings this check produced with its severity, title and expectation, if the
    /// probe gives them. A title replaces the derived words, which stay in `detail`.
    pub(crate) fn stamp(&self, findings: &mut [Finding]) {
        for f in findings {
            if let Some(severity) = self.severity {
                f.severity = Some(severity);
            }
            if let Some(title) = &self.title {
                let derived = std::mem::replace(&mut f.check, title.clone());
                f.detail.get_or_insert(derived);
            }
            if let Some(expected) = &self.expected {
                f.expected.clone_from(expected);
            }
        }
    }
}

/// How much of an observed value a finding quotes.
pub(crate) const MAX_OBSERVED_CHARS: usize = 200;

impl Finding {
    /// The finding as it may leave picket: every secret scrubbed from every field, then the
    /// observed value clipped to [`MAX_OBSERVED_CHARS`] characters (and the check, which can
    /// quote a cookie name or a path from the target, to [`MAX_CHECK_CHARS`]).
    pub fn redacted(&self, redactor: &Redactor) -> Finding {
        Finding {
            check: clip(&redactor.scrub(&self.check), MAX_CHECK_CHARS),
            expected: redactor.scrub(&self.expected).into_owned(),
            observed: clip(&redactor.scrub(&self.observed), MAX_OBSERVED_CHARS),
            detail: self
                .detail
                .as_ref()
                .map(|d| clip(&redactor.scrub(d), MAX_CHECK_CHARS)),
            severity: self.severity,
        }
    }
}

/// Items as a sentence lists them: `a`, `a or b`, `a, b and c`.
pub(crate) fn list_words(items: &[String], conjunction: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

/// How much of a check's description a finding keeps.
const MAX_CHECK_CHARS: usize = 1000;

/// Shortens long text to `max` characters, on a character boundary.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}
