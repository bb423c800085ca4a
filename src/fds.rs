//! File descriptors: the process limit (`RLIMIT_NOFILE`), raised to its hard limit at start,
//! and the share of it the API may take.
//!
//! Every probe run needs descriptors (its connection to the target, a DNS lookup), and so do
//! the state store, telemetry and webhooks. Anyone who can reach the API port can open
//! connections to it; if those could take every descriptor, runs would end in `error` ("Too
//! many open files") and, since errors never move a series, a real regression would go
//! unreported. So the API gets a connection cap ([`api_connections`]) that leaves a reserve
//! for everything else, computed from the descriptor limit.

/// The descriptor limit after [`raise`]: `None` fields are unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit found at start.
    pub before: Option<u64>,
    /// The soft limit now (what the process may open).
    pub soft: Option<u64>,
    /// The hard limit (what the soft one may be raised to).
    pub hard: Option<u64>,
}

impl NoFile {
    /// Whether [`raise`] changed the soft limit.
    pub fn raised(&self) -> bool {
        self.before != self.soft
    }
}

/// A limit as logs show it: the number, or `unlimited`.
pub fn figure(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string())
}

/// What the soft limit is raised to when the hard limit is unlimited (the kernel refuses
/// "unlimited" for `RLIMIT_NOFILE`; Linux's default `fs.nr_open` is 2^20).
const UNLIMITED_TARGET: u64 = 1 << 20;

/// The current descriptor limit (soft and hard), without changing it.
pub fn current() -> NoFile {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    NoFile {
        before: limit.current,
        soft: limit.current,
        hard: limit.maximum,
    }
}

/// Raises the soft descriptor limit to the hard limit (the common service default of 1,024 is
/// far below what a busy instance can need; the hard limit is what the administrator allows).
/// Never lowers it; when the kernel refuses, the limit stays as it was.
pub fn raise() -> NoFile {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let found = getrlimit(Resource::Nofile);
    let mut out = NoFile {
        before: found.current,
        soft: found.current,
        hard: found.maximum,
    };
    let Some(current) = found.current else {
        return out; // already unlimited
    };
    let targets: &[u64] = match found.maximum {
        Some(hard) => &[hard],
        // macOS and some containers report an unlimited hard limit that cannot be set as
        // the soft one: try a large figure, then a common one.
        None => &[UNLIMITED_TARGET, 65_536],
    };
    for &target in targets {
        if target <= current {
            break;
        }
        let new = Rlimit {
            current: Some(target),
            maximum: found.maximum,
        };
        if setrlimit(Resource::Nofile, new).is_ok() {
            out.soft = Some(target);
            break;
        }
    }
    out
}

/// Descriptors the process holds whatever it probes, rounded up generously: standard input,
/// output and error (3); the runtime's epoll, waker and signal pipe (about 4); the state store
/// (its file and lock, 2); the OpenTelemetry exporters (a connection or two per signal, up to
/// 6); the API's listening socket (1); reading config, probe and CA files and the watcher's
/// `readdir` (a few at a time); DNS lookups on the blocking pool (resolv.conf, hosts, a UDP
/// socket each). About 30; twice that for what this list forgot.
pub const BASE_RESERVE: u64 = 64;

/// Descriptors one run in flight may hold: its connection to the target, a DNS lookup's
/// socket, a second connection while a redirect or a TLS scan's next handshake opens before
/// the last one is closed, and one idle pooled connection kept for the next run.
pub const PER_RUN: u64 = 4;

/// Descriptors one webhook may hold: its delivery connection and one being opened (webhook
/// deliveries are sent one at a time per webhook).
pub const PER_WEBHOOK: u64 = 2;

/// The API's connection cap however high the descriptor limit: the API serves a dashboard to
/// a few people and health checks to an orchestrator; idle connections past the cap are
/// closed to make room (`api::conn`), so a client always gets in.
pub const MAX_API_CONNECTIONS: usize = 256;

/// The API's connection cap however low the descriptor limit: `/healthz` must still answer.
pub const MIN_API_CONNECTIONS: usize = 8;

/// Descriptors kept for everything but the API: [`BASE_RESERVE`], plus [`PER_RUN`] for each
/// run `limits.concurrency` allows in flight, plus [`PER_WEBHOOK`] for each webhook.
pub fn reserve(concurrency: usize, webhooks: usize) -> u64 {
    let runs = u64::try_from(concurrency).unwrap_or(u64::MAX);
    let hooks = u64::try_from(webhooks).unwrap_or(u64::MAX);
    BASE_RESERVE
        .saturating_add(PER_RUN.saturating_mul(runs))
        .saturating_add(PER_WEBHOOK.saturating_mul(hooks))
}

/// How many connections the API may hold open with the soft descriptor limit `soft`
/// (`None`: unlimited): what is left after [`reserve`], within [`MIN_API_CONNECTIONS`] ..=
/// [`MAX_API_CONNECTIONS`].
///
/// E.g. the default `limits.concurrency` of 64 and no webhooks reserve 64 + 4 × 64 = 320; with a
/// limit of 1,024 the API may hold 704, capped to 256; with a limit of 256 nothing is left and
/// the API gets the minimum of 8 (and [`ApiShare::starved`] says so: the limit is too low for
/// the concurrency, whatever the API does).
pub fn api_connections(soft: Option<u64>, concurrency: usize, webhooks: usize) -> ApiShare {
    let reserve = reserve(concurrency, webhooks);
    let Some(soft) = soft else {
        return ApiShare {
            connections: MAX_API_CONNECTIONS,
            reserve,
            starved: false,
        };
    };
    let left = usize::try_from(soft.saturating_sub(reserve)).unwrap_or(usize::MAX);
    ApiShare {
        connections: left.clamp(MIN_API_CONNECTIONS, MAX_API_CONNECTIONS),
        reserve,
        starved: left < MIN_API_CONNECTIONS,
    }
}

/// The API's share of the descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiShare {
    /// Connections the API may hold open at once.
    pub connections: usize,
    /// Descriptors kept for probing, the store, telemetry and webhooks.
    pub reserve: u64,
    /// The limit leaves less than [`MIN_API_CONNECTIONS`] after the reserve: probing itself
    /// may run out of descriptors at full concurrency.
    pub starved: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_gets_what_the_reserve_leaves_within_bounds() {
        // 64 + 4 × 64 = 320 reserved.
        assert_eq!(reserve(64, 0), 320);
        let share = api_connections(Some(1024), 64, 0);
        assert_eq!(share.connections, MAX_API_CONNECTIONS);
        assert!(!share.starved);
        // 64 + 4 × 4 + 2 × 2 = 84 reserved; 256 − 84 = 172.
        let share = api_connections(Some(256), 4, 2);
        assert_eq!((share.connections, share.reserve), (172, 84));
        assert!(!share.starved);
        let share = api_connections(Some(256), 64, 0);
        assert_eq!(share.connections, MIN_API_CONNECTIONS);
        assert!(share.starved);
        assert_eq!(
            api_connections(None, 10_000, 5).connections,
            MAX_API_CONNECTIONS
        );
        assert!(api_connections(Some(0), usize::MAX, usize::MAX).starved);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let found = current();
        let after = raise();
        assert_eq!(after.hard, found.hard);
        match (found.soft, after.soft) {
            (Some(before), Some(now)) => assert!(now >= before),
            (None, now) => assert_eq!(now, None),
            (Some(_), None) => panic!("raised to unlimited"),
        }
        assert_eq!(current().soft, after.soft);
    }
}
