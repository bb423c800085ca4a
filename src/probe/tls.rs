//! The `tls` probe kind: handshakes with the target's own host, checked for protocol
//! versions, cipher suite classes, the certificate and mTLS enforcement. The scanning engine
//! is `tls_scan`; the runner is `run/tls.rs`; the checks are evaluated by `check/tls.rs`.

use std::collections::BTreeSet;

use serde_saphyr::Spanned;

use super::{Compiling, KindName, raw};
use crate::check::Graded;
use crate::check::tls::{CertTest, TlsCheck};
use crate::config::Target;
use crate::tls_scan::{Class, Protocol};
use crate::units;

/// A `tls` probe.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The port; `None`: the target URL's port.
    pub port: Option<u16>,
    /// The checks.
    pub checks: Vec<Graded<TlsCheck>>,
}

impl Tls {
    /// Every variable the probe uses: none.
    pub fn vars_for(&self, _target: &Target) -> BTreeSet<&str> {
        BTreeSet::new()
    }
}

/// The target URL schemes a `tls` probe runs on.
pub fn runs_on(scheme: &str) -> bool {
    matches!(scheme, "https" | "tls")
}

/// The check keys of `tls` probes that `c` sets.
pub(super) fn check_keys(c: &raw::Check) -> Vec<&'static str> {
    [
        ("protocols", c.protocols.is_some()),
        ("ciphers", c.ciphers.is_some()),
        ("certificate", c.certificate.is_some()),
        (
            "client_certificate_required",
            c.client_certificate_required.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

const CLASSES: [Class; 9] = [
    Class::Null,
    Class::Anonymous,
    Class::Export,
    Class::Rc4,
    Class::Des,
    Class::TripleDes,
    Class::Cbc,
    Class::NoForwardSecrecy,
    Class::Uncommon,
];

/// Validates a `tls:` block and the probe's checks as tls checks.
pub(super) fn compile(
    ctx: &mut Compiling<'_>,
    raw: &Spanned<raw::Tls>,
    checks: &[Spanned<raw::Check>],
) -> Option<Tls> {
    let before = ctx.diags.len();
    let port = raw
        .value
        .port
        .as_ref()
        .and_then(|p| match u16::try_from(p.value) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                ctx.err_hint(
                    p,
                    format!("`{}` is not a TCP port", p.value),
                    "ports are 1 to 65535",
                );
                None
            }
        });
    let checks: Vec<Graded<TlsCheck>> = checks
        .iter()
        .flat_map(|c| check(ctx, c).into_iter().map(|t| super::graded(c, t)))
        .collect();
    (ctx.diags.len() == before).then_some(Tls { port, checks })
}

fn check(ctx: &mut Compiling<'_>, item: &Spanned<raw::Check>) -> Vec<TlsCheck> {
    let c = &item.value;
    if let Some((key, kind)) = super::other_kind_key(c).filter(|(_, k)| match k {
        KindName::Tls => false,
        KindName::Tcp | KindName::Http => true,
    }) {
        ctx.err_hint(
            item,
            format!("`{key}` is a check of `{}` probes", kind.as_str()),
            "tls probes check `protocols`, `ciphers`, `certificate` and `client_certificate_required`",
        );
        return vec![];
    }
    if !super::http_keys(c).is_empty() || check_keys(c).len() != 1 {
        ctx.err_hint(
            item,
            "a tls check has exactly one of `protocols`, `ciphers`, `certificate`, `client_certificate_required`",
            "put each check in its own list item",
        );
        return vec![];
    }
    if let Some(p) = &c.protocols {
        let mut forbid = Vec::new();
        for name in &p.value.forbid {
            match Protocol::ALL.into_iter().find(|v| v.id() == name.value) {
                Some(v) => forbid.push(v),
                None => ctx.err_hint(
                    name,
                    format!("unknown protocol `{}`", name.value),
                    "write `ssl3`, `tls1.0`, `tls1.1`, `tls1.2` or `tls1.3`",
                ),
            }
        }
        return vec![TlsCheck::ForbidProtocols(forbid)];
    }
    if let Some(p) = &c.ciphers {
        let mut forbid = Vec::new();
        for name in &p.value.forbid {
            match CLASSES.into_iter().find(|k| k.name() == name.value) {
                Some(k) => forbid.push(k),
                None => ctx.err_hint(
                    name,
                    format!("unknown cipher class `{}`", name.value),
                    "write null, anonymous, export, rc4, des, 3des, cbc, no-forward-secrecy or uncommon",
                ),
            }
        }
        return vec![TlsCheck::ForbidCiphers(forbid)];
    }
    if let Some(r) = &c.client_certificate_required {
        return vec![TlsCheck::ClientCertificateRequired(r.value)];
    }
    let Some(cert) = &c.certificate else {
        return vec![];
    };
    let mut out = Vec::new();
    let v = &cert.value;
    if let Some(d) = &v.valid_for_at_least {
        match units::parse_duration(&d.value) {
            Ok(days) => out.push(TlsCheck::Certificate(CertTest::ValidFor(days))),
            Err(_) => ctx.err_hint(
                d,
                units::duration_error("valid_for_at_least", &d.value),
                "write e.g. `14d`",
            ),
        }
    }
    if let Some(b) = &v.hostname_matches {
        out.push(TlsCheck::Certificate(CertTest::HostnameMatches(b.value)));
    }
    if let Some(b) = &v.chain_trusted {
        out.push(TlsCheck::Certificate(CertTest::ChainTrusted(b.value)));
    }
    if let Some(bits) = &v.key_bits_at_least {
        match u32::try_from(bits.value) {
            Ok(n) if (1..=16_384).contains(&n) => {
                out.push(TlsCheck::Certificate(CertTest::KeyBitsAtLeast(n)));
            }
            _ => ctx.err_hint(
                bits,
                format!("`key_bits_at_least: {}` is out of range", bits.value),
                "write e.g. 2048",
            ),
        }
    }
    if let Some(list) = &v.forbid_signatures {
        let mut forbid = Vec::new();
        for s in list {
            match s.value.as_str() {
                "sha1" | "md5" => forbid.push(s.value.clone()),
                other => ctx.err_hint(
                    s,
                    format!("unknown signature hash `{other}`"),
                    "write `sha1` or `md5`",
                ),
            }
        }
        out.push(TlsCheck::Certificate(CertTest::ForbidSignatures(forbid)));
    }
    let any = v.valid_for_at_least.is_some()
        || v.hostname_matches.is_some()
        || v.chain_trusted.is_some()
        || v.key_bits_at_least.is_some()
        || v.forbid_signatures.is_some();
    if !any {
        ctx.err_hint(
            cert,
            "`certificate` has no assertion",
            "add e.g. `valid_for_at_least: 14d` or `hostname_matches: true`",
        );
    }
    out
}
