//! Checks of `tcp` probes and their pure evaluation, one port at a time.

use regex::Regex;

use super::Graded;
use crate::outcome::Finding;

/// One tcp check.
#[derive(Debug, Clone)]
pub enum TcpCheck {
    /// Whether the port must accept a connection (`false`: segmentation).
    Reachable(bool),
    /// An assertion on the first bytes the service sent (after `send:`, if any).
    Banner(BannerTest),
    /// The software the banner names is supported, or not below a floor.
    Software(super::software::SoftwareCheck),
}

/// What a banner check asserts.
#[derive(Debug, Clone)]
pub enum BannerTest {
    /// The banner contains this text.
    Contains(String),
    /// The banner matches this regex.
    Matches(Regex),
    /// The banner matches this regex nowhere.
    NotMatches(Regex),
}

/// What one connection attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connect {
    /// The port accepted; these are the first bytes it sent (at most a few KiB).
    Open {
        /// The banner, possibly empty.
        banner: Vec<u8>,
    },
    /// The host answered with a reset: nothing listens there.
    Refused,
    /// No answer within the time allowed (a firewall dropping packets).
    Filtered,
}

impl Connect {
    fn said(&self) -> &'static str {
        match self {
            Connect::Open { .. } => "connection accepted",
            Connect::Refused => "connection refused",
            Connect::Filtered => "no answer (filtered)",
        }
    }
}

/// The products a banner names.
pub fn identify_banner(found: &Connect) -> Vec<crate::software::identify::Identified> {
    match found {
        Connect::Open { banner } => {
            crate::software::identify::identify(std::iter::empty(), &[], banner)
        }
        _ => Vec::new(),
    }
}

/// Evaluates every check against one port's connection, `software` checks by the release
/// data `software`. Returns the failed ones.
pub fn evaluate(
    checks: &[Graded<TcpCheck>],
    port: u16,
    found: &Connect,
    software: &crate::software::data::Table,
) -> Vec<Finding> {
    let banner = match found {
        Connect::Open { banner } => String::from_utf8_lossy(banner).into_owned(),
        _ => String::new(),
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut identified = None;
    for graded in checks {
        let finding = match &graded.check {
            TcpCheck::Software(check) => {
                let found = identified.get_or_insert_with(|| identify_banner(found));
                let mut own =
                    super::software::evaluate(check, found, software, super::software::today());
                for f in &mut own {
                    f.check = format!("port {port}: {}", f.check);
                }
                graded.stamp(&mut own);
                super::software::merge_findings(&mut findings, own);
                continue;
            }
            TcpCheck::Reachable(want) => {
                let open = matches!(found, Connect::Open { .. });
                (open != *want).then(|| Finding {
                    check: if *want {
                        format!("port {port} accepts connections")
                    } else {
                        format!("port {port} is not reachable")
                    },
                    expected: if *want {
                        "the port accepts a connection".into()
                    } else {
                        "the port is not reachable from here".into()
                    },
                    observed: found.said().into(),
                    detail: None,
                    severity: None,
                })
            }
            TcpCheck::Banner(test) => {
                // A sentence, the pattern in backticks; the technical form goes to the detail.
                let failed = match test {
                    BannerTest::Contains(text) => (!banner.contains(text.as_str())).then(|| {
                        (
                            format!("contains {text:?}"),
                            format!("a banner containing {text:?}"),
                            None,
                        )
                    }),
                    BannerTest::Matches(re) => (!re.is_match(&banner)).then(|| {
                        (
                            format!("matches `{re}`"),
                            format!("a banner matching `{re}`"),
                            Some(format!("port {port} banner matches /{re}/")),
                        )
                    }),
                    BannerTest::NotMatches(re) => re.find(&banner).map(|_| {
                        (
                            format!("does not match `{re}`"),
                            format!("a banner not matching `{re}`"),
                            Some(format!("port {port} banner not matches /{re}/")),
                        )
                    }),
                };
                failed.map(|(claim, expected, detail)| Finding {
                    check: format!("the banner on port {port} {claim}"),
                    expected,
                    observed: match found {
                        Connect::Open { .. } if banner.is_empty() => "no banner".into(),
                        Connect::Open { .. } => format!("banner {banner:?}"),
                        other => other.said().into(),
                    },
                    detail,
                    severity: None,
                })
            }
        };
        if let Some(mut finding) = finding {
            graded.stamp(std::slice::from_mut(&mut finding));
            findings.push(finding);
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluate(checks: &[TcpCheck], port: u16, found: &Connect) -> Vec<Finding> {
        let graded: Vec<Graded<TcpCheck>> = checks.iter().cloned().map(Graded::from).collect();
        super::evaluate(&graded, port, found, crate::software::data::builtin())
    }

    #[test]
    fn reachable_and_banner_checks() {
        let closed = [TcpCheck::Reachable(false)];
        assert!(evaluate(&closed, 6379, &Connect::Refused).is_empty());
        assert!(evaluate(&closed, 6379, &Connect::Filtered).is_empty());
        let f = evaluate(&closed, 6379, &Connect::Open { banner: vec![] });
        assert_eq!(f[0].observed, "connection accepted");
        let old = [TcpCheck::Banner(BannerTest::NotMatches(
            Regex::new(r"^SSH-2\.0-OpenSSH_[0-7]\.").unwrap(),
        ))];
        let ssh7 = Connect::Open {
            banner: b"SSH-2.0-OpenSSH_7.4\r\n".to_vec(),
        };
        assert_eq!(evaluate(&old, 22, &ssh7).len(), 1);
        let ssh9 = Connect::Open {
            banner: b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
        };
        assert!(evaluate(&old, 22, &ssh9).is_empty());
    }
}
