//! Where a run may connect: the one containment rule for addresses, and name resolution
//! behind a seam ([`Resolve`]) so that the rule is applied, and tested, at one place for every
//! kind (`http`, `tls`, `tcp`).
//!
//! The rule: a target that names its host by DNS may not lead to a link-local or cloud
//! metadata address ([`is_forbidden`]); a name that resolves to one is refused before any
//! connection is made, with one message for every kind. A target that writes such an address
//! as an IP literal in its URL is probed, since someone chose it. Every resolved address is
//! judged in every form that reaches the same host: IPv4-mapped IPv6 (`::ffff:169.254.169.254`,
//! which Linux connects over IPv4), IPv4-compatible IPv6, and NAT64 (`64:ff9b::/96`,
//! `64:ff9b:1::/48`), each judged by the IPv4 address it embeds.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use thiserror::Error;
use url::Host;

use crate::config::Target;
use crate::outcome::{ErrorKind, RunError};

/// The future a [`Resolve`] returns.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Name resolution: the addresses a host name stands for. The runner uses [`System`]; tests
/// (and embedders) give [`crate::run::Runner::with_resolver`] their own, so that names resolve
/// to chosen addresses without DNS.
pub trait Resolve: Send + Sync + fmt::Debug {
    /// The addresses of `name`, in the order to try them.
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a>;
}

/// A resolver with some names pinned to an address (targets' `connect_to`): those resolve
/// there, every other name through `inner`. What a pinned name resolves to passes the same
/// containment rule as any other lookup.
#[derive(Debug)]
pub struct Pinned {
    inner: Arc<dyn Resolve>,
    pins: std::collections::HashMap<String, IpAddr>,
}

impl Pinned {
    /// `inner`, with `pins` (host name to address) taking precedence.
    pub fn new(inner: Arc<dyn Resolve>, pins: std::collections::HashMap<String, IpAddr>) -> Self {
        Pinned { inner, pins }
    }
}

impl Resolve for Pinned {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        match self.pins.get(name) {
            Some(ip) => {
                let ip = *ip;
                Box::pin(async move { Ok(vec![ip]) })
            }
            None => self.inner.lookup(name),
        }
    }
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct System;

impl Resolve for System {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Why a name gave no address a run may use.
#[derive(Debug, Error)]
pub enum ResolveError {
    /// The lookup failed.
    #[error("cannot resolve `{name}`: {source}")]
    Lookup {
        /// The name.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// The lookup gave nothing.
    #[error("`{name}` has no address")]
    NoAddress {
        /// The name.
        name: String,
    },
    /// The name resolves to a forbidden address.
    #[error(
        "refused to connect: `{name}` resolves to {address}{embeds}, a link-local or cloud metadata address; write the address as an IP literal in the target URL if it is meant to be probed",
        embeds = embedded_note(*address)
    )]
    Refused {
        /// The name.
        name: String,
        /// The address it resolved to, as the resolver gave it.
        address: IpAddr,
    },
}

impl ResolveError {
    /// The class of run error this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ResolveError::Lookup { .. } | ResolveError::NoAddress { .. } => ErrorKind::Dns,
            ResolveError::Refused { .. } => ErrorKind::Request,
        }
    }

    /// As a run error.
    pub fn to_run_error(&self) -> RunError {
        RunError {
            kind: self.kind(),
            message: self.to_string(),
        }
    }
}

/// ` (169.254.169.254)` when `address` is an IPv6 form of an IPv4 address, so the message
/// says which host it reaches.
fn embedded_note(address: IpAddr) -> String {
    match address {
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => format!(" ({v4})"),
            None => String::new(),
        },
        IpAddr::V4(_) => String::new(),
    }
}

/// Resolves `name` with `resolver` and applies the containment rule to every address it gave:
/// one forbidden address refuses the name (a name that leads to a metadata service at all is
/// not a target, whichever address a connection would try first).
pub async fn resolve(resolver: &dyn Resolve, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
    let addresses = resolver
        .lookup(name)
        .await
        .map_err(|source| ResolveError::Lookup {
            name: name.to_string(),
            source,
        })?;
    if let Some(address) = addresses.iter().copied().find(|a| is_forbidden(*a)) {
        return Err(ResolveError::Refused {
            name: name.to_string(),
            address,
        });
    }
    if addresses.is_empty() {
        return Err(ResolveError::NoAddress {
            name: name.to_string(),
        });
    }
    Ok(addresses)
}

/// The address to connect to for `target` on `port`: an IP literal as written, a name
/// resolved by `resolver` under the containment rule (its first address).
pub async fn target_address(
    resolver: &dyn Resolve,
    target: &Target,
    port: u16,
) -> Result<SocketAddr, RunError> {
    match target.url.host() {
        Some(Host::Ipv4(ip)) => Ok(SocketAddr::new(IpAddr::V4(ip), port)),
        Some(Host::Ipv6(ip)) => Ok(SocketAddr::new(IpAddr::V6(ip), port)),
        // `tcp://` and `tls://` URLs keep an IPv4 address as text (an opaque host): it is
        // still a literal, not a name.
        Some(Host::Domain(name)) if let Ok(ip) = name.parse::<IpAddr>() => {
            Ok(SocketAddr::new(ip, port))
        }
        Some(Host::Domain(name)) => match resolve(resolver, name).await {
            Ok(addresses) => Ok(SocketAddr::new(addresses[0], port)),
            Err(e) => Err(e.to_run_error()),
        },
        None => Err(RunError {
            kind: ErrorKind::Request,
            message: "the target URL has no host".into(),
        }),
    }
}

/// Whether a run may not connect to `ip` when a name led there: link-local addresses
/// (169.254.0.0/16, which holds the metadata services of AWS, GCP, Azure and OpenStack at
/// 169.254.169.254 and ECS task metadata at 169.254.170.2; fe80::/10) and AWS's IPv6
/// link-local services (fd00:ec2::/64: IMDS at fd00:ec2::254, DNS, NTP, EKS Pod Identity), in
/// any IPv6 form that embeds such an IPv4 address (see [`embedded_ipv4`]).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6) || embedded_ipv4(v6).is_some_and(is_forbidden_v4),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    ip.is_link_local()
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // fe80::/10: link-local unicast.
    (s[0] & 0xffc0) == 0xfe80
        // fd00:ec2::/64: AWS's link-local services over IPv6.
        || s[..4] == [0xfd00, 0x0ec2, 0, 0]
}

/// The IPv4 address an IPv6 address reaches: IPv4-mapped (`::ffff:a.b.c.d`, which the
/// kernel connects over IPv4: [`Ipv6Addr::to_ipv4_mapped`], as `to_canonical` does),
/// IPv4-compatible (`::a.b.c.d`, deprecated; not `::` or `::1`), and NAT64 in the well-known
/// prefix `64:ff9b::/96` (RFC 6052) or the local-use prefix `64:ff9b:1::/48` (RFC 8215) with
/// the IPv4 address in the last 32 bits, as a /96 translator puts it (the deployment every
/// DNS64 default uses). 6to4 (`2002::/16`) and Teredo are left out: they tunnel to an IPv6
/// host behind the IPv4 address, not to a service on it.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    // The low 32 bits (truncation intended).
    let last = Ipv4Addr::from(u128::from(ip) as u32);
    let compatible = s[..6] == [0; 6] && last.octets()[0] != 0;
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..3] == [0x64, 0xff9b, 1];
    (compatible || nat64).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_addresses_are_forbidden_in_every_form() {
        for text in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.170.23",
            "169.254.0.1",
            "::ffff:169.254.169.254",
            "::ffff:a9fe:a9fe",
            "::ffff:169.254.170.2",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::169.254.170.2",
            "64:ff9b:1:2:3:4:a9fe:a9fe",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "fd00:ec2:0:0:0:0:0:254",
            "fe80::1",
            "febf::1",
        ] {
            assert!(is_forbidden(ip(text)), "{text}");
        }
    }

    #[test]
    fn other_addresses_are_allowed() {
        for text in [
            "127.0.0.1",
            "::1",
            "::",
            "0.0.0.0",
            "10.0.0.1",
            "169.253.255.255",
            "169.255.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a00:1",
            "64:ff9b:2::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "fd00:ec2:0:1::254",
            "fd00:ec3::254",
            "fec0::1",
            "2001:db8::a9fe:a9fe",
        ] {
            assert!(!is_forbidden(ip(text)), "{text}");
        }
    }

    #[test]
    fn embedded_addresses() {
        let v4 = |t: &str| t.parse::<Ipv4Addr>().ok();
        let v6 = |t: &str| t.parse::<Ipv6Addr>().unwrap();
        assert_eq!(embedded_ipv4(v6("::ffff:a9fe:a9fe")), v4("169.254.169.254"));
        assert_eq!(
            embedded_ipv4(v6("64:ff9b::a9fe:a9fe")),
            v4("169.254.169.254")
        );
        assert_eq!(embedded_ipv4(v6("::a9fe:a9fe")), v4("169.254.169.254"));
        assert_eq!(embedded_ipv4(v6("::1")), None);
        assert_eq!(embedded_ipv4(v6("::")), None);
        assert_eq!(embedded_ipv4(v6("2001:db8::1")), None);
    }

    /// Resolves every name to the given addresses; counts lookups.
    #[derive(Debug)]
    struct Stub(Vec<IpAddr>, std::sync::atomic::AtomicUsize);

    impl Resolve for Stub {
        fn lookup<'a>(&'a self, _name: &'a str) -> Lookup<'a> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let addresses = self.0.clone();
            Box::pin(async move { Ok(addresses) })
        }
    }

    fn target(url: &str) -> Target {
        Target::new(
            "t".into(),
            url::Url::parse(url).unwrap(),
            crate::config::Source::Static,
        )
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is_forbidden() {
        let stub = Stub(
            vec![ip("127.0.0.1"), ip("::ffff:169.254.169.254")],
            Default::default(),
        );
        let err = resolve(&stub, "imds.invalid").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to connect: `imds.invalid` resolves to ::ffff:169.254.169.254 (169.254.169.254), a link-local or cloud metadata address; write the address as an IP literal in the target URL if it is meant to be probed"
        );
        assert_eq!(err.kind(), ErrorKind::Request);
        let ok = Stub(vec![ip("127.0.0.1")], Default::default());
        assert_eq!(
            resolve(&ok, "web.invalid").await.unwrap(),
            [ip("127.0.0.1")]
        );
        let none = Stub(vec![], Default::default());
        assert_eq!(
            resolve(&none, "x.invalid").await.unwrap_err().kind(),
            ErrorKind::Dns
        );
    }

    #[tokio::test]
    async fn an_ip_literal_in_the_target_url_is_not_resolved_nor_refused() {
        let stub = Stub(vec![ip("127.0.0.1")], Default::default());
        for url in [
            "tcp://169.254.169.254:80",
            "tls://169.254.170.2:443",
            "tcp://[::ffff:169.254.169.254]:80",
            "tls://[fd00:ec2::254]:443",
        ] {
            let addr = target_address(&stub, &target(url), 80).await.unwrap();
            assert!(is_forbidden(addr.ip()), "{url}");
        }
        assert_eq!(stub.1.load(std::sync::atomic::Ordering::Relaxed), 0);
        let named = target("tcp://imds.invalid:80");
        let refused = Stub(vec![ip("64:ff9b::a9fe:a9fe")], Default::default());
        let err = target_address(&refused, &named, 80).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Request, "{err}");
        assert!(err.message.starts_with("refused to connect"), "{err}");
    }
}
