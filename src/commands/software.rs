//! `picket software`: the release data `software` checks judge versions against, one line a
//! release cycle (product, cycle, released, end of life, latest version, status today), with
//! the data's date and where it came from.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use super::{EXIT_CONFIG, EXIT_OK};
use crate::config::EnvLookup;
use crate::software::data::{self, Table};
use crate::term::escape_controls;

/// `picket software [-c config] [PRODUCT…]`: the built-in table, or with `-c` the table the
/// config's `software.data` makes; only the named products when some are given.
pub fn software(
    config: Option<&Path>,
    products: &[String],
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let table = match config {
        None => std::sync::Arc::clone(data::builtin()),
        Some(path) => match crate::load::load(path, env) {
            Ok(loaded) => loaded.config.software,
            Err(diags) => {
                super::say_diagnostics(err, &diags);
                return EXIT_CONFIG;
            }
        },
    };
    let mut ids = Vec::new();
    for name in products {
        match table.product(name) {
            Some(p) => ids.push(p.id.as_str()),
            None => {
                let known: Vec<&str> = table.ids().collect();
                let hint = match crate::diag::did_you_mean(name, &known) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "products are named by their endoflife.date ids; `picket software` lists them".to_string(),
                };
                let _ = writeln!(
                    err,
                    "error: no product `{}` in the release data\n  hint: {hint}",
                    escape_controls(name)
                );
                return EXIT_CONFIG;
            }
        }
    }
    let today = data::today();
    let text = render(&table, &ids, today);
    let _ = out.write_all(escape_controls(&text).as_bytes());
    if let Some(note) = table.stale_note(today) {
        let _ = writeln!(
            err,
            "note: {}\n  hint: {}",
            escape_controls(&note),
            data::REFRESH_HINT
        );
    }
    EXIT_OK
}

/// The table as text: a heading line with its date and origin, then one line a cycle, of
/// the products `only` names (all when empty), by product id then newest cycle first.
pub fn render(table: &Table, only: &[&str], today: chrono::NaiveDate) -> String {
    let products: Vec<_> = table
        .products
        .values()
        .filter(|p| only.is_empty() || only.contains(&p.id.as_str()))
        .collect();
    let cycles: usize = products.iter().map(|p| p.cycles.len()).sum();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "release data of {} ({}): {} products, {cycles} cycles; status as of {today}",
        table.generated,
        table.origin,
        products.len(),
    );
    let rows: Vec<[String; 6]> = products
        .iter()
        .flat_map(|p| {
            p.cycles.iter().map(|c| {
                let date =
                    |d: Option<chrono::NaiveDate>| d.map_or("-".to_string(), |d| d.to_string());
                let eol = match (c.eol, c.is_eol) {
                    (Some(d), _) => d.to_string(),
                    (None, true) => "yes (no date)".to_string(),
                    (None, false) => "-".to_string(),
                };
                [
                    p.id.clone(),
                    c.name.clone(),
                    date(c.release),
                    eol,
                    c.latest.clone().unwrap_or_else(|| "-".to_string()),
                    c.status(today).as_str().to_string(),
                ]
            })
        })
        .collect();
    let head = [
        "PRODUCT",
        "CYCLE",
        "RELEASED",
        "END OF LIFE",
        "LATEST",
        "STATUS",
    ];
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(head.map(String::from)).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}
