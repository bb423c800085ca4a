//! Whether exports reach the OTLP collector, told in picket's own log once per change.
//!
//! The SDK reports each failed export itself, one raw line per signal and attempt that does
//! not name the endpoint; picket's log leaves those out (see `crate::logging`). Instead this
//! says once that the collector cannot be reached, naming the endpoint and the error, reminds
//! at most every [`REMINDER`] while that lasts, and says when exports get through again. What
//! is dropped meanwhile is counted as before (`picket.telemetry.dropped`); the lines carry
//! the count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The tracing target of these lines. They stay out of the OTLP export: telling the collector
/// that it cannot be reached would only add to what is dropped.
pub const EXPORT_TARGET: &str = "picket::telemetry::export";

/// How often, at most, a lasting outage is told again.
pub const REMINDER: Duration = Duration::from_secs(5 * 60);

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    fn index(self) -> usize {
        match self {
            Signal::Traces => 0,
            Signal::Logs => 1,
            Signal::Metrics => 2,
        }
    }
}

/// What to tell after an export, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Notice {
    /// Exports began to fail.
    Failing { signal: Signal, error: String },
    /// Exports still fail, `lasting` after they began to.
    Still {
        signal: Signal,
        error: String,
        lasting: Duration,
    },
    /// Every signal's last export got through again, after failing for `lasting`.
    Recovered { lasting: Duration },
}

/// The condition of the exports: which signals failed at their last export, and since when.
#[derive(Debug, Default)]
struct Condition {
    failing: [bool; 3],
    /// When the outage began, while there is one.
    since: Option<Instant>,
    /// When it was last told.
    told: Option<Instant>,
}

/// Export outcomes for one endpoint, and the lines they call for.
#[derive(Debug)]
pub(super) struct Health {
    endpoint: String,
    protocol: &'static str,
    reminder: Duration,
    /// Whether outcomes are told yet: not before the service has started, since a start-up
    /// that fails drops its telemetry, and its final export would tell of an outage nobody
    /// needs to hear of.
    armed: AtomicBool,
    condition: Mutex<Condition>,
}

impl Health {
    /// `endpoint` as it may be shown (no credentials).
    pub(super) fn new(endpoint: String, protocol: &'static str) -> Health {
        Health {
            endpoint,
            protocol,
            reminder: REMINDER,
            armed: AtomicBool::new(false),
            condition: Mutex::default(),
        }
    }

    /// From now on, export outcomes are told.
    pub(super) fn arm(&self) {
        self.armed.store(true, Ordering::Release);
    }

    /// Records one export's outcome and logs what changed; `dropped` is everything dropped
    /// since start, this export's losses included.
    pub(super) fn record(
        &self,
        signal: Signal,
        error: Option<&dyn std::fmt::Display>,
        dropped: u64,
    ) {
        let error = error.map(ToString::to_string);
        if let Some(notice) = self.observe(signal, error, Instant::now()) {
            self.tell(&notice, dropped);
        }
    }

    /// The state change of one export's outcome at `now`, and what it calls to tell.
    pub(super) fn observe(
        &self,
        signal: Signal,
        error: Option<String>,
        now: Instant,
    ) -> Option<Notice> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut c = self
            .condition
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let was_failing = c.failing.iter().any(|f| *f);
        c.failing[signal.index()] = error.is_some();
        let failing = c.failing.iter().any(|f| *f);
        match (was_failing, error) {
            (false, Some(error)) => {
                c.since = Some(now);
                c.told = Some(now);
                Some(Notice::Failing { signal, error })
            }
            (true, Some(error)) => {
                let due = c
                    .told
                    .is_none_or(|t| now.saturating_duration_since(t) >= self.reminder);
                if !due {
                    return None;
                }
                c.told = Some(now);
                let lasting = c
                    .since
                    .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
                Some(Notice::Still {
                    signal,
                    error,
                    lasting,
                })
            }
            (true, None) if !failing => {
                let lasting = c
                    .since
                    .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
                c.since = None;
                c.told = None;
                Some(Notice::Recovered { lasting })
            }
            _ => None,
        }
    }

    fn tell(&self, notice: &Notice, dropped: u64) {
        let (endpoint, protocol) = (self.endpoint.as_str(), self.protocol);
        match notice {
            Notice::Failing { signal, error } => tracing::warn!(
                target: EXPORT_TARGET,
                %endpoint,
                protocol,
                signal = signal.as_str(),
                error = error.as_str(),
                "cannot export telemetry to the OTLP collector; what cannot be sent is dropped \
                 and counted"
            ),
            Notice::Still {
                signal,
                error,
                lasting,
            } => tracing::warn!(
                target: EXPORT_TARGET,
                %endpoint,
                protocol,
                signal = signal.as_str(),
                failing_for = %crate::units::format_duration(*lasting),
                dropped,
                error = error.as_str(),
                "still cannot export telemetry to the OTLP collector"
            ),
            Notice::Recovered { lasting } => tracing::info!(
                target: EXPORT_TARGET,
                %endpoint,
                protocol,
                failed_for = %crate::units::format_duration(*lasting),
                dropped,
                "telemetry reaches the OTLP collector again"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> Health {
        let h = Health::new("http://127.0.0.1:4317/".into(), "grpc");
        h.arm();
        h
    }

    fn refused() -> Option<String> {
        Some("connection refused".into())
    }

    #[test]
    fn an_outage_is_told_once_then_reminded_at_most_every_few_minutes() {
        let h = health();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(matches!(
            h.observe(Signal::Metrics, refused(), at(0)),
            Some(Notice::Failing {
                signal: Signal::Metrics,
                ..
            })
        ));
        // Every signal failing, every few seconds, for almost the reminder period: silence.
        for s in (1..REMINDER.as_secs()).step_by(5) {
            for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
                assert_eq!(h.observe(signal, refused(), at(s)), None, "at {s} s");
            }
        }
        let reminder = h.observe(Signal::Logs, refused(), at(REMINDER.as_secs()));
        assert!(
            matches!(&reminder, Some(Notice::Still { lasting, .. }) if *lasting == REMINDER),
            "{reminder:?}"
        );
        assert_eq!(
            h.observe(Signal::Metrics, refused(), at(REMINDER.as_secs() + 1)),
            None
        );
    }

    #[test]
    fn recovery_is_told_when_every_failing_signal_got_through() {
        let h = health();
        let t0 = Instant::now();
        assert!(h.observe(Signal::Metrics, refused(), t0).is_some());
        assert!(h.observe(Signal::Traces, refused(), t0).is_none());
        // Metrics get through, traces still fail: still an outage.
        assert_eq!(h.observe(Signal::Metrics, None, t0), None);
        let later = t0 + Duration::from_secs(7);
        assert_eq!(
            h.observe(Signal::Traces, None, later),
            Some(Notice::Recovered {
                lasting: Duration::from_secs(7)
            })
        );
        // Exports that keep working say nothing; a new outage is told again.
        assert_eq!(h.observe(Signal::Logs, None, later), None);
        assert!(matches!(
            h.observe(Signal::Logs, refused(), later),
            Some(Notice::Failing { .. })
        ));
    }

    #[test]
    fn nothing_is_told_before_the_service_started() {
        let h = Health::new("http://127.0.0.1:4317/".into(), "grpc");
        assert_eq!(h.observe(Signal::Metrics, refused(), Instant::now()), None);
        h.arm();
        assert!(
            h.observe(Signal::Metrics, refused(), Instant::now())
                .is_some()
        );
    }

    #[test]
    fn working_exports_say_nothing() {
        let h = health();
        for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
            assert_eq!(h.observe(signal, None, Instant::now()), None);
        }
    }
}
