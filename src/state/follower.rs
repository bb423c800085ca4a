//! A subscriber's view of the tracker's changes ([`Follower`]).

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::tracker::{Change, Tracker};

/// One subscriber's view of the tracker's changes, from [`Tracker::follow`] on. Every
/// subscriber (telemetry, the notifier, the demo) handles the two ways a broadcast receive
/// fails the same way, here: falling more than [`CHANGES_CAPACITY`](super::tracker::CHANGES_CAPACITY) behind is logged (with
/// how many changes were missed) and following goes on from the oldest change still held;
/// the tracker gone ends the stream.
#[derive(Debug)]
pub struct Follower {
    who: &'static str,
    changes: broadcast::Receiver<Arc<Change>>,
}

impl Follower {
    /// Follows `changes` for `who`.
    pub(super) fn new(who: &'static str, changes: broadcast::Receiver<Arc<Change>>) -> Follower {
        Follower { who, changes }
    }

    /// The next change, or `None` once the tracker is gone.
    pub async fn next(&mut self) -> Option<Arc<Change>> {
        loop {
            match self.changes.recv().await {
                Ok(change) => return Some(change),
                Err(broadcast::error::RecvError::Lagged(missed)) => self.lagged(missed),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Calls `apply` with every change until `stop` is cancelled (or the tracker is gone),
    /// then with the changes already published and not yet seen, so that none recorded
    /// before `stop` is lost.
    pub async fn run(mut self, stop: CancellationToken, mut apply: impl FnMut(&Change)) {
        loop {
            let next = tokio::select! {
                biased;
                next = self.next() => next,
                () = stop.cancelled() => break,
            };
            match next {
                Some(change) => apply(&change),
                None => return,
            }
        }
        loop {
            match self.changes.try_recv() {
                Ok(change) => apply(&change),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => self.lagged(missed),
                Err(_) => return,
            }
        }
    }

    fn lagged(&self, missed: u64) {
        tracing::warn!(
            follower = self.who,
            missed,
            "{} fell behind the series changes; regressions and recoveries among the missed \
             changes are not announced by it",
            self.who
        );
    }
}

impl Tracker {
    /// Changes from now on, for `who` (named in the warning when it falls behind): see
    /// [`Follower`].
    pub fn follow(&self, who: &'static str) -> Follower {
        Follower::new(who, self.subscribe())
    }
}
