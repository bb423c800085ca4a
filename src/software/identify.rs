//! Identification: products and versions from what a service volunteers. Pure and bounded.
//!
//! One run's observations go in (response headers, the first bytes of a body, a tcp banner);
//! the products they name come out, each with its upstream version, the token as seen, a
//! distribution's mark when there is one, and where it was seen. The fingerprints are a table
//! ([`FINGERPRINTS`]: product, where to look, a pattern whose `v` group holds the version),
//! plus what is read structurally rather than matched: the MySQL/MariaDB greeting (a binary
//! packet), Redis `INFO server` (key:value lines), `X-AspNet-Version` (CLR versions naming
//! .NET Framework families), and the JSON status pages of Elasticsearch, Grafana and Envoy.
//!
//! # Versions
//! The version is the upstream one, read strictly: numbers separated by dots, then what the
//! product's [`Shape`] allows (OpenSSL's and ProFTPD's letter releases `1.1.1f` and `1.3.5e`
//! are kept, as endoflife.date writes them; OpenSSH's portable suffix `p1` is dropped, so
//! `OpenSSH_9.2p1` is `9.2`, the OpenBSD release it ports; Jetty's build date `.v20220622` is
//! dropped). What follows must be a packaging suffix (`-`, `+` or `~` …); anything else
//! (`nginx/`, `nginx/abc`, `PHP/7.x`) yields nothing for that product, never a guess.
//!
//! # Distributions
//! A distribution may patch a package while keeping its upstream version, so its mark is kept
//! apart: a suffix (`PHP/7.4.3-4ubuntu2.19`, `10.11.6-MariaDB-0+deb12u1`), a comment
//! (`nginx/1.18.0 (Ubuntu)`, `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`), or, within one
//! `Server` header, the header's distribution comment for every product in it
//! (`Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f PHP/7.4.3`: the modules come from the same
//! packages as the server).
//!
//! # Bounds
//! Inputs are hostile: at most [`MAX_HEADERS`] headers are read, of which at most
//! [`MAX_HEADER_VALUES`] relevant ones, each cut at [`MAX_HEADER_BYTES`]; the body at
//! [`MAX_BODY_BYTES`]; the banner at [`MAX_BANNER_BYTES`]. Every pattern is compiled once;
//! the `regex` crate matches in time linear in its input. At most [`MAX_IDENTIFIED`] results,
//! each `raw` at most [`MAX_RAW_CHARS`] characters, printable. Nothing here panics.

use std::sync::LazyLock;

use regex::bytes::{Regex, RegexSet};

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
    /// Text of an HTML page (Tomcat's default error page names its version).
    Body,
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

/// The most products one identification returns.
pub const MAX_IDENTIFIED: usize = 16;
/// `raw` (and `distro`) at most this many characters.
pub const MAX_RAW_CHARS: usize = 120;
/// At most this many headers are looked at (a client keeps about 100).
pub const MAX_HEADERS: usize = 256;
/// Of those, at most this many whose name a fingerprint reads.
pub const MAX_HEADER_VALUES: usize = 16;
/// Each header value is read up to this many bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// The body is read up to this many bytes (a `<meta name="generator">` is in the `<head>`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The banner is read up to this many bytes.
pub const MAX_BANNER_BYTES: usize = 8 * 1024;
/// At most this many matches of one pattern in one input.
const MAX_MATCHES: usize = 4;
/// At most this many `<meta>` tags are read.
const MAX_META_TAGS: usize = 64;
/// At most this many banner lines are read.
const MAX_BANNER_LINES: usize = 64;
/// A version longer than this is not one.
const MAX_VERSION_CHARS: usize = 32;

/// Every product id [`identify`] can return: endoflife.date's ids where it has the product.
/// `openresty`, `werkzeug`, `gunicorn`, `iis`, `aspnet-mvc`, `lighttpd`, `openssh` and
/// `vsftpd` have no endoflife.date page (release data for them comes only from a
/// `software.data` file); Varnish is `vinyl-cache`, its id since the project's rename
/// (`varnish` is endoflife.date's alias).
pub const PRODUCTS: &[&str] = &[
    "nginx",
    "openresty",
    "apache-http-server",
    "openssl",
    "php",
    "python",
    "werkzeug",
    "gunicorn",
    "nodejs",
    "tomcat",
    "eclipse-jetty",
    "iis",
    "dotnetfx",
    "aspnet-mvc",
    "lighttpd",
    "caddy",
    "envoy",
    "vinyl-cache",
    "squid",
    "openssh",
    "postfix",
    "exim",
    "vsftpd",
    "proftpd",
    "mysql",
    "mariadb",
    "redis",
    "valkey",
    "wordpress",
    "drupal",
    "joomla",
    "jenkins",
    "grafana",
    "elasticsearch",
];

/// The headers a fingerprint reads (lowercase).
const HEADERS: &[&str] = &[
    "server",
    "x-powered-by",
    "via",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-generator",
    "x-jenkins",
];

/// Headers that carry product tokens (`name/version (comment)`, RFC 9110 §10.2.4).
const PRODUCT_HEADERS: &[&str] = &["server", "x-powered-by", "via"];

/// Where a fingerprint looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The product tokens of `Server`, `X-Powered-By` and `Via`.
    ProductHeader,
    /// The whole value of one header (its lowercase name).
    Header(&'static str),
    /// A generator's name: `X-Generator` and `<meta name="generator" content="…">`.
    Generator,
    /// One line of a banner.
    BannerLine,
    /// The text of an HTML page.
    Body,
}

/// What a version may carry after its numbers, per product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Numbers only (`1.22.1`).
    Plain,
    /// A pre-release tag is kept (`3.13.0rc1`, `8.3.0RC1`).
    Pre,
    /// A letter release is kept (`1.1.1f`, `1.0.2zf`, `1.3.5e`, `1.3.6rc4`).
    Letter,
    /// OpenSSH portable's `p1` is dropped: `9.2p1` is `9.2`, the OpenBSD release it ports.
    OpenSsh,
    /// Jetty 9's build date is dropped: `9.4.48.v20220622` is `9.4.48`.
    Jetty,
}

/// One fingerprint: a product, where to look, and a pattern whose group `v` is the version
/// token, whose optional group `d` is a comment that may name a distribution, and whose
/// optional group `r` is the text shown as `raw` (else the whole match).
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint {
    /// endoflife.date's product id.
    pub product: &'static str,
    /// Where to look.
    pub source: Source,
    /// The pattern (case-insensitive).
    pub pattern: &'static str,
    /// What the version may carry.
    pub shape: Shape,
}

/// A product token in `Server`/`X-Powered-By`/`Via`: the name starts the value or follows a
/// space, a comma, a semicolon or `(`; the version runs to a space or delimiter; a comment
/// may follow.
macro_rules! token {
    ($name:literal) => {
        concat!(
            r"(?:^|[\s,;(])",
            $name,
            r"/(?P<v>[^\s,;()\[\]]{0,64})(?:\s*\((?P<d>[^()]{1,64})\))?"
        )
    };
}

const fn fp(
    product: &'static str,
    source: Source,
    pattern: &'static str,
    shape: Shape,
) -> Fingerprint {
    Fingerprint {
        product,
        source,
        pattern,
        shape,
    }
}

/// The fingerprints read by pattern. (MySQL/MariaDB greetings, Redis `INFO` and JSON status
/// pages are read structurally: see [`greeting`], [`redis_info`] and [`json_page`].)
pub const FINGERPRINTS: &[Fingerprint] = &[
    // Server, X-Powered-By and Via product tokens.
    fp(
        "nginx",
        Source::ProductHeader,
        token!("nginx"),
        Shape::Plain,
    ),
    fp(
        "openresty",
        Source::ProductHeader,
        token!("openresty"),
        Shape::Plain,
    ),
    // `Apache/2.4.62 (Debian)`; not `Apache-Coyote/1.1` (Tomcat's connector, no Tomcat
    // version) nor `Apache Tomcat/…`.
    fp(
        "apache-http-server",
        Source::ProductHeader,
        token!("apache"),
        Shape::Plain,
    ),
    fp(
        "openssl",
        Source::ProductHeader,
        token!("openssl"),
        Shape::Letter,
    ),
    fp("php", Source::ProductHeader, token!("php"), Shape::Pre),
    // `SimpleHTTP/0.6 Python/3.11.2`, `BaseHTTP/0.6 Python/3.11.2`, `Werkzeug/3.0.1
    // Python/3.11.2`, wsgiref's `WSGIServer/0.2 CPython/3.11.2`.
    fp(
        "python",
        Source::ProductHeader,
        token!("c?python"),
        Shape::Pre,
    ),
    fp(
        "werkzeug",
        Source::ProductHeader,
        token!("werkzeug"),
        Shape::Plain,
    ),
    fp(
        "gunicorn",
        Source::ProductHeader,
        token!("gunicorn"),
        Shape::Plain,
    ),
    // Node.js sends no Server header itself; an application may name it (`Node.js/v20.11.0`).
    fp(
        "nodejs",
        Source::ProductHeader,
        r"(?:^|[\s,;(])node(?:\.?js)?/v?(?P<v>[^\s,;()\[\]]{0,64})",
        Shape::Plain,
    ),
    // `Apache Tomcat/9.0.65` when a connector's `server` attribute or X-Powered-By says so.
    fp(
        "tomcat",
        Source::ProductHeader,
        token!(r"(?:apache[ -])?tomcat"),
        Shape::Plain,
    ),
    // `Jetty(9.4.48.v20220622)`, `Jetty(12.0.5)`.
    fp(
        "eclipse-jetty",
        Source::ProductHeader,
        r"(?:^|[\s,;(])jetty\((?P<v>[^()\s]{0,64})\)",
        Shape::Jetty,
    ),
    fp(
        "eclipse-jetty",
        Source::ProductHeader,
        token!("jetty"),
        Shape::Jetty,
    ),
    fp(
        "iis",
        Source::ProductHeader,
        token!("microsoft-iis"),
        Shape::Plain,
    ),
    fp(
        "lighttpd",
        Source::ProductHeader,
        token!("lighttpd"),
        Shape::Plain,
    ),
    // Caddy and Envoy send `Server: Caddy` and `server: envoy`, without a version; a version
    // appears only where an operator added one.
    fp(
        "caddy",
        Source::ProductHeader,
        token!("caddy"),
        Shape::Plain,
    ),
    fp(
        "envoy",
        Source::ProductHeader,
        token!("envoy"),
        Shape::Plain,
    ),
    // `Via: 1.1 varnish (Varnish/6.0)`; `Server: squid/4.13`, `Via: 1.1 host (squid/5.7)`.
    fp(
        "vinyl-cache",
        Source::ProductHeader,
        token!("varnish"),
        Shape::Plain,
    ),
    fp(
        "squid",
        Source::ProductHeader,
        token!("squid"),
        Shape::Plain,
    ),
    // Whole header values.
    fp(
        "aspnet-mvc",
        Source::Header("x-aspnetmvc-version"),
        r"^\s*(?P<v>\S{1,64})\s*$",
        Shape::Plain,
    ),
    fp(
        "jenkins",
        Source::Header("x-jenkins"),
        r"^\s*(?P<v>\S{1,64})\s*$",
        Shape::Plain,
    ),
    // Generators: `WordPress 6.4.2`, `Drupal 10 (https://www.drupal.org)` (the major only),
    // `Joomla! 1.5 - Open Source Content Management` (Joomla 1.6 and later name no version).
    fp(
        "wordpress",
        Source::Generator,
        r"^\s*wordpress\s+(?P<v>\S{1,64})",
        Shape::Plain,
    ),
    fp(
        "drupal",
        Source::Generator,
        r"^\s*drupal\s+(?P<v>[^\s()]{1,64})",
        Shape::Plain,
    ),
    fp(
        "joomla",
        Source::Generator,
        r"^\s*joomla!?\s+(?P<v>\S{1,64})",
        Shape::Plain,
    ),
    // Banners. SSH (RFC 4253 §4.2): `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`; Win32-OpenSSH:
    // `SSH-2.0-OpenSSH_for_Windows_9.5`.
    fp(
        "openssh",
        Source::BannerLine,
        r"^SSH-(?:2\.0|1\.99|1\.5)-(?P<r>OpenSSH_(?P<w>for_Windows_)?(?P<v>[^\s-]{1,64})(?:[ \t]+(?P<d>[^\r\n]{1,64}))?)",
        Shape::OpenSsh,
    ),
    // SMTP: `220 mail.example.com ESMTP Exim 4.96 Mon, 08 Jan 2024 10:00:00 +0000`; Ubuntu
    // adds its name after the version.
    fp(
        "exim",
        Source::BannerLine,
        r"^220[ -].*?\b(?P<r>Exim\s+(?P<v>\S{1,64})(?:\s+(?P<d>Ubuntu|Debian)\b)?)",
        Shape::Plain,
    ),
    // Postfix names its version only when smtpd_banner includes $mail_version:
    // `220 host ESMTP Postfix 3.7.11`, `220 host ESMTP Postfix (3.7.11) (Debian/GNU)`.
    fp(
        "postfix",
        Source::BannerLine,
        r"^220[ -].*?\b(?P<r>Postfix\s+\(?(?P<v>\d[^\s()]{0,63})\)?(?:\s+\((?P<d>[^()]{1,64})\))?)",
        Shape::Plain,
    ),
    // FTP: `220 (vsFTPd 3.0.3)`; `220 ProFTPD 1.3.5e Server (Debian) [::ffff:10.0.0.5]` (the
    // comment is ServerName, `Debian` in Debian's default configuration).
    fp(
        "vsftpd",
        Source::BannerLine,
        r"^220[ -].*?\((?P<r>vsFTPd\s+(?P<v>[^\s()]{1,64}))\)",
        Shape::Plain,
    ),
    fp(
        "proftpd",
        Source::BannerLine,
        r"^220[ -].*?\b(?P<r>ProFTPD\s+(?P<v>\d\S{0,63})\s+Server(?:\s+\((?P<d>[^()]{1,64})\))?)",
        Shape::Letter,
    ),
    // Tomcat's default error page and welcome page: `<h3>Apache Tomcat/9.0.65</h3>`,
    // `<title>Apache Tomcat/9.0.65</title>`, Debian's `Apache Tomcat/9.0.43 (Debian)`.
    fp(
        "tomcat",
        Source::Body,
        r"<(?:h3|title)>\s*(?P<r>Apache Tomcat/(?P<v>[^\s<()]{1,64})(?:\s*\((?P<d>[^()<]{1,64})\))?)\s*</",
        Shape::Plain,
    ),
];

/// The fingerprints compiled: each pattern, and per source a set that tells in one pass
/// which of its patterns match at all.
struct Compiled {
    patterns: Vec<Regex>,
    /// Per source kind: the set and, per set member, the index into `patterns`.
    sets: Vec<(Source, RegexSet, Vec<usize>)>,
    distro: Regex,
    comment: Regex,
    meta: Regex,
    meta_name: Regex,
    meta_content: Regex,
    envoy_version: Regex,
}

/// Patterns read bytes, ASCII-only and case-insensitive: the tokens they look for are ASCII,
/// and byte classes keep each automaton small (a Unicode class repeated 64 times is not).
fn case_insensitive(pattern: &str) -> String {
    format!("(?i-u){pattern}")
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(compile);

/// Compiles every pattern; `None` only if one does not compile, which a unit test rules out.
fn compile() -> Option<Compiled> {
    let patterns = FINGERPRINTS
        .iter()
        .map(|f| Regex::new(&case_insensitive(f.pattern)).ok())
        .collect::<Option<Vec<_>>>()?;
    let mut sets = Vec::new();
    for kind in [
        Source::ProductHeader,
        Source::Generator,
        Source::BannerLine,
        Source::Body,
    ] {
        let members: Vec<usize> = (0..FINGERPRINTS.len())
            .filter(|&i| FINGERPRINTS[i].source == kind)
            .collect();
        let set = RegexSet::new(
            members
                .iter()
                .map(|&i| case_insensitive(FINGERPRINTS[i].pattern)),
        )
        .ok()?;
        sets.push((kind, set, members));
    }
    Some(Compiled {
        patterns,
        sets,
        distro: Regex::new(
            r"(?i-u)debian|ubuntu|raspbian|centos|red ?hat|rhel|fedora|rocky|alma ?linux|amazon|amzn|suse|sles|oracle linux|freebsd|openbsd|netbsd|alpine|gentoo|mageia|\b(?:deb\d|el\d|fc\d|bpo\d)",
        )
        .ok()?,
        comment: Regex::new(r"(?-u)\(([^()]{1,64})\)").ok()?,
        meta: Regex::new(r"(?i-u)<meta\s[^<>]{0,1024}>").ok()?,
        meta_name: Regex::new(r#"(?i-u)(?:^|\s)name\s*=\s*["']?generator(?:["'\s/>]|$)"#).ok()?,
        meta_content: Regex::new(r#"(?i-u)(?:^|\s)content\s*=\s*(?:"([^"]{0,256})"|'([^']{0,256})')"#)
            .ok()?,
        envoy_version: Regex::new(
            r"(?-u)^[0-9a-f]{40}/(?P<v>[^/]{1,32})/[^/]{1,64}/(?:RELEASE|DEBUG)(?:/|$)",
        )
        .ok()?,
    })
}

/// Every product identified in one run's observations: response headers (name, value),
/// the first bytes of a body, and a banner. At most [`MAX_IDENTIFIED`], deduplicated by product
/// and version (the first place seen is kept), in the order: headers, body, banner.
pub fn identify<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    body: &[u8],
    banner: &[u8],
) -> Vec<Identified> {
    let Some(c) = COMPILED.as_ref() else {
        return Vec::new();
    };
    let mut out = Found::default();
    let mut values = 0;
    for (name, value) in headers.into_iter().take(MAX_HEADERS) {
        let Some(&lower) = HEADERS.iter().find(|l| name.eq_ignore_ascii_case(l)) else {
            continue;
        };
        if values == MAX_HEADER_VALUES || out.full() {
            break;
        }
        values += 1;
        header(
            c,
            lower,
            &value[..value.len().min(MAX_HEADER_BYTES)],
            &mut out,
        );
    }
    let body = &body[..body.len().min(MAX_BODY_BYTES)];
    if !body.is_empty() && !out.full() {
        page(c, body, &mut out);
    }
    let banner = &banner[..banner.len().min(MAX_BANNER_BYTES)];
    if !banner.is_empty() && !out.full() {
        if let Some(found) = greeting(banner) {
            out.push(found);
        } else {
            banner_text(c, banner, &mut out);
        }
    }
    out.items
}

/// The results so far: bounded, deduplicated.
#[derive(Default)]
struct Found {
    items: Vec<Identified>,
}

impl Found {
    fn full(&self) -> bool {
        self.items.len() >= MAX_IDENTIFIED
    }

    fn push(&mut self, found: Identified) {
        if self.full()
            || self
                .items
                .iter()
                .any(|i| i.product == found.product && i.version == found.version)
        {
            return;
        }
        self.items.push(found);
    }
}

/// Bytes as text for people (invalid UTF-8 replaced), printable and clipped.
fn shown(bytes: &[u8]) -> String {
    printable(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(4 * MAX_RAW_CHARS)],
    ))
}

/// The lines of a banner, without their `\r`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// `s` printable (controls, newlines and tabs escaped as `\u{…}`) and at most
/// [`MAX_RAW_CHARS`] characters, the last one `…` when cut.
pub fn printable(s: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for ch in s.chars() {
        let piece = if crate::term::is_unsafe_control(ch) || matches!(ch, '\n' | '\t' | '\r') {
            format!("\\u{{{:x}}}", u32::from(ch))
        } else {
            ch.to_string()
        };
        let n = piece.chars().count();
        if chars + n > MAX_RAW_CHARS - 1 {
            out.push('…');
            return out;
        }
        chars += n;
        out.push_str(&piece);
    }
    out
}

/// A version read by its shape: the upstream version, and what followed it after a packaging
/// separator (`-`, `+`, `~`, `_`), empty when nothing did. `None` when the token is not a
/// version of that shape.
fn version(token: &str, shape: Shape) -> Option<(String, &str)> {
    let b = token.as_bytes();
    let mut i = 0;
    let mut groups = 0;
    loop {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        groups += 1;
        if groups > 6 {
            return None;
        }
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
        } else {
            break;
        }
    }
    let numbers = i;
    let rest = &token[i..];
    let kept = match shape {
        Shape::Plain => 0,
        Shape::Pre => tag_len(rest, |t| {
            let letters = t.trim_end_matches(|c: char| c.is_ascii_digit());
            ["a", "b", "rc", "alpha", "beta", "dev"]
                .iter()
                .any(|p| letters.eq_ignore_ascii_case(p))
        }),
        Shape::Letter => tag_len(rest, |t| {
            let letters = t.trim_end_matches(|c: char| c.is_ascii_digit());
            (1..=2).contains(&letters.len())
                && letters.bytes().all(|c| c.is_ascii_lowercase())
                && t.len() - letters.len() <= 2
        }),
        Shape::OpenSsh | Shape::Jetty => 0,
    };
    let mut after = &rest[kept..];
    let version = &token[..numbers + kept];
    if shape == Shape::OpenSsh
        && let Some(p) = after.strip_prefix('p')
    {
        let digits = p.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        after = &p[digits..];
    }
    if shape == Shape::Jetty
        && let Some(date) = after.strip_prefix(".v")
    {
        let digits = date.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        after = &date[digits..];
    }
    if version.len() > MAX_VERSION_CHARS {
        return None;
    }
    let suffix = match after.chars().next() {
        None => "",
        Some('-' | '+' | '~' | '_') if after.len() > 1 => &after[1..],
        Some(_) => return None,
    };
    Some((version.to_string(), suffix))
}

/// The length of a tag of ASCII letters and digits at the start of `rest` when `ok` accepts
/// it, else 0.
fn tag_len(rest: &str, ok: impl Fn(&str) -> bool) -> usize {
    let len = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if len > 0 && rest.as_bytes()[0].is_ascii_alphabetic() && ok(&rest[..len]) {
        len
    } else {
        0
    }
}

/// `mark` when it names a distribution (`Ubuntu`, `Debian-2+deb12u3`, `0+deb12u1`, `el8`).
fn distro(c: &Compiled, mark: &[u8]) -> Option<String> {
    let mark = mark.trim_ascii();
    (!mark.is_empty() && c.distro.is_match(mark)).then(|| shown(mark))
}

/// What one fingerprint finds in `text`, at most [`MAX_MATCHES`].
fn apply(
    c: &Compiled,
    index: usize,
    text: &[u8],
    seen: Seen,
    fallback_distro: Option<&[u8]>,
    out: &mut Found,
) {
    let f = &FINGERPRINTS[index];
    for caps in c.patterns[index].captures_iter(text).take(MAX_MATCHES) {
        // A version is ASCII; a token that is not UTF-8 is not one.
        let Some(token) = caps
            .name("v")
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        else {
            continue;
        };
        let Some((version, suffix)) = version(token, f.shape) else {
            continue;
        };
        let mut mark = distro(c, suffix.as_bytes())
            .or_else(|| caps.name("d").and_then(|d| distro(c, d.as_bytes())))
            .or_else(|| fallback_distro.and_then(|d| distro(c, d)));
        if f.product == "openssh" && caps.name("w").is_some() && mark.is_none() {
            mark = Some("Windows".to_string());
        }
        out.push(Identified {
            product: f.product,
            version,
            raw: shown(raw_of(&caps)),
            distro: mark,
            seen,
        });
    }
}

/// The text shown as `raw`: group `r`, else the whole match without the delimiter a product
/// token's pattern starts with.
fn raw_of<'t>(caps: &regex::bytes::Captures<'t>) -> &'t [u8] {
    let raw = caps
        .name("r")
        .or_else(|| caps.get(0))
        .map_or(&b""[..], |m| m.as_bytes())
        .trim_ascii_start();
    match raw.first() {
        Some(b',' | b';' | b'(') => raw[1..].trim_ascii_start(),
        _ => raw,
    }
}

/// Runs the fingerprints of one source kind over `text`.
fn run(
    c: &Compiled,
    kind: Source,
    text: &[u8],
    seen: Seen,
    fallback: Option<&[u8]>,
    out: &mut Found,
) {
    let Some((_, set, members)) = c.sets.iter().find(|(k, _, _)| *k == kind) else {
        return;
    };
    for hit in set.matches(text).iter() {
        apply(c, members[hit], text, seen, fallback, out);
    }
}

/// One relevant header.
fn header(c: &Compiled, name: &'static str, value: &[u8], out: &mut Found) {
    let seen = Seen::Header(name);
    if PRODUCT_HEADERS.contains(&name) {
        // Within Server and X-Powered-By, one distribution comment speaks for every product
        // (Apache's modules are built by the same distribution); Via lists separate proxies.
        let fallback = (name != "via")
            .then(|| {
                c.comment
                    .captures_iter(value)
                    .take(MAX_MATCHES)
                    .filter_map(|m| m.get(1))
                    .find(|m| c.distro.is_match(m.as_bytes()))
                    .map(|m| m.as_bytes())
            })
            .flatten();
        run(c, Source::ProductHeader, value, seen, fallback, out);
        return;
    }
    match name {
        "x-generator" => run(c, Source::Generator, value, seen, None, out),
        "x-aspnet-version" => aspnet(value, out),
        _ => {
            for (i, f) in FINGERPRINTS.iter().enumerate() {
                if f.source == Source::Header(name) {
                    apply(c, i, value, seen, None, out);
                }
            }
        }
    }
}

/// `X-AspNet-Version`: the CLR version, which names .NET Framework families, not releases.
/// `4.0.30319` is every .NET Framework 4.x (4.0 to 4.8.1): version `4`, a family no release
/// cycle is named after, so it is never placed. `2.0.50727` is 2.0, 3.0 and 3.5 alike:
/// version `2`, likewise. `1.1.4322` and `1.0.3705` are exactly .NET Framework 1.1 and 1.0.
fn aspnet(value: &[u8], out: &mut Found) {
    let family = match value.trim_ascii() {
        b"4.0.30319" => "4",
        b"2.0.50727" => "2",
        b"1.1.4322" => "1.1",
        b"1.0.3705" => "1.0",
        _ => return,
    };
    out.push(Identified {
        product: "dotnetfx",
        version: family.to_string(),
        raw: shown(value.trim_ascii()),
        distro: None,
        seen: Seen::Header("x-aspnet-version"),
    });
}

/// An HTML or JSON body.
fn page(c: &Compiled, body: &[u8], out: &mut Found) {
    if body.trim_ascii_start().starts_with(b"{") {
        json_page(c, body, out);
        return;
    }
    for tag in c.meta.find_iter(body).take(MAX_META_TAGS) {
        let tag = tag.as_bytes();
        if !c.meta_name.is_match(tag) {
            continue;
        }
        let Some(content) = c
            .meta_content
            .captures(tag)
            .and_then(|m| m.get(1).or_else(|| m.get(2)))
        else {
            continue;
        };
        run(
            c,
            Source::Generator,
            content.as_bytes(),
            Seen::MetaGenerator,
            None,
            out,
        );
    }
    run(c, Source::Body, body, Seen::Body, None, out);
}

/// A JSON status page: Elasticsearch's root (`{"version":{"number":"7.17.9",…},"tagline":"You
/// Know, for Search"}`), Grafana's `/api/health` (`{"commit":…,"database":"ok",
/// "version":"10.2.3"}`), Envoy's admin `/server_info` (`{"version":"<sha>/1.28.0/Clean/
/// RELEASE/BoringSSL","state":"LIVE",…}`). A body cut before its end does not parse and
/// yields nothing.
fn json_page(c: &Compiled, body: &[u8], out: &mut Found) {
    // serde_json bounds nesting (128 levels) and fails, never panics, on anything else.
    let Ok(serde_json::Value::Object(root)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return;
    };
    let str_of = |key: &str| root.get(key).and_then(serde_json::Value::as_str);
    let mut push = |product: &'static str, token: &str, raw: String| {
        if let Some((version, _)) = version(token, Shape::Plain) {
            out.push(Identified {
                product,
                version,
                raw: printable(&raw),
                distro: None,
                seen: Seen::Json,
            });
        }
    };
    if str_of("tagline").is_some_and(|t| t.contains("You Know, for Search"))
        && let Some(number) = root
            .get("version")
            .and_then(|v| v.get("number"))
            .and_then(serde_json::Value::as_str)
    {
        push("elasticsearch", number, format!("version.number: {number}"));
        return;
    }
    let grafana_keys = ["commit", "database", "version", "enterpriseCommit"];
    if root.keys().all(|k| grafana_keys.contains(&k.as_str()))
        && str_of("database").is_some()
        && let Some(v) = str_of("version")
    {
        push("grafana", v, format!("version: {v}"));
        return;
    }
    if root.contains_key("state")
        && let Some(v) = str_of("version")
        && let Some(caps) = c.envoy_version.captures(v.as_bytes())
        && let Some(token) = caps
            .name("v")
            .and_then(|t| std::str::from_utf8(t.as_bytes()).ok())
    {
        push("envoy", token, format!("version: {v}"));
    }
}

/// The MySQL/MariaDB initial handshake (protocol version 10): a 3-byte little-endian payload
/// length, sequence id 0, the protocol byte 0x0a, then the server version NUL-terminated.
/// MariaDB before 11.0 prefixes `5.5.5-` for old replication clients:
/// `5.5.5-10.11.6-MariaDB-0+deb12u1` is MariaDB 10.11.6 of Debian's `0+deb12u1`.
fn greeting(banner: &[u8]) -> Option<Identified> {
    let [l0, l1, l2, 0, 0x0a, rest @ ..] = banner else {
        return None;
    };
    let length = usize::from(*l0) | usize::from(*l1) << 8 | usize::from(*l2) << 16;
    // The version, its NUL, a connection id, 8 bytes of scramble, a filler: at least 14 bytes.
    if length < 14 {
        return None;
    }
    let end = rest.iter().take(64).position(|&b| b == 0)?;
    let server = std::str::from_utf8(&rest[..end]).ok()?;
    if !server.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let c = COMPILED.as_ref()?;
    let lower = server.to_ascii_lowercase();
    let (product, (version, suffix)) = if let Some(at) = lower.find("-mariadb") {
        let (head, tail) = server.split_at(at);
        let head = head.strip_prefix("5.5.5-").unwrap_or(head);
        let (v, "") = version(head, Shape::Plain)? else {
            return None;
        };
        // After `-MariaDB`: `-0+deb12u1` (a distribution), `-log`, `-1:10.11.6+maria~ubu2204`.
        let tail = &tail["-mariadb".len()..];
        ("mariadb", (v, tail.strip_prefix('-').unwrap_or(tail)))
    } else {
        // Other servers speak this protocol and borrow a MySQL version (`5.7.25-TiDB-v7.1.0`,
        // `8.0.30-Vitess`): those are not MySQL.
        if [
            "tidb",
            "vitess",
            "singlestore",
            "memsql",
            "proxysql",
            "doris",
            "starrocks",
        ]
        .iter()
        .any(|other| lower.contains(other))
        {
            return None;
        }
        ("mysql", version(server, Shape::Plain)?)
    };
    Some(Identified {
        product,
        version,
        raw: printable(server),
        distro: distro(c, suffix.as_bytes()),
        seen: Seen::Banner,
    })
}

/// A text banner: SSH, SMTP and FTP greetings (one line each), or Redis `INFO server`.
fn banner_text(c: &Compiled, banner: &[u8], out: &mut Found) {
    if redis_info(banner, out) {
        return;
    }
    for line in lines(banner).take(MAX_BANNER_LINES) {
        run(c, Source::BannerLine, line, Seen::Banner, None, out);
        if out.full() {
            return;
        }
    }
}

/// Redis `INFO server` (a bulk reply of `key:value` lines). Valkey 8 answers
/// `redis_version:7.2.4` for compatibility and `valkey_version:8.0.1`, `server_name:valkey`;
/// other servers that borrow `redis_version` name themselves in `server_name` (or a
/// `*_version` of their own) and are not Redis. Whether this was INFO output at all:
/// a `redis_version:` line.
fn redis_info(banner: &[u8], out: &mut Found) -> bool {
    let mut redis = None;
    let mut valkey = None;
    let mut server_name = None;
    let mut foreign = false;
    for line in lines(banner).take(MAX_BANNER_LINES * 4) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        match key {
            b"redis_version" => redis = Some(value),
            b"valkey_version" => valkey = Some(value),
            b"server_name" => server_name = Some(value),
            b"dragonfly_version" | b"keydb_version" => foreign = true,
            _ => {}
        }
    }
    let Some(redis) = redis else {
        return false;
    };
    let (product, key, value) = match (valkey, server_name) {
        (Some(v), _) => ("valkey", "valkey_version", v),
        (None, Some(name)) if !name.eq_ignore_ascii_case(b"redis") => return true,
        _ if foreign => return true,
        _ => ("redis", "redis_version", redis),
    };
    if let Some((version, _)) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| version(v, Shape::Plain))
    {
        out.push(Identified {
            product,
            version,
            raw: shown(&[key.as_bytes(), b":", value].concat()),
            distro: None,
            seen: Seen::Banner,
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<Identified> {
        identify(pairs.iter().map(|(n, v)| (*n, v.as_bytes())), b"", b"")
    }

    fn one(pairs: &[(&str, &str)]) -> Identified {
        let found = headers(pairs);
        assert_eq!(found.len(), 1, "{found:?}");
        found.into_iter().next().unwrap_or_else(|| unreachable!())
    }

    fn short(found: &[Identified]) -> Vec<(&'static str, &str, Option<&str>)> {
        found
            .iter()
            .map(|i| (i.product, i.version.as_str(), i.distro.as_deref()))
            .collect()
    }

    fn banner(bytes: &[u8]) -> Vec<Identified> {
        identify(std::iter::empty(), b"", bytes)
    }

    fn body(bytes: &[u8]) -> Vec<Identified> {
        identify(std::iter::empty(), bytes, b"")
    }

    #[test]
    fn every_pattern_compiles_and_names_a_known_product() {
        assert!(COMPILED.is_some());
        for f in FINGERPRINTS {
            assert!(PRODUCTS.contains(&f.product), "{}", f.product);
        }
        for p in [
            "dotnetfx",
            "mysql",
            "mariadb",
            "redis",
            "valkey",
            "grafana",
            "elasticsearch",
        ] {
            assert!(PRODUCTS.contains(&p));
        }
    }

    #[test]
    fn nginx_with_and_without_a_distribution() {
        let i = one(&[("Server", "nginx/1.22.1")]);
        assert_eq!(
            (i.product, i.version.as_str(), i.distro),
            ("nginx", "1.22.1", None)
        );
        assert_eq!(i.raw, "nginx/1.22.1");
        assert_eq!(i.seen, Seen::Header("server"));
        let i = one(&[("server", "nginx/1.18.0 (Ubuntu)")]);
        assert_eq!(i.version, "1.18.0");
        assert_eq!(i.distro.as_deref(), Some("Ubuntu"));
        assert_eq!(i.raw, "nginx/1.18.0 (Ubuntu)");
        assert!(headers(&[("Server", "nginx")]).is_empty());
    }

    #[test]
    fn apache_with_modules_in_one_server_header() {
        let found = headers(&[("Server", "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f PHP/7.4.3")]);
        assert_eq!(
            short(&found),
            vec![
                ("apache-http-server", "2.4.41", Some("Ubuntu")),
                ("openssl", "1.1.1f", Some("Ubuntu")),
                ("php", "7.4.3", Some("Ubuntu")),
            ]
        );
        let found = headers(&[(
            "Server",
            "Apache/2.4.6 (CentOS) OpenSSL/1.0.2k-fips mod_fcgid/2.3.9 PHP/5.4.16",
        )]);
        assert_eq!(
            short(&found),
            vec![
                ("apache-http-server", "2.4.6", Some("CentOS")),
                ("openssl", "1.0.2k", Some("CentOS")),
                ("php", "5.4.16", Some("CentOS")),
            ]
        );
        let i = one(&[("Server", "Apache/2.4.62 (Debian)")]);
        assert_eq!(i.distro.as_deref(), Some("Debian"));
        // Not a distribution: the upstream build is what it says.
        let found = headers(&[("Server", "Apache/2.4.57 (Win64) OpenSSL/3.1.1")]);
        assert_eq!(
            short(&found),
            vec![
                ("apache-http-server", "2.4.57", None),
                ("openssl", "3.1.1", None)
            ]
        );
        // Tomcat's connector names no Tomcat version.
        assert!(headers(&[("Server", "Apache-Coyote/1.1")]).is_empty());
        assert!(headers(&[("Server", "Apache")]).is_empty());
    }

    #[test]
    fn openresty_lighttpd_iis_squid_caddy_envoy() {
        assert_eq!(
            short(&headers(&[("Server", "openresty/1.21.4.1")])),
            vec![("openresty", "1.21.4.1", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "lighttpd/1.4.69")])),
            vec![("lighttpd", "1.4.69", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "Microsoft-IIS/10.0")])),
            vec![("iis", "10.0", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "squid/4.13")])),
            vec![("squid", "4.13", None)]
        );
        assert!(headers(&[("Server", "Caddy"), ("server", "envoy")]).is_empty());
        assert_eq!(
            short(&headers(&[("Server", "Caddy/2.7.6")])),
            vec![("caddy", "2.7.6", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "envoy/1.28.0")])),
            vec![("envoy", "1.28.0", None)]
        );
    }

    #[test]
    fn varnish_and_squid_in_via() {
        let found = headers(&[(
            "Via",
            "1.1 varnish (Varnish/6.0), 1.1 proxy.example.com (squid/5.7)",
        )]);
        assert_eq!(
            short(&found),
            vec![("vinyl-cache", "6.0", None), ("squid", "5.7", None)]
        );
        assert_eq!(found[0].seen, Seen::Header("via"));
        assert_eq!(found[0].raw, "Varnish/6.0");
        // Fastly's `Via: 1.1 varnish` names no version.
        assert!(headers(&[("Via", "1.1 varnish")]).is_empty());
    }

    #[test]
    fn python_servers() {
        assert_eq!(
            short(&headers(&[("Server", "SimpleHTTP/0.6 Python/3.11.2")])),
            vec![("python", "3.11.2", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "BaseHTTP/0.6 Python/3.9.2")])),
            vec![("python", "3.9.2", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "Werkzeug/2.2.2 Python/3.11.2")])),
            vec![("python", "3.11.2", None), ("werkzeug", "2.2.2", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "WSGIServer/0.2 CPython/3.12.1")])),
            vec![("python", "3.12.1", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "gunicorn/20.1.0")])),
            vec![("gunicorn", "20.1.0", None)]
        );
        assert!(headers(&[("Server", "gunicorn")]).is_empty());
        // A pre-release keeps its tag.
        assert_eq!(
            short(&headers(&[("Server", "BaseHTTP/0.6 Python/3.13.0rc1")])),
            vec![("python", "3.13.0rc1", None)]
        );
    }

    #[test]
    fn php_in_x_powered_by_with_distribution_suffix() {
        let i = one(&[("X-Powered-By", "PHP/7.4.3-4ubuntu2.19")]);
        assert_eq!((i.product, i.version.as_str()), ("php", "7.4.3"));
        assert_eq!(i.distro.as_deref(), Some("4ubuntu2.19"));
        assert_eq!(i.seen, Seen::Header("x-powered-by"));
        let i = one(&[("x-powered-by", "PHP/7.3.31-1~deb10u1")]);
        assert_eq!(i.distro.as_deref(), Some("1~deb10u1"));
        let i = one(&[("X-Powered-By", "PHP/8.2.14")]);
        assert_eq!((i.version.as_str(), i.distro), ("8.2.14", None));
        // A suffix that is not a distribution's.
        let i = one(&[("X-Powered-By", "PHP/8.3.0-dev")]);
        assert_eq!((i.version.as_str(), i.distro), ("8.3.0", None));
        assert!(headers(&[("X-Powered-By", "Express")]).is_empty());
        assert!(headers(&[("X-Powered-By", "ASP.NET")]).is_empty());
    }

    #[test]
    fn nodejs_only_where_a_header_names_it() {
        assert_eq!(
            short(&headers(&[("X-Powered-By", "Node.js/v20.11.0")])),
            vec![("nodejs", "20.11.0", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "node/18.19.0")])),
            vec![("nodejs", "18.19.0", None)]
        );
        assert!(headers(&[("X-Powered-By", "Next.js")]).is_empty());
    }

    #[test]
    fn java_servers() {
        assert_eq!(
            short(&headers(&[("Server", "Jetty(9.4.48.v20220622)")])),
            vec![("eclipse-jetty", "9.4.48", None)]
        );
        assert_eq!(
            short(&headers(&[("Server", "Jetty(12.0.5)")])),
            vec![("eclipse-jetty", "12.0.5", None)]
        );
        assert!(headers(&[("Server", "Jetty(9.4.z-SNAPSHOT)")]).is_empty());
        assert_eq!(
            short(&headers(&[("Server", "Apache Tomcat/9.0.65")])),
            vec![("tomcat", "9.0.65", None)]
        );
        assert_eq!(
            short(&headers(&[
                ("X-Jenkins", "2.426.1"),
                ("Server", "Jetty(10.0.18)")
            ])),
            vec![
                ("jenkins", "2.426.1", None),
                ("eclipse-jetty", "10.0.18", None)
            ]
        );
        assert!(headers(&[("X-Jenkins", "")]).is_empty());
    }

    #[test]
    fn tomcat_default_pages() {
        let page = b"<!doctype html><html lang=\"en\"><head><title>HTTP Status 404 \xe2\x80\x93 Not Found</title></head><body><h1>HTTP Status 404 \xe2\x80\x93 Not Found</h1><hr class=\"line\" /><p><b>Type</b> Status Report</p><hr class=\"line\" /><h3>Apache Tomcat/9.0.65</h3></body></html>";
        let found = body(page);
        assert_eq!(short(&found), vec![("tomcat", "9.0.65", None)]);
        assert_eq!(found[0].seen, Seen::Body);
        assert_eq!(found[0].raw, "Apache Tomcat/9.0.65");
        let found = body(b"<html><head><title>Apache Tomcat/9.0.43 (Debian)</title>");
        assert_eq!(short(&found), vec![("tomcat", "9.0.43", Some("Debian"))]);
        // Prose that mentions a version is not the page.
        assert!(body(b"<p>We run Apache Tomcat/9.0.65 here</p>").is_empty());
    }

    #[test]
    fn aspnet_names_framework_families() {
        let i = one(&[("X-AspNet-Version", "4.0.30319")]);
        assert_eq!((i.product, i.version.as_str()), ("dotnetfx", "4"));
        assert_eq!(i.raw, "4.0.30319");
        let i = one(&[("X-AspNet-Version", "2.0.50727")]);
        assert_eq!(i.version, "2");
        let i = one(&[("X-AspNet-Version", "1.1.4322")]);
        assert_eq!(i.version, "1.1");
        assert!(headers(&[("X-AspNet-Version", "4.0.x")]).is_empty());
        assert!(headers(&[("X-AspNet-Version", "9.9.9")]).is_empty());
        let i = one(&[("X-AspNetMvc-Version", "5.2")]);
        assert_eq!((i.product, i.version.as_str()), ("aspnet-mvc", "5.2"));
    }

    #[test]
    fn generators_in_header_and_meta() {
        let i = one(&[("X-Generator", "Drupal 10 (https://www.drupal.org)")]);
        assert_eq!((i.product, i.version.as_str()), ("drupal", "10"));
        let found = body(
            br#"<!DOCTYPE html><html><head><meta charset="utf-8" />
<meta name="Generator" content="Drupal 9 (https://www.drupal.org)" />"#,
        );
        assert_eq!(short(&found), vec![("drupal", "9", None)]);
        assert_eq!(found[0].seen, Seen::MetaGenerator);
        let found = body(
            br#"<head><link rel="stylesheet" href="x.css"><meta name="generator" content="WordPress 6.4.2" />
<meta name="generator" content="Elementor 3.18.3; features: e_dom_optimization">"#,
        );
        assert_eq!(short(&found), vec![("wordpress", "6.4.2", None)]);
        assert_eq!(found[0].raw, "WordPress 6.4.2");
        // Attributes in the other order, single quotes.
        let found = body(b"<meta content='WordPress 5.8.1' name='generator'>");
        assert_eq!(short(&found), vec![("wordpress", "5.8.1", None)]);
        let found = body(
            br#"<meta name="generator" content="Joomla! 1.5 - Open Source Content Management" />"#,
        );
        assert_eq!(short(&found), vec![("joomla", "1.5", None)]);
        // Joomla 1.6 and later name no version.
        assert!(
            body(
                br#"<meta name="generator" content="Joomla! - Open Source Content Management" />"#
            )
            .is_empty()
        );
        // A meta that is not the generator.
        assert!(body(br#"<meta name="description" content="WordPress 6.4.2">"#).is_empty());
    }

    #[test]
    fn json_status_pages() {
        let es = br#"{
  "name" : "node-1", "cluster_name" : "logs", "cluster_uuid" : "Xx",
  "version" : { "number" : "7.17.9", "build_flavor" : "default", "build_type" : "deb",
    "lucene_version" : "8.11.1", "minimum_wire_compatibility_version" : "6.8.0" },
  "tagline" : "You Know, for Search"
}"#;
        let found = body(es);
        assert_eq!(short(&found), vec![("elasticsearch", "7.17.9", None)]);
        assert_eq!(found[0].seen, Seen::Json);
        // OpenSearch answers the same shape with its own tagline.
        assert!(
            body(br#"{"version":{"distribution":"opensearch","number":"2.11.1"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#)
                .is_empty()
        );
        let found = body(br#"{"commit":"1e84fede543acc892d2a2515187e545eb047f237","database":"ok","version":"10.2.3"}"#);
        assert_eq!(short(&found), vec![("grafana", "10.2.3", None)]);
        let found = body(
            b"{\n  \"commit\": \"abc\",\n  \"database\": \"ok\",\n  \"version\": \"7.5.7\"\n}",
        );
        assert_eq!(short(&found), vec![("grafana", "7.5.7", None)]);
        // Another service's health with a version is not Grafana.
        assert!(body(br#"{"status":"ok","database":"ok","version":"1.2.3"}"#).is_empty());
        let found = body(br#"{"version":"d362e791eb9e4efa8d87f6d878740e72dc8330ac/1.28.0/Clean/RELEASE/BoringSSL","state":"LIVE","hot_restart_version":"11.104"}"#);
        assert_eq!(short(&found), vec![("envoy", "1.28.0", None)]);
        // Cut, garbled, or too deep: nothing, no panic.
        assert!(body(&es[..60]).is_empty());
        assert!(body(&[b'['; 100_000]).is_empty());
        assert!(body(&[b'{'; 100_000]).is_empty());
    }

    #[test]
    fn ssh_banners() {
        let found = banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
        assert_eq!(
            short(&found),
            vec![("openssh", "9.2", Some("Debian-2+deb12u3"))]
        );
        assert_eq!(found[0].raw, "OpenSSH_9.2p1 Debian-2+deb12u3");
        assert_eq!(found[0].seen, Seen::Banner);
        assert_eq!(
            short(&banner(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n")),
            vec![("openssh", "8.9", Some("Ubuntu-3ubuntu0.6"))]
        );
        assert_eq!(
            short(&banner(b"SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2.13\r\n")),
            vec![("openssh", "6.6.1", Some("Ubuntu-2ubuntu2.13"))]
        );
        assert_eq!(
            short(&banner(b"SSH-2.0-OpenSSH_7.4\r\n")),
            vec![("openssh", "7.4", None)]
        );
        assert_eq!(
            short(&banner(b"SSH-2.0-OpenSSH_9.7 FreeBSD-20240318\r\n")),
            vec![("openssh", "9.7", Some("FreeBSD-20240318"))]
        );
        assert_eq!(
            short(&banner(b"SSH-2.0-OpenSSH_for_Windows_8.1\r\n")),
            vec![("openssh", "8.1", Some("Windows"))]
        );
        assert!(banner(b"SSH-2.0-dropbear_2022.83\r\n").is_empty());
        assert!(banner(b"SSH-2.0-OpenSSH_\r\n").is_empty());
        assert!(banner(b"SSH-2.0-OpenSSH_9.x\r\n").is_empty());
    }

    #[test]
    fn smtp_banners() {
        assert_eq!(
            short(&banner(
                b"220 mail.example.com ESMTP Exim 4.96 Mon, 08 Jan 2024 10:00:00 +0000\r\n"
            )),
            vec![("exim", "4.96", None)]
        );
        assert_eq!(
            short(&banner(
                b"220 mx.example.org ESMTP Exim 4.95 Ubuntu Sat, 06 Jan 2024 10:00:00 +0000\r\n"
            )),
            vec![("exim", "4.95", Some("Ubuntu"))]
        );
        assert_eq!(
            short(&banner(
                b"220-mx ESMTP Exim 4.94.2 #2 Tue, 09 Jan 2024\r\n220 ok\r\n"
            )),
            vec![("exim", "4.94.2", None)]
        );
        // Postfix's default banner names no version.
        assert!(banner(b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n").is_empty());
        assert!(banner(b"220 mail.example.com ESMTP Postfix\r\n").is_empty());
        assert_eq!(
            short(&banner(b"220 mail.example.com ESMTP Postfix 3.7.11\r\n")),
            vec![("postfix", "3.7.11", None)]
        );
        assert_eq!(
            short(&banner(
                b"220 mail.example.com ESMTP Postfix (3.5.18) (Debian/GNU)\r\n"
            )),
            vec![("postfix", "3.5.18", Some("Debian/GNU"))]
        );
    }

    #[test]
    fn ftp_banners() {
        assert_eq!(
            short(&banner(b"220 (vsFTPd 3.0.3)\r\n")),
            vec![("vsftpd", "3.0.3", None)]
        );
        assert_eq!(
            short(&banner(
                b"220 ProFTPD 1.3.5e Server (Debian) [::ffff:10.0.0.5]\r\n"
            )),
            vec![("proftpd", "1.3.5e", Some("Debian"))]
        );
        assert_eq!(
            short(&banner(
                b"220 ProFTPD 1.3.8b Server (ProFTPD Default Installation) [10.0.0.5]\r\n"
            )),
            vec![("proftpd", "1.3.8b", None)]
        );
        assert!(
            banner(b"220 ProFTPD Server (ProFTPD Default Installation) [10.0.0.5]\r\n").is_empty()
        );
    }

    /// A protocol-10 greeting as a server sends it.
    fn greeting_packet(version: &str) -> Vec<u8> {
        let mut payload = vec![0x0a];
        payload.extend_from_slice(version.as_bytes());
        payload.push(0);
        payload.extend_from_slice(&[1, 0, 0, 0]);
        payload.extend_from_slice(b"abcdefgh\0");
        payload.extend_from_slice(&[0xff, 0xf7, 0x2d, 0x02, 0, 0xff, 0x81, 0x15]);
        payload.extend_from_slice(&[0; 10]);
        payload.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
        let len = payload.len();
        let mut packet = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 0];
        packet.extend(payload);
        packet
    }

    #[test]
    fn mysql_and_mariadb_greetings() {
        let found = banner(&greeting_packet("5.5.5-10.11.6-MariaDB-0+deb12u1"));
        assert_eq!(
            short(&found),
            vec![("mariadb", "10.11.6", Some("0+deb12u1"))]
        );
        assert_eq!(found[0].raw, "5.5.5-10.11.6-MariaDB-0+deb12u1");
        assert_eq!(
            short(&banner(&greeting_packet("11.4.2-MariaDB-ubu2404"))),
            vec![("mariadb", "11.4.2", None)]
        );
        assert_eq!(
            short(&banner(&greeting_packet("10.6.16-MariaDB-log"))),
            vec![("mariadb", "10.6.16", None)]
        );
        assert_eq!(
            short(&banner(&greeting_packet("8.0.36"))),
            vec![("mysql", "8.0.36", None)]
        );
        assert_eq!(
            short(&banner(&greeting_packet("8.0.36-0ubuntu0.22.04.1"))),
            vec![("mysql", "8.0.36", Some("0ubuntu0.22.04.1"))]
        );
        assert_eq!(
            short(&banner(&greeting_packet("5.7.44-log"))),
            vec![("mysql", "5.7.44", None)]
        );
        assert!(banner(&greeting_packet("5.7.25-TiDB-v7.1.0")).is_empty());
        assert!(banner(&greeting_packet("8.0.mysql_aurora.3.04.0")).is_empty());
        // An error packet (host not allowed) and a short packet.
        assert!(banner(b"\x44\0\0\0\xffj\x04Host '10.0.0.9' is not allowed to connect").is_empty());
        assert!(banner(b"\x05\0\0\0\x0a8.0\0").is_empty());
        assert!(banner(b"\x40\0\0\0\x0a8.0.36").is_empty());
    }

    #[test]
    fn redis_info() {
        let info = b"$3864\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:d81b8ff71cfb150e\r\nredis_mode:standalone\r\nos:Linux 6.1.0-18-amd64 x86_64\r\narch_bits:64\r\n";
        let found = banner(info);
        assert_eq!(short(&found), vec![("redis", "7.0.15", None)]);
        assert_eq!(found[0].raw, "redis_version:7.0.15");
        let valkey =
            b"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(short(&banner(valkey)), vec![("valkey", "8.0.1", None)]);
        let dragonfly = b"# Server\r\nredis_version:7.4.0\r\ndragonfly_version:df-v1.14.1\r\n";
        assert!(banner(dragonfly).is_empty());
        assert!(banner(b"-NOAUTH Authentication required.\r\n").is_empty());
        assert!(banner(b"# Server\r\nredis_version:\r\n").is_empty());
    }

    #[test]
    fn garbled_versions_yield_nothing() {
        for value in [
            "nginx/",
            "nginx/abc",
            "nginx/1.",
            "nginx/.1",
            "nginx/1..2",
            "nginx/1.2.x",
            "nginx/1.2a",
            "PHP/7.x",
            "PHP/7.4.3x",
            "OpenSSL/1.1.1fff",
            "OpenSSL/1.1.1-",
            "Apache/2.4.41/",
            "nginx/1234567890.1",
            "nginx/1.2.3.4.5.6.7",
            "squid/\u{1b}[31m4.13",
        ] {
            assert!(headers(&[("Server", value)]).is_empty(), "{value}");
        }
        // A name inside another word is not the product.
        assert!(headers(&[("Server", "my-nginx/1.2.3"), ("Server", "xphp/7.4.3")]).is_empty());
    }

    #[test]
    fn versions_by_shape() {
        assert_eq!(
            version("1.1.1f", Shape::Letter),
            Some(("1.1.1f".into(), ""))
        );
        assert_eq!(
            version("1.0.2zf", Shape::Letter),
            Some(("1.0.2zf".into(), ""))
        );
        assert_eq!(
            version("1.3.6rc4", Shape::Letter),
            Some(("1.3.6rc4".into(), ""))
        );
        assert_eq!(version("1.1.1f", Shape::Plain), None);
        assert_eq!(version("9.2p1", Shape::OpenSsh), Some(("9.2".into(), "")));
        assert_eq!(version("9.2p", Shape::OpenSsh), None);
        assert_eq!(
            version("9.4.48.v20220622", Shape::Jetty),
            Some(("9.4.48".into(), ""))
        );
        assert_eq!(
            version("8.3.0RC1", Shape::Pre),
            Some(("8.3.0RC1".into(), ""))
        );
        assert_eq!(version("8.3.0zz", Shape::Pre), None);
        assert_eq!(
            version("10.4.1+security-01", Shape::Plain),
            Some(("10.4.1".into(), "security-01"))
        );
        assert_eq!(version("", Shape::Plain), None);
        assert_eq!(version("v1.2", Shape::Plain), None);
    }

    #[test]
    fn raw_is_printable_and_clipped() {
        let long = format!("nginx/1.25.3 ({})", "x".repeat(200));
        let i = one(&[("Server", &long)]);
        assert!(i.raw.chars().count() <= MAX_RAW_CHARS);
        let found = banner(b"SSH-2.0-OpenSSH_9.2p1 Debian\x1b]0;pwned\x07\r\n");
        assert_eq!(found.len(), 1);
        assert!(!found[0].raw.contains('\x1b'), "{}", found[0].raw);
        assert!(found[0].raw.contains("\\u{1b}"));
        assert_eq!(printable(&"é".repeat(500)).chars().count(), MAX_RAW_CHARS);
    }

    #[test]
    fn duplicates_and_the_result_cap() {
        let found = headers(&[
            ("Server", "nginx/1.22.1"),
            ("Server", "nginx/1.22.1"),
            ("Via", "1.1 a (nginx/1.22.1)"),
        ]);
        assert_eq!(found.len(), 1);
        // Each header names 40 versions, of which 4 are read; 20 headers, of which 16 are read:
        // 64 candidates, 16 kept.
        let values: Vec<String> = (0..20)
            .map(|h| (0..40).map(|i| format!("nginx/{h}.{i}.0 ")).collect())
            .collect();
        let pairs: Vec<(&str, &str)> = values.iter().map(|v| ("Server", v.as_str())).collect();
        let found = headers(&pairs);
        assert_eq!(found.len(), MAX_IDENTIFIED);
        assert_eq!(found[4].version, "1.0.0");
    }

    #[test]
    fn headers_body_and_banner_together() {
        let found = identify(
            [
                ("Server", &b"Apache/2.4.62 (Debian)"[..]),
                ("X-Powered-By", &b"PHP/8.2.20"[..]),
            ],
            br#"<html><head><meta name="generator" content="WordPress 6.6.1"></head>"#,
            b"",
        );
        assert_eq!(
            short(&found),
            vec![
                ("apache-http-server", "2.4.62", Some("Debian")),
                ("php", "8.2.20", None),
                ("wordpress", "6.6.1", None),
            ]
        );
    }
}
