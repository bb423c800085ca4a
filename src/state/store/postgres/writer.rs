//! The writer task: gathers writes for 10 ms and commits them in one transaction, like the
//! embedded store's writer thread, so the database sees a transaction per burst of runs.
//!
//! One transaction per batch: the versioned upsert of every state (a row whose version moved
//! since it was read is left alone and reported as a conflict), the outbox rows of the
//! transitions whose state won (`ON CONFLICT DO NOTHING`: the first insert of series +
//! transition + since is the one announced), the current rows of the conflicts, deletions,
//! and the marks of transitions announced since the last batch. A deadlock with another
//! member's batch (possible only while both run a series in a handover) is retried once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::{DbError, Group, SentKey, versioned_row};
use crate::state::store::{Put, StoreError, Versioned};

/// How long the writer gathers after the first command of a batch.
const GATHER: Duration = Duration::from_millis(10);
/// The most commands in one batch.
const BATCH: usize = 1024;
/// The most announced-but-unmarked transitions kept while the database fails; past it the
/// oldest marks are dropped (their transitions may be announced again by a next owner).
const MAX_UNMARKED: usize = 10_000;

/// A transition to insert into the outbox.
#[derive(Debug)]
pub(super) struct OutboxRow {
    pub transition: &'static str,
    pub since_ms: i64,
    pub change: String,
}

/// One state to write.
#[derive(Debug)]
pub(super) struct PutRequest {
    pub key: String,
    pub version: i64,
    pub state: String,
    pub outbox: Option<OutboxRow>,
    pub done: oneshot::Sender<Result<Put, StoreError>>,
}

/// Requests to the writer.
#[derive(Debug)]
pub(super) enum Command {
    Put(PutRequest),
    Delete(Vec<String>, oneshot::Sender<Result<(), StoreError>>),
    Sent(SentKey),
    Sync(oneshot::Sender<Result<(), StoreError>>),
}

/// Starts the writer task; it ends when every sender is gone.
pub(super) fn start(pool: Pool, group: Arc<Group>, timeout: Duration) -> mpsc::Sender<Command> {
    // Bounded: while the database is slow, runs wait here instead of piling up.
    let (tx, rx) = mpsc::channel(BATCH);
    tokio::spawn(run(pool, group, timeout, rx));
    tx
}

async fn run(pool: Pool, group: Arc<Group>, timeout: Duration, mut rx: mpsc::Receiver<Command>) {
    let mut unmarked: Vec<SentKey> = Vec::new();
    let mut deferred: Vec<Command> = Vec::new();
    loop {
        let first = if let Some(c) = deferred.pop() {
            c
        } else if unmarked.is_empty() {
            match rx.recv().await {
                Some(c) => c,
                None => return,
            }
        } else {
            // Marks left from a failed batch are retried within a second.
            match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(_) => Command::Sent(unmarked.remove(0)),
            }
        };
        let mut batch = vec![first];
        tokio::time::sleep(GATHER).await;
        let mut keys: HashSet<String> = HashSet::new();
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        // One write per series per batch: a second goes to the next batch.
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        let mut syncs = Vec::new();
        for command in batch {
            match command {
                Command::Put(p) => {
                    if keys.insert(p.key.clone()) {
                        puts.push(p);
                    } else {
                        deferred.push(Command::Put(p));
                    }
                }
                Command::Delete(k, done) => deletes.push((k, done)),
                Command::Sent(k) => unmarked.push(k),
                Command::Sync(done) => syncs.push(done),
            }
        }
        if unmarked.len() > MAX_UNMARKED {
            let drop = unmarked.len() - MAX_UNMARKED;
            unmarked.drain(..drop);
            tracing::warn!(
                dropped = drop,
                "the state database failed for long: marks of announced transitions dropped; \
                 a member that takes those series over may announce them again"
            );
        }
        let all_deletes: Vec<String> = deletes.iter().flat_map(|(k, _)| k.clone()).collect();
        let mut result =
            commit_within(&pool, timeout, &group, &puts, &all_deletes, &unmarked).await;
        if matches!(&result, Err(StoreError::Database(e)) if is_retryable(e)) {
            result = commit_within(&pool, timeout, &group, &puts, &all_deletes, &unmarked).await;
        }
        match result {
            Ok(answers) => {
                group.recovered();
                unmarked.clear();
                for (p, answer) in puts.into_iter().zip(answers) {
                    let _ = p.done.send(Ok(answer));
                }
                for (_, done) in deletes {
                    let _ = done.send(Ok(()));
                }
                for done in syncs {
                    let _ = done.send(Ok(()));
                }
            }
            Err(e) => {
                group.failed("write", &e);
                let shared = Arc::new(e);
                let again = || StoreError::Database(Arc::new(DbError::Pool(shared.to_string())));
                for p in puts {
                    let _ = p.done.send(Err(again()));
                }
                for (_, done) in deletes {
                    let _ = done.send(Err(again()));
                }
                for done in syncs {
                    let _ = done.send(Err(again()));
                }
            }
        }
    }
}

/// Whether a failed batch is worth one more try at once (a deadlock or serialization failure
/// with another member's batch).
fn is_retryable(e: &DbError) -> bool {
    use tokio_postgres::error::SqlState;
    match e {
        DbError::Postgres(e) => e.code().is_some_and(|c| {
            *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
        }),
        _ => false,
    }
}

async fn commit_within(
    pool: &Pool,
    timeout: Duration,
    group: &Group,
    puts: &[PutRequest],
    deletes: &[String],
    sent: &[SentKey],
) -> Result<Vec<Put>, StoreError> {
    let attempt = async {
        let mut client = pool.get().await.map_err(DbError::from)?;
        let result = commit(&mut client, group.member(), puts, deletes, sent).await;
        if result.is_err() {
            drop(deadpool_postgres::Object::take(client));
        }
        result
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(timeout)),
    }
}

const UPSERT: &str = "WITH input AS (
        SELECT * FROM unnest($1::text[], $2::int8[], $3::text[]) AS i(key, version, state)
    ), updated AS (
        UPDATE picket_series s
        SET version = s.version + 1, state = i.state::jsonb, writer = $4, updated = now()
        FROM input i
        WHERE s.key = i.key AND s.version = i.version AND i.version > 0
        RETURNING s.key, s.version
    ), inserted AS (
        INSERT INTO picket_series (key, version, state, writer)
        SELECT i.key, 1, i.state::jsonb, $4 FROM input i WHERE i.version = 0
        ON CONFLICT (key) DO NOTHING
        RETURNING key, version
    )
    SELECT key, version FROM updated UNION ALL SELECT key, version FROM inserted";

const OUTBOX: &str = "INSERT INTO picket_transitions
        (series, transition, since_ms, change, recorded_by)
    SELECT t.series, t.transition, t.since_ms, t.change::jsonb, $5
    FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[])
        AS t(series, transition, since_ms, change)
    ON CONFLICT DO NOTHING
    RETURNING series";

const CURRENT: &str =
    "SELECT key, version, state::text FROM picket_series WHERE key = ANY($1::text[])";

const DELETE: &str = "DELETE FROM picket_series WHERE key = ANY($1::text[]);";

const DELETE_SENT: &str =
    "DELETE FROM picket_transitions WHERE series = ANY($1::text[]) AND sent IS NOT NULL";

const MARK_SENT: &str = "UPDATE picket_transitions t SET sent = now()
    FROM unnest($1::text[], $2::text[], $3::int8[]) AS k(series, transition, since_ms)
    WHERE t.series = k.series AND t.transition = k.transition AND t.since_ms = k.since_ms
      AND t.sent IS NULL";

/// One batch in one transaction; the answers are in the order of `puts`.
async fn commit(
    client: &mut deadpool_postgres::Client,
    member: &str,
    puts: &[PutRequest],
    deletes: &[String],
    sent: &[SentKey],
) -> Result<Vec<Put>, DbError> {
    let tx = client.transaction().await?;
    let mut won: HashMap<String, i64> = HashMap::new();
    let mut announced: HashSet<String> = HashSet::new();
    let mut current: HashMap<String, Versioned> = HashMap::new();
    if !puts.is_empty() {
        let keys: Vec<&str> = puts.iter().map(|p| p.key.as_str()).collect();
        let versions: Vec<i64> = puts.iter().map(|p| p.version).collect();
        let states: Vec<&str> = puts.iter().map(|p| p.state.as_str()).collect();
        let upsert = tx.prepare_cached(UPSERT).await?;
        for row in tx
            .query(&upsert, &[&keys, &versions, &states, &member])
            .await?
        {
            won.insert(row.get(0), row.get(1));
        }
        let outbox: Vec<(&str, &OutboxRow)> = puts
            .iter()
            .filter(|p| won.contains_key(&p.key))
            .filter_map(|p| p.outbox.as_ref().map(|o| (p.key.as_str(), o)))
            .collect();
        if !outbox.is_empty() {
            let series: Vec<&str> = outbox.iter().map(|(k, _)| *k).collect();
            let kinds: Vec<&str> = outbox.iter().map(|(_, o)| o.transition).collect();
            let since: Vec<i64> = outbox.iter().map(|(_, o)| o.since_ms).collect();
            let changes: Vec<&str> = outbox.iter().map(|(_, o)| o.change.as_str()).collect();
            let insert = tx.prepare_cached(OUTBOX).await?;
            for row in tx
                .query(&insert, &[&series, &kinds, &since, &changes, &member])
                .await?
            {
                announced.insert(row.get(0));
            }
        }
        let lost: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !won.contains_key(*k))
            .collect();
        if !lost.is_empty() {
            let read = tx.prepare_cached(CURRENT).await?;
            for row in tx.query(&read, &[&lost]).await? {
                let (key, versioned) = versioned_row(&row)?;
                current.insert(key, versioned);
            }
        }
    }
    if !deletes.is_empty() {
        tx.execute(DELETE, &[&deletes]).await?;
        tx.execute(DELETE_SENT, &[&deletes]).await?;
    }
    if !sent.is_empty() {
        let series: Vec<&str> = sent.iter().map(|k| k.series.as_str()).collect();
        let kinds: Vec<&str> = sent.iter().map(|k| k.transition).collect();
        let since: Vec<i64> = sent.iter().map(|k| k.since_ms).collect();
        let mark = tx.prepare_cached(MARK_SENT).await?;
        tx.execute(&mark, &[&series, &kinds, &since]).await?;
    }
    tx.commit().await?;
    Ok(puts
        .iter()
        .map(|p| match won.get(&p.key) {
            Some(version) => Put::Written {
                version: *version,
                announce: announced.contains(&p.key),
            },
            None => Put::Conflict(current.remove(&p.key).map(Box::new)),
        })
        .collect())
}
