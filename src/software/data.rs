//! Release data: per product, its release cycles with release date, end-of-life date and
//! latest version (endoflife.date's meaning of those fields), and the date it was compiled.
//!
//! The built-in table is `releases.json` beside this file, compiled by the project from
//! endoflife.date's product pages (facts only) and written in the shape of endoflife.date's
//! API v1 `/products/full` response, the same shape `software.data` files have
//! ([`parse_v1`]): one reader for both, and a user refreshes the data with one download.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::diag::{Diagnostic, Pos};

/// Data older than this many days is stale: a WARN at `picket run` start, a note in `check`.
pub const STALE_AFTER_DAYS: i64 = 180;

/// A cycle whose end of life is at most this many days away "ends soon" in `picket software`.
pub const ENDS_SOON_DAYS: i64 = 90;

/// Where fresh data comes from: endoflife.date's API v1, all products with their releases.
pub const REFRESH_URL: &str = "https://endoflife.date/api/v1/products/full";

/// How to refresh the data, for warnings and notes.
pub const REFRESH_HINT: &str = "download fresh data with `curl -fsSL https://endoflife.date/api/v1/products/full > eol.json` and set `software: { data: eol.json }` in the config";

/// Largest `software.data` file read. endoflife.date's whole `/products/full` response is a
/// few MiB, over the 4 MiB cap of config files; anything much bigger is not that response.
pub const MAX_DATA_BYTES: u64 = 32 << 20;

/// The built-in data, as compiled (`generated_at`).
const BUILTIN_JSON: &str = include_str!("releases.json");

/// The name the built-in data's errors are reported under (only a broken build has any).
const BUILTIN_PATH: &str = "<built-in release data>";

/// Where a table came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built into the binary.
    BuiltIn,
    /// `software.data` (its path), merged over the built-in table.
    File(std::path::PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built in"),
            Origin::File(path) => write!(f, "{} over the built-in data", path.display()),
        }
    }
}

/// One release cycle of a product (`1.18` of nginx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The cycle's name as endoflife.date writes it (`1.18`, `8.0`, `7`).
    pub name: String,
    /// When the cycle was first released.
    pub release: Option<NaiveDate>,
    /// When it reaches (reached) end of life; `None` when no date is known.
    pub eol: Option<NaiveDate>,
    /// Whether it is end of life regardless of a date (endoflife.date's `isEol` with no
    /// `eolFrom`).
    pub is_eol: bool,
    /// The latest version of the cycle.
    pub latest: Option<String>,
}

/// Where a cycle stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its end of life has come (on or before the day), or it is end of life with no date.
    PastEol,
    /// Its end of life is at most [`ENDS_SOON_DAYS`] away.
    EndsSoon,
    /// Supported: its end of life is further away, or not announced.
    Supported,
}

impl Status {
    /// How `picket software` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PastEol => "past end of life",
            Status::EndsSoon => "ends within 90 days",
            Status::Supported => "supported",
        }
    }
}

impl Cycle {
    /// Days from `today` until its end of life (negative when past); `None` without a date.
    pub fn days_left(&self, today: NaiveDate) -> Option<i64> {
        self.eol.map(|eol| (eol - today).num_days())
    }

    /// Whether it is past end of life on `today`: its date has come, or it has no date and
    /// is end of life all the same.
    pub fn past_eol(&self, today: NaiveDate) -> bool {
        match self.eol {
            Some(eol) => eol <= today,
            None => self.is_eol,
        }
    }

    /// Where it stands on `today`.
    pub fn status(&self, today: NaiveDate) -> Status {
        if self.past_eol(today) {
            Status::PastEol
        } else if self.days_left(today).is_some_and(|d| d <= ENDS_SOON_DAYS) {
            Status::EndsSoon
        } else {
            Status::Supported
        }
    }
}

/// A product and its cycles, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// endoflife.date's id (`nginx`).
    pub id: String,
    /// Its name for people (`nginx`).
    pub label: String,
    /// Other ids endoflife.date accepts for it (`varnish` for `vinyl-cache`, `httpd` for
    /// `apache-http-server`).
    pub aliases: Vec<String>,
    /// Its cycles.
    pub cycles: Vec<Cycle>,
}

/// A table of products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// When the data was compiled (`generated_at`).
    pub generated: NaiveDate,
    /// Where it came from.
    pub origin: Origin,
    /// Products by id.
    pub products: BTreeMap<String, Product>,
}

/// Where a version falls in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement<'a> {
    /// In this cycle of this product.
    Cycle(&'a Product, &'a Cycle),
    /// The table has no such product.
    UnknownProduct,
    /// The version does not read as one (no leading number).
    UnparsableVersion,
    /// The product is known, but no cycle of it matches the version.
    UnknownCycle,
}

impl Table {
    /// The product with this id, or with this alias (`varnish` → `vinyl-cache`).
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.get(id).or_else(|| {
            self.products
                .values()
                .find(|p| p.aliases.iter().any(|a| a == id))
        })
    }

    /// The product ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.products.keys().map(String::as_str)
    }

    /// The cycle a version belongs to: the cycle whose name is the longest prefix of the
    /// version at a boundary, where the version ends or goes on with something other than a
    /// digit (`1.18.0` → `1.18`; `8.0.36` → `8.0`; `7.4` → `7`; OpenSSL's `1.1.1w` →
    /// `1.1.1`; but `1.180` is not in `1.18`).
    pub fn place(&self, product: &str, version: &str) -> Placement<'_> {
        let Some(p) = self.product(product) else {
            return Placement::UnknownProduct;
        };
        if !version.starts_with(|c: char| c.is_ascii_digit()) {
            return Placement::UnparsableVersion;
        }
        p.cycles
            .iter()
            .filter(|c| {
                version.strip_prefix(c.name.as_str()).is_some_and(|rest| {
                    !c.name.is_empty() && !rest.starts_with(|ch: char| ch.is_ascii_digit())
                })
            })
            .max_by_key(|c| c.name.len())
            .map_or(Placement::UnknownCycle, |c| Placement::Cycle(p, c))
    }

    /// This table with `over`'s products in place of its own of the same id (and beside
    /// them, those it lacks). The date and origin are `over`'s: what was loaded last.
    pub fn merged(mut self, over: Table) -> Table {
        for (id, product) in over.products {
            self.products.insert(id, product);
        }
        Table {
            generated: over.generated,
            origin: over.origin,
            products: self.products,
        }
    }

    /// How many days old the data is on `today`.
    pub fn age_days(&self, today: NaiveDate) -> i64 {
        (today - self.generated).num_days()
    }

    /// Whether the data is older than [`STALE_AFTER_DAYS`] on `today`.
    pub fn is_stale(&self, today: NaiveDate) -> bool {
        self.age_days(today) > STALE_AFTER_DAYS
    }

    /// A sentence for people when the data is stale on `today`: its date, its age and how
    /// to refresh it; `None` when it is fresh.
    pub fn stale_note(&self, today: NaiveDate) -> Option<String> {
        if !self.is_stale(today) {
            return None;
        }
        let whose = match &self.origin {
            Origin::BuiltIn => "the built-in release data".to_string(),
            Origin::File(path) => format!("the release data in {}", path.display()),
        };
        Some(format!(
            "{whose} is from {} ({} days old, over {STALE_AFTER_DAYS}): end-of-life verdicts of `software` checks may miss newer releases and recent ends of life",
            self.generated,
            self.age_days(today)
        ))
    }
}

/// Today's date (UTC), for staleness and statuses.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The table built into the binary.
pub fn builtin() -> &'static Arc<Table> {
    static TABLE: OnceLock<Arc<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // A test parses the same text and fails on any error; an empty table here would
        // only mean that no version is ever placed (never a finding).
        let table = parse_v1(Path::new(BUILTIN_PATH), BUILTIN_JSON).unwrap_or_else(|_| Table {
            generated: NaiveDate::MIN,
            origin: Origin::BuiltIn,
            products: BTreeMap::new(),
        });
        Arc::new(Table {
            origin: Origin::BuiltIn,
            ..table
        })
    })
}

/// The shape of `/products/full` that picket reads; every other field is ignored.
#[derive(Deserialize)]
struct V1File {
    generated_at: V1Date,
    result: Vec<V1Product>,
}

#[derive(Deserialize)]
struct V1Product {
    name: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    releases: Vec<V1Release>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Release {
    name: String,
    #[serde(default)]
    release_date: Option<V1Date>,
    is_eol: bool,
    #[serde(default)]
    eol_from: Option<V1Date>,
    #[serde(default)]
    latest: Option<V1Latest>,
}

#[derive(Deserialize)]
struct V1Latest {
    name: String,
}

/// A date: `2026-12-07`, or a date and time (`2026-12-07T10:00:00+01:00`), of which the
/// date as written counts.
struct V1Date(NaiveDate);

impl<'de> Deserialize<'de> for V1Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .ok()
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(&text)
                    .ok()
                    .map(|t| t.date_naive())
            });
        date.map(V1Date).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "invalid date `{}`, expected YYYY-MM-DD",
                crate::term::escape_controls(&text.chars().take(40).collect::<String>())
            ))
        })
    }
}

/// What a `software.data` file looks like, for hints.
const SHAPE_HINT: &str = "software.data takes endoflife.date's API v1 `/products/full` response: {\"generated_at\": DATE, \"result\": [{\"name\": ID, \"releases\": [{\"name\": CYCLE, \"releaseDate\": DATE, \"isEol\": BOOL, \"eolFrom\": DATE|null, \"latest\": {\"name\": VERSION}|null}]}]}";

/// Parses a table in endoflife.date's API v1 `/products/full` shape. `path` is what errors
/// name; the table's origin is [`Origin::File`] of it.
pub fn parse_v1(path: &Path, text: &str) -> Result<Table, Diagnostic> {
    let raw: V1File = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let mut products = BTreeMap::new();
    for p in raw.result {
        if p.name.trim().is_empty() {
            return Err(
                Diagnostic::new(path, Pos::FILE, "a product has an empty name")
                    .with_hint("each product's `name` is its endoflife.date id, e.g. `nginx`"),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cycles = Vec::with_capacity(p.releases.len());
        for r in p.releases {
            if r.name.is_empty() || !seen.insert(r.name.clone()) {
                return Err(Diagnostic::new(
                    path,
                    Pos::FILE,
                    format!(
                        "product `{}` has {} release",
                        crate::term::escape_controls(&p.name),
                        if r.name.is_empty() {
                            "an unnamed".to_string()
                        } else {
                            format!("a second `{}`", crate::term::escape_controls(&r.name))
                        }
                    ),
                )
                .with_hint("each release of a product has its own, non-empty `name`"));
            }
            cycles.push(Cycle {
                name: r.name,
                release: r.release_date.map(|d| d.0),
                eol: r.eol_from.map(|d| d.0),
                is_eol: r.is_eol,
                latest: r.latest.map(|l| l.name),
            });
        }
        let product = Product {
            label: p.label.unwrap_or_else(|| p.name.clone()),
            id: p.name.clone(),
            aliases: p.aliases,
            cycles,
        };
        if products.insert(p.name.clone(), product).is_some() {
            return Err(Diagnostic::new(
                path,
                Pos::FILE,
                format!(
                    "product `{}` appears twice",
                    crate::term::escape_controls(&p.name)
                ),
            )
            .with_hint("each product of `result` has its own `name`"));
        }
    }
    Ok(Table {
        generated: raw.generated_at.0,
        origin: Origin::File(path.to_path_buf()),
        products,
    })
}

/// A serde_json error as a located diagnostic: its message without serde_json's own
/// ` at line L column C`, which the position says.
fn json_error(path: &Path, e: &serde_json::Error) -> Diagnostic {
    let full = e.to_string();
    let message = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i]);
    let pos = if e.line() == 0 {
        Pos::START
    } else {
        Pos {
            line: e.line() as u64,
            column: e.column().max(1) as u64,
        }
    };
    let hint = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("the file is not complete JSON; {REFRESH_HINT}")
        }
        _ => SHAPE_HINT.to_string(),
    };
    Diagnostic::new(path, pos, crate::term::escape_controls(message)).with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cycle(name: &str, eol: Option<NaiveDate>, is_eol: bool) -> Cycle {
        Cycle {
            name: name.into(),
            release: None,
            eol,
            is_eol,
            latest: None,
        }
    }

    fn table(cycles: &[(&str, &[&str])]) -> Table {
        let products = cycles
            .iter()
            .map(|(id, names)| {
                (
                    id.to_string(),
                    Product {
                        id: id.to_string(),
                        label: id.to_string(),
                        aliases: vec![format!("{id}-alias")],
                        cycles: names.iter().map(|n| cycle(n, None, false)).collect(),
                    },
                )
            })
            .collect();
        Table {
            generated: date(2026, 12, 7),
            origin: Origin::BuiltIn,
            products,
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn placed<'a>(t: &'a Table, product: &str, version: &str) -> Option<&'a str> {
        match t.place(product, version) {
            Placement::Cycle(_, c) => Some(c.name.as_str()),
            _ => None,
        }
    }

    #[test]
    fn place_takes_the_longest_prefix_at_a_boundary() {
        let t = table(&[
            ("nginx", &["1.1", "1.18", "1.180"]),
            ("mysql", &["8", "8.0", "8.4"]),
            ("mariadb", &["10.1", "10.11", "11.4"]),
            ("openssl", &["1.1.1", "1.1.0", "3.0"]),
            ("postgresql", &["9.6", "16"]),
        ]);
        assert_eq!(placed(&t, "nginx", "1.18.0"), Some("1.18"));
        assert_eq!(placed(&t, "nginx", "1.18"), Some("1.18"));
        assert_eq!(placed(&t, "nginx", "1.180.2"), Some("1.180"));
        assert_eq!(placed(&t, "nginx", "1.1.9"), Some("1.1"));
        assert_eq!(placed(&t, "mysql", "8.0.36"), Some("8.0"));
        assert_eq!(placed(&t, "mysql", "8.1.0"), Some("8"));
        assert_eq!(placed(&t, "mariadb", "10.11.6"), Some("10.11"));
        assert_eq!(placed(&t, "mariadb", "10.1.48"), Some("10.1"));
        // OpenSSL's letter releases, and a distribution's suffix.
        assert_eq!(placed(&t, "openssl", "1.1.1w"), Some("1.1.1"));
        assert_eq!(placed(&t, "openssl", "3.0.2-0ubuntu1"), Some("3.0"));
        assert_eq!(placed(&t, "postgresql", "16.4"), Some("16"));
        assert_eq!(placed(&t, "postgresql", "9.6.24"), Some("9.6"));
        // An alias names the same product.
        assert_eq!(placed(&t, "nginx-alias", "1.18.0"), Some("1.18"));
    }

    #[test]
    fn place_says_why_it_cannot() {
        let t = table(&[("nginx", &["1.18", "1.26"])]);
        assert_eq!(t.place("nginx", "1.19.0"), Placement::UnknownCycle);
        assert_eq!(t.place("nginx", "1.2"), Placement::UnknownCycle);
        assert_eq!(t.place("nginx", "2"), Placement::UnknownCycle);
        assert_eq!(t.place("nginx", "v1.18"), Placement::UnparsableVersion);
        assert_eq!(t.place("nginx", ""), Placement::UnparsableVersion);
        assert_eq!(t.place("lighttpd", "1.4.69"), Placement::UnknownProduct);
    }

    #[test]
    fn statuses_on_a_day() {
        let today = date(2026, 12, 7);
        assert_eq!(
            cycle("a", Some(date(2026, 12, 7)), false).status(today),
            Status::PastEol
        );
        assert_eq!(
            cycle("a", Some(date(2027, 3, 7)), false).status(today),
            Status::EndsSoon
        );
        assert_eq!(
            cycle("a", Some(date(2027, 3, 8)), false).status(today),
            Status::Supported
        );
        assert_eq!(cycle("a", None, false).status(today), Status::Supported);
        assert_eq!(cycle("a", None, true).status(today), Status::PastEol);
        // A date wins over a stale `isEol`.
        assert_eq!(
            cycle("a", Some(date(2030, 1, 1)), true).status(today),
            Status::Supported
        );
        assert_eq!(
            cycle("a", Some(date(2026, 12, 1)), false).days_left(today),
            Some(-6)
        );
    }

    #[test]
    fn stale_after_180_days() {
        let t = table(&[]);
        assert!(!t.is_stale(date(2027, 6, 5)));
        assert!(t.is_stale(date(2027, 6, 6)));
        assert!(t.stale_note(date(2027, 6, 5)).is_none());
        let note = t.stale_note(date(2027, 6, 6)).unwrap();
        assert!(note.contains("2026-12-07"), "{note}");
        assert!(note.contains("181 days old"), "{note}");
    }

    const SMALL: &str = r#"{"schema_version": "1.2.1", "generated_at": "2026-01-02T03:04:05+01:00",
 "total": 1, "result": [{"name": "nginx", "label": "nginx", "category": "server-app",
  "aliases": [], "extra": {"anything": [1, 2]},
  "releases": [
   {"name": "1.30", "codename": null, "releaseDate": "2026-04-14", "isLts": false,
    "isEol": false, "eolFrom": null, "latest": {"name": "1.30.4", "date": "2026-07-15", "link": null}},
   {"name": "1.18", "releaseDate": "2020-04-21", "isEol": true, "eolFrom": "2021-04-20", "latest": null}
  ]}]}"#;

    #[test]
    fn parses_the_v1_shape_and_ignores_other_fields() {
        let t = parse_v1(Path::new("eol.json"), SMALL).unwrap();
        assert_eq!(t.generated, date(2026, 1, 2));
        assert_eq!(t.origin, Origin::File(PathBuf::from("eol.json")));
        let p = t.product("nginx").unwrap();
        assert_eq!(p.cycles.len(), 2);
        assert_eq!(p.cycles[0].latest.as_deref(), Some("1.30.4"));
        assert_eq!(p.cycles[0].eol, None);
        assert_eq!(p.cycles[1].eol, Some(date(2021, 4, 20)));
        assert_eq!(p.cycles[1].release, Some(date(2020, 4, 21)));
        assert!(p.cycles[1].is_eol);
        assert_eq!(t.ids().collect::<Vec<_>>(), ["nginx"]);
    }

    #[test]
    fn malformed_files_are_located() {
        let path = Path::new("eol.json");
        let bad_date = SMALL.replace("2021-04-20", "2021-13-40");
        let e = parse_v1(path, &bad_date).unwrap_err();
        assert_eq!(e.pos.line, 7, "{e}");
        assert!(e.message.contains("invalid date `2021-13-40`"), "{e}");
        assert!(e.hint.is_some());

        let wrong_type = SMALL.replace("\"isEol\": false", "\"isEol\": \"no\"");
        let e = parse_v1(path, &wrong_type).unwrap_err();
        assert_eq!(e.pos.line, 6, "{e}");
        assert!(e.message.starts_with("invalid type"), "{e}");
        assert!(!e.message.contains(" at line "), "{e}");

        let missing = SMALL.replace("\"isEol\": true, ", "");
        let e = parse_v1(path, &missing).unwrap_err();
        assert!(e.message.contains("missing field `isEol`"), "{e}");
        assert_eq!(e.pos.line, 7, "{e}");

        let e = parse_v1(path, &SMALL[..200]).unwrap_err();
        assert!(e.message.contains("EOF"), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("curl"), "{e}");

        let e = parse_v1(path, "{\"generated_at\": \"2026-01-01\"}").unwrap_err();
        assert!(e.message.contains("missing field `result`"), "{e}");
    }

    #[test]
    fn merged_replaces_products_of_the_same_id() {
        let base = table(&[("nginx", &["1.18"]), ("php", &["8.2"])]);
        let over = parse_v1(Path::new("eol.json"), SMALL).unwrap();
        let m = base.merged(over);
        assert_eq!(m.generated, date(2026, 1, 2));
        assert_eq!(m.origin, Origin::File(PathBuf::from("eol.json")));
        let names: Vec<_> = m.products["nginx"].cycles.iter().map(|c| &c.name).collect();
        assert_eq!(names, ["1.30", "1.18"]);
        assert!(m.product("php").is_some());
    }
}
