//! The shared store (`state.postgres`): series states, the group's members and the outbox of
//! transitions in one PostgreSQL database.
//!
//! - Series rows are versioned. A write names the version it read; a write that lost a race
//!   (two members both ran the series during a handover) changes nothing and is told what the
//!   row holds now ([`Put::Conflict`]). A transition is inserted into `picket_transitions` in
//!   the same transaction as the state that made it, keyed by series + transition + since, and
//!   only the member whose insert won announces it.
//! - Writes are gathered for 10 ms and committed together by one task (`writer.rs`), as the
//!   embedded store does: the database sees a transaction per burst, not per run.
//! - Members renew a lease in `picket_members`; [`Group`] is what this member knows of its
//!   own (held or not, how many members are live, how many database calls failed).
//! - Every call has a deadline shorter than the lease: a database that hangs is a database
//!   that failed, and nothing waits on it for ever or queues without bound.
//!
//! `tokio-postgres` is the client (async, the protocol only, no ORM; rustls through
//! `tokio-postgres-rustls`, on the process's ring provider), with `deadpool-postgres` for a
//! small pool that replaces a broken connection on its own.

mod schema;
mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};

use super::{Outbox, Put, Recorded, StoreError, Versioned};
use crate::state::{SeriesState, Transition};
pub use schema::{Migrated, VERSION as SCHEMA_VERSION};

/// What failed in a database call.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The server or the connection said no (with the server's own message).
    #[error("{}", in_full(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool (the server is unreachable, refuses, or
    /// every connection is busy).
    #[error("{0}")]
    Pool(String),
    /// A row the database returned could not be read.
    #[error("unreadable row: {0}")]
    Row(String),
}

/// The driver's error with its cause: its own text is only the kind (`db error`).
fn in_full(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> DbError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => DbError::Postgres(e),
            other => DbError::Pool(other.to_string()),
        }
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError::Database(Arc::new(e))
    }
}

/// What this member knows of its membership: shared by the store (which counts failures),
/// the service's membership loop (which renews the lease) and the API (`/readyz`) and
/// telemetry (`picket.cluster.members`, `picket.state.errors`).
#[derive(Debug)]
pub struct Group {
    member: String,
    lease: Duration,
    members: AtomicUsize,
    held_until: Mutex<Option<Instant>>,
    /// Since when the lease has been held without a break.
    held_since: Mutex<Option<Instant>>,
    errors: AtomicU64,
    logged: Mutex<Option<Instant>>,
}

/// How often a failing database is logged at most (every failure is counted).
const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

impl Group {
    fn new(member: String, lease: Duration) -> Group {
        Group {
            member,
            lease,
            members: AtomicUsize::new(0),
            held_until: Mutex::new(None),
            held_since: Mutex::new(None),
            errors: AtomicU64::new(0),
            logged: Mutex::new(None),
        }
    }

    /// This member's id.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// `state.postgres.lease`.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Whether this member holds a lease now: renewed less than `lease` ago, measured from
    /// before the renewal was sent, so this member lets go no later than the others see its
    /// lease expire.
    pub fn holds_lease(&self) -> bool {
        self.held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    /// How many members held a live lease at the last renewal (0 when this one holds none).
    pub fn members(&self) -> usize {
        if self.holds_lease() {
            self.members.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// How many database calls failed since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The lease was renewed by a call sent at `sent`; `members` are live.
    pub fn renewed(&self, sent: Instant, members: usize) {
        let held = self.holds_lease();
        *self
            .held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sent + self.lease);
        let mut since = self
            .held_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !held || since.is_none() {
            *since = Some(sent);
        }
        self.members.store(members, Ordering::Relaxed);
    }

    /// Whether this member has held its lease without a break for longer than a lease: long
    /// enough that every other member that lost the database with it has either renewed
    /// again (and marks its own announcements) or is gone. Only then are the transitions of
    /// members without a lease taken over, so that an outage of the database alone never
    /// makes a transition announced twice.
    pub fn steady(&self) -> bool {
        self.holds_lease()
            && self
                .held_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some_and(|since| since.elapsed() > self.lease + Duration::from_secs(1))
    }

    /// Gives the lease up (at shutdown, after leaving the group).
    pub fn released(&self) {
        *self
            .held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .held_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Counts a failed call and logs it, at most every 30 s (with how many failed since).
    pub fn failed(&self, what: &str, error: &StoreError) {
        let count = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if logged.is_none_or(|at| at.elapsed() >= ERROR_LOG_EVERY) {
            *logged = Some(Instant::now());
            tracing::error!(
                operation = what,
                error = %error,
                errors = count,
                holds_lease = self.holds_lease(),
                "the state database failed; picket keeps what it persisted and retries (a \
                 member without a lease runs no series until it can renew it)"
            );
        }
    }

    /// Says the database answers again, after failures.
    pub fn recovered(&self) {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if logged.take().is_some() {
            tracing::info!(errors = self.errors(), "the state database answers again");
        }
    }
}

/// A transition recorded by a member that is gone and not yet announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The series.
    pub series: String,
    /// `regression` or `recovery`.
    pub transition: String,
    /// The state's start, ms since the epoch.
    pub since_ms: i64,
    /// Who recorded it.
    pub recorded_by: String,
}

/// An orphan this member claimed: its to announce.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The series.
    pub series: String,
    /// Regression or recovery.
    pub transition: Transition,
    /// The state's start, ms since the epoch.
    pub since_ms: i64,
    /// What to announce.
    pub recorded: Recorded,
}

/// The key of an outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentKey {
    series: String,
    transition: &'static str,
    since_ms: i64,
}

/// The shared store: a pool, the writer task, and this member's [`Group`].
#[derive(Debug, Clone)]
pub struct Postgres {
    pool: Pool,
    writer: mpsc::Sender<writer::Command>,
    group: Arc<Group>,
    timeout: Duration,
}

/// The name of a transition in the outbox.
pub fn transition_name(t: Transition) -> &'static str {
    match t {
        Transition::Regression => "regression",
        Transition::Recovery => "recovery",
    }
}

fn transition_of(name: &str) -> Option<Transition> {
    match name {
        "regression" => Some(Transition::Regression),
        "recovery" => Some(Transition::Recovery),
        _ => None,
    }
}

impl Postgres {
    /// Sets up the pool for `url` (nothing is contacted yet: a database that is down at start
    /// is retried by the membership loop, never fatal) and starts the writer.
    pub fn new(url: &str, lease: Duration, member: String) -> Result<Postgres, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::from(DbError::from(e)))?;
        // Calls must end well within the lease: a hung server is a failed one.
        let timeout = (lease / 2).clamp(Duration::from_millis(500), Duration::from_secs(10));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout);
        }
        config.application_name(format!("picket {member}"));
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
            client_tls().map_err(|e| StoreError::from(DbError::Pool(e.to_string())))?,
        );
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(4)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| StoreError::from(DbError::Pool(e.to_string())))?;
        let group = Arc::new(Group::new(member, lease));
        let writer = writer::start(pool.clone(), Arc::clone(&group), timeout);
        Ok(Postgres {
            pool,
            writer,
            group,
            timeout,
        })
    }

    /// What this member knows of its membership.
    pub fn group(&self) -> &Arc<Group> {
        &self.group
    }

    /// Runs `f` on a pooled connection within the deadline. A connection whose call failed
    /// or timed out is dropped rather than returned to the pool.
    async fn call<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T, DbError>,
    {
        let result = tokio::time::timeout(self.timeout, async {
            let mut client = self.pool.get().await.map_err(DbError::from)?;
            let result = f(&mut client).await;
            if result.is_err() {
                drop(deadpool_postgres::Object::take(client));
            }
            result
        })
        .await;
        let result = match result {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        };
        match &result {
            Ok(_) => self.group.recovered(),
            Err(e) => self.group.failed(what, e),
        }
        result
    }

    /// Creates or migrates the schema (safe with members starting at once).
    pub async fn migrate(&self) -> Result<Migrated, StoreError> {
        let member = self.group.member.clone();
        self.call("migrate", async move |client| {
            Ok(schema::migrate(client, &member).await?)
        })
        .await
    }

    /// Renews this member's lease (joining if it was not a member) and returns the members
    /// with a live lease, this one included, sorted.
    pub async fn heartbeat(&self, api: &str) -> Result<Vec<String>, StoreError> {
        let sent = Instant::now();
        let member = self.group.member.clone();
        let lease = self.group.lease.as_secs_f64();
        let api = api.to_string();
        let members = self
            .call("heartbeat", async move |client| {
                let rows = client
                    .query(
                        "WITH me AS (
                            INSERT INTO picket_members (id, api, expires)
                            VALUES ($1, $2, now() + make_interval(secs => $3))
                            ON CONFLICT (id) DO UPDATE
                                SET heartbeat = now(), expires = EXCLUDED.expires, api = $2
                            RETURNING id
                        )
                        SELECT id FROM picket_members WHERE expires > now() AND id <> $1
                        UNION SELECT id FROM me ORDER BY 1",
                        &[&member, &api, &lease],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>())
            })
            .await?;
        self.group.renewed(sent, members.len());
        Ok(members)
    }

    /// Leaves the group: the others take this member's series at their next renewal.
    pub async fn leave(&self) -> Result<(), StoreError> {
        let member = self.group.member.clone();
        self.call("leave", async move |client| {
            client
                .execute("DELETE FROM picket_members WHERE id = $1", &[&member])
                .await?;
            Ok(())
        })
        .await?;
        self.group.released();
        Ok(())
    }

    /// Deletes members whose lease ended an hour ago and outbox rows announced a week ago.
    pub async fn tidy(&self) -> Result<(), StoreError> {
        self.call("tidy", async |client| {
            client
                .batch_execute(
                    "DELETE FROM picket_members WHERE expires < now() - interval '1 hour';
                     DELETE FROM picket_transitions WHERE sent < now() - interval '7 days';",
                )
                .await?;
            Ok(())
        })
        .await
    }

    /// The stored states of `keys`.
    pub async fn load(&self, keys: &[String]) -> Result<BTreeMap<String, Versioned>, StoreError> {
        if keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let keys = keys.to_vec();
        self.call("load", async move |client| {
            let rows = client
                .query(
                    "SELECT key, version, state::text FROM picket_series WHERE key = ANY($1)",
                    &[&keys],
                )
                .await?;
            rows.iter().map(versioned_row).collect()
        })
        .await
    }

    /// States written since `since` (database time, seconds since the epoch; `None`: all),
    /// and the database's time now, for the next call. Rows of the last 5 s before `since`
    /// are read again, so a write that committed late is not missed.
    pub async fn changed_since(
        &self,
        since: Option<f64>,
    ) -> Result<(BTreeMap<String, Versioned>, f64), StoreError> {
        self.call("read", async move |client| {
            let now: f64 = client
                .query_one("SELECT extract(epoch FROM now())::float8", &[])
                .await?
                .get(0);
            let rows = match since {
                None => {
                    client
                        .query("SELECT key, version, state::text FROM picket_series", &[])
                        .await?
                }
                Some(since) => {
                    client
                        .query(
                            "SELECT key, version, state::text FROM picket_series
                             WHERE updated > to_timestamp($1::float8 - 5)",
                            &[&since],
                        )
                        .await?
                }
            };
            let states = rows
                .iter()
                .map(versioned_row)
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            Ok((states, now))
        })
        .await
    }

    /// Transitions not yet announced that were recorded by members without a live lease,
    /// or by this one over 10 s ago (a commit whose answer was lost: the write failed as far
    /// as this member knew, so it announced nothing).
    pub async fn orphans(&self) -> Result<Vec<Orphan>, StoreError> {
        let member = self.group.member.clone();
        self.call("outbox", async move |client| {
            let rows = client
                .query(
                    "SELECT series, transition, since_ms, recorded_by FROM picket_transitions t
                     WHERE sent IS NULL AND (
                        (t.recorded_by = $1 AND t.recorded < now() - interval '10 seconds')
                        OR NOT EXISTS (
                            SELECT 1 FROM picket_members m
                            WHERE m.id = t.recorded_by AND m.expires > now()))",
                    &[&member],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| Orphan {
                    series: r.get(0),
                    transition: r.get(1),
                    since_ms: r.get(2),
                    recorded_by: r.get(3),
                })
                .collect())
        })
        .await
    }

    /// Takes an orphan over: it becomes this member's to announce, unless another member
    /// took it first (`None`).
    pub async fn claim(&self, orphan: &Orphan) -> Result<Option<Claimed>, StoreError> {
        let Some(transition) = transition_of(&orphan.transition) else {
            return Ok(None);
        };
        let member = self.group.member.clone();
        let orphan = orphan.clone();
        self.call("outbox", async move |client| {
            let row = client
                .query_opt(
                    "UPDATE picket_transitions SET recorded_by = $1
                     WHERE series = $2 AND transition = $3 AND since_ms = $4
                       AND recorded_by = $5 AND sent IS NULL
                     RETURNING change::text",
                    &[
                        &member,
                        &orphan.series,
                        &orphan.transition,
                        &orphan.since_ms,
                        &orphan.recorded_by,
                    ],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            let recorded: Recorded = serde_json::from_str(row.get::<_, &str>(0))
                .map_err(|e| DbError::Row(e.to_string()))?;
            Ok(Some(Claimed {
                series: orphan.series,
                transition,
                since_ms: orphan.since_ms,
                recorded,
            }))
        })
        .await
    }

    /// Persists a state read at `version`, with its transition; see [`Put`].
    pub async fn put(
        &self,
        key: &str,
        version: i64,
        state: &SeriesState,
        outbox: Option<Outbox>,
    ) -> Result<Put, StoreError> {
        let state = serde_json::to_string(state)
            .map_err(|e| StoreError::from(DbError::Row(e.to_string())))?;
        let outbox = match outbox {
            None => None,
            Some(o) => Some(writer::OutboxRow {
                transition: transition_name(o.transition),
                since_ms: o.since_ms,
                change: serde_json::to_string(&o.recorded)
                    .map_err(|e| StoreError::from(DbError::Row(e.to_string())))?,
            }),
        };
        let (done, wait) = oneshot::channel();
        self.writer
            .send(writer::Command::Put(writer::PutRequest {
                key: key.to_string(),
                version,
                state,
                outbox,
                done,
            }))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await.map_err(|_| StoreError::Closed)?
    }

    /// Marks a transition announced (with the next write; retried while the database fails).
    pub fn sent(&self, series: &str, transition: Transition, since_ms: i64) {
        let _ = self.writer.try_send(writer::Command::Sent(SentKey {
            series: series.to_string(),
            transition: transition_name(transition),
            since_ms,
        }));
    }

    /// Forgets these series.
    pub async fn delete(&self, keys: Vec<String>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.writer
            .send(writer::Command::Delete(keys, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await.map_err(|_| StoreError::Closed)?
    }

    /// Waits until every earlier write is committed (or failed).
    pub async fn sync(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.writer
            .send(writer::Command::Sync(done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await.map_err(|_| StoreError::Closed)?
    }
}

fn versioned_row(row: &tokio_postgres::Row) -> Result<(String, Versioned), DbError> {
    let state: SeriesState =
        serde_json::from_str(row.get::<_, &str>(2)).map_err(|e| DbError::Row(e.to_string()))?;
    Ok((
        row.get(0),
        Versioned {
            version: row.get(1),
            state,
        },
    ))
}

/// TLS to the database: the system's trust anchors, the process's ring provider.
fn client_tls() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
