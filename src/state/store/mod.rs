//! Where series states persist: a variant per backend behind one interface, so the
//! [`Tracker`](super::Tracker) stays their one owner whichever it is.
//!
//! - `embedded.rs`: a redb file under `state.path`, for one process (the default);
//! - `postgres/`: a PostgreSQL database shared by the replicas of a group (`state.postgres`),
//!   with versioned rows (a write that lost a race is told so) and the transitions' outbox.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use super::{SeriesState, State, Transition};
use crate::units::Severity;

mod embedded;
pub mod postgres;

pub use embedded::{Embedded, Peeked, STORE_FILE, peek};
pub use postgres::Postgres;

/// Store failures.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The directory could not be created.
    #[error("cannot create state directory `{path}`: {source}")]
    Dir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Another process holds the store open.
    #[error(
        "state store `{path}` is in use by another process (another `picket run` with the same \
         state.path?); stop it, or give this instance its own state.path"
    )]
    Locked {
        /// File.
        path: PathBuf,
    },
    /// The file was unreadable and could not be moved aside either.
    #[error("state store `{path}` is unreadable ({detail}) and could not be moved aside: {source}")]
    MoveAside {
        /// File.
        path: PathBuf,
        /// Why it was unreadable.
        detail: String,
        /// Why it could not be moved.
        source: std::io::Error,
    },
    /// redb refused for another reason (permissions, disk full, …).
    #[error("state store `{path}`: {detail}")]
    Db {
        /// File.
        path: PathBuf,
        /// Cause.
        detail: String,
    },
    /// A write (one batch's transaction) failed; every waiter of the batch gets the same
    /// redb error.
    #[error("state store `{path}`: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: Arc<redb::Error>,
    },
    /// The writer task is gone (shutdown).
    #[error("state store is closed")]
    Closed,
    /// PostgreSQL refused or could not be reached (`state.postgres`).
    #[error("state database: {0}")]
    Database(#[source] Arc<postgres::DbError>),
    /// PostgreSQL did not answer in time.
    #[error("state database did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

/// A state with the version it was read or written at (`0`: never written).
#[derive(Debug, Clone, Default)]
pub struct Versioned {
    /// The row's version in the shared store; always 0 in the embedded one.
    pub version: i64,
    /// The state.
    pub state: SeriesState,
}

/// What a transition was, as the outbox keeps it until it is announced: enough to announce it
/// again from another member.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// The state before.
    pub previous: State,
    /// The severity before.
    pub previous_severity: Severity,
    /// When the run that caused it started, in ms since the epoch.
    pub started_ms: u64,
    /// The state it led to.
    pub state: SeriesState,
}

/// One transition to record with the state that caused it.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Regression or recovery.
    pub transition: Transition,
    /// When the new state began, in ms since the epoch: with the series and the transition,
    /// the key that makes one announcement per transition.
    pub since_ms: i64,
    /// What to announce.
    pub recorded: Recorded,
}

/// How a write went.
#[derive(Debug, Clone)]
pub enum Put {
    /// Durable at `version`. `announce`: this writer recorded the transition it carried (no
    /// other did first), so it is the one to announce it.
    Written {
        /// The new version.
        version: i64,
        /// Whether to announce the transition.
        announce: bool,
    },
    /// Another member wrote the series since this one read it: here is what the store holds
    /// now (`None`: nothing).
    Conflict(Option<Box<Versioned>>),
}

/// Where states persist.
#[derive(Debug, Clone)]
pub enum Store {
    /// A redb file, one process.
    Embedded(Embedded),
    /// A PostgreSQL database shared by a group.
    Postgres(Postgres),
}

impl Store {
    /// Opens the embedded store in `dir` and reads every state in it (see
    /// [`Embedded::open`]).
    pub fn open(
        dir: &std::path::Path,
    ) -> Result<(Store, BTreeMap<String, SeriesState>), StoreError> {
        Embedded::open(dir).map(|(store, states)| (Store::Embedded(store), states))
    }

    /// Persists `state`, read at `version`, with the transition it made, if any; returns
    /// once it is durable (or refused).
    pub async fn put(
        &self,
        key: &str,
        version: i64,
        state: &SeriesState,
        outbox: Option<Outbox>,
    ) -> Result<Put, StoreError> {
        match self {
            Store::Embedded(s) => s.put(key, state).await.map(|()| Put::Written {
                version: 0,
                announce: true,
            }),
            Store::Postgres(s) => s.put(key, version, state, outbox).await,
        }
    }

    /// Forgets these series; returns once that is durable.
    pub async fn delete(&self, keys: Vec<String>) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.delete(keys).await,
            Store::Postgres(s) => s.delete(keys).await,
        }
    }

    /// Waits until every earlier write is durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.sync().await,
            Store::Postgres(s) => s.sync().await,
        }
    }

    /// The stored states of `keys` (those it has), for series this process starts to run.
    /// The embedded store read everything at open, so it has nothing more to say.
    pub async fn load(&self, keys: &[String]) -> Result<BTreeMap<String, Versioned>, StoreError> {
        match self {
            Store::Embedded(_) => Ok(BTreeMap::new()),
            Store::Postgres(s) => s.load(keys).await,
        }
    }

    /// Closes the embedded store's file cleanly (nothing to do for the shared one).
    pub async fn close(&self) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.close().await,
            Store::Postgres(_) => Ok(()),
        }
    }

    /// The shared store, if this is one.
    pub fn shared(&self) -> Option<&Postgres> {
        match self {
            Store::Embedded(_) => None,
            Store::Postgres(s) => Some(s),
        }
    }
}
