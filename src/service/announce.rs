//! Announcing transitions: telemetry's subscription to the tracker, and, in a group
//! (`state.postgres`), marking each transition announced in the database once its log record
//! is out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::state::{self, Follower, Tracker};
use crate::telemetry::{SeriesLabels, Telemetry};

/// Telemetry's subscription to the tracker: every regression and recovery becomes its
/// telemetry record. Runs until `stop`, then records what is already published. (The state
/// gauges need no subscription: they read the tracker at each export.)
///
/// In a group, each transition recorded goes on to `confirm` ([`confirm_announcements`]).
pub(super) async fn record_transitions(
    changes: Follower,
    telemetry: Telemetry,
    confirm: Option<mpsc::Sender<Announced>>,
    stop: CancellationToken,
) {
    changes
        .run(stop, |change| {
            // The end of an acceptance comes before the regression it lets through.
            if let Some(notice) = &change.notice {
                telemetry.record_notice(
                    &SeriesLabels::of_info(&change.info, &change.state),
                    notice,
                    &change.state.findings,
                );
            }
            if let Some(t) = change.transition {
                telemetry.record_transition(
                    &SeriesLabels::of_info(&change.info, &change.state),
                    t,
                    &change.state.findings,
                    change.state.since.unwrap_or(change.started),
                );
                if let Some(confirm) = &confirm {
                    // Full (10,000 waiting): left unmarked, the row is found again by this
                    // member's own scan and marked then.
                    let _ = confirm.try_send((change.key.clone(), t, change.since_ms()));
                }
            }
        })
        .await;
}

/// A transition this member announced: series, regression or recovery, since (ms).
pub(super) type Announced = (String, state::Transition, i64);

/// How long the confirmer gathers announced transitions before one flush for all of them.
const CONFIRM_GATHER: Duration = Duration::from_millis(100);
/// The most announced transitions waiting for a flush that keeps failing.
pub(super) const CONFIRM_MAX: usize = 10_000;

/// In a group: marks transitions announced in the database once their log records are out
/// (the collector took them, or there is no collector). A member killed in between leaves
/// them unmarked, and the member that runs the series next announces them: never lost, and
/// twice only if the kill fell between the export and the mark. While the collector fails
/// the marks wait (their records are dropped and counted, as any telemetry then); at
/// shutdown what is still unconfirmed is left to the next owner. Ends when `keys` closes.
pub(super) async fn confirm_announcements(
    mut keys: mpsc::Receiver<Announced>,
    tracker: Arc<Tracker>,
    telemetry: Telemetry,
) {
    let mut pending: Vec<Announced> = Vec::new();
    let mut open = true;
    loop {
        if open {
            if pending.is_empty() {
                match keys.recv().await {
                    Some(k) => pending.push(k),
                    None => open = false,
                }
            }
            tokio::time::sleep(CONFIRM_GATHER).await;
            loop {
                match keys.try_recv() {
                    Ok(k) => pending.push(k),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
        }
        if pending.is_empty() {
            if open {
                continue;
            }
            return;
        }
        let flushing = telemetry.clone();
        let flushed = tokio::task::spawn_blocking(move || flushing.flush_logs())
            .await
            .unwrap_or(false);
        if flushed {
            tracker.confirm_announced(&pending);
            pending.clear();
        } else {
            if !open {
                return;
            }
            if pending.len() > CONFIRM_MAX {
                let excess = pending.len() - CONFIRM_MAX;
                pending.drain(..excess);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
