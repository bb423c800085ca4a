//! Identification: products and versions from what a service volunteers. Pure and bounded.

/// Where a product was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seen {
    /// An HTTP response header (its lowercase name).
    Header(&'static str),
    /// `<meta name="generator">` in an HTML body.
    MetaGenerator,
    /// A JSON status page a probe requested.
    Json,
    /// A banner or greeting read by a tcp probe.
    Banner,
}

/// One product identified, with its version as seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// endoflife.date's product id (`nginx`, `php`, `apache-http-server`, …).
    pub product: &'static str,
    /// The upstream version (`1.18.0`, `9.2`), without any distribution suffix.
    pub version: String,
    /// The token as seen, clipped and printable (`nginx/1.18.0`, `OpenSSH_9.2p1 Debian-2+deb12u3`).
    pub raw: String,
    /// A distribution's mark, when the token carries one (`Debian-2+deb12u3`, `Ubuntu`): the
    /// package may be patched although the upstream version is old.
    pub distro: Option<String>,
    /// Where it was seen.
    pub seen: Seen,
}

/// Every product id [`identify`] can return (endoflife.date's ids).
pub const PRODUCTS: &[&str] = &["nginx"];

/// The most products one identification returns.
pub const MAX_IDENTIFIED: usize = 16;

/// Every product identified in one run's observations: response headers (name, value),
/// the first bytes of a body, and a banner. At most a bounded number, deduplicated.
pub fn identify<'a>(
    _headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    _body: &[u8],
    _banner: &[u8],
) -> Vec<Identified> {
    Vec::new()
}
