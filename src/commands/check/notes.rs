//! What `picket check` says on stderr after its report: each target none of whose series
//! could be evaluated (unreachable, with its most frequent error), and one hint for
//! certificates from a CA picket does not trust; and a note when the release data of
//! `software` checks is stale.

use crate::report::Report;

/// What `check` says on stderr after its report: the unreachable targets, and one hint for
/// certificates from a CA picket does not trust.
pub(super) struct GateNotes {
    /// How many targets were unreachable.
    pub(super) unreachable: usize,
    /// The lines to print (each ending in a newline).
    pub(super) text: String,
}

/// Errors that mean the target's certificate chains to no CA picket trusts.
fn untrusted_issuer(error: &str) -> bool {
    error.starts_with("tls:") && error.contains("UnknownIssuer")
}

/// A target none of whose series could be evaluated (at least one ended in `error`, none in
/// `pass` or `fail`) is unreachable: one line says so with the error of its runs, summarized
/// (the most frequent one, and how many others there were). A certificate that no trusted CA
/// issued gets one hint, whichever targets and however many series it concerns.
pub(super) fn gate_notes(report: &Report, adhoc: bool, allow_unreachable: bool) -> GateNotes {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    #[derive(Default)]
    struct Tally<'a> {
        evaluated: usize,
        errors: BTreeMap<&'a str, usize>,
    }
    let mut targets: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    for r in &report.results {
        let tally = targets.entry(&r.target).or_default();
        match (r.outcome, &r.error) {
            ("error", Some(e)) => *tally.errors.entry(e.as_str()).or_default() += 1,
            ("error", None) => *tally.errors.entry("error").or_default() += 1,
            ("skip", _) => {}
            _ => tally.evaluated += 1,
        }
    }
    let mut text = String::new();
    let mut unreachable = 0;
    let mut untrusted: Vec<&str> = Vec::new();
    let mut down_for_other_reasons = false;
    for (target, tally) in &targets {
        if tally.errors.keys().any(|e| untrusted_issuer(e)) {
            untrusted.push(target);
        }
        if tally.evaluated > 0 || tally.errors.is_empty() {
            continue;
        }
        unreachable += 1;
        let total: usize = tally.errors.values().sum();
        // The most frequent error; of equals, the first in order.
        let Some((common, n)) = tally
            .errors
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            continue;
        };
        let _ = write!(
            text,
            "{}: target `{target}` is unreachable: none of its {total} series could be evaluated: {common}",
            if allow_unreachable {
                "warning"
            } else {
                "error"
            }
        );
        if *n < total {
            let _ = write!(text, " ({n} of {total}; {} other error(s))", total - n);
        }
        text.push('\n');
        down_for_other_reasons |= !tally.errors.keys().all(|e| untrusted_issuer(e));
    }
    // Once, however many targets it concerns.
    if down_for_other_reasons && !allow_unreachable {
        let _ = writeln!(
            text,
            "  hint: check the URL and that the service is up and reachable from here; --allow-unreachable lets an unreachable target pass"
        );
    }
    if !untrusted.is_empty() {
        let names: Vec<String> = untrusted.iter().take(5).map(|t| format!("`{t}`")).collect();
        let more = untrusted.len().saturating_sub(names.len());
        let _ = writeln!(
            text,
            "hint: the certificate of {}{} is not issued by a CA picket trusts (an internal CA?); {}",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            if adhoc {
                "give the CA's certificate (PEM) with `--ca-file PATH`"
            } else {
                "give the CA's certificate (PEM) as `tls: { ca_file: PATH }` on the target in the config"
            }
        );
    }
    GateNotes { unreachable, text }
}

/// A note when the release data `software` checks judge versions against is older than 180
/// days on `today`: its date, and how to refresh it.
pub(super) fn software_data_note(
    table: &crate::software::data::Table,
    today: chrono::NaiveDate,
) -> Option<String> {
    let note = table.stale_note(today)?;
    Some(format!(
        "note: {note}\n  hint: {}\n",
        crate::software::data::REFRESH_HINT
    ))
}
