//! The names SPEC §7 fixes: instruments, log record events, and the tracing target of
//! picket's own transition lines.

use crate::state::Transition;

/// Runs of a series, by outcome (counter, `{run}`).
pub const PROBE_RUNS: &str = "picket.probe.runs";
/// Run durations (histogram, `s`).
pub const PROBE_DURATION: &str = "picket.probe.duration";
/// 1 while a series passes, 0 while it fails or is regressed (gauge).
pub const PROBE_STATUS: &str = "picket.probe.status";
/// 1 while a series is regressed, else 0 (gauge).
pub const PROBE_REGRESSED: &str = "picket.probe.regressed";
/// `picket.tls.certificate.expiry`: seconds until the leaf certificate's notAfter.
pub const TLS_CERTIFICATE_EXPIRY: &str = "picket.tls.certificate.expiry";
/// 1 while an acceptance holds for a series, 0 once it has ended (gauge; reported for the
/// series an acceptance covers).
pub const PROBE_ACCEPTED: &str = "picket.probe.accepted";
/// Event name of the log record for an acceptance that ended while its series fails.
pub const ACCEPTANCE_EXPIRED_EVENT: &str = "picket.acceptance.expired";
/// Event name of the log record for an acceptance whose series passed its last 10 runs.
pub const ACCEPTANCE_UNNEEDED_EVENT: &str = "picket.acceptance.unneeded";
/// Regressions declared (counter, `{regression}`).
pub const REGRESSIONS: &str = "picket.regressions";
/// Recoveries declared (counter, `{recovery}`).
pub const RECOVERIES: &str = "picket.recoveries";
/// How late runs fired against their schedule (histogram, `s`).
pub const SCHEDULE_LATENESS: &str = "picket.schedule.lateness";
/// Ticks skipped because the series' previous run was still in flight (counter, `{run}`;
/// a picket extension).
pub const SCHEDULE_SKIPPED: &str = "picket.schedule.skipped";
/// Config reloads, by outcome (counter).
pub const CONFIG_RELOADS: &str = "picket.config.reloads";
/// Telemetry items that could not be delivered, by signal (counter).
pub const TELEMETRY_DROPPED: &str = "picket.telemetry.dropped";
/// Webhook notifications by webhook and outcome: `delivered`, `failed` (refused, or out of
/// attempts) or `dropped` (its queue was full, or shutdown came first) (counter,
/// `{delivery}`).
pub const NOTIFY_DELIVERIES: &str = "picket.notify.deliveries";
/// API connections closed because the connection limit was reached, by `reason`: `evicted`
/// (an idle connection closed to make room for a new one) or `refused` (a new connection
/// closed at once: every open one had a request in progress) (counter, `{connection}`; a
/// picket extension).
pub const API_CONNECTIONS_SHED: &str = "picket.api.connections.shed";
/// Live targets of each discovery source (gauge, `{target}`).
pub const DISCOVERY_TARGETS: &str = "picket.discovery.targets";
/// Errors of each discovery source: failed fetches, broken watches (counter).
pub const DISCOVERY_ERRORS: &str = "picket.discovery.errors";
/// Seconds until the end of life of a release a target runs, negative after (gauge, `s`).
pub const SOFTWARE_EOL: &str = "picket.software.eol";
/// Members of the group with a live lease (gauge, with `state.postgres`).
pub const CLUSTER_MEMBERS: &str = "picket.cluster.members";
/// Failed calls to the state store: writes of the embedded store, every call to the database
/// with `state.postgres` (counter).
pub const STATE_ERRORS: &str = "picket.state.errors";
/// Event name of the log record for a target a source found.
pub const TARGET_DISCOVERED_EVENT: &str = "picket.target.discovered";
/// Event name of the log record for a target a source no longer lists.
pub const TARGET_REMOVED_EVENT: &str = "picket.target.removed";
/// Event name of the log record for a regression.
pub const REGRESSION_EVENT: &str = "picket.regression";
/// Event name of the log record for a recovery.
pub const RECOVERY_EVENT: &str = "picket.recovery";
/// The tracing target of picket's own log lines for regressions and recoveries.
pub const TRANSITION_TARGET: &str = "picket::transition";

/// The event name of a transition's log record.
pub fn event_name(t: Transition) -> &'static str {
    match t {
        Transition::Regression => REGRESSION_EVENT,
        Transition::Recovery => RECOVERY_EVENT,
    }
}
