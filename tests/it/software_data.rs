//! Release data of `software` checks (SPEC §4 "Older software"): the built-in table is sane
//! and says what its facts say; `software.data` replaces products, and a stale or malformed
//! file is said so (`run` WARN, `check` note, located `validate` error); `picket software`.

use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use picket::software::data::{self, Placement, Status, Table};

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};
use crate::service::spawn_run;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The day the built-in table was compiled.
const COMPILED: (i32, u32, u32) = (2026, 12, 7);

fn compiled() -> NaiveDate {
    date(COMPILED.0, COMPILED.1, COMPILED.2)
}

/// The products the built-in table carries, by endoflife.date id.
const PRODUCTS: &[&str] = &[
    "apache-http-server",
    "caddy",
    "dotnetfx",
    "drupal",
    "eclipse-jetty",
    "elasticsearch",
    "envoy",
    "exim",
    "grafana",
    "jenkins",
    "joomla",
    "mariadb",
    "mysql",
    "nginx",
    "nodejs",
    "openssl",
    "php",
    "postfix",
    "postgresql",
    "proftpd",
    "python",
    "redis",
    "squid",
    "tomcat",
    "vinyl-cache",
    "wordpress",
];

#[test]
fn the_builtin_table_parses_and_is_sane() {
    let path = picket_root().join("src/software/releases.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // The same text `builtin()` parses: an error here would leave it empty.
    let parsed = data::parse_v1(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let table = data::builtin();
    assert_eq!(table.origin, data::Origin::BuiltIn);
    assert_eq!(table.generated, compiled());
    assert_eq!(parsed.products, table.products);
    assert_eq!(table.ids().collect::<Vec<_>>(), PRODUCTS);

    // Ids are unique in the file itself (the map would hide a second one).
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = raw["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), PRODUCTS.len());
    assert_eq!(raw["total"].as_u64(), Some(PRODUCTS.len() as u64));
    assert!(
        raw["generated_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-07")
    );

    let mut cycles = 0;
    for p in table.products.values() {
        assert!(!p.cycles.is_empty(), "{}", p.id);
        assert!(!p.label.is_empty(), "{}", p.id);
        let mut seen = std::collections::BTreeSet::new();
        for c in &p.cycles {
            cycles += 1;
            let what = format!("{} {}", p.id, c.name);
            assert!(seen.insert(&c.name), "{what}: twice");
            let release = c
                .release
                .unwrap_or_else(|| panic!("{what}: no release date"));
            assert!(release <= compiled(), "{what}: released after the data");
            if let Some(eol) = c.eol {
                assert!(release <= eol, "{what}: ends before it is released");
                // `isEol` agrees with the date on the day the data was compiled.
                assert_eq!(c.is_eol, eol <= compiled(), "{what}: isEol");
            }
            // Its latest version is placed in it.
            if let Some(latest) = &c.latest {
                match table.place(&p.id, latest) {
                    Placement::Cycle(_, placed) => {
                        assert_eq!(placed.name, c.name, "{what}: latest {latest}")
                    }
                    other => panic!("{what}: latest {latest} placed as {other:?}"),
                }
            }
        }
    }
    assert_eq!(cycles, 472);
}

/// The repository root.
fn picket_root() -> std::path::PathBuf {
    crate::helpers::repo_root()
}

fn status(table: &Table, product: &str, version: &str, on: NaiveDate) -> (String, Status) {
    match table.place(product, version) {
        Placement::Cycle(_, c) => (c.name.clone(), c.status(on)),
        other => panic!("{product} {version}: {other:?}"),
    }
}

#[test]
fn builtin_verdicts_on_the_day_it_was_compiled() {
    let t = data::builtin();
    let on = compiled();
    let past = |p: &str, v: &str, cycle: &str| {
        assert_eq!(
            status(t, p, v, on),
            (cycle.to_string(), Status::PastEol),
            "{p} {v}"
        );
    };
    let supported = |p: &str, v: &str, cycle: &str| {
        assert_eq!(
            status(t, p, v, on),
            (cycle.to_string(), Status::Supported),
            "{p} {v}"
        );
    };
    // Debian 12's packages.
    past("nginx", "1.22.1", "1.22");
    supported("apache-http-server", "2.4.66", "2.4");
    past("redis", "7.0.15", "7.0");
    supported("python", "3.11.2", "3.11");
    supported("postgresql", "15.10", "15");
    supported("mariadb", "10.11.6", "10.11");
    past("openssl", "3.0.15", "3.0");
    // PHP 8.2 ends on 2026-12-31: within 90 days.
    assert_eq!(
        status(t, "php", "8.2.26", on),
        ("8.2".to_string(), Status::EndsSoon)
    );
    // Others a service volunteers.
    past("nginx", "1.18.0", "1.18");
    supported("nginx", "1.30.0", "1.30");
    past("openssl", "1.0.2k", "1.0.2");
    past("openssl", "1.1.1w", "1.1.1");
    past("php", "7.4.33", "7.4");
    past("mysql", "8.0.36", "8.0");
    supported("mysql", "8.4.3", "8.4");
    past("tomcat", "8.5.100", "8.5");
    past("nodejs", "16.20.2", "16");
    past("wordpress", "5.8.1", "5.8");
    past("exim", "4.96", "4.96");
    past("postfix", "3.5.25", "3.5");
    past("proftpd", "1.3.6e", "1.3.6");
    past("squid", "4.10", "4");
    past("nodejs", "3.3.1", "3");
    // io.js-era Node.js: end of life with no date.
    assert!(t.place("nodejs", "3.3.1") != Placement::UnknownCycle);
    // Aliases name the same product.
    past("varnish", "7.0.3", "7.0");
    past("httpd", "2.2.34", "2.2");
    // Drupal 11.3 ends on 2026-12-16: within 90 days.
    assert_eq!(status(t, "drupal", "11.3.1", on).1, Status::EndsSoon);
    // Not in the data: never placed, so never a finding.
    assert_eq!(t.place("openssh", "9.2"), Placement::UnknownProduct);
    assert_eq!(t.place("lighttpd", "1.4.69"), Placement::UnknownProduct);
    assert_eq!(t.place("nginx", "0.7.69"), Placement::UnknownCycle);
    // Jenkins' weekly line is left out: an old weekly is not called supported.
    assert_eq!(t.place("jenkins", "2.300"), Placement::UnknownCycle);
    assert_eq!(status(t, "jenkins", "2.346.3", on).1, Status::PastEol);
}

/// endoflife.date's v1 shape with one nginx cycle of our own, dated `generated`, and fields
/// picket does not read.
fn eol_file(generated: &str) -> String {
    format!(
        r#"{{"schema_version": "1.2.1", "generated_at": "{generated}", "total": 1,
  "result": [
    {{"name": "nginx", "label": "nginx (ours)", "aliases": [], "category": "server-app",
     "tags": ["web-server"], "identifiers": [], "links": {{"html": "https://endoflife.date/nginx"}},
     "releases": [
       {{"name": "1.99", "codename": null, "label": "1.99", "releaseDate": "2019-01-01",
        "isLts": false, "ltsFrom": null, "isEol": false, "eolFrom": "2030-01-01",
        "isMaintained": true, "latest": {{"name": "1.99.3", "date": "2019-02-01", "link": null}}}}
     ]}}
  ]}}
"#
    )
}

#[tokio::test]
async fn software_data_replaces_products_of_the_same_id() {
    let ws = workspace(&[
        ("picket.yaml", "software:\n  data: eol.json\n"),
        // Today's: fresh whenever the test runs.
        (
            "eol.json",
            &eol_file(&format!("{}T08:00:00+00:00", data::today())),
        ),
    ]);
    // In-process, with the file's absolute path (a relative one is from the current
    // directory, which is the test's).
    let data_path = ws.path().join("eol.json");
    std::fs::write(
        ws.path().join("abs.yaml"),
        format!("software:\n  data: {}\n", data_path.display()),
    )
    .unwrap();
    let loaded = picket::load::load(&ws.path().join("abs.yaml"), &|_| None).unwrap();
    let t = &loaded.config.software;
    assert_eq!(t.generated, data::today());
    assert_eq!(t.origin, data::Origin::File(data_path));
    let nginx = t.product("nginx").unwrap();
    assert_eq!(nginx.label, "nginx (ours)");
    assert_eq!(
        nginx.cycles.iter().map(|c| &c.name).collect::<Vec<_>>(),
        ["1.99"]
    );
    assert_eq!(t.place("nginx", "1.22.1"), Placement::UnknownCycle);
    // The others stay built in.
    assert_eq!(t.products.len(), PRODUCTS.len());
    assert_eq!(t.product("php"), data::builtin().product("php"));

    // `picket software -c` shows the merged table, its date and where it came from.
    let out = run_picket(
        ws.path(),
        &["software", "-c", "picket.yaml", "nginx", "php"],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "release data of {} (eol.json over the built-in data): 2 products, ",
            data::today()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nnginx    1.99   2019-01-01  2030-01-01   1.99.3"),
        "{stdout}"
    );
    assert!(!stdout.contains("1.22"), "{stdout}");
    assert!(stdout.contains("\nphp      7.4    "), "{stdout}");
    // Fresh: no note.
    assert_eq!(stderr, "", "{stderr}");
}

#[tokio::test]
async fn picket_software_prints_the_builtin_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_picket(dir.path(), &["software"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "release data of 2026-12-07 (built in): 26 products, 472 cycles; status as of {}",
                data::today()
            )
            .as_str()
        )
    );
    let head = lines.next().unwrap();
    for column in [
        "PRODUCT",
        "CYCLE",
        "RELEASED",
        "END OF LIFE",
        "LATEST",
        "STATUS",
    ] {
        assert!(head.contains(column), "{head}");
    }
    assert_eq!(lines.clone().count(), 472);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("nginx ") && l.contains(" 1.18 "))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "nginx",
            "1.18",
            "2020-04-21",
            "2021-04-20",
            "1.18.0",
            "past",
            "end",
            "of",
            "life"
        ]
    );
    // A product at a time; a misspelt one is a usage error with a suggestion.
    let out = run_picket(dir.path(), &["software", "redis"], &[]).await;
    let (stdout, _) = texts(&out);
    assert!(
        stdout.lines().skip(2).all(|l| l.starts_with("redis ")),
        "{stdout}"
    );
    let out = run_picket(dir.path(), &["software", "ngnix"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no product `ngnix`"), "{stderr}");
    assert!(stderr.contains("did you mean `nginx`?"), "{stderr}");
}

#[tokio::test]
async fn malformed_or_missing_software_data_is_a_located_error() {
    // A bad date, a wrong type, a missing field, a broken file: each at its line and column.
    let good = eol_file("2026-11-30");
    let cases = [
        (
            good.replace("\"eolFrom\": \"2030-01-01\"", "\"eolFrom\": \"2030-02-30\""),
            "eol.json:7:80:",
            "invalid date `2030-02-30`, expected YYYY-MM-DD",
        ),
        (
            good.replace("\"isEol\": false", "\"isEol\": \"no\""),
            "eol.json:7:",
            "invalid type: string \"no\", expected a boolean",
        ),
        (
            good.replace("\"name\": \"1.99\", ", ""),
            "eol.json:8:",
            "missing field `name`",
        ),
        (good[..300].to_string(), "eol.json:", "EOF while parsing"),
    ];
    for (text, at, message) in cases {
        let ws = workspace(&[
            ("picket.yaml", "software:\n  data: eol.json\n"),
            ("eol.json", &text),
        ]);
        let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with(at))
            .unwrap_or_else(|| panic!("no line at {at}: {stderr}"));
        assert!(line.contains(message), "{line}\n{stderr}");
        assert!(stderr.contains("  hint: "), "{stderr}");
    }

    // A file that is not there: at the key that names it.
    let ws = workspace(&[(
        "picket.yaml",
        "library: false\nsoftware:\n  data: gone.json\n",
    )]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.starts_with("picket.yaml:3:9: cannot read software.data `gone.json`: No such file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("endoflife.date/api/v1/products/full"),
        "{stderr}"
    );

    // An unknown key under `software:` is refused like any other.
    let ws = workspace(&[("picket.yaml", "software:\n  dta: eol.json\n")]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("picket.yaml:2:3: unknown field `dta`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `data`?"), "{stderr}");
}

const OK_PROBE: &str =
    "id: test/ok\nname: ok\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n";

/// A workspace whose config loads `eol.json`, dated `generated`, and probes `url`.
fn stale_workspace(url: &str, generated: &str) -> tempfile::TempDir {
    let config = format!(
        "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: {url}\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n\
         state: {{ path: state }}\napi: {{ listen: \"127.0.0.1:0\" }}\n\
         software:\n  data: eol.json\n"
    );
    workspace(&[
        ("picket.yaml", &config),
        ("probes/ok.yaml", OK_PROBE),
        ("eol.json", &eol_file(generated)),
    ])
}

#[tokio::test]
async fn stale_data_is_noted_by_check_and_fresh_data_is_not() {
    let web = TestServer::start(|_| respond(200, &[], "ok")).await;
    for (generated, stale) in [("2020-01-01", true), (&*data::today().to_string(), false)] {
        let ws = stale_workspace(&web.url(), generated);
        let out = run_picket(ws.path(), &["check", "-c", "picket.yaml"], &[]).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("1 pass"), "{stdout}");
        if stale {
            let age = (data::today() - date(2020, 1, 1)).num_days();
            assert!(
                stderr.contains(&format!(
                    "note: the release data in eol.json is from 2020-01-01 ({age} days old, over 180)"
                )),
                "{stderr}"
            );
            assert!(
                stderr.contains(
                    "hint: download fresh data with `curl -fsSL https://endoflife.date/api/v1/products/full > eol.json`"
                ),
                "{stderr}"
            );
        } else {
            assert!(!stderr.contains("release data"), "{stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_data_warns_once_at_run_start() {
    let web = TestServer::start(|_| respond(200, &[], "ok")).await;
    for (generated, stale) in [("2020-01-01", true), (&*data::today().to_string(), false)] {
        let ws = stale_workspace(&web.url(), generated);
        // The default log level: the WARN must show without `--log`.
        let service = spawn_run(ws.path(), &[], &[], &[]);
        // The service is up (it printed its API address); give the first runs a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let log_handle = service.log.clone();
        let status = service.terminate().await;
        assert_eq!(status.code(), Some(0), "{status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let log = log_handle.lock().unwrap().clone();
        let warned: Vec<&str> = log.lines().filter(|l| l.contains("release data")).collect();
        if stale {
            assert_eq!(warned.len(), 1, "{log}");
            let line = warned[0];
            assert!(line.contains("WARN"), "{line}");
            assert!(line.contains("is from 2020-01-01"), "{line}");
            assert!(line.contains("data_date=2020-01-01"), "{line}");
            assert!(
                line.contains("curl -fsSL https://endoflife.date/api/v1/products/full > eol.json"),
                "{line}"
            );
            assert!(line.contains("software: { data: eol.json }"), "{line}");
        } else {
            assert!(warned.is_empty(), "{log}");
        }
    }
}

/// The v1 loader reads a file like the real API's: unknown fields anywhere are ignored.
#[test]
fn the_real_api_shape_loads() {
    let text = eol_file("2026-11-30T08:00:00+01:00");
    let t = data::parse_v1(Path::new("eol.json"), &text).unwrap();
    assert_eq!(t.generated, date(2026, 11, 30));
    let c = &t.product("nginx").unwrap().cycles[0];
    assert_eq!(c.eol, Some(date(2030, 1, 1)));
    assert_eq!(c.latest.as_deref(), Some("1.99.3"));
    assert!(!t.is_stale(date(2027, 5, 29)));
    assert!(t.is_stale(date(2027, 5, 30)));
}
