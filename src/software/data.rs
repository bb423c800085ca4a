//! Release data: per product, its release cycles with release date, end-of-life date and
//! latest version (endoflife.date's meaning of those fields), and the date it was compiled.
//!
//! SKELETON (the interface the rest of picket uses); the full built-in table, the
//! `software.data` loader (endoflife.date API v1 `/products/full` shape) and their tests are
//! being written.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;

/// Where a table came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built into the binary.
    BuiltIn,
    /// `software.data` (its path), merged over the built-in table.
    File(std::path::PathBuf),
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

/// A product and its cycles, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// endoflife.date's id (`nginx`).
    pub id: String,
    /// Its name for people (`nginx`).
    pub label: String,
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
    /// The product with this id.
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.get(id)
    }

    /// The cycle a version belongs to: the cycle whose name is the longest prefix of the
    /// version at a dot boundary (`1.18.0` → `1.18`; `8.0.36` → `8.0`; `7.4` → `7`).
    pub fn place(&self, product: &str, version: &str) -> Placement<'_> {
        let Some(p) = self.products.get(product) else {
            return Placement::UnknownProduct;
        };
        if !version.starts_with(|c: char| c.is_ascii_digit()) {
            return Placement::UnparsableVersion;
        }
        p.cycles
            .iter()
            .filter(|c| {
                version == c.name
                    || version
                        .strip_prefix(c.name.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .max_by_key(|c| c.name.len())
            .map_or(Placement::UnknownCycle, |c| Placement::Cycle(p, c))
    }
}

/// The table built into the binary.
pub fn builtin() -> &'static Arc<Table> {
    static TABLE: OnceLock<Arc<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        let cycle = |name: &str, eol: Option<NaiveDate>, latest: &str| Cycle {
            name: name.into(),
            release: None,
            eol,
            is_eol: false,
            latest: Some(latest.into()),
        };
        let mut products = BTreeMap::new();
        products.insert(
            "nginx".to_string(),
            Product {
                id: "nginx".into(),
                label: "nginx".into(),
                cycles: vec![
                    cycle("1.26", date(2025, 4, 23), "1.26.3"),
                    cycle("1.18", date(2021, 4, 20), "1.18.0"),
                ],
            },
        );
        Arc::new(Table {
            generated: date(2026, 12, 1).unwrap_or_default(),
            origin: Origin::BuiltIn,
            products,
        })
    })
}
