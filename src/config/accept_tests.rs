//! The rules of `accept:` and `maintenance:` entries (SPEC §3b), compiled from YAML at a fixed
//! clock: what is an error, what is a warning, and where each is located; and when
//! maintenance windows are open, overlapping ones and crons with seconds included.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, NaiveDate};
use serde_saphyr::Spanned;

use super::accept::compile_windows;
use super::{
    Acceptance, Target, Until, Window, compile_acceptances, maintenance_until, raw, selects_nothing,
};
use crate::diag::{At, Diagnostic, Diagnostics, Pos, Warning};

fn at(text: &str) -> SystemTime {
    DateTime::parse_from_rfc3339(text).unwrap().into()
}

/// The clock of these tests: 2026-12-07, a Monday, at noon UTC.
fn now() -> SystemTime {
    at("2026-12-07T12:00:00Z")
}

const FILE: &str = "accept.yaml";

/// What compiling a YAML list of `accept:` entries at [`now`] gives.
struct Compiled {
    acceptances: Vec<Arc<Acceptance>>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Warning>,
}

fn accept(yaml: &str) -> Compiled {
    let raw: Vec<Spanned<raw::Accept>> = crate::yaml::parse_yaml(Path::new(FILE), yaml).unwrap();
    let mut diags = Diagnostics::default();
    let mut warnings = Vec::new();
    let acceptances = compile_acceptances(Path::new(FILE), &raw, now(), &mut diags, &mut warnings);
    Compiled {
        acceptances,
        errors: diags.sorted(),
        warnings,
    }
}

/// One entry that compiles, with no warning.
fn one(yaml: &str) -> Arc<Acceptance> {
    let c = accept(yaml);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.acceptances.len(), 1);
    c.acceptances.into_iter().next().unwrap()
}

/// The errors of `yaml` as `line:column: message`.
fn errors(yaml: &str) -> Vec<String> {
    let c = accept(yaml);
    assert!(c.acceptances.is_empty(), "an entry with an error compiled");
    c.errors
        .iter()
        .map(|d| {
            assert_eq!(d.path, Path::new(FILE));
            assert!(d.hint.is_some(), "no hint: {d}");
            format!("{}:{}: {}", d.pos.line, d.pos.column, d.message)
        })
        .collect()
}

fn target(name: &str, tags: &[&str]) -> Target {
    let mut t = Target::new(
        name.into(),
        url::Url::parse("http://127.0.0.1:8080").unwrap(),
        super::Source::Static,
    );
    t.tags = tags.iter().map(|t| (*t).to_string()).collect();
    t
}

#[test]
fn an_entry_selects_by_probe_glob_and_target_glob_or_tags() {
    let by_name =
        one("- probe: tls/*\n  target: legacy-*\n  until: 2027-03-31\n  reason: \" SEC-1 \"\n");
    // `*` matches across `/`, as in `--probe`.
    assert!(by_name.selects("tls/weak-ciphers", &target("legacy-billing", &[])));
    assert!(!by_name.selects("headers/csp", &target("legacy-billing", &[])));
    assert!(!by_name.selects("tls/weak-ciphers", &target("billing", &["legacy"])));
    assert_eq!(by_name.reason, "SEC-1");
    assert_eq!(by_name.pos, Pos { line: 1, column: 3 });
    assert_eq!(
        by_name.until,
        Until::Day(NaiveDate::from_ymd_opt(2027, 3, 31).unwrap())
    );

    let by_tags =
        one("- probe: headers/csp\n  tags: [legacy, old]\n  until: 2027-03-31\n  reason: SEC-1\n");
    assert!(by_tags.selects("headers/csp", &target("billing", &["old"])));
    assert!(!by_tags.selects("headers/csp", &target("legacy", &["new"])));
}

#[test]
fn until_is_required_a_date_or_instant_and_at_most_400_days_ahead() {
    assert_eq!(
        errors("- probe: a\n  target: b\n  reason: r\n"),
        ["1:3: an acceptance has no `until`"]
    );
    assert_eq!(
        errors("- probe: a\n  target: b\n  until: 31/03/2027\n  reason: r\n"),
        ["3:10: `until: 31/03/2027` is not a date"]
    );
    assert_eq!(
        errors("- probe: a\n  target: b\n  until: 2027-02-30\n  reason: r\n"),
        ["3:10: `until: 2027-02-30` is not a date"]
    );
    // 2026-12-07 + 400 days is 2028-01-11: the last day that may be written.
    one("- probe: a\n  target: b\n  until: 2028-01-11\n  reason: r\n");
    assert_eq!(
        errors("- probe: a\n  target: b\n  until: 2028-01-12\n  reason: r\n"),
        ["3:10: `until: 2028-01-12` is more than 400 days ahead"]
    );
    one("- probe: a\n  target: b\n  until: 2028-01-11T12:00:00Z\n  reason: r\n");
    assert_eq!(
        errors("- probe: a\n  target: b\n  until: 2028-01-11T12:00:01Z\n  reason: r\n"),
        ["3:10: `until: 2028-01-11T12:00:01Z` is more than 400 days ahead"]
    );
}

#[test]
fn a_past_until_loads_as_ended_with_a_warning_validate_refuses() {
    let c = accept("- probe: a\n  target: b\n  until: 2026-12-06\n  reason: r\n");
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.acceptances.len(), 1);
    assert!(!c.acceptances[0].holds(now()));
    assert_eq!(c.warnings.len(), 1);
    let w = &c.warnings[0];
    assert!(w.refused_by_validate);
    assert_eq!(
        w.to_string(),
        "accept.yaml:3:10: warning: `until: 2026-12-06` has passed: the acceptance no longer \
         holds\n  hint: fix what it accepted and remove the entry, or renew it with a new date \
         and reason"
    );

    // Today is accepted through its last second; an instant is passed at that instant.
    let today = one("- probe: a\n  target: b\n  until: 2026-12-07\n  reason: r\n");
    assert!(today.holds(at("2026-12-07T23:59:59Z")));
    assert!(!today.holds(at("2026-12-08T00:00:00Z")));
    let c = accept("- probe: a\n  target: b\n  until: 2026-12-07T12:00:00Z\n  reason: r\n");
    assert!(c.errors.is_empty() && c.warnings.len() == 1 && c.warnings[0].refused_by_validate);
}

#[test]
fn reason_is_required_and_not_blank() {
    assert_eq!(
        errors("- probe: a\n  target: b\n  until: 2027-01-01\n"),
        ["1:3: an acceptance has no `reason`"]
    );
    assert_eq!(
        errors("- probe: a\n  target: b\n  until: 2027-01-01\n  reason: \"  \"\n"),
        ["4:11: an acceptance's `reason` is empty"]
    );
}

#[test]
fn targets_are_named_by_target_or_tags_never_both_or_neither() {
    assert_eq!(
        errors("- probe: a\n  target: b\n  tags: [x]\n  until: 2027-01-01\n  reason: r\n"),
        ["3:9: an acceptance selects targets by `target` or by `tags`, not both"]
    );
    assert_eq!(
        errors("- probe: a\n  until: 2027-01-01\n  reason: r\n"),
        ["1:3: an acceptance names no targets"]
    );
    assert_eq!(
        errors("- probe: a\n  tags: []\n  until: 2027-01-01\n  reason: r\n"),
        ["2:9: `tags` is empty"]
    );
}

#[test]
fn globs_must_compile_and_not_be_empty() {
    assert_eq!(
        errors("- probe: \"tls/[a\"\n  target: \"b{\"\n  until: 2027-01-01\n  reason: r\n"),
        [
            "1:10: invalid glob `tls/[a` in `probe`: unclosed character class; missing ']'",
            "2:11: invalid glob `b{` in `target`: unclosed alternate group; missing '}' (maybe \
             escape '{' with '[{]'?)",
        ]
    );
    assert_eq!(
        errors("- probe: \"\"\n  target: b\n  until: 2027-01-01\n  reason: r\n"),
        ["1:10: `probe` is empty"]
    );
}

#[test]
fn every_problem_of_every_entry_is_reported() {
    let c = accept(
        "- probe: a\n  target: b\n  tags: [c]\n  until: 2099-01-01\n\
         - probe: a\n  target: b\n  until: 2027-01-01\n  reason: r\n\
         - probe: a\n",
    );
    let found: Vec<String> = c
        .errors
        .iter()
        .map(|d| format!("{}:{} {}", d.pos.line, d.pos.column, d.message))
        .collect();
    assert_eq!(
        found,
        [
            "1:3 an acceptance has no `reason`",
            "3:9 an acceptance selects targets by `target` or by `tags`, not both",
            "4:10 `until: 2099-01-01` is more than 400 days ahead",
            "9:3 an acceptance names no targets",
            "9:3 an acceptance has no `until`",
            "9:3 an acceptance has no `reason`",
        ]
    );
    // The valid one in the middle still compiles.
    assert_eq!(c.acceptances.len(), 1);
    assert_eq!(c.acceptances[0].pos, Pos { line: 5, column: 3 });
}

/// What compiling a YAML list of `maintenance:` windows gives: the windows and the errors as
/// `line:column: message`.
fn windows(yaml: &str) -> (Vec<Arc<Window>>, Vec<String>) {
    let raw: Vec<Spanned<raw::Maintenance>> =
        crate::yaml::parse_yaml(Path::new(FILE), yaml).unwrap();
    let mut diags = Diagnostics::default();
    let out = compile_windows(
        &mut At {
            file: Path::new(FILE),
            diags: &mut diags,
        },
        &raw,
    );
    let errors = diags
        .sorted()
        .iter()
        .map(|d| {
            assert!(d.hint.is_some(), "no hint: {d}");
            format!("{}:{}: {}", d.pos.line, d.pos.column, d.message)
        })
        .collect();
    (out, errors)
}

fn window(targets: &str, cron: &str, duration: &str) -> Arc<Window> {
    let (out, errors) = windows(&format!(
        "- targets: {targets}\n  cron: \"{cron}\"\n  duration: {duration}\n"
    ));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(out.len(), 1);
    out.into_iter().next().unwrap()
}

#[test]
fn a_window_selects_by_tags_or_name_globs() {
    let w = window("{ names: [payments-*, checkout] }", "0 2 * * 0", "2h");
    assert!(w.targets.selects(&target("payments-api", &[])));
    assert!(w.targets.selects(&target("checkout", &[])));
    assert!(!w.targets.selects(&target("checkout-2", &["payments"])));
    let w = window("{ tags: [payments] }", "0 2 * * 0", "2h");
    assert!(w.targets.selects(&target("checkout-2", &["payments"])));
    assert_eq!(w.pos, Pos { line: 1, column: 3 });
}

#[test]
fn window_mistakes_are_located_errors() {
    let (out, errors) = windows(
        "- targets: {}\n  cron: \"0 2 * * 0\"\n  duration: 2h\n\
         - targets: { tags: [a], names: [b] }\n  cron: \"0 2 * * 0\"\n  duration: 2h\n\
         - targets: { tags: [a] }\n  cron: \"0 2 * *\"\n  duration: 2h\n\
         - targets: { tags: [a] }\n  cron: \"0 2 * * 0\"\n  duration: 8d\n\
         - targets: { names: [\"b[\"] }\n  cron: \"0 2 * * 0\"\n  duration: 7d\n",
    );
    assert!(out.is_empty(), "a window with an error compiled");
    let messages: Vec<&str> = errors.iter().map(String::as_str).collect();
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert_eq!(messages[0], "1:12: a maintenance window selects no targets");
    assert_eq!(
        messages[1],
        "4:12: a maintenance window selects targets by `tags` or by `names`, not both"
    );
    assert!(
        messages[2].starts_with("8:9: invalid cron expression `0 2 * *`"),
        "{}",
        messages[2]
    );
    assert_eq!(
        messages[3],
        "12:13: `duration: 8d` is out of range: it must be from 1s to 7d"
    );
    assert!(
        messages[4].starts_with("13:22: invalid glob `b[` in `names`"),
        "{}",
        messages[4]
    );
    // Seven days is the longest window.
    window("{ tags: [a] }", "0 2 * * 0", "7d");
}

#[test]
fn overlapping_windows_keep_the_targets_out_until_the_last_one_closes() {
    // Sundays 02:00–04:00 and 03:00–06:00; 2026-12-06 is a Sunday.
    let early = window("{ tags: [a] }", "0 2 * * 0", "2h");
    let late = window("{ tags: [a] }", "0 3 * * 0", "3h");
    let both = [early.clone(), late.clone()];
    assert_eq!(maintenance_until(&both, at("2026-12-06T01:59:59Z")), None);
    assert_eq!(
        maintenance_until(&both, at("2026-12-06T02:30:00Z")),
        Some(at("2026-12-06T04:00:00Z"))
    );
    assert_eq!(late.open_until(at("2026-12-06T02:30:00Z")), None);
    // Both open: the later end wins, whichever order they are written in.
    assert_eq!(
        maintenance_until(&both, at("2026-12-06T03:30:00Z")),
        Some(at("2026-12-06T06:00:00Z"))
    );
    assert_eq!(
        maintenance_until(&[late, early.clone()], at("2026-12-06T03:30:00Z")),
        Some(at("2026-12-06T06:00:00Z"))
    );
    assert_eq!(
        maintenance_until(&both, at("2026-12-06T05:59:59Z")),
        Some(at("2026-12-06T06:00:00Z"))
    );
    assert_eq!(maintenance_until(&both, at("2026-12-06T06:00:00Z")), None);
    // A week later, the same.
    assert_eq!(
        early.open_until(at("2026-12-13T02:00:00Z")),
        Some(at("2026-12-13T04:00:00Z"))
    );
    assert_eq!(maintenance_until(&[], now()), None);
}

#[test]
fn a_window_longer_than_its_period_is_open_until_its_latest_start_ends() {
    // Hourly for 90 minutes: open all the time, each start pushing the end on.
    let w = window("{ tags: [a] }", "0 * * * *", "90m");
    assert_eq!(
        w.open_until(at("2026-12-07T10:20:00Z")),
        Some(at("2026-12-07T11:30:00Z"))
    );
    assert_eq!(
        w.open_until(at("2026-12-07T11:00:00Z")),
        Some(at("2026-12-07T12:30:00Z"))
    );
}

#[test]
fn a_six_field_cron_starts_windows_at_its_seconds() {
    // Sundays at 02:00:30, for one minute.
    let w = window("{ tags: [a] }", "30 0 2 * * 0", "1m");
    assert_eq!(w.open_until(at("2026-12-06T02:00:29Z")), None);
    assert_eq!(
        w.open_until(at("2026-12-06T02:00:30Z")),
        Some(at("2026-12-06T02:01:30Z"))
    );
    assert_eq!(
        w.open_until(at("2026-12-06T02:01:29Z")),
        Some(at("2026-12-06T02:01:30Z"))
    );
    assert_eq!(w.open_until(at("2026-12-06T02:01:30Z")), None);
    // Every 20 seconds, for 10.
    let w = window("{ tags: [a] }", "*/20 * * * * *", "10s");
    assert_eq!(
        w.open_until(at("2026-12-07T12:00:25Z")),
        Some(at("2026-12-07T12:00:30Z"))
    );
    assert_eq!(w.open_until(at("2026-12-07T12:00:35Z")), None);
    assert_eq!(
        w.open_until(at("2026-12-07T12:00:40Z")),
        Some(at("2026-12-07T12:00:50Z"))
    );
    // A five-field cron starts at second 0.
    let w = window("{ tags: [a] }", "0 2 * * 0", "1m");
    assert_eq!(
        w.open_until(at("2026-12-06T02:00:00Z")),
        Some(at("2026-12-06T02:01:00Z"))
    );
}

#[test]
fn what_selects_nothing_is_a_plain_warning_at_the_entry() {
    let c = accept(
        "- probe: team/cps\n  target: web\n  until: 2027-01-01\n  reason: r\n\
         - probe: team/*\n  tags: [retired]\n  until: 2027-01-01\n  reason: r\n\
         - probe: team/*\n  target: w*\n  until: 2027-01-01\n  reason: r\n",
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let w = window("{ names: [checkout] }", "0 2 * * 0", "2h");
    let used = window("{ tags: [live] }", "0 2 * * 0", "2h");
    let targets = [target("web", &["live"])];
    let warnings = selects_nothing(
        &c.acceptances,
        &[w, used],
        &targets,
        ["team/csp", "other/x"].into_iter(),
    );
    let shown: Vec<String> = warnings
        .iter()
        .map(|w| {
            assert!(!w.refused_by_validate);
            format!(
                "{}:{}: {}",
                w.diag.pos.line, w.diag.pos.column, w.diag.message
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            "1:3: acceptance of probe `team/cps` matches no probe",
            "5:3: acceptance of probe `team/*` selects no target (tags [retired])",
            "1:3: maintenance window selects no target (target checkout)",
        ]
    );
}

/// The config's JSON Schema (what the loader checks shapes against, and where its `did you
/// mean` hints come from) knows the three keys and every field of their entries, and refuses
/// any other.
#[test]
fn the_config_schema_describes_accept_accept_from_and_maintenance() {
    let schema = super::config_schema();
    let properties = &schema["properties"];
    for key in ["accept", "accept_from", "maintenance"] {
        assert!(
            properties[key]["description"].is_string(),
            "`{key}` is not described: {}",
            properties[key]
        );
        assert_eq!(properties[key]["type"], "array", "{key}");
    }
    let keys = |def: &str| -> Vec<String> {
        let def = &schema["$defs"][def];
        assert_eq!(def["additionalProperties"], false, "{def}");
        let mut keys: Vec<String> = def["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties: {def}"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys("Accept"),
        ["probe", "reason", "tags", "target", "until"]
    );
    assert_eq!(keys("Maintenance"), ["cron", "duration", "targets"]);
    assert_eq!(keys("WindowTargets"), ["names", "tags"]);
    assert_eq!(
        schema["$defs"]["Accept"]["required"],
        serde_json::json!(["probe"])
    );
}
