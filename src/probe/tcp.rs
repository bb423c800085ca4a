//! The `tcp` probe kind: connections to ports of the target's own host, for network
//! segmentation (`reachable: false`) and for what a service says first (`banner`). A tcp
//! probe names ports, never a host: like every probe, it reaches only its target. The runner
//! is `run/tcp.rs`; its checks are evaluated by `check/tcp.rs`.

use std::collections::BTreeSet;

use serde_saphyr::Spanned;

use super::{Compiling, KindName, Template, raw};
use crate::check::Graded;
use crate::check::tcp::{BannerTest, TcpCheck};
use crate::config::Target;

/// Most bytes sent by `send:`.
pub const MAX_SEND_BYTES: usize = 4096;

/// Which ports a tcp probe connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// The target URL's port.
    Target,
    /// These ports.
    List(Vec<u16>),
    /// The items of a target's list variable (`{{vars.closed_ports}}`).
    Var(String),
}

/// A `tcp` probe: what it connects to and what must hold.
#[derive(Debug, Clone)]
pub struct Tcp {
    /// Ports, one connection attempt each.
    pub ports: Ports,
    /// Bytes sent once connected.
    pub send: Option<Vec<u8>>,
    /// The checks, evaluated per port.
    pub checks: Vec<Graded<TcpCheck>>,
}

/// The target URL schemes a `tcp` probe runs on: any, as it connects to the host's ports.
pub fn runs_on(_scheme: &str) -> bool {
    true
}

/// The check keys of `tcp` probes that `c` sets.
pub(super) fn check_keys(c: &raw::Check) -> Vec<&'static str> {
    [
        ("reachable", c.reachable.is_some()),
        ("banner", c.banner.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

impl Tcp {
    /// Every variable the probe uses (the same for every target).
    pub fn vars_for(&self, _target: &Target) -> BTreeSet<&str> {
        match &self.ports {
            Ports::Var(name) => BTreeSet::from([name.as_str()]),
            _ => BTreeSet::new(),
        }
    }
}

fn port(ctx: &mut Compiling<'_>, at: &Spanned<i64>) -> Option<u16> {
    match u16::try_from(at.value) {
        Ok(p) if p > 0 => Some(p),
        _ => {
            ctx.err_hint(
                at,
                format!("`{}` is not a TCP port", at.value),
                "ports are 1 to 65535",
            );
            None
        }
    }
}

/// Validates a `tcp:` block and the probe's checks as tcp checks.
pub(super) fn compile(
    ctx: &mut Compiling<'_>,
    raw: &Spanned<raw::Tcp>,
    checks: &[Spanned<raw::Check>],
) -> Option<Tcp> {
    let before = ctx.diags.len();
    let ports = match (&raw.value.port, &raw.value.ports) {
        (Some(_), Some(p)) => {
            ctx.err_hint(
                p,
                "a tcp probe takes `port` or `ports`, not both",
                "keep one",
            );
            Ports::Target
        }
        (Some(p), None) => Ports::List(port(ctx, p).into_iter().collect()),
        (None, Some(p)) => match &p.value {
            raw::Ports::List(items) => {
                let at = |v: i64| Spanned::new(v, p.referenced, p.defined);
                let list: Vec<u16> = items.iter().filter_map(|v| port(ctx, &at(*v))).collect();
                if list.is_empty() {
                    ctx.err_hint(p, "`ports` is empty", "list at least one port");
                }
                Ports::List(list)
            }
            raw::Ports::Var(text) => match Template::parse(text) {
                Ok(t)
                    if t.vars.len() == 1
                        && t.text.trim() == format!("{{{{vars.{}}}}}", t.vars[0]) =>
                {
                    Ports::Var(t.vars[0].clone())
                }
                _ => {
                    ctx.err_hint(
                        p,
                        format!("`ports: {text}` is neither a list nor one placeholder"),
                        "write e.g. `ports: [5432, 6379]` or `ports: \"{{vars.closed_ports}}\"`",
                    );
                    Ports::Target
                }
            },
        },
        (None, None) => Ports::Target,
    };
    let send = raw.value.send.as_ref().and_then(|s| {
        if s.value.len() > MAX_SEND_BYTES {
            ctx.err_hint(
                s,
                format!("`send` is {} bytes", s.value.len()),
                "a tcp probe sends at most 4096 bytes",
            );
            None
        } else {
            Some(s.value.as_bytes().to_vec())
        }
    });
    let checks: Vec<Graded<TcpCheck>> = checks
        .iter()
        .filter_map(|c| check(ctx, c).map(|t| super::graded(c, t)))
        .collect();
    (ctx.diags.len() == before).then_some(Tcp {
        ports,
        send,
        checks,
    })
}

/// One tcp check: `reachable: BOOL` or `banner: {contains|matches|not_matches}`.
fn check(ctx: &mut Compiling<'_>, item: &Spanned<raw::Check>) -> Option<TcpCheck> {
    let c = &item.value;
    // `software` is a check of both kinds.
    if let Some(software) = &c.software {
        if let Some(key) = super::http_keys(c)
            .into_iter()
            .find(|k| *k != "software")
            .or_else(|| check_keys(c).first().copied())
        {
            ctx.err_hint(
                item,
                format!("check mixes software and {key}"),
                "put each check in its own list item",
            );
            return None;
        }
        return super::software::compile(ctx, software).map(TcpCheck::Software);
    }
    if let Some(key) = super::http_keys(c).first() {
        ctx.err_hint(
            item,
            format!("`{key}` is not a check of `tcp` probes"),
            "tcp probes check `reachable: true|false`, `banner: {contains|matches|not_matches}` \
             and `software: {…}`",
        );
        return None;
    }
    if let Some((key, kind)) = super::other_kind_key(c)
        && match kind {
            KindName::Tls => true,
            KindName::Tcp | KindName::Http => false,
        }
    {
        ctx.err_hint(
            item,
            format!("`{key}` is a check of `{}` probes", kind.as_str()),
            format!("use it in a probe with a `{}:` block", kind.as_str()),
        );
        return None;
    }
    match (&c.reachable, &c.banner) {
        (Some(r), None) => Some(TcpCheck::Reachable(r.value)),
        (None, Some(b)) => {
            let set: Vec<&Spanned<String>> =
                [&b.value.contains, &b.value.matches, &b.value.not_matches]
                    .into_iter()
                    .flatten()
                    .collect();
            if set.len() != 1 {
                ctx.err_hint(
                    b,
                    "`banner` takes exactly one of `contains`, `matches`, `not_matches`",
                    "put each banner check in its own list item",
                );
                return None;
            }
            if let Some(text) = &b.value.contains {
                Some(TcpCheck::Banner(BannerTest::Contains(text.value.clone())))
            } else if let Some(re) = &b.value.matches {
                ctx.regex(re)
                    .map(|r| TcpCheck::Banner(BannerTest::Matches(r)))
            } else {
                let re = b.value.not_matches.as_ref()?;
                ctx.regex(re)
                    .map(|r| TcpCheck::Banner(BannerTest::NotMatches(r)))
            }
        }
        (Some(_), Some(_)) => {
            ctx.err_hint(
                item,
                "check mixes reachable and banner",
                "put each check in its own list item",
            );
            None
        }
        (None, None) => {
            ctx.err_hint(
                item,
                "check has no kind",
                "tcp probes check `reachable: true|false` or `banner: {…}`",
            );
            None
        }
    }
}
