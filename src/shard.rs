//! Which shard of the series this instance runs: `--shard I/N`, or `--shard auto` (also
//! `PICKET_SHARD`) in a Kubernetes StatefulSet, where the pod's ordinal is `I` and
//! `PICKET_SHARD_COUNT` is `N`.
//!
//! A StatefulSet names its pods `<name>-0`, `<name>-1`, …, and a pod's host name is its name,
//! so the ordinal is the host name's trailing `-N`. The host name is read from `HOSTNAME`
//! first (set by Kubernetes and most shells; a test can set it too), else from the system
//! (`uname`). The count cannot be derived from inside a pod, so it is an explicit variable that
//! the manifest keeps equal to `replicas`. Every mistake is refused with what was read and how
//! to fix it: a silently wrong shard would leave series unprobed or probed twice.

use std::fmt;

use crate::config::EnvLookup;

/// The variable that gives the number of shards for `--shard auto`.
pub const COUNT_VAR: &str = "PICKET_SHARD_COUNT";
/// The variable read first for the host name.
pub const HOSTNAME_VAR: &str = "HOSTNAME";

/// `--shard` as given on the command line (or in `PICKET_SHARD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    /// `I/N`: shard `I` of `N`.
    Fixed(u32, u32),
    /// `auto`: `I` from the host name's trailing `-N`, `N` from `PICKET_SHARD_COUNT`.
    Auto,
}

impl ShardArg {
    /// Parses `auto` or `I/N`.
    pub fn parse(text: &str) -> Result<ShardArg, InvalidShardArg> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(ShardArg::Auto);
        }
        parse_shard(text)
            .map(|(i, n)| ShardArg::Fixed(i, n))
            .map_err(InvalidShardArg)
    }
}

/// `--shard` that is neither `auto` nor a valid `I/N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}, or `auto` in a StatefulSet")]
pub struct InvalidShardArg(#[source] pub InvalidShard);

/// How to write `I/N`, the end of every [`InvalidShard`] message.
const SHARD_HINT: &str = "write `INDEX/COUNT` with 0 <= INDEX < COUNT, e.g. `0/3`";

/// An `I/N` shard that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidShard {
    /// No `/`.
    #[error("invalid shard `{text}`; {SHARD_HINT}")]
    NoSlash {
        /// The text as given (trimmed).
        text: String,
    },
    /// The index is not a whole number.
    #[error("invalid shard index in `{text}`; {SHARD_HINT}")]
    Index {
        /// The text as given (trimmed).
        text: String,
        /// Why the index does not parse.
        #[source]
        source: std::num::ParseIntError,
    },
    /// The count is not a whole number.
    #[error("invalid shard count in `{text}`; {SHARD_HINT}")]
    Count {
        /// The text as given (trimmed).
        text: String,
        /// Why the count does not parse.
        #[source]
        source: std::num::ParseIntError,
    },
    /// A count of 0.
    #[error("shard count in `{text}` must be at least 1; {SHARD_HINT}")]
    ZeroCount {
        /// The text as given (trimmed).
        text: String,
    },
    /// The index is not below the count.
    #[error("shard index {index} is out of range for {count} shards; {SHARD_HINT}")]
    IndexOutOfRange {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
}

/// Why `--shard auto` could not work out the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardError {
    /// Neither `HOSTNAME` nor the system gave a host name.
    NoHostName,
    /// The host name does not end in `-N`.
    NoOrdinal(String),
    /// `PICKET_SHARD_COUNT` is not set.
    CountMissing,
    /// `PICKET_SHARD_COUNT` is not a whole number, or is 0.
    CountInvalid(String),
    /// The ordinal is not below the count.
    OutOfRange {
        /// The host name the ordinal came from.
        host: String,
        /// The ordinal.
        index: u32,
        /// The count.
        count: u32,
    },
}

impl ShardError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ShardError::NoHostName | ShardError::NoOrdinal(_) => {
                "`auto` takes the shard index from a host name ending in `-N`, as StatefulSet \
                 pods are named (picket-0, picket-1, …); elsewhere set HOSTNAME, or give \
                 --shard I/N"
            }
            ShardError::CountMissing | ShardError::CountInvalid(_) => {
                "set PICKET_SHARD_COUNT to the number of instances (the StatefulSet's \
                 `replicas`), e.g. 3"
            }
            ShardError::OutOfRange { .. } => {
                "PICKET_SHARD_COUNT must equal the StatefulSet's `replicas`: raise it with the \
                 replica count, or the series of the extra instances go unprobed"
            }
        }
    }
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::NoHostName => write!(
                f,
                "--shard auto: no host name (HOSTNAME is not set and the system gave none)"
            ),
            ShardError::NoOrdinal(host) => write!(
                f,
                "--shard auto: host name `{}` does not end in an ordinal `-N`",
                crate::term::escape_controls(host)
            ),
            ShardError::CountMissing => write!(f, "--shard auto: {COUNT_VAR} is not set"),
            ShardError::CountInvalid(text) => write!(
                f,
                "--shard auto: {COUNT_VAR} is `{}`; expected a whole number of shards, at least 1",
                crate::term::escape_controls(text)
            ),
            ShardError::OutOfRange { host, index, count } => write!(
                f,
                "--shard auto: ordinal {index} of host `{}` is out of range for {COUNT_VAR}={count} \
                 (shards 0 to {})",
                crate::term::escape_controls(host),
                count.saturating_sub(1)
            ),
        }
    }
}

impl std::error::Error for ShardError {}

/// A resolved shard and where it came from, for the startup log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// This instance's shard.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
    /// The host name `auto` read the index from (`None` for `I/N`).
    pub host: Option<String>,
}

impl Shard {
    /// `(index, count)`, as [`in_shard`] takes it.
    pub fn pair(&self) -> (u32, u32) {
        (self.index, self.count)
    }
}

/// Works out the shard of `arg`. For `auto`, the host name is `HOSTNAME` from `env` when set
/// and not empty, else `system_host()`; the count is `PICKET_SHARD_COUNT` from `env`.
pub fn resolve(
    arg: ShardArg,
    env: EnvLookup<'_>,
    system_host: impl FnOnce() -> Option<String>,
) -> Result<Shard, ShardError> {
    let ShardArg::Fixed(index, count) = arg else {
        return auto(env, system_host);
    };
    Ok(Shard {
        index,
        count,
        host: None,
    })
}

fn auto(
    env: EnvLookup<'_>,
    system_host: impl FnOnce() -> Option<String>,
) -> Result<Shard, ShardError> {
    let host = env(HOSTNAME_VAR)
        .filter(|h| !h.trim().is_empty())
        .or_else(system_host)
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .ok_or(ShardError::NoHostName)?;
    let index = ordinal(&host).ok_or_else(|| ShardError::NoOrdinal(host.clone()))?;
    let text = env(COUNT_VAR).ok_or(ShardError::CountMissing)?;
    let count = text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| ShardError::CountInvalid(text.clone()))?;
    if index >= count {
        return Err(ShardError::OutOfRange { host, index, count });
    }
    Ok(Shard {
        index,
        count,
        host: Some(host),
    })
}

/// The ordinal of a StatefulSet pod's host name: the decimal number after its last `-`, in its
/// first label (`picket-2` and `picket-2.picket.monitoring.svc` give 2).
pub fn ordinal(host: &str) -> Option<u32> {
    let label = host.split('.').next()?;
    let (name, digits) = label.rsplit_once('-')?;
    if name.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The system's host name (`uname`'s node name), if it has one.
pub fn system_host_name() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_str().ok()?.trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// Whether a series with this stable hash belongs to shard `(index, count)`: `hash % count ==
/// index`. A count of 0 or 1 means no sharding.
pub fn in_shard(hash: u64, shard: (u32, u32)) -> bool {
    let (index, count) = shard;
    count <= 1 || hash % u64::from(count) == u64::from(index)
}

/// The live members of a group (`state.postgres`), and which of them runs each series:
/// rendezvous hashing, so every member that sees the same members agrees without talking,
/// series spread evenly, and a member that joins or leaves moves only its own share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    /// Member ids with their stable hashes, sorted by id.
    ids: Vec<(String, u64)>,
}

impl Members {
    /// The members with these ids.
    pub fn new(mut ids: Vec<String>) -> Members {
        ids.sort();
        ids.dedup();
        Members {
            ids: ids
                .into_iter()
                .map(|id| {
                    let hash = crate::plan::stable_hash(&id);
                    (id, hash)
                })
                .collect(),
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The member that runs the series with this stable hash: the one with the highest score
    /// for the pair (ties, practically impossible, go to the smaller id).
    pub fn owner(&self, series_hash: u64) -> Option<&str> {
        let mut best: Option<(u64, &str)> = None;
        for (id, hash) in &self.ids {
            let score = mix(series_hash ^ hash.rotate_left(29));
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, id));
            }
        }
        best.map(|(_, id)| id)
    }
}

/// SplitMix64's finalizer: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Parses `--shard i/n` (`PICKET_SHARD`): `n >= 1` shards, `0 <= i < n`.
pub fn parse_shard(text: &str) -> Result<(u32, u32), InvalidShard> {
    let text = text.trim();
    let (index, count) = text
        .split_once('/')
        .ok_or_else(|| InvalidShard::NoSlash { text: text.into() })?;
    let index: u32 = index.trim().parse().map_err(|source| InvalidShard::Index {
        text: text.into(),
        source,
    })?;
    let count: u32 = count.trim().parse().map_err(|source| InvalidShard::Count {
        text: text.into(),
        source,
    })?;
    if count == 0 {
        return Err(InvalidShard::ZeroCount { text: text.into() });
    }
    if index >= count {
        return Err(InvalidShard::IndexOutOfRange { index, count });
    }
    Ok((index, count))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rendezvous_spreads_series_evenly_and_moves_only_the_leavers_share() {
        use super::Members;
        let three = Members::new(vec!["a-1".into(), "b-2".into(), "c-3".into()]);
        let two = Members::new(vec!["a-1".into(), "c-3".into()]);
        let hashes: Vec<u64> = (0..30_000)
            .map(|i| crate::plan::stable_hash(&format!("probe/{i}@target-{}", i % 97)))
            .collect();
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        let mut moved = 0;
        for &h in &hashes {
            let before = three.owner(h).unwrap();
            *counts.entry(before).or_default() += 1;
            let after = two.owner(h).unwrap();
            if before != "b-2" {
                assert_eq!(before, after, "a series of a member that stays never moves");
            } else {
                moved += 1;
            }
        }
        for (id, n) in &counts {
            assert!(
                (9_000..=11_000).contains(n),
                "{id} runs {n} of 30000: {counts:?}"
            );
        }
        assert_eq!(moved, counts["b-2"]);
        assert_eq!(Members::new(vec![]).owner(1), None);
    }

    use super::*;
    use crate::plan::series_key;
    use crate::plan::stable_hash;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        }
    }

    fn auto_with(vars: &[(&str, &str)], system: Option<&str>) -> Result<Shard, ShardError> {
        resolve(ShardArg::Auto, &env(vars), || system.map(str::to_string))
    }

    #[test]
    fn parses_auto_and_fixed() {
        assert_eq!(ShardArg::parse("auto"), Ok(ShardArg::Auto));
        assert_eq!(ShardArg::parse(" AUTO "), Ok(ShardArg::Auto));
        assert_eq!(ShardArg::parse("1/3"), Ok(ShardArg::Fixed(1, 3)));
        let e = ShardArg::parse("automatic").unwrap_err().to_string();
        assert!(e.contains("`auto`"), "{e}");
        assert!(ShardArg::parse("3/3").is_err());
    }

    #[test]
    fn ordinals_are_the_trailing_number_of_the_first_label() {
        assert_eq!(ordinal("picket-0"), Some(0));
        assert_eq!(ordinal("picket-2"), Some(2));
        assert_eq!(ordinal("my-picket-12"), Some(12));
        assert_eq!(ordinal("picket-2.picket.monitoring.svc"), Some(2));
        for bad in [
            "picket",
            "picket-",
            "-3",
            "picket-x",
            "picket-1a",
            "",
            "picket-99999999999",
        ] {
            assert_eq!(ordinal(bad), None, "{bad}");
        }
    }

    #[test]
    fn auto_reads_hostname_first_then_the_system() {
        let count = [("PICKET_SHARD_COUNT", "3")];
        let s = auto_with(&[("HOSTNAME", "picket-2"), count[0]], Some("node-0")).unwrap();
        assert_eq!((s.pair(), s.host.as_deref()), ((2, 3), Some("picket-2")));
        let s = auto_with(&count, Some("picket-1")).unwrap();
        assert_eq!(s.pair(), (1, 3));
        // An empty HOSTNAME is no host name.
        let s = auto_with(&[("HOSTNAME", ""), count[0]], Some("picket-0")).unwrap();
        assert_eq!(s.pair(), (0, 3));
        let fixed = resolve(ShardArg::Fixed(1, 4), &env(&[]), || None).unwrap();
        assert_eq!((fixed.pair(), fixed.host), ((1, 4), None));
    }

    #[test]
    fn auto_refuses_what_it_cannot_use_and_says_how_to_fix_it() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Vars, Option<&str>, ShardError, &str); 6] = [
            (
                &[("PICKET_SHARD_COUNT", "3")],
                None,
                ShardError::NoHostName,
                "HOSTNAME",
            ),
            (
                &[("HOSTNAME", "picket"), ("PICKET_SHARD_COUNT", "3")],
                None,
                ShardError::NoOrdinal("picket".into()),
                "`-N`",
            ),
            (
                &[("HOSTNAME", "picket-1")],
                None,
                ShardError::CountMissing,
                "not set",
            ),
            (
                &[("HOSTNAME", "picket-1"), ("PICKET_SHARD_COUNT", "0")],
                None,
                ShardError::CountInvalid("0".into()),
                "at least 1",
            ),
            (
                &[("HOSTNAME", "picket-1"), ("PICKET_SHARD_COUNT", "three")],
                None,
                ShardError::CountInvalid("three".into()),
                "`three`",
            ),
            (
                &[("HOSTNAME", "picket-3"), ("PICKET_SHARD_COUNT", "3")],
                None,
                ShardError::OutOfRange {
                    host: "picket-3".into(),
                    index: 3,
                    count: 3,
                },
                "ordinal 3 of host `picket-3` is out of range for PICKET_SHARD_COUNT=3",
            ),
        ];
        for (vars, system, expected, words) in cases {
            let e = auto_with(vars, system).unwrap_err();
            assert_eq!(e, expected);
            assert!(e.to_string().contains(words), "{e}");
            assert!(!e.hint().is_empty());
        }
    }

    #[test]
    fn the_system_host_name_is_read_without_failing() {
        assert!(system_host_name().is_none_or(|h| !h.is_empty() && h == h.trim()));
    }

    /// The acceptance property: pods `picket-0` … `picket-2` with a count of 3 split the
    /// series into three disjoint parts whose union is all of them.
    #[test]
    fn three_pods_cover_every_series_exactly_once() {
        let keys: Vec<String> = (0..3000)
            .map(|i| series_key(&format!("probe/{i}"), &format!("target-{}", i % 7)))
            .collect();
        let shards: Vec<(u32, u32)> = (0..3)
            .map(|i| {
                let host = format!("picket-{i}");
                auto_with(&[("HOSTNAME", &host), ("PICKET_SHARD_COUNT", "3")], None)
                    .unwrap()
                    .pair()
            })
            .collect();
        for key in &keys {
            let hash = crate::plan::stable_hash(key);
            let owners = shards.iter().filter(|s| in_shard(hash, **s)).count();
            assert_eq!(owners, 1, "{key}");
        }
    }

    /// Realistic keys: `probe @ target`.
    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("headers/check-{}@service-{}", i % 37, i / 37))
            .collect()
    }

    #[test]
    fn shards_partition_the_series() {
        assert_eq!(parse_shard("2/5"), Ok((2, 5)));
        assert_eq!(parse_shard(" 0 / 1 "), Ok((0, 1)));
        for bad in ["5/5", "1/0", "3", "a/b", "-1/3", "", "1/2/3"] {
            assert!(parse_shard(bad).is_err(), "{bad} accepted");
        }
        let mut per_shard = [0u32; 5];
        for key in keys(5_000) {
            let hash = stable_hash(&key);
            let owners: Vec<u32> = (0..5).filter(|&i| in_shard(hash, (i, 5))).collect();
            assert_eq!(owners.len(), 1, "{key} owned by {owners:?}");
            per_shard[owners[0] as usize] += 1;
            assert!(in_shard(hash, (0, 1)) && in_shard(hash, (0, 0)));
        }
        for count in per_shard {
            assert!((800..=1_200).contains(&count), "{per_shard:?}");
        }
    }
}
