//! `picket validate` on bad input.
//!
//! * Golden files: each folder under `tests/golden/validate/` is one kind of mistake, holding
//!   the input files (`picket.yaml`, `probes/…`) and `expected.err`, the exact stderr. The test
//!   copies the folder to a temporary directory, runs `picket validate -c picket.yaml` there
//!   and compares. `UPDATE_GOLDEN=1 cargo test --test it validate` rewrites the `expected.err`
//!   files; read every changed one before committing it. A case that only warns holds an
//!   `expected.code` file with its exit code (`0`; 2 when there is none): its stderr is
//!   `path:line:column: warning: …` lines and its stdout the `ok: …, N warning(s)` line.
//!   Inputs may say `{{IN_30_DAYS}}` where a date must stay in the future (an acceptance's
//!   `until`): the copy gets the day 30 days from now, and that day in stderr is written back
//!   as the placeholder, so `expected.err` never holds a date that will pass.
//! * Every error of a run is reported at once, across files.
//! * Hostile YAML (alias bombs, deep nesting, huge, empty, binary or random files) is refused
//!   with a positioned error and exit code 2, quickly, and never panics.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{picket, repo_root, texts, workspace, workspace_bytes};

/// An environment variable the `missing-env-var` case refers to; removed from the child's
/// environment so the case cannot pass or fail by accident of the caller's shell.
const UNSET_VAR: &str = "PICKET_GOLDEN_UNSET_TOKEN";

/// How long one `picket validate` may take, even on hostile input in a debug build on a busy
/// machine. A parser that expanded an alias bomb or recursed without bound would take far
/// longer (or crash), so this is a real limit, not a formality.
pub(crate) const TIME_LIMIT: Duration = Duration::from_secs(10);

fn golden_root() -> PathBuf {
    repo_root().join("tests/golden/validate")
}

/// Runs `picket validate -c picket.yaml` in `dir`, killing it if it exceeds [`TIME_LIMIT`].
fn validate_in(dir: &Path) -> Output {
    let mut cmd = picket(dir);
    cmd.args(["validate", "-c", "picket.yaml"])
        .env_remove(UNSET_VAR);
    output_within(cmd, TIME_LIMIT)
}

/// Like [`Command::output`], but fails the test if the process outlives `limit`.
pub(crate) fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes while waiting, so a chatty child cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            pipe.read_to_end(&mut buf).unwrap();
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("picket validate did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The start of `text`, for assertion messages about outputs that might be huge.
pub(crate) fn head(text: &str) -> &str {
    match text.char_indices().nth(2000) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// One `path:line:column: message` line.
#[derive(Debug, PartialEq)]
pub(crate) struct ErrorLine<'a> {
    pub path: &'a str,
    pub line: u64,
    pub column: u64,
    pub message: &'a str,
}

fn parse_error_line(text: &str) -> Option<ErrorLine<'_>> {
    let mut parts = text.splitn(4, ':');
    let path = parts.next().filter(|p| !p.is_empty())?;
    let line = parts.next()?.parse().ok().filter(|l| *l >= 1)?;
    let column = parts.next()?.parse().ok().filter(|c| *c >= 1)?;
    let message = parts
        .next()?
        .strip_prefix(' ')
        .filter(|m| !m.trim().is_empty())?;
    Some(ErrorLine {
        path,
        line,
        column,
        message,
    })
}

/// Checks the shape of `validate`'s stderr: error lines `path:line:column: message`, each
/// optionally followed by one `  hint: …` line, then a count line (`1 error`, `3 errors`)
/// that agrees with them. Returns the error lines.
pub(crate) fn error_lines(stderr: &str) -> Vec<ErrorLine<'_>> {
    let body = stderr
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("stderr does not end with a newline:\n{}", head(stderr)));
    let mut lines: Vec<&str> = body.lines().collect();
    let count = lines.pop().unwrap_or_else(|| panic!("stderr is empty"));
    let mut errors = Vec::new();
    let mut previous_was_error = false;
    for line in lines {
        if let Some(hint) = line.strip_prefix("  hint: ") {
            assert!(
                previous_was_error && !hint.trim().is_empty(),
                "a hint must follow an error line and say something: {line:?}\n{}",
                head(stderr)
            );
            previous_was_error = false;
        } else {
            let error = parse_error_line(line).unwrap_or_else(|| {
                panic!(
                    "not a `path:line:column: message` line: {line:?}\n{}",
                    head(stderr)
                )
            });
            errors.push(error);
            previous_was_error = true;
        }
    }
    let n = errors.len();
    assert!(n > 0, "no error lines before the count:\n{}", head(stderr));
    let expected_count = format!("{n} error{}", if n == 1 { "" } else { "s" });
    assert_eq!(
        count,
        expected_count,
        "count line disagrees:\n{}",
        head(stderr)
    );
    errors
}

/// Exit code 2, no panic, well-formed errors. Returns stderr.
pub(crate) fn assert_rejected(out: &Output) -> String {
    let (stdout, stderr) = texts(out);
    assert!(
        !stderr.contains("panicked"),
        "picket panicked:\n{}",
        head(&stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        head(&stdout),
        head(&stderr)
    );
    assert!(
        stdout.is_empty(),
        "validate printed to stdout on failure:\n{}",
        head(&stdout)
    );
    error_lines(&stderr);
    stderr
}

// ---------------------------------------------------------------------------------------------
// Golden files
// ---------------------------------------------------------------------------------------------

/// The files of a case folder that are expectations, not inputs.
const EXPECTATIONS: [&str; 2] = ["expected.err", "expected.code"];

/// What the placeholders of a case's inputs stand for in this run: (placeholder, text).
fn placeholders() -> Vec<(&'static str, String)> {
    let in_30_days = chrono::Utc::now().date_naive() + chrono::Days::new(30);
    vec![("{{IN_30_DAYS}}", in_30_days.format("%Y-%m-%d").to_string())]
}

/// Copies the case's input files (everything but the expectations) into `to`, with the
/// placeholders of text files replaced.
fn copy_inputs(from: &Path, to: &Path, placeholders: &[(&str, String)]) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_inputs(&entry.path(), &target, placeholders);
        } else if !EXPECTATIONS.iter().any(|e| entry.file_name() == *e) {
            let bytes = std::fs::read(entry.path()).unwrap();
            match String::from_utf8(bytes) {
                Ok(mut text) => {
                    for (placeholder, value) in placeholders {
                        text = text.replace(placeholder, value);
                    }
                    std::fs::write(target, text).unwrap();
                }
                Err(e) => std::fs::write(target, e.into_bytes()).unwrap(),
            }
        }
    }
}

/// The located lines of a golden case's stderr, checked for shape: `path:line:column:
/// message` lines, each optionally followed by one `  hint: …` line; warnings (`…: warning:
/// …`) first, then the errors and a count line that agrees with them, or, when `code` is 0,
/// warnings only and no count line.
fn golden_lines(stderr: &str, code: i32) -> Vec<ErrorLine<'_>> {
    if code != 0 {
        // The errors and their count, after the warnings.
        let errors = error_lines(
            &stderr
                .lines()
                .skip_while(|l| {
                    parse_error_line(l).is_some_and(|e| e.message.starts_with("warning: "))
                        || l.starts_with("  hint: ")
                })
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        )
        .len();
        assert!(errors > 0, "no errors:\n{stderr}");
    }
    let mut lines: Vec<&str> = stderr.lines().collect();
    if code != 0 {
        lines.pop();
    }
    let located: Vec<ErrorLine<'_>> = lines
        .into_iter()
        .filter(|l| !l.starts_with("  hint: "))
        .map(|l| {
            parse_error_line(l).unwrap_or_else(|| {
                panic!("not a `path:line:column: message` line: {l:?}\n{stderr}")
            })
        })
        .collect();
    if code == 0 {
        assert!(
            !located.is_empty() && located.iter().all(|e| e.message.starts_with("warning: ")),
            "a case that passes must show warnings, and only warnings:\n{stderr}"
        );
    }
    located
}

/// Every position must be inside the file it names: a line that exists (or the line just past
/// the end) and a column at most one past that line's last character.
fn assert_positions_in_bounds(dir: &Path, errors: &[ErrorLine<'_>], stderr: &str) {
    for e in errors {
        let path = dir.join(e.path);
        assert!(
            Path::new(e.path).is_relative() && path.is_file(),
            "error names `{}`, which is not a file of the case (paths must stay as given):\n{stderr}",
            e.path
        );
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.split('\n').collect();
        let line = usize::try_from(e.line).unwrap();
        assert!(
            line <= lines.len(),
            "{}:{}: line is past the end of the file:\n{stderr}",
            e.path,
            e.line
        );
        let width = lines[line - 1].chars().count() as u64;
        assert!(
            e.column <= width + 1,
            "{}:{}:{}: column is past the end of the line:\n{stderr}",
            e.path,
            e.line,
            e.column
        );
    }
}

/// Runs one golden case: the exit code of `expected.code` (2 when there is none), well-formed
/// errors and warnings pointing into the case's own files, and stderr exactly as in
/// `expected.err` (rewritten instead when `UPDATE_GOLDEN` is set).
fn golden(case: &str) {
    let dir = golden_root().join(case);
    assert!(
        dir.join("picket.yaml").is_file(),
        "{} has no picket.yaml",
        dir.display()
    );
    let code: i32 = match std::fs::read_to_string(dir.join("expected.code")) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{case}/expected.code: {e}")),
        Err(_) => 2,
    };
    let placeholders = placeholders();
    let work = tempfile::tempdir().unwrap();
    copy_inputs(&dir, work.path(), &placeholders);

    let out = validate_in(work.path());
    let (stdout, mut stderr) = texts(&out);
    assert!(!stderr.contains("panicked"), "picket panicked:\n{stderr}");
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let located = golden_lines(&stderr, code);
    assert_positions_in_bounds(work.path(), &located, &stderr);
    if code == 0 {
        let warnings = located.len();
        assert!(
            stdout.starts_with("ok: ") && stdout.ends_with(&format!(", {warnings} warning(s)\n")),
            "stdout must be the `ok:` line with the count of warnings ({warnings}):\n{stdout}"
        );
    } else {
        assert!(
            stdout.is_empty(),
            "validate printed to stdout on failure:\n{stdout}"
        );
    }
    for (placeholder, value) in &placeholders {
        stderr = stderr.replace(value.as_str(), placeholder);
    }

    let expected_file = dir.join("expected.err");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_file, &stderr).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_file).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nrun `UPDATE_GOLDEN=1 cargo test --test it validate` to create it",
            expected_file.display()
        )
    });
    if stderr != expected {
        panic!(
            "stderr of `picket validate` for case `{case}` differs from {}\n\
             --- expected\n{expected}--- actual\n{stderr}---\n\
             If the new output is right, rerun with UPDATE_GOLDEN=1 and review the diff.",
            expected_file.display()
        );
    }
}

macro_rules! golden_cases {
    ($($test:ident => $folder:literal,)*) => {
        /// Every case folder; `every_golden_folder_has_a_test` keeps this in step with the disk.
        const CASES: &[&str] = &[$($folder),*];

        /// One test per folder of `tests/golden/validate/`, named after what it shows.
        mod golden {
            $(
                #[test]
                fn $test() {
                    super::golden($folder);
                }
            )*
        }
    };
}

golden_cases! {
    probe_unknown_field_did_you_mean => "probe-unknown-field-did-you-mean",
    config_unknown_field => "config-unknown-field",
    bad_severity => "bad-severity",
    bad_regex => "bad-regex",
    bad_cron => "bad-cron",
    bad_duration => "bad-duration",
    unknown_target_name => "unknown-target-name",
    duplicate_probe_id => "duplicate-probe-id",
    duplicate_target_name => "duplicate-target-name",
    duplicate_yaml_key => "duplicate-yaml-key",
    missing_env_var => "missing-env-var",
    invalid_target_url => "invalid-target-url",
    probe_path_absolute_url => "probe-path-absolute-url",
    probe_path_protocol_relative => "probe-path-protocol-relative",
    unknown_placeholder => "unknown-placeholder",
    syntax_error_unclosed_bracket => "syntax-error-unclosed-bracket",
    syntax_errors_in_plain_words => "syntax-errors-in-plain-words",
    invalid_utf8 => "invalid-utf8",
    empty_probe_file => "empty-probe-file",
    header_check_two_assertions => "header-check-two-assertions",
    capture_without_group => "capture-without-group",
    missing_checks => "missing-checks",
    config_error_still_checks_probes => "config-error-still-checks-probes",
    probe_max_body_bytes => "probe-max-body-bytes",
    severity_inside_combinator => "severity-inside-combinator",
    three_wrong_fields => "three-wrong-fields",
    config_wrong_fields => "config-wrong-fields",
    library_id_taken => "library-id-taken",
    library_exclude_matches_nothing => "library-exclude-matches-nothing",
    accept_until_passed => "accept-until-passed",
    accept_until_missing => "accept-until-missing",
    accept_reason_missing => "accept-reason-missing",
    accept_until_too_far => "accept-until-too-far",
    accept_target_and_tags => "accept-target-and-tags",
    accept_bad_date_and_globs => "accept-bad-date-and-globs",
    accept_from_error => "accept-from-error",
    accept_until_passed_and_warning => "accept-until-passed-and-warning",
    accept_until_passed_with_other_errors => "accept-until-passed-with-other-errors",
    accept_keys_misspelled => "accept-keys-misspelled",
    accept_probe_matches_nothing => "accept-probe-matches-nothing",
    accept_selects_no_target => "accept-selects-no-target",
    maintenance_too_long => "maintenance-too-long",
    maintenance_no_targets => "maintenance-no-targets",
    maintenance_bad_cron => "maintenance-bad-cron",
    maintenance_selects_no_target => "maintenance-selects-no-target",
}

/// A folder without a test would silently check nothing; a test without a folder fails anyway.
#[test]
fn every_golden_folder_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(golden_root())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| (*c).to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "folders under tests/golden/validate vs golden_cases!"
    );
    assert!(CASES.len() >= 14);
}

/// The golden `invalid-utf8` case depends on its committed bytes staying invalid.
#[test]
fn invalid_utf8_golden_input_is_really_invalid() {
    let bytes = std::fs::read(golden_root().join("invalid-utf8/probes/latin1.yaml")).unwrap();
    assert!(std::str::from_utf8(&bytes).is_err());
}

// ---------------------------------------------------------------------------------------------
// Every error at once
// ---------------------------------------------------------------------------------------------

pub(crate) const CONFIG: &str =
    "probes: [probes/]\ntargets:\n  - name: web\n    url: http://127.0.0.1:8080\n";

#[test]
fn errors_in_three_files_are_reported_in_one_run() {
    let dir = workspace(&[
        (
            "picket.yaml",
            "probes: [probes/]\n\
             targets:\n  - name: web\n    url: http://127.0.0.1:8080\n\
             defaults:\n  timeout: 10 parsecs\n",
        ),
        (
            "probes/hsts.yaml",
            "id: headers/hsts\nname: HSTS\nsevrity: medium\nhttp: { path: / }\n\
             checks:\n  - header: strict-transport-security\n    present: true\n",
        ),
        (
            "probes/listing.yaml",
            "id: disclosure/listing\nname: No listing\nseverity: low\nhttp: { path: / }\n\
             checks:\n  - body: { matches: '(unclosed' }\n",
        ),
    ]);
    let out = validate_in(dir.path());
    let stderr = assert_rejected(&out);
    let errors = error_lines(&stderr);
    let files: Vec<&str> = errors.iter().map(|e| e.path).collect();
    assert_eq!(
        files,
        ["picket.yaml", "probes/hsts.yaml", "probes/listing.yaml"],
        "one error per file, sorted by file:\n{stderr}"
    );
    assert_eq!((errors[0].line, errors[0].column), (6, 12), "{stderr}");
    assert_eq!((errors[1].line, errors[1].column), (3, 1), "{stderr}");
    assert_eq!((errors[2].line, errors[2].column), (6, 22), "{stderr}");
    assert!(stderr.ends_with("\n3 errors\n"), "{stderr}");
}

/// Three wrong fields in one well-formed probe file are three located errors of one run,
/// each naming the field and what it expects, and the exit code is 2 for `validate` and
/// `check` alike.
#[test]
fn three_wrong_fields_in_a_probe_are_three_located_errors() {
    let dir = workspace(&[
        ("picket.yaml", CONFIG),
        (
            "probes/p.yaml",
            "id: t/p\nname: p\nseverity: low\nconfirm: two\ntimeout: [10s]\nhttp:\n  path: /\n  follow_redirects: maybe\nchecks:\n  - status: 200\n",
        ),
    ]);
    let out = validate_in(dir.path());
    let stderr = assert_rejected(&out);
    let errors: Vec<(u64, u64, &str)> = error_lines(&stderr)
        .iter()
        .map(|e| (e.line, e.column, e.message))
        .collect();
    assert_eq!(
        errors,
        [
            (
                4,
                10,
                "confirm: expected a whole number such as 2, found `two`"
            ),
            (
                5,
                10,
                "timeout: expected a duration such as 10s, found a list"
            ),
            (
                8,
                21,
                "follow_redirects: expected true or false, found `maybe`"
            ),
        ],
        "{stderr}"
    );
    let mut cmd = crate::helpers::picket(dir.path());
    cmd.args(["check", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.ends_with("3 errors\n"), "{stderr}");
}

/// Wrong types do not hide the file's other problems: the rest of the file is still
/// validated, so a bad duration, a bad regex and an unknown key come out in the same run,
/// and nothing that only follows from a dropped field does.
#[test]
fn wrong_types_and_bad_values_of_one_file_come_out_together() {
    let dir = workspace(&[
        ("picket.yaml", CONFIG),
        (
            "probes/p.yaml",
            "id: t/p\nname: p\nseverity: low\nhttp: { path: /, follow_redirects: 1, methd: GET }\nchecks:\n  - header: x\n    present: yes-please\n  - body: { matches: '(unclosed' }\n  - response_time: { below: soon }\n",
        ),
    ]);
    let out = validate_in(dir.path());
    let stderr = assert_rejected(&out);
    let errors: Vec<(u64, u64, &str)> = error_lines(&stderr)
        .iter()
        .map(|e| (e.line, e.column, e.message))
        .collect();
    assert_eq!(
        errors,
        [
            (4, 36, "follow_redirects: expected true or false, found `1`"),
            (4, 39, "unknown field `methd`"),
            (7, 14, "present: expected true or false, found `yes-please`"),
            (8, 22, "invalid regex `(unclosed`: unclosed group"),
            (
                9,
                29,
                "below: expected a duration such as 10s, found `soon`"
            ),
        ],
        "{stderr}"
    );
    assert!(stderr.contains("hint: did you mean `method`?"), "{stderr}");
}

/// The same holds for the config and for a `targets_from` file.
#[test]
fn every_wrong_field_of_the_config_and_a_targets_file_is_reported() {
    let dir = workspace(&[
        (
            "picket.yaml",
            "probes: [probes/]\ntargets_from: [targets/]\ndefaults:\n  confirm: many\n  timeout: 1 fortnight\nlimits:\n  concurrency: [64]\n",
        ),
        (
            "targets/a.yaml",
            "- name: a\n  url: http://127.0.0.1:8080\n  tags: web\n  headers: { X-Team: [a, b] }\n- name: b\n  url: http://127.0.0.1:8081\n  vars: { closed_ports: { a: 1 } }\n",
        ),
        (
            "probes/p.yaml",
            "id: t/p\nname: p\nseverity: low\nhttp: { path: / }\nchecks:\n  - status: 200\n",
        ),
    ]);
    let out = validate_in(dir.path());
    let stderr = assert_rejected(&out);
    let errors: Vec<(&str, u64, &str)> = error_lines(&stderr)
        .iter()
        .map(|e| (e.path, e.line, e.message))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "picket.yaml",
                4,
                "confirm: expected a whole number such as 2, found `many`"
            ),
            (
                "picket.yaml",
                5,
                "timeout: expected a duration such as 10s, found `1 fortnight`"
            ),
            (
                "picket.yaml",
                7,
                "concurrency: expected a whole number such as 64, found a list"
            ),
            ("targets/a.yaml", 3, "tags: expected a list, found `web`"),
            (
                "targets/a.yaml",
                4,
                "headers.X-Team: expected text, found a list"
            ),
            (
                "targets/a.yaml",
                7,
                "vars.closed_ports: expected a value such as /admin, or a list of values such as [/admin, /internal], found a mapping"
            ),
        ],
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------------

/// Validates `files`, which must be refused quickly with exit code 2, no panic, and an error
/// positioned in `culprit`. Returns stderr.
fn assert_refused(files: &[(&str, &[u8])], culprit: &str) -> String {
    let dir = workspace_bytes(files);
    let start = Instant::now();
    let out = validate_in(dir.path());
    let took = start.elapsed();
    let stderr = assert_rejected(&out);
    let errors = error_lines(&stderr);
    assert!(
        errors.iter().any(|e| e.path == culprit),
        "no error positioned in {culprit}:\n{}",
        head(&stderr)
    );
    assert!(took < TIME_LIMIT, "took {took:?}");
    stderr
}

/// A probe with a valid frame whose `json: equals:` value (which accepts any YAML) is `value`,
/// written on the lines after the key with the given indentation already applied.
fn probe_with_json_value(value: &str) -> String {
    format!(
        "id: hostile\nname: Hostile\nseverity: low\nhttp: {{ path: / }}\n\
         checks:\n  - json:\n      pointer: /x\n      equals:\n{value}\n"
    )
}

/// The config with `value` under the `web` target's `vars:`, lines already indented.
fn config_with_vars(value: &str) -> String {
    format!("{CONFIG}    vars:\n{value}\n")
}

/// "Billion laughs": 9 levels of 10 aliases each, `indent`ed as mapping entries. Expanded, the
/// last entry would hold 10^9 strings.
fn alias_bomb(indent: &str) -> String {
    let mut lines = vec![format!(
        "{indent}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"
    )];
    for level in 1..=9 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        lines.push(format!("{indent}a{level}: &a{level} [{refs}]"));
    }
    lines.join("\n")
}

const DEPTH: usize = 20_000;

fn flow_nesting() -> String {
    format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH))
}

/// Block-style nested sequences, compact form: `- - - … - x`.
fn block_nesting() -> String {
    format!("{}x", "- ".repeat(DEPTH))
}

#[test]
fn alias_bomb_in_target_vars_is_refused() {
    // A var is a scalar or a list of scalars, so today this is refused for its shape at the
    // first nested list, before any expansion; the test guards against that changing into an
    // expansion. The budget itself is exercised by the `json:` and `tls:` variants below.
    let config = config_with_vars(&alias_bomb("      "));
    assert_refused(&[("picket.yaml", config.as_bytes())], "picket.yaml");
}

#[test]
fn alias_bomb_in_a_value_that_takes_any_yaml_is_refused() {
    // `json: equals:` accepts any YAML, so nothing but the parser's budget can stop this one.
    let probe = probe_with_json_value(&alias_bomb("        "));
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/bomb.yaml", probe.as_bytes()),
        ],
        "probes/bomb.yaml",
    );
}

#[test]
fn alias_bomb_in_an_ignored_block_is_refused() {
    // `tls:` is accepted and ignored (then reported as unsupported); ignoring must not mean
    // expanding.
    let probe = format!(
        "id: hostile\nname: Hostile\nseverity: low\ntls:\n{}\nchecks:\n  - status: 200\n",
        alias_bomb("  ")
    );
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/bomb.yaml", probe.as_bytes()),
        ],
        "probes/bomb.yaml",
    );
}

#[test]
fn deep_flow_nesting_in_target_vars_is_refused() {
    let config = config_with_vars(&format!("      deep: {}", flow_nesting()));
    assert_refused(&[("picket.yaml", config.as_bytes())], "picket.yaml");
}

#[test]
fn deep_block_nesting_in_target_vars_is_refused() {
    let config = config_with_vars(&format!("      deep:\n        {}", block_nesting()));
    assert_refused(&[("picket.yaml", config.as_bytes())], "picket.yaml");
}

#[test]
fn deep_flow_nesting_in_a_probe_is_refused() {
    let probe = probe_with_json_value(&format!("        {}", flow_nesting()));
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/deep.yaml", probe.as_bytes()),
        ],
        "probes/deep.yaml",
    );
}

#[test]
fn deep_block_nesting_in_a_probe_is_refused() {
    let probe = probe_with_json_value(&format!("        {}", block_nesting()));
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/deep.yaml", probe.as_bytes()),
        ],
        "probes/deep.yaml",
    );
}

#[test]
fn deep_indented_block_nesting_is_refused() {
    // One level per line, each indented one space more: 2,000 levels stay under the file-size
    // cap (20,000 would be a 200 MB file).
    let mut value = String::new();
    for level in 0..2_000 {
        value.push_str(&" ".repeat(8 + level));
        value.push_str("-\n");
    }
    value.push_str(&" ".repeat(8 + 2_000));
    value.push('x');
    let probe = probe_with_json_value(&value);
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/deep.yaml", probe.as_bytes()),
        ],
        "probes/deep.yaml",
    );
}

#[test]
fn deep_flow_mappings_in_an_ignored_block_are_refused() {
    let probe = format!(
        "id: hostile\nname: Hostile\nseverity: low\ntls: {}1{}\nchecks:\n  - status: 200\n",
        "{a: ".repeat(DEPTH),
        "}".repeat(DEPTH)
    );
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/deep.yaml", probe.as_bytes()),
        ],
        "probes/deep.yaml",
    );
}

#[test]
fn invalid_utf8_is_refused_at_the_offending_byte() {
    let probe: &[u8] =
        b"id: latin1\nname: caf\xe9\nseverity: low\nhttp: { path: / }\nchecks:\n  - status: 200\n";
    let stderr = assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/latin1.yaml", probe),
        ],
        "probes/latin1.yaml",
    );
    assert!(stderr.starts_with("probes/latin1.yaml:2:10: "), "{stderr}");
}

#[test]
fn invalid_utf8_in_the_config_is_refused() {
    let config = [CONFIG.as_bytes(), b"    tags: [\xff\xfe]\n"].concat();
    let stderr = assert_refused(&[("picket.yaml", &config)], "picket.yaml");
    assert!(stderr.starts_with("picket.yaml:5:12: "), "{stderr}");
}

#[test]
fn a_five_megabyte_probe_file_is_refused() {
    let probe = format!(
        "id: big\nname: Big\nseverity: low\ndescription: \"{}\"\nhttp: {{ path: / }}\n\
         checks:\n  - status: 200\n",
        "a".repeat(5 << 20)
    );
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/big.yaml", probe.as_bytes()),
        ],
        "probes/big.yaml",
    );
}

#[test]
fn a_five_megabyte_config_file_is_refused() {
    let config = format!("{CONFIG}# {}\n", "x".repeat(5 << 20));
    assert_refused(&[("picket.yaml", config.as_bytes())], "picket.yaml");
}

#[test]
fn a_large_file_under_the_size_cap_is_refused_by_the_node_budget() {
    // About 3 MB, so it is parsed; 400,000 tags are more nodes than picket accepts.
    let probe = format!(
        "id: many\nname: Many\nseverity: low\nhttp: {{ path: / }}\n\
         checks:\n  - status: 200\ntags:\n{}",
        "  - tag\n".repeat(400_000)
    );
    assert!(probe.len() < 4 << 20);
    assert_refused(
        &[
            ("picket.yaml", CONFIG.as_bytes()),
            ("probes/many.yaml", probe.as_bytes()),
        ],
        "probes/many.yaml",
    );
}

#[test]
fn empty_files_are_refused() {
    for empty in ["", "\n", "  \n\t\n"] {
        assert_refused(
            &[
                ("picket.yaml", CONFIG.as_bytes()),
                ("probes/empty.yaml", empty.as_bytes()),
            ],
            "probes/empty.yaml",
        );
        assert_refused(&[("picket.yaml", empty.as_bytes())], "picket.yaml");
    }
}

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[0]).collect()
    }

    /// Text made of YAML's punctuation, whitespace and a few letters, so the parser, not the
    /// UTF-8 check, meets it.
    fn yamlish(&mut self, n: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"-:?[]{},&*!|>'\"%@` \n\n  \tabcid0123\\#";
        (0..n)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn random_bytes_are_refused() {
    for seed in 1..=8u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let junk = rng.bytes(4096);
        assert_refused(
            &[
                ("picket.yaml", CONFIG.as_bytes()),
                ("probes/junk.yaml", &junk),
            ],
            "probes/junk.yaml",
        );
        assert_refused(&[("picket.yaml", &junk)], "picket.yaml");
    }
}

#[test]
fn random_yaml_punctuation_is_refused() {
    for seed in 1..=16u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let junk = rng.yamlish(4096);
        assert_refused(
            &[
                ("picket.yaml", CONFIG.as_bytes()),
                ("probes/junk.yaml", &junk),
            ],
            "probes/junk.yaml",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The shipped configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn shipped_config_is_valid() {
    let mut cmd = picket(&repo_root());
    cmd.args(["validate", "-c", "config/picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.starts_with("ok: "), "stdout:\n{stdout}");
    assert!(stderr.is_empty(), "stderr:\n{stderr}");
}
