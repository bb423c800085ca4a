//! The schema, versioned: each migration runs once, in order, in one transaction that holds
//! an advisory lock, so members that start at the same instant against an empty database
//! migrate it once (the others wait on the lock, then find nothing left to do).

use deadpool_postgres::Client;

/// The advisory lock key of migrations (`picket` in ASCII).
const LOCK: i64 = 0x7069_636b_6574;

/// Every migration, in order. Never edit one that shipped: add the next.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE picket_members (
        id text PRIMARY KEY,
        api text NOT NULL DEFAULT '',
        started timestamptz NOT NULL DEFAULT now(),
        heartbeat timestamptz NOT NULL DEFAULT now(),
        expires timestamptz NOT NULL
    );
    CREATE TABLE picket_series (
        key text PRIMARY KEY,
        version bigint NOT NULL,
        state jsonb NOT NULL,
        writer text NOT NULL,
        updated timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX picket_series_updated ON picket_series (updated);
    CREATE TABLE picket_transitions (
        series text NOT NULL,
        transition text NOT NULL,
        since_ms bigint NOT NULL,
        change jsonb NOT NULL,
        recorded_by text NOT NULL,
        recorded timestamptz NOT NULL DEFAULT now(),
        sent timestamptz,
        PRIMARY KEY (series, transition, since_ms)
    );
    CREATE INDEX picket_transitions_unsent ON picket_transitions (recorded_by)
        WHERE sent IS NULL;",
)];

/// The schema version this picket writes.
pub const VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// What migrating found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// The versions this call applied (empty when another member had).
    pub applied: Vec<i32>,
    /// The newest version in the database, when a newer picket wrote it.
    pub newer: Option<i32>,
}

/// Brings the schema to [`VERSION`], recording each step with `member`.
pub async fn migrate(client: &mut Client, member: &str) -> Result<Migrated, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    // Under the lock, so no other member creates it in between (and no notice that it exists).
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('picket_schema_migrations') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        tx.batch_execute(
            "CREATE TABLE picket_schema_migrations (
                version int PRIMARY KEY,
                applied timestamptz NOT NULL DEFAULT now(),
                applied_by text NOT NULL
            )",
        )
        .await?;
    }
    let done: Vec<i32> = tx
        .query("SELECT version FROM picket_schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut migrated = Migrated {
        newer: done.iter().copied().filter(|v| *v > VERSION).max(),
        ..Migrated::default()
    };
    for (version, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO picket_schema_migrations (version, applied_by) VALUES ($1, $2)",
            &[version, &member],
        )
        .await?;
        migrated.applied.push(*version);
    }
    tx.commit().await?;
    Ok(migrated)
}
