//! `state:`: where series state is kept. The embedded store is the default; `state.postgres`
//! makes the replicas that share a database one group (SPEC §9a).

use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::{Ctx, raw};
use crate::diag::Pos;
use crate::redact::Secret;
use crate::units;

/// `state.postgres.lease` when not given.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// Where series state lives.
#[derive(Debug, Clone)]
pub enum StateStore {
    /// The embedded store in this directory (one process; `--shard` splits the series).
    Embedded(PathBuf),
    /// A PostgreSQL database shared by the replicas of a group.
    Postgres(Postgres),
}

impl Default for StateStore {
    fn default() -> StateStore {
        StateStore::Embedded(PathBuf::from(".picket/state"))
    }
}

/// `state.postgres`, validated.
#[derive(Debug, Clone)]
pub struct Postgres {
    /// The connection string (always secret: it may hold the password).
    pub url: Secret<String>,
    /// How long a member may go without renewing its membership before its series move.
    pub lease: Duration,
    /// Where `state.postgres` is written (for errors that concern the choice itself).
    pub file: PathBuf,
    /// Its position there.
    pub pos: Pos,
}

impl Postgres {
    /// Why `--shard` (or `PICKET_SHARD`) is refused with `state.postgres`, located there.
    pub fn refuse_shard(&self) -> crate::diag::Diagnostic {
        crate::diag::Diagnostic::new(
            &self.file,
            self.pos,
            "--shard (or PICKET_SHARD) cannot be used with state.postgres",
        )
        .with_hint(
            "the members of a group share the series out through the database: remove --shard \
             and PICKET_SHARD, or use state.path for one process per shard",
        )
    }
}

pub(super) fn compile_state(ctx: &mut Ctx<'_>, raw: &raw::State) -> StateStore {
    let Some(pg) = &raw.postgres else {
        return match &raw.path {
            Some(p) => StateStore::Embedded(PathBuf::from(&p.value)),
            None => StateStore::default(),
        };
    };
    if let Some(path) = &raw.path {
        ctx.err_hint(
            path,
            "`state.path` and `state.postgres` are both set",
            "keep one: `path` for the embedded store of one process, `postgres` for replicas \
             that share a database",
        );
    }
    let lease = pg
        .value
        .lease
        .as_ref()
        .and_then(|l| {
            super::values::compile_duration(
                &mut ctx.at,
                l,
                "lease",
                &units::ranges::LEASE,
                "how long a replica may go without renewing its membership before the others \
                 take over its series, e.g. `15s`",
            )
        })
        .unwrap_or(DEFAULT_LEASE);
    // On a mistake the diagnostics say why; what is returned is never used.
    let Some(url) = postgres_url(ctx, &pg.value.url) else {
        return StateStore::default();
    };
    StateStore::Postgres(Postgres {
        url,
        lease,
        file: ctx.at.file.to_path_buf(),
        pos: Pos::from_location(&pg.referenced),
    })
}

/// Validates the connection string; a password typed into the file is a secret too.
fn postgres_url(ctx: &mut Ctx<'_>, raw: &Spanned<String>) -> Option<Secret<String>> {
    let resolved = ctx.resolve(raw)?;
    let text = resolved.expose();
    match text.parse::<tokio_postgres::Config>() {
        Ok(config) => {
            if let Some(password) = config.get_password()
                && !resolved.is_secret()
            {
                ctx.redactor.add(&String::from_utf8_lossy(password));
            }
            if config.get_hosts().is_empty() {
                ctx.err_hint(
                    raw,
                    "state.postgres.url names no host",
                    "write `postgres://USER:${env:PASSWORD}@HOST:5432/DATABASE`",
                );
                return None;
            }
            Some(Secret::hidden(text.clone()))
        }
        Err(e) => {
            // The driver's message never repeats the string it was given.
            ctx.err_hint(
                raw,
                format!("invalid state.postgres.url: {e}"),
                "write `postgres://USER:${env:PASSWORD}@HOST:5432/DATABASE`, optionally with \
                 `?sslmode=require`",
            );
            None
        }
    }
}
