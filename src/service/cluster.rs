//! Membership of a group (`state.postgres`): the loop that keeps this member's lease, follows
//! who else is live, gives the scheduler this member's share of the series, and announces the
//! transitions of members that died before they could.
//!
//! Every tick (a fifth of the lease, at most a second) the loop renews the lease, which also
//! returns the live members. When they change, the series are shared out again (rendezvous
//! hashing, [`Members::owner`]): the tracker reads the state of every series this member
//! takes from the database before the scheduler runs it, so a series that moves keeps its
//! state. A member that cannot renew runs nothing once its lease has run out, because by
//! then the others run its series; it goes on trying and takes its share again when the
//! database answers. Why stop rather than keep probing: the others already run those series,
//! probing them twice would double the load on the targets, and the results could not be
//! persisted or announced anyway.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use anyhow::Context as _;

use super::{ServiceOptions, Shared, share};
use crate::plan::Series;
use crate::schedule::SchedulerHandle;
use crate::shard::Members;
use crate::state::Postgres;
use crate::state::{self, Tracker};

/// Who this member thinks the live members are; `None` while it holds no lease.
#[derive(Debug, Default)]
pub(super) struct Membership {
    members: Mutex<Option<Members>>,
    /// A share that could not be taken (the database failed): try again at the next tick.
    retry: AtomicBool,
}

impl Membership {
    /// The series of `all` this member runs now.
    pub(super) fn share(&self, me: &str, all: &[Series]) -> Vec<Series> {
        let members = self.members.lock().unwrap_or_else(PoisonError::into_inner);
        match &*members {
            None => Vec::new(),
            Some(m) => all
                .iter()
                .filter(|s| m.owner(s.hash) == Some(me))
                .cloned()
                .collect(),
        }
    }

    /// Whether this member runs the series with this hash now.
    fn owns(&self, me: &str, hash: u64) -> bool {
        self.members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|m| m.owner(hash) == Some(me))
    }

    /// Sets the members; returns whether they changed.
    fn set(&self, members: Option<Members>) -> bool {
        let mut current = self.members.lock().unwrap_or_else(PoisonError::into_inner);
        if *current == members {
            return false;
        }
        *current = members;
        true
    }

    /// Marks the share as not taken (or taken).
    pub(super) fn set_retry(&self, retry: bool) {
        self.retry.store(retry, Ordering::Relaxed);
    }

    fn needs_retry(&self) -> bool {
        self.retry.load(Ordering::Relaxed)
    }
}

/// How often the loop renews the lease: a fifth of it, between 200 ms and 1 s, so a member
/// sees another's departure within a second of its lease ending.
pub(super) fn tick(lease: Duration) -> Duration {
    (lease / 5).clamp(Duration::from_millis(200), Duration::from_secs(1))
}

/// How many ticks between two sweeps of old members and announced transitions.
const TIDY_EVERY: u64 = 600;

/// Runs until `shutdown`: migrates the schema (retrying until the database answers), then
/// renews the lease every tick and shares the series out again whenever the members change.
pub(super) async fn run(
    shared: Arc<Shared>,
    scheduler: SchedulerHandle,
    store: Postgres,
    api: String,
    shutdown: CancellationToken,
) {
    let group = Arc::clone(store.group());
    let every = tick(group.lease());
    let mut migrated = false;
    let mut ticks: u64 = 0;
    loop {
        if !migrated {
            // A failure is counted and logged by the store, and tried again next tick.
            if let Ok(m) = store.migrate().await {
                {
                    migrated = true;
                    if !m.applied.is_empty() {
                        tracing::info!(
                            versions = ?m.applied,
                            member = group.member(),
                            "migrated the state schema"
                        );
                    }
                    if let Some(newer) = m.newer {
                        tracing::warn!(
                            database = newer,
                            this = crate::state::postgres::SCHEMA_VERSION,
                            "the state database was migrated by a newer picket; finish the \
                             upgrade of every member"
                        );
                    }
                }
            }
        }
        if migrated {
            let members = match store.heartbeat(&api).await {
                Ok(ids) => Some(Members::new(ids)),
                // Keep the members while the lease lasts; without it, run nothing.
                Err(_) if group.holds_lease() => shared.membership.as_ref().and_then(|m| {
                    m.members
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                }),
                Err(_) => None,
            };
            let count = members.as_ref().map_or(0, Members::len);
            let changed = shared.membership.as_ref().is_some_and(|m| m.set(members));
            let retry = shared.membership.as_ref().is_some_and(|m| m.needs_retry());
            if changed || retry {
                if changed {
                    tracing::info!(
                        members = count,
                        member = group.member(),
                        holds_lease = group.holds_lease(),
                        "group membership changed"
                    );
                }
                match share(&shared, &scheduler).await {
                    Ok(n) => tracing::debug!(series = n, "took this member's share of the series"),
                    Err(e) => tracing::debug!(error = %e, "could not take the share; retrying"),
                }
            }
            if group.steady() {
                announce_orphans(&shared, &store).await;
            }
            ticks += 1;
            if ticks.is_multiple_of(TIDY_EVERY) {
                let _ = store.tidy().await;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Takes over the transitions of members that are gone and did not announce them, for the
/// series this member runs, and announces them.
async fn announce_orphans(shared: &Shared, store: &Postgres) {
    let Ok(orphans) = store.orphans().await else {
        return;
    };
    if orphans.is_empty() {
        return;
    }
    let me = store.group().member();
    for orphan in &orphans {
        // Its own (a commit whose answer was lost), or one of a series it runs now.
        let hash = crate::plan::stable_hash(&orphan.series);
        let mine = orphan.recorded_by == me
            || shared.membership.as_ref().is_some_and(|m| m.owns(me, hash));
        if !mine {
            continue;
        }
        if let Ok(Some(claimed)) = store.claim(orphan).await {
            tracing::info!(
                series = %claimed.series,
                recorded_by = %orphan.recorded_by,
                "announcing a transition a member recorded before it stopped"
            );
            shared.tracker.announce(claimed);
        }
    }
}

/// Opens where state is kept: the embedded store, or a group's database (nothing is
/// contacted yet: the membership loop connects, migrates and joins, retrying while the
/// database is down).
pub(super) fn open_state(
    store: &crate::config::StateStore,
    opts: &ServiceOptions,
) -> anyhow::Result<Tracker> {
    match store {
        // An unreadable file is moved aside inside `open`; what is left is a real refusal
        // (held by another process, permissions), and the error says which.
        crate::config::StateStore::Embedded(path) => {
            Tracker::open(path).context("cannot open the state store")
        }
        crate::config::StateStore::Postgres(pg) => {
            // `main` refuses this first; this covers every other way in.
            if opts.shard.is_some() {
                anyhow::bail!("{}", pg.refuse_shard());
            }
            let member = member_id();
            tracing::info!(member = %member, lease = ?pg.lease, "joining the group of state.postgres");
            let store = state::Postgres::new(pg.url.expose(), pg.lease, member)
                .context("cannot set up the state database")?;
            Ok(Tracker::shared(store))
        }
    }
}

/// This process's id in a group: host name, process id and a random suffix, so a restarted
/// process is a new member (the old one's lease simply ends).
fn member_id() -> String {
    let host = std::env::var(crate::shard::HOSTNAME_VAR)
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(crate::shard::system_host_name)
        .unwrap_or_else(|| "picket".into());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}
