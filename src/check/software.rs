//! `software` checks (http and tcp probes): the products a service volunteers, placed in the
//! release data, judged against end of life or a team's floor. Pure: the products come from
//! [`crate::software::identify`], the data and today's date from the caller.
//!
//! A product or version the data cannot place is never a finding, and a cycle with no
//! end-of-life date passes. A version carrying a distribution's mark (`OpenSSH_9.2p1
//! Debian-2+deb12u3`) is judged by its upstream version unless the check says `distro: skip`;
//! its finding says the package may carry backported fixes.

use std::cmp::Ordering;
use std::time::Duration;

use chrono::NaiveDate;

use crate::outcome::Finding;
use crate::software::data::{Placement, Table};
use crate::software::identify::{Identified, Seen};

/// What a `software` check asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// No identified product is past its end of life.
    Supported,
    /// Nor ends within this long.
    SupportedFor(Duration),
    /// No identified product is below the team's floor for it (product id, version).
    NotBelow(Vec<(String, String)>),
}

/// A `software` check: the rule and what it does with distribution-marked versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareCheck {
    /// The rule.
    pub rule: Rule,
    /// `distro: skip`: versions with a distribution's mark are not judged (a distribution
    /// may backport fixes into an old upstream version).
    pub skip_distro: bool,
}

impl SoftwareCheck {
    /// The check in words, as a claim (`software is supported for at least 90 days`) or,
    /// `negated`, its opposite.
    pub fn sentence(&self, negated: bool) -> String {
        let (holds, fails) = match &self.rule {
            Rule::Supported => (
                "no identified software is past its end of life".to_string(),
                "identified software is past its end of life".to_string(),
            ),
            Rule::SupportedFor(d) => {
                let days = d.as_secs() / 86_400;
                (
                    format!("no identified software ends its life within {days} days"),
                    format!("identified software ends its life within {days} days"),
                )
            }
            Rule::NotBelow(floors) => {
                let list = floors
                    .iter()
                    .map(|(p, v)| format!("{p} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!("identified software is at least {list}"),
                    format!("identified software is below {list}"),
                )
            }
        };
        if negated { fails } else { holds }
    }

    /// The check in the probe format's terms.
    pub fn describe(&self) -> String {
        let rule = match &self.rule {
            Rule::Supported => "supported".to_string(),
            Rule::SupportedFor(d) => format!("supported for at least {}d", d.as_secs() / 86_400),
            Rule::NotBelow(floors) => format!(
                "not below {}",
                floors
                    .iter()
                    .map(|(p, v)| format!("{p} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        if self.skip_distro {
            format!("software {rule} (distribution packages skipped)")
        } else {
            format!("software {rule}")
        }
    }
}

/// Today in UTC, the day end-of-life dates are compared with.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Where a product was seen, for people: `Server header`, `X-AspNet-Version header`,
/// `generator meta tag`, `status JSON`, `banner`, `page`.
pub fn seen_where(seen: Seen) -> String {
    match seen {
        Seen::Header(name) => format!("{} header", header_case(name)),
        Seen::MetaGenerator => "generator meta tag".into(),
        Seen::Json => "status JSON".into(),
        Seen::Banner => "banner".into(),
        Seen::Body => "page".into(),
    }
}

/// A header name as it is usually written (`x-aspnet-version` → `X-AspNet-Version`).
fn header_case(name: &str) -> String {
    const WRITTEN: [&str; 7] = [
        "Server",
        "X-Powered-By",
        "Via",
        "X-AspNet-Version",
        "X-AspNetMvc-Version",
        "X-Generator",
        "X-Jenkins",
    ];
    if let Some(written) = WRITTEN.iter().find(|w| w.eq_ignore_ascii_case(name)) {
        return (*written).to_string();
    }
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `nginx 1.18.0 (Server header)`, with the distribution's mark when there is one.
fn named(id: &Identified, label: &str) -> String {
    match &id.distro {
        Some(distro) => format!(
            "{label} {} ({}, {distro} package)",
            id.version,
            seen_where(id.seen)
        ),
        None => format!("{label} {} ({})", id.version, seen_where(id.seen)),
    }
}

/// The note a finding on a distribution's package carries.
const BACKPORT_NOTE: &str = "a distribution's package may carry backported fixes although its \
     upstream version is old: check the distribution's security tracker, or judge upstream \
     versions only with `distro: skip`";

/// Compares dotted versions by their numeric components (`1.9` < `1.18`; `9.2p1` reads as
/// `9.2`); `None` when either has no leading number.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let parts = |v: &str| -> Option<Vec<u64>> {
        let mut out = Vec::new();
        for piece in v.split('.') {
            let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                break;
            }
            out.push(digits.parse().ok()?);
            if digits.len() < piece.len() {
                break;
            }
        }
        (!out.is_empty()).then_some(out)
    };
    let (a, b) = (parts(a)?, parts(b)?);
    let len = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    Some(
        (0..len)
            .map(|i| at(&a, i).cmp(&at(&b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
    )
}

/// Whether `version` is below `floor`. A version that names fewer parts than the floor and
/// agrees with it so far (`4` from `X-AspNet-Version`, `2.4` from `ServerTokens Minor`,
/// against `4.8` or `2.4.58`) cannot be placed on either side: never below.
fn below(version: &str, floor: &str) -> bool {
    let parts = |v: &str| v.split('.').filter(|p| !p.is_empty()).count();
    if compare_versions(version, floor) != Some(Ordering::Less) {
        return false;
    }
    let (seen, wanted) = (parts(version), parts(floor));
    if seen < wanted {
        let prefix: Vec<&str> = floor.split('.').take(seen).collect();
        if compare_versions(version, &prefix.join(".")) == Some(Ordering::Equal) {
            return false;
        }
    }
    true
}

/// Adds the findings of one graded `software` check to those of the checks before it, keeping
/// one finding per release: a release past its end of life fails both `supported` and
/// `supported_for_at_least`, and says the same thing twice; the graver finding stays.
pub fn merge_findings(into: &mut Vec<Finding>, new: Vec<Finding>) {
    for f in new {
        match into.iter_mut().find(|old| old.observed == f.observed) {
            Some(old) if old.severity < f.severity => *old = f,
            Some(_) => {}
            None => into.push(f),
        }
    }
}

/// The check's findings for these products, on `today`.
pub fn evaluate(
    check: &SoftwareCheck,
    found: &[Identified],
    table: &Table,
    today: NaiveDate,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for id in found {
        if check.skip_distro && id.distro.is_some() {
            continue;
        }
        let label = table
            .product(id.product)
            .map_or(id.product, |p| p.label.as_str());
        let finding = match &check.rule {
            Rule::NotBelow(floors) => floors
                .iter()
                .find(|(product, _)| product == id.product)
                .filter(|(_, floor)| below(&id.version, floor))
                .map(|(_, floor)| Finding {
                    check: format!("{label} is at least {floor}"),
                    expected: format!("{label} {floor} or newer"),
                    observed: named(id, label),
                    detail: None,
                    severity: None,
                }),
            Rule::Supported | Rule::SupportedFor(_) => {
                let Placement::Cycle(_, cycle) = table.place(id.product, &id.version) else {
                    continue;
                };
                let window = match &check.rule {
                    Rule::SupportedFor(d) => *d,
                    _ => Duration::ZERO,
                };
                let days = i64::try_from(window.as_secs() / 86_400).unwrap_or(i64::MAX);
                let ended = match cycle.eol {
                    Some(eol) => eol <= today,
                    None => cycle.is_eol,
                };
                let ends_soon = cycle
                    .eol
                    .is_some_and(|eol| eol > today && (eol - today).num_days() < days);
                let observed = match cycle.eol {
                    Some(eol) if ended => format!(
                        "{}: release {} reached end of life on {eol}",
                        named(id, label),
                        cycle.name
                    ),
                    None if ended => format!(
                        "{}: release {} has reached end of life",
                        named(id, label),
                        cycle.name
                    ),
                    Some(eol) => format!(
                        "{}: release {} reaches end of life on {eol}, in {} days",
                        named(id, label),
                        cycle.name,
                        (eol - today).num_days()
                    ),
                    None => continue,
                };
                (ended || ends_soon).then(|| Finding {
                    check: if days > 0 {
                        format!("{label} is supported for at least {days} days")
                    } else {
                        format!("{label} is a supported release")
                    },
                    expected: if days > 0 {
                        format!("a release of {label} supported for at least {days} more days")
                    } else {
                        format!("a release of {label} that still gets fixes")
                    },
                    observed,
                    detail: None,
                    severity: None,
                })
            }
        };
        if let Some(mut finding) = finding {
            if id.distro.is_some() {
                finding.detail = Some(BACKPORT_NOTE.into());
            }
            findings.push(finding);
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::software::data::{Cycle, Origin, Product};

    fn table() -> Table {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        let cycle = |name: &str, eol| Cycle {
            name: name.into(),
            release: None,
            eol,
            is_eol: false,
            latest: None,
        };
        let mut products = std::collections::BTreeMap::new();
        products.insert(
            "nginx".to_string(),
            Product {
                id: "nginx".into(),
                label: "nginx".into(),
                aliases: vec![],
                cycles: vec![
                    cycle("1.28", date(2026, 4, 1)),
                    cycle("1.29", None),
                    cycle("1.26", date(2025, 4, 23)),
                    cycle("1.18", date(2021, 4, 20)),
                ],
            },
        );
        Table {
            generated: NaiveDate::default(),
            origin: Origin::BuiltIn,
            products,
        }
    }

    fn nginx(version: &str, distro: Option<&str>) -> Identified {
        Identified {
            product: "nginx",
            version: version.into(),
            raw: format!("nginx/{version}"),
            distro: distro.map(String::from),
            seen: Seen::Header("server"),
        }
    }

    fn check(rule: Rule) -> SoftwareCheck {
        SoftwareCheck {
            rule,
            skip_distro: false,
        }
    }

    #[test]
    fn past_and_near_end_of_life_and_floors() {
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let t = table();
        let f = evaluate(&check(Rule::Supported), &[nginx("1.18.0", None)], &t, today);
        assert_eq!(
            f[0].observed,
            "nginx 1.18.0 (Server header): release 1.18 reached end of life on 2021-04-20"
        );
        assert_eq!(f[0].check, "nginx is a supported release");
        assert!(evaluate(&check(Rule::Supported), &[nginx("1.28.0", None)], &t, today).is_empty());
        let soon = Rule::SupportedFor(Duration::from_secs(90 * 86_400));
        let f = evaluate(&check(soon.clone()), &[nginx("1.28.0", None)], &t, today);
        assert_eq!(
            f[0].observed,
            "nginx 1.28.0 (Server header): release 1.28 reaches end of life on 2026-04-01, in 59 days"
        );
        // No end-of-life date: passes; unknown cycle or product: never a finding.
        assert!(evaluate(&check(soon.clone()), &[nginx("1.29.1", None)], &t, today).is_empty());
        assert!(evaluate(&check(soon), &[nginx("0.9.7", None)], &t, today).is_empty());
        let floor = Rule::NotBelow(vec![("nginx".into(), "1.26".into())]);
        let f = evaluate(&check(floor.clone()), &[nginx("1.9.15", None)], &t, today);
        assert_eq!(f[0].check, "nginx is at least 1.26");
        assert!(evaluate(&check(floor), &[nginx("1.26.0", None)], &t, today).is_empty());
    }

    #[test]
    fn distribution_packages_are_judged_by_upstream_or_skipped() {
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let debian = [nginx("1.18.0", Some("Debian"))];
        let f = evaluate(&check(Rule::Supported), &debian, &table(), today);
        assert!(
            f[0].observed.contains("Debian package"),
            "{}",
            f[0].observed
        );
        assert!(f[0].detail.as_deref().unwrap().contains("backported"));
        let skip = SoftwareCheck {
            rule: Rule::Supported,
            skip_distro: true,
        };
        assert!(evaluate(&skip, &debian, &table(), today).is_empty());
    }

    #[test]
    fn a_release_past_its_end_of_life_is_one_finding_at_the_graver_severity() {
        use crate::units::Severity;
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let old = [nginx("1.18.0", None)];
        let mut all = Vec::new();
        for (rule, severity) in [
            (Rule::Supported, Severity::High),
            (
                Rule::SupportedFor(Duration::from_secs(90 * 86_400)),
                Severity::Medium,
            ),
        ] {
            let mut found = evaluate(&check(rule), &old, &table(), today);
            for f in &mut found {
                f.severity = Some(severity);
            }
            merge_findings(&mut all, found);
        }
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].severity, Some(Severity::High));
    }

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(compare_versions("1.9", "1.18"), Some(Ordering::Less));
        assert_eq!(compare_versions("9.2p1", "9.2"), Some(Ordering::Equal));
        assert_eq!(compare_versions("2.4.62", "2.4"), Some(Ordering::Greater));
        assert_eq!(compare_versions("x", "1"), None);
        assert!(below("1.9.15", "1.26"));
        assert!(
            !below("4", "4.8"),
            "a major alone is not below a minor floor"
        );
        assert!(!below("2.4", "2.4.58"));
        assert!(below("2.2", "2.4.58"));
    }
}
