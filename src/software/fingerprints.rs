//! The fingerprints: per product, where to look and a pattern that extracts its version.
//! Read by [`super::identify`].

/// The headers a fingerprint reads (lowercase).
pub(super) const HEADERS: &[&str] = &[
    "server",
    "x-powered-by",
    "via",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-generator",
    "x-jenkins",
];

/// Headers that carry product tokens (`name/version (comment)`, RFC 9110 §10.2.4).
pub(super) const PRODUCT_HEADERS: &[&str] = &["server", "x-powered-by", "via"];

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
/// pages are read structurally, in `identify.rs`.)
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
