//! The embedded store (`state.path`): series states in a redb file, written by one thread in batches,
//! durable before a transition is announced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use crate::state::SeriesState;

const SERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("series");

/// The writer thread's answer to each command of a batch: the batch's commit result, shared.
type Committed = Result<(), Arc<redb::Error>>;

/// Requests to the writer thread.
enum Command {
    Put(String, Vec<u8>, oneshot::Sender<Committed>),
    Delete(Vec<String>, oneshot::Sender<Committed>),
    Sync(oneshot::Sender<Committed>),
    /// Commit what is queued, then close the file cleanly and stop.
    Close(oneshot::Sender<Committed>),
}

/// The embedded store: a redb file under `state.path`, written by one thread in batches.
#[derive(Debug, Clone)]
pub struct Embedded {
    tx: mpsc::Sender<Command>,
    path: PathBuf,
}

impl Embedded {
    /// Opens (creating if missing) the store in directory `dir`, and reads every state in it.
    ///
    /// A file that cannot be read as a store (corrupt, truncated, another format) is renamed
    /// to `state.redb.corrupt-<UTC timestamp>` beside it, with an ERROR log line, and the
    /// store starts empty: losing the history is better than not probing at all, and the old
    /// file stays for inspection. A store that another process holds is [`StoreError::Locked`].
    pub fn open(dir: &Path) -> Result<(Embedded, BTreeMap<String, SeriesState>), StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STORE_FILE);
        let (db, states) = match load(&path) {
            Ok(loaded) => loaded,
            Err(Failure::Unreadable(detail)) => {
                let aside = move_aside(&path).map_err(|source| StoreError::MoveAside {
                    path: path.clone(),
                    detail: detail.clone(),
                    source,
                })?;
                tracing::error!(
                    path = %path.display(),
                    moved_to = %aside.display(),
                    error = %detail,
                    "state store unreadable; moved it aside and starting with no stored state"
                );
                load(&path).map_err(|f| f.into_error(&path))?
            }
            Err(f) => return Err(f.into_error(&path)),
        };
        // A bounded queue: if the disk stalls, run tasks wait here instead of piling up.
        let (tx, rx) = mpsc::channel(1024);
        std::thread::Builder::new()
            .name("picket-state".into())
            .spawn(move || writer(db, rx))
            .map_err(|e| StoreError::Db {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        Ok((Embedded { tx, path }, states))
    }

    /// Persists one series' state; returns once it is durable on disk.
    pub async fn put(&self, key: &str, state: &SeriesState) -> Result<(), StoreError> {
        // Sized for the state at once (its runs take about 60 bytes each), not grown from 128
        // bytes by doubling at every run.
        let mut bytes = Vec::with_capacity(256 + 72 * state.history.len());
        serde_json::to_writer(&mut bytes, state).map_err(|e| StoreError::Db {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Put(key.to_string(), bytes, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        self.answer(wait).await
    }

    /// Forgets these series; returns once that is durable.
    pub async fn delete(&self, keys: Vec<String>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Delete(keys, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        self.answer(wait).await
    }

    /// Waits until every earlier write is durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Sync(done))
            .await
            .map_err(|_| StoreError::Closed)?;
        self.answer(wait).await
    }

    /// Makes every earlier write durable and closes the file cleanly; later writes fail as
    /// [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Close(done))
            .await
            .map_err(|_| StoreError::Closed)?;
        self.answer(wait).await
    }

    async fn answer(&self, wait: oneshot::Receiver<Committed>) -> Result<(), StoreError> {
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(StoreError::Write {
                path: self.path.clone(),
                source,
            }),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

/// The store's file name inside `state.path`.
pub const STORE_FILE: &str = "state.redb";

/// Why a store could not be loaded.
enum Failure {
    /// Another process has it open.
    Locked,
    /// The file's content cannot be read as a store: move it aside.
    Unreadable(String),
    /// Anything else (permissions, I/O): refuse, the file may be fine.
    Other(String),
}

impl Failure {
    fn into_error(self, path: &Path) -> StoreError {
        let path = path.to_path_buf();
        match self {
            Failure::Locked => StoreError::Locked { path },
            Failure::Unreadable(detail) | Failure::Other(detail) => StoreError::Db { path, detail },
        }
    }
}

impl From<redb::Error> for Failure {
    fn from(e: redb::Error) -> Failure {
        use std::io::ErrorKind;
        match e {
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => Failure::Locked,
            redb::Error::Corrupted(_)
            | redb::Error::UpgradeRequired(_)
            | redb::Error::TableTypeMismatch { .. }
            | redb::Error::TableIsMultimap(_)
            | redb::Error::TypeDefinitionChanged { .. } => Failure::Unreadable(e.to_string()),
            // A file shorter than its header says, or not a redb file at all.
            redb::Error::Io(io)
                if matches!(io.kind(), ErrorKind::UnexpectedEof | ErrorKind::InvalidData) =>
            {
                Failure::Unreadable(io.to_string())
            }
            other => Failure::Other(other.to_string()),
        }
    }
}

/// Opens the database at `path` (creating it if missing), checks its integrity, and reads
/// every state in it.
fn load(path: &Path) -> Result<(Database, BTreeMap<String, SeriesState>), Failure> {
    // redb trusts a cleanly closed file and may panic on one altered behind its back; the
    // integrity check (which reads the whole, small file) reports it as corrupt instead. The
    // unwind guard is for whatever the check misses: no file may take the process down.
    let opened = std::panic::catch_unwind(|| {
        Database::builder()
            .set_check_integrity_on_open(true)
            .create(path)
    });
    let db = match opened {
        Ok(db) => db.map_err(|e| Failure::from(redb::Error::from(e)))?,
        Err(_) => return Err(Failure::Unreadable("redb panicked reading it".into())),
    };
    let states = read_all(&db)?;
    Ok((db, states))
}

/// Renames an unreadable store file to `<name>.corrupt-<UTC timestamp>` in its directory.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{stamp}"));
    let aside = path.with_file_name(name);
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// What a store in `dir` holds, read without creating, repairing, locking out or moving
/// anything (for `picket list`): the service's own open takes the file for itself, so a
/// running service's store reads as [`Peeked::InUse`].
pub fn peek(dir: &Path) -> Peeked {
    let path = dir.join(STORE_FILE);
    if !path.is_file() {
        return Peeked::Missing;
    }
    let opened = std::panic::catch_unwind(|| redb::ReadOnlyDatabase::open(&path));
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            return match Failure::from(redb::Error::from(e)) {
                Failure::Locked => Peeked::InUse,
                Failure::Unreadable(d) | Failure::Other(d) => Peeked::Unreadable(d),
            };
        }
        Err(_) => return Peeked::Unreadable("redb panicked reading it".into()),
    };
    match read_all(&db) {
        Ok(states) => Peeked::States(states),
        Err(e) => Peeked::Unreadable(e.to_string()),
    }
}

/// What [`peek`] found.
#[derive(Debug)]
pub enum Peeked {
    /// No store file: nothing has run here yet.
    Missing,
    /// A service has it open.
    InUse,
    /// It cannot be read (the service moves such a file aside when it starts).
    Unreadable(String),
    /// Every state in it.
    States(BTreeMap<String, SeriesState>),
}

fn read_all(db: &impl ReadableDatabase) -> Result<BTreeMap<String, SeriesState>, redb::Error> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(SERIES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = BTreeMap::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        // A record this version cannot read is dropped (the series starts over as unknown)
        // rather than stopping the service.
        if let Ok(state) = serde_json::from_slice::<SeriesState>(v.value()) {
            out.insert(k.value().to_string(), state);
        }
    }
    Ok(out)
}

/// How long the writer gathers commands after the first of a batch before committing.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// The writer thread: takes whatever is queued, commits it in one durable transaction, and
/// answers every waiter. Batching keeps fsyncs to one per burst, however many series run: after
/// the first command the writer gathers for [`GATHER`], so at thousands of runs a second a
/// commit (and its fsync) carries tens of them, for 10 ms more before a run's state shows.
fn writer(db: Database, mut rx: mpsc::Receiver<Command>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        std::thread::sleep(GATHER);
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let result = commit(&db, &batch).map_err(Arc::new);
        let close = batch.iter().any(|c| matches!(c, Command::Close(_)));
        if close {
            // Closed cleanly: the next open (the service's, or `picket list` reading it
            // read-only) needs no repair.
            drop(db);
            for command in batch {
                let _ = done_of(command).send(result.clone());
            }
            return;
        }
        for command in batch {
            let _ = done_of(command).send(result.clone());
        }
    }
}

fn done_of(command: Command) -> oneshot::Sender<Committed> {
    match command {
        Command::Put(_, _, done)
        | Command::Delete(_, done)
        | Command::Sync(done)
        | Command::Close(done) => done,
    }
}

/// Writes a batch in one durable transaction. redb's error types all convert into
/// `redb::Error` with the same text.
fn commit(db: &Database, batch: &[Command]) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(SERIES)?;
        for command in batch {
            match command {
                Command::Put(key, bytes, _) => {
                    table.insert(key.as_str(), bytes.as_slice())?;
                }
                Command::Delete(keys, _) => {
                    for key in keys {
                        table.remove(key.as_str())?;
                    }
                }
                Command::Sync(_) | Command::Close(_) => {}
            }
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::state::SeriesState;
    use crate::state::tests::{fail, step};
    use std::time::Duration;

    /// A failed write reaches every waiter as the same redb error, kept as the source of
    /// the `StoreError` and not flattened into its text.
    #[tokio::test]
    async fn a_failed_write_keeps_the_redb_error_as_its_source() {
        let (tx, mut rx) = mpsc::channel(1);
        let store = Embedded {
            tx,
            path: PathBuf::from("/tmp/x/state.redb"),
        };
        let failing = tokio::spawn(async move {
            if let Some(Command::Sync(done)) = rx.recv().await {
                let _ = done.send(Err(Arc::new(redb::Error::DatabaseClosed)));
            }
        });
        let e = store.sync().await.unwrap_err();
        failing.await.unwrap();
        assert_eq!(
            e.to_string(),
            "state store `/tmp/x/state.redb`: Database has been closed"
        );
        let source = std::error::Error::source(&e).unwrap();
        assert!(matches!(
            source.downcast_ref::<Arc<redb::Error>>().map(|a| &**a),
            Some(redb::Error::DatabaseClosed)
        ));
    }

    #[tokio::test]
    async fn a_closed_store_reads_back_read_only_and_an_open_one_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(peek(dir.path()), Peeked::Missing));
        let mut s = SeriesState::default();
        step(&mut s, Outcome::Pass);
        let (store, _) = Embedded::open(dir.path()).unwrap();
        store.put("headers/hsts@web", &s).await.unwrap();
        assert!(
            matches!(peek(dir.path()), Peeked::InUse),
            "{:?}",
            peek(dir.path())
        );
        store.close().await.unwrap();
        assert!(matches!(
            store.put("headers/hsts@web", &s).await,
            Err(StoreError::Closed)
        ));
        match peek(dir.path()) {
            Peeked::States(states) => assert_eq!(states.get("headers/hsts@web"), Some(&s)),
            other => panic!("{other:?}"),
        }
        // Read-only: nothing was created or moved.
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
    }

    #[tokio::test]
    async fn store_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SeriesState::default();
        step(&mut s, Outcome::Pass);
        step(&mut s, fail());
        step(&mut s, fail());
        {
            let (store, loaded) = Embedded::open(dir.path()).unwrap();
            assert!(loaded.is_empty());
            store.put("headers/hsts@web", &s).await.unwrap();
            store.sync().await.unwrap();
        }
        // The writer thread ends when the last sender is dropped; give it a moment to close
        // the database so it can be opened again.
        let mut reopened = None;
        for _ in 0..50 {
            match Embedded::open(dir.path()) {
                Ok(r) => {
                    reopened = Some(r);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let (_, loaded) = reopened.expect("store reopens");
        assert_eq!(loaded.get("headers/hsts@web"), Some(&s));
    }

    fn aside_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".corrupt-"))
            .collect();
        files.sort();
        files
    }

    #[tokio::test]
    async fn an_unreadable_file_is_moved_aside_and_the_store_starts_empty() {
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + 3) as u8).collect();
        for content in [&b"not a database"[..], &garbage, b""] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(STORE_FILE), content).unwrap();
            let (store, loaded) = Embedded::open(dir.path()).expect("opens after moving aside");
            assert!(loaded.is_empty());
            store.put("a@b", &SeriesState::default()).await.unwrap();
            let aside = aside_files(dir.path());
            if content.is_empty() {
                // An empty file is a new store, not a corrupt one.
                assert!(aside.is_empty(), "{aside:?}");
            } else {
                assert_eq!(aside.len(), 1, "{aside:?}");
                assert_eq!(std::fs::read(&aside[0]).unwrap(), content, "kept as it was");
            }
        }
    }

    #[tokio::test]
    async fn a_truncated_store_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = Embedded::open(dir.path()).unwrap();
            let mut s = SeriesState::default();
            step(&mut s, Outcome::Pass);
            for i in 0..200 {
                store.put(&format!("p{i}@t"), &s).await.unwrap();
            }
            store.sync().await.unwrap();
        }
        let path = dir.path().join(STORE_FILE);
        // Wait for the writer thread to close the file, then cut it in half.
        let mut len = 0;
        for _ in 0..100 {
            len = std::fs::metadata(&path).unwrap().len();
            if Database::create(&path).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len / 2).unwrap();
        drop(file);
        let (_, loaded) = Embedded::open(dir.path()).expect("opens after moving aside");
        assert!(loaded.is_empty());
        assert_eq!(aside_files(dir.path()).len(), 1);
    }

    #[test]
    fn a_store_held_open_is_locked_not_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let (_held, _) = Embedded::open(dir.path()).unwrap();
        let err = Embedded::open(dir.path()).map(|_| ()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        assert!(aside_files(dir.path()).is_empty(), "nothing moved aside");
    }
}
