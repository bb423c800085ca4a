//! Acceptances in the running service: what a load warns about them, and the loop that
//! applies their ends between runs (an acceptance ends at a date, not at a run).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::config::Config;

/// How often the ends of acceptances are looked for: an ended acceptance is announced
/// within this of its end.
const SETTLE_EVERY: Duration = Duration::from_secs(1);

/// Logs what a load warns about (an acceptance whose date has passed, one that selects
/// nothing), once per load.
pub(super) fn log_warnings(config: &Config) {
    for w in &config.warnings {
        tracing::warn!("{}", crate::term::escape_controls(&w.to_string()));
    }
}

/// Applies the acceptances to the series this process runs every [`SETTLE_EVERY`], until
/// `shutdown`.
pub(super) async fn settle(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SETTLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        shared.tracker.settle_acceptances(SystemTime::now()).await;
    }
}
