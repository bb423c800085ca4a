//! Property tests of software identification (`picket::software::identify`): whatever a
//! service sends (header names and values, a body, a banner; arbitrary bytes, or real product
//! tokens cut, spliced and garbled), identification never panics, returns at most
//! `MAX_IDENTIFIED` products with printable, clipped `raw` and `distro`, never a version that is
//! not in the input, and reads only a bounded prefix of each input: bytes past the bounds
//! change nothing, and the output's size has a bound independent of the input's.
//!
//! Each property runs [`DEFAULT_CASES`] cases; set `PROPTEST_CASES` for a longer run
//! (`PROPTEST_CASES=5000 cargo test --test it software_props`).

use picket::software::identify::{
    Identified, MAX_BANNER_BYTES, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADER_VALUES, MAX_HEADERS,
    MAX_IDENTIFIED, MAX_RAW_CHARS, PRODUCTS, identify,
};
use picket::term::is_unsafe_control;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 128;

/// A version is at most this long (identify's own bound).
const MAX_VERSION_CHARS: usize = 32;

fn config() -> ProptestConfig {
    crate::props::config_with(DEFAULT_CASES)
}

/// Pieces of real headers, pages and banners, and pieces that garble them.
const FRAGMENTS: &[&str] = &[
    "nginx/",
    "openresty/",
    "Apache/",
    "Apache-Coyote/",
    "Apache Tomcat/",
    "OpenSSL/",
    "PHP/",
    "Python/",
    "SimpleHTTP/0.6 ",
    "Werkzeug/",
    "gunicorn/",
    "Node.js/v",
    "Jetty(",
    "Microsoft-IIS/",
    "lighttpd/",
    "Caddy/",
    "envoy/",
    "Varnish/",
    "squid/",
    "1.18.0",
    "2.4.41",
    "1.1.1f",
    "1.0.2zf",
    "9.4.48.v20220622",
    "3.11.2",
    "7.x",
    "1.",
    ".",
    "..",
    "-",
    "+deb12u1",
    "-4ubuntu2.19",
    "~",
    "p1",
    " ",
    "\t",
    "\r\n",
    "\n",
    "(",
    ")",
    "(Ubuntu)",
    "(Debian)",
    ",",
    ";",
    "/",
    "\u{1b}[2J",
    "\u{9b}",
    "\u{0}",
    "é",
    "<meta name=\"generator\" content=\"",
    "<meta name=generator content='",
    "WordPress ",
    "Drupal ",
    "Joomla! ",
    "\">",
    "'>",
    "<h3>",
    "</h3>",
    "<title>",
    "{",
    "}",
    "\"version\":",
    "{\"number\":",
    "\"tagline\":\"You Know, for Search\"",
    "\"database\":\"ok\"",
    "\"state\":\"LIVE\"",
    "\"d362e791eb9e4efa8d87f6d878740e72dc8330ac/1.28.0/Clean/RELEASE/BoringSSL\"",
    "\"10.2.3\"",
    "SSH-2.0-OpenSSH_",
    "SSH-2.0-OpenSSH_for_Windows_",
    " Debian-2+deb12u3",
    "220 ",
    "220-",
    "ESMTP Exim ",
    "ESMTP Postfix ",
    "(vsFTPd ",
    "ProFTPD ",
    " Server ",
    "redis_version:",
    "valkey_version:",
    "server_name:",
    "5.5.5-10.11.6-MariaDB-0+deb12u1",
    "4.0.30319",
];

/// The header names identification reads, in assorted cases, and others.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "Server",
            "server",
            "SERVER",
            "X-Powered-By",
            "x-powered-by",
            "Via",
            "X-AspNet-Version",
            "X-AspNetMvc-Version",
            "X-Generator",
            "X-Jenkins",
        ])
        .prop_map(String::from),
        "[A-Za-z0-9-]{0,24}",
    ]
}

/// Arbitrary bytes, or fragments spliced with arbitrary bytes between them.
fn spliced(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max),
        proptest::collection::vec(
            (
                select(FRAGMENTS),
                proptest::collection::vec(any::<u8>(), 0..3)
            ),
            0..24,
        )
        .prop_map(|parts| {
            let mut out = Vec::new();
            for (fragment, noise) in parts {
                out.extend_from_slice(fragment.as_bytes());
                out.extend(noise);
            }
            out
        }),
        proptest::collection::vec(select(FRAGMENTS), 0..24)
            .prop_map(|parts| parts.concat().into_bytes()),
    ]
}

/// Real observations, each identifying at least one product.
const SAMPLES: &[&str] = &[
    "nginx/1.18.0 (Ubuntu)",
    "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f PHP/7.4.3",
    "Apache/2.4.6 (CentOS) OpenSSL/1.0.2k-fips mod_fcgid/2.3.9 PHP/5.4.16",
    "SimpleHTTP/0.6 Python/3.11.2",
    "Werkzeug/2.2.2 Python/3.11.2",
    "Jetty(9.4.48.v20220622)",
    "PHP/7.4.3-4ubuntu2.19",
    "1.1 varnish (Varnish/6.0), 1.1 proxy (squid/5.7)",
    "Microsoft-IIS/10.0",
    "4.0.30319",
    "Drupal 10 (https://www.drupal.org)",
    "2.426.1",
    "<head><meta name=\"generator\" content=\"WordPress 6.4.2\" /></head>",
    "<hr class=\"line\" /><h3>Apache Tomcat/9.0.65</h3></body>",
    "{\"version\":{\"number\":\"7.17.9\"},\"tagline\":\"You Know, for Search\"}",
    "{\"commit\":\"abc\",\"database\":\"ok\",\"version\":\"10.2.3\"}",
    "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
    "220 mail.example.com ESMTP Exim 4.96 Mon, 08 Jan 2024 10:00:00 +0000\r\n",
    "220 ProFTPD 1.3.5e Server (Debian) [::ffff:10.0.0.5]\r\n",
    "220 (vsFTPd 3.0.3)\r\n",
    "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n",
];

/// A real observation with fragments or random bytes inserted at random places.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let insertion = (
        any::<prop::sample::Index>(),
        prop_oneof![
            select(FRAGMENTS).prop_map(|f| f.as_bytes().to_vec()),
            proptest::collection::vec(any::<u8>(), 1..4),
        ],
    );
    (select(SAMPLES), proptest::collection::vec(insertion, 0..4)).prop_map(
        |(sample, insertions)| {
            let mut out = sample.as_bytes().to_vec();
            for (at, bytes) in insertions {
                let at = at.index(out.len() + 1);
                out.splice(at..at, bytes);
            }
            out
        },
    )
}

/// Arbitrary input, spliced fragments, or a mutated real observation.
fn observed(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![spliced(max), mutated()]
}

/// A MySQL protocol-10 greeting around an arbitrary version string, or a packet header over
/// arbitrary bytes.
fn greeting() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(any::<u8>(), 0..80),
        any::<[u8; 3]>(),
        any::<bool>(),
    )
        .prop_map(|(version, length, real)| {
            let mut packet = if real {
                vec![60, 0, 0, 0, 0x0a]
            } else {
                vec![length[0], length[1], length[2], 0, 0x0a]
            };
            packet.extend(version);
            packet.push(0);
            packet.extend_from_slice(&[1, 0, 0, 0]);
            packet
        })
}

type Headers = Vec<(String, Vec<u8>)>;

fn inputs() -> impl Strategy<Value = (Headers, Vec<u8>, Vec<u8>)> {
    (
        proptest::collection::vec((header_name(), observed(256)), 0..12),
        observed(1024),
        prop_oneof![observed(1024), greeting()],
    )
}

fn run(headers: &Headers, body: &[u8], banner: &[u8]) -> Vec<Identified> {
    identify(
        headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
        body,
        banner,
    )
}

/// Printable: no control character a terminal would act on, no line break or tab.
fn printable(s: &str) -> bool {
    !s.chars()
        .any(|c| is_unsafe_control(c) || matches!(c, '\n' | '\r' | '\t'))
}

/// The bounds every result keeps, whatever the input.
fn check_bounded(found: &[Identified]) -> Result<(), TestCaseError> {
    prop_assert!(found.len() <= MAX_IDENTIFIED, "{} results", found.len());
    for i in found {
        prop_assert!(
            PRODUCTS.contains(&i.product),
            "unknown product {}",
            i.product
        );
        prop_assert!(i.raw.chars().count() <= MAX_RAW_CHARS, "raw {:?}", i.raw);
        prop_assert!(printable(&i.raw), "raw {:?}", i.raw);
        prop_assert!(!i.version.is_empty() && i.version.len() <= MAX_VERSION_CHARS);
        prop_assert!(
            i.version.starts_with(|c: char| c.is_ascii_digit())
                && i.version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.'),
            "version {:?}",
            i.version
        );
        if let Some(d) = &i.distro {
            prop_assert!(
                d.chars().count() <= MAX_RAW_CHARS && printable(d),
                "distro {d:?}"
            );
        }
    }
    Ok(())
}

/// Every version was in the input as it is: identification reads, it never makes one up.
fn check_not_invented(
    found: &[Identified],
    headers: &Headers,
    body: &[u8],
    banner: &[u8],
) -> Result<(), TestCaseError> {
    let mut seen = String::new();
    for (_, v) in headers {
        seen.push_str(&String::from_utf8_lossy(v));
        seen.push('\n');
    }
    seen.push_str(&String::from_utf8_lossy(body));
    seen.push_str(&String::from_utf8_lossy(banner));
    for i in found {
        prop_assert!(
            seen.contains(&i.version),
            "{:?} is not in the input",
            i.version
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_observations_give_bounded_printable_results((headers, body, banner) in inputs()) {
        let found = run(&headers, &body, &banner);
        check_bounded(&found)?;
        check_not_invented(&found, &headers, &body, &banner)?;
    }

    #[test]
    fn bytes_past_the_bounds_change_nothing(
        (headers, body, banner) in inputs(),
        tail in prop_oneof![spliced(256), select(SAMPLES).prop_map(|s| format!(" \n{s}").into_bytes())],
        extra_headers in proptest::collection::vec((header_name(), observed(64)), 0..4),
    ) {
        // Each input cut at its bound, then the same with bytes past every bound and headers
        // past the header bounds: the same results.
        // Each input filled with spaces to exactly its bound, then the same with bytes past
        // every bound and headers past the header bound: the same results.
        let fill = |v: &[u8], max: usize| {
            let mut v = v[..v.len().min(max)].to_vec();
            v.resize(max, b' ');
            v
        };
        let longer = |v: &[u8]| [v, tail.as_slice()].concat();
        let mut base: Headers =
            headers.iter().map(|(n, v)| (n.clone(), fill(v, MAX_HEADER_BYTES))).collect();
        base.resize(MAX_HEADERS.max(base.len()), ("x-filler".to_string(), Vec::new()));
        let mut more: Headers = base.iter().map(|(n, v)| (n.clone(), longer(v))).collect();
        more.extend(extra_headers);
        let (body, banner) = (fill(&body, MAX_BODY_BYTES), fill(&banner, MAX_BANNER_BYTES));
        let a = run(&base, &body, &banner);
        let b = run(&more, &longer(&body), &longer(&banner));
        prop_assert_eq!(a, b);
    }
}

/// A little deterministic generator: a megabyte of random bytes needs no proptest shrinking.
struct XorShift(u64);

impl XorShift {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

/// `piece` repeated to `len` bytes.
fn repeated(piece: &str, len: usize) -> Vec<u8> {
    piece.as_bytes().iter().copied().cycle().take(len).collect()
}

/// The size of what identify returned, in bytes.
fn output_size(found: &[Identified]) -> usize {
    found
        .iter()
        .map(|i| i.version.len() + i.raw.len() + i.distro.as_ref().map_or(0, String::len))
        .sum()
}

/// A megabyte of random input, and a megabyte of the tokens every fingerprint looks for, in
/// 16 headers (and 984 more past the bound) and in the body and banner: results within the bounds, the same as for the
/// inputs cut at their bounds (so the work is that of the bounded prefix), and an output no
/// bigger than its fixed bound (16 results of at most 32 + 2 × 120 four-byte characters).
#[test]
fn a_megabyte_of_input_is_read_only_to_its_bounds() {
    const MIB: usize = 1 << 20;
    let output_bound = MAX_IDENTIFIED * (MAX_VERSION_CHARS + 2 * 4 * MAX_RAW_CHARS);
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    let inputs: Vec<Vec<u8>> = vec![
        random.bytes(MIB),
        repeated(
            "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f PHP/7.4.3 nginx/1.",
            MIB,
        ),
        repeated("<meta name=\"generator\" content=\"WordPress 6.4.2\">", MIB),
        repeated(
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n220 (vsFTPd 3.0.3)\r\n",
            MIB,
        ),
        repeated("redis_version:7.0.15\r\n", MIB),
        repeated("(((((((((((", MIB),
        repeated("{\"a\":[", MIB),
        repeated("nginx/1.1.1.1.1.1.1.1.1.1.1.1", MIB),
    ];
    for big in &inputs {
        // The first headers are the input; those past the bound name a product of their own.
        let found = identify(
            (0..1_000).map(|i| {
                if i < MAX_HEADER_VALUES {
                    ("Server", big.as_slice())
                } else {
                    ("Server", &b"nginx/9.9.9"[..])
                }
            }),
            big,
            big,
        );
        assert!(found.len() <= MAX_IDENTIFIED);
        assert!(
            output_size(&found) <= output_bound,
            "{}",
            output_size(&found)
        );
        let cut = identify(
            (0..MAX_HEADER_VALUES).map(|_| ("Server", &big[..MAX_HEADER_BYTES])),
            &big[..MAX_BODY_BYTES],
            &big[..MAX_BANNER_BYTES],
        );
        assert_eq!(found, cut);
    }
}

/// Real observations through the public interface: several products in one `Server` header
/// keep the header's distribution; a garbled token gives nothing.
#[test]
fn real_observations_through_the_public_interface() {
    let found = identify(
        [
            (
                "Server",
                &b"Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f PHP/7.4.3"[..],
            ),
            ("X-Powered-By", &b"PHP/7.x"[..]),
        ],
        b"",
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
    );
    let short: Vec<_> = found
        .iter()
        .map(|i| (i.product, i.version.as_str(), i.distro.as_deref()))
        .collect();
    assert_eq!(
        short,
        vec![
            ("apache-http-server", "2.4.41", Some("Ubuntu")),
            ("openssl", "1.1.1f", Some("Ubuntu")),
            ("php", "7.4.3", Some("Ubuntu")),
            ("openssh", "9.2", Some("Debian-2+deb12u3")),
        ]
    );
}
