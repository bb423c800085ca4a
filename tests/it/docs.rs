//! The documentation matches what ships: every probe id written in `docs/**/*.md` and in the
//! README's probe table is a probe of the built-in library (`picket probes`), every shipped
//! probe has its section in `docs/probes/`, a shipped probe is never called planned, the
//! severity a page gives is the one that ships, and the links of the index tables lead to a
//! section.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::helpers::{repo_root, run_picket, texts};

/// A probe id written in a document: `theme/name` between backticks.
#[derive(Debug)]
struct Mention {
    id: String,
    file: String,
    line: usize,
    text: String,
}

/// Id and severity of each probe `picket probes` lists.
async fn shipped() -> BTreeMap<String, String> {
    let out = run_picket(&repo_root(), &["probes"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let probes: BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect();
    assert!(probes.len() > 20, "`picket probes` listed:\n{stdout}");
    probes
}

fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            markdown_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
}

/// `theme/name` ids between backticks whose theme is one of `themes` (so that `text/html`
/// or `nuclei/…` examples are not taken for probes); globs (`headers/*`) and paths
/// (`net/http/pprof`, `probes/tls/x.yaml`) are not ids.
fn mentions(file: &str, text: &str, themes: &BTreeSet<String>) -> Vec<Mention> {
    let id = Regex::new(r"`([a-z][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)`").unwrap();
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for m in id.captures_iter(line) {
            if themes.contains(&m[1]) {
                found.push(Mention {
                    id: format!("{}/{}", &m[1], &m[2]),
                    file: file.to_string(),
                    line: i + 1,
                    text: line.to_string(),
                });
            }
        }
    }
    found
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() => Some(c.to_ascii_lowercase()),
            '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// The anchors a page defines: its headings' and its `<a id="…">`s.
fn anchors(text: &str) -> BTreeSet<String> {
    let explicit = Regex::new(r#"<a id="([^"]+)">"#).unwrap();
    let mut found: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect();
    found.extend(explicit.captures_iter(text).map(|c| c[1].to_string()));
    found
}

/// The sections of a page: heading id, the line of the heading, and the text up to the next
/// heading of the same level or above.
fn sections(text: &str) -> Vec<(String, usize, String)> {
    let heading = Regex::new(r"^## `([a-z0-9-]+/[a-z0-9-]+)`(.*)$").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = heading.captures(line) {
            let end = lines[i + 1..]
                .iter()
                .position(|l| l.starts_with("## ") || l.starts_with("# "))
                .map_or(lines.len(), |p| i + 1 + p);
            let body = format!("{}\n{}", &c[2], lines[i + 1..end].join("\n"));
            found.push((c[1].to_string(), i + 1, body));
        }
    }
    found
}

/// The README's probe table: from its header row to the first line that is not a row.
fn readme_probe_table(readme: &str) -> String {
    let start = readme
        .find("| id | what it checks | severity | source |")
        .expect("the README has a probe table (`| id | what it checks | severity | source |`)");
    readme[start..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn docs_describe_exactly_the_shipped_probes() {
    let shipped = shipped().await;
    let root = repo_root();
    let mut files = Vec::new();
    markdown_files(&root.join("docs"), &mut files);
    files.sort();
    let pages: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    let readme_table =
        readme_probe_table(&std::fs::read_to_string(root.join("README.md")).unwrap());

    // Themes: the library's, and any a probe page gives a section to (a misspelt theme there
    // is then caught as an unknown id).
    let mut themes: BTreeSet<String> = shipped
        .keys()
        .filter_map(|id| id.split_once('/'))
        .map(|(theme, _)| theme.to_string())
        .collect();
    for (name, text) in &pages {
        if name.starts_with("docs/probes/") {
            for (id, _, _) in sections(text) {
                themes.insert(id.split_once('/').unwrap().0.to_string());
            }
        }
    }
    let mut all = Vec::new();
    for (name, text) in &pages {
        all.extend(mentions(name, text, &themes));
    }
    all.extend(mentions("README.md (probe table)", &readme_table, &themes));
    assert!(all.len() > 100, "too few ids found: {all:?}");

    let mut problems = Vec::new();
    for m in &all {
        if !shipped.contains_key(&m.id) {
            problems.push(format!(
                "{}:{}: `{}` is not a shipped probe (`picket probes`): {}",
                m.file, m.line, m.id, m.text
            ));
        } else if m.text.to_ascii_lowercase().contains("planned") {
            problems.push(format!(
                "{}:{}: `{}` ships but is called planned: {}",
                m.file, m.line, m.id, m.text
            ));
        }
    }

    let mut documented: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let row = Regex::new(r"^\| \[`([a-z0-9-]+/[a-z0-9-]+)`\]\(#([^)]+)\) \| ([^|]+) \|").unwrap();
    let severity_word = Regex::new(r"\b(info|low|medium|high|critical)\b").unwrap();
    for (name, text) in pages.iter().filter(|(n, _)| n.starts_with("docs/probes/")) {
        for (id, line, body) in sections(text) {
            documented
                .entry(id.clone())
                .or_default()
                .push(format!("{name}:{line}"));
            let Some(want) = shipped.get(&id) else {
                continue;
            };
            if body.contains("Not in this release") || body.contains("(planned)") {
                problems.push(format!("{name}:{line}: `{id}` ships but is called planned"));
            }
            // The severity paragraph: from `**Severity:**` to the first blank line.
            let severity: String = body
                .split("**Severity:**")
                .nth(1)
                .and_then(|rest| rest.split("\n\n").next())
                .map(|p| p.split("**Runs on:**").next().unwrap_or(p).to_string())
                .unwrap_or_default();
            let words: BTreeSet<&str> = severity_word
                .find_iter(&severity)
                .map(|m| m.as_str())
                .collect();
            if !words.contains(want.as_str()) {
                problems.push(format!(
                    "{name}:{line}: `{id}` ships at severity {want}, the page says: {}",
                    severity.trim()
                ));
            }
        }
        let targets = anchors(text);
        for (i, l) in text.lines().enumerate() {
            let Some(c) = row.captures(l) else { continue };
            if !targets.contains(&c[2]) {
                problems.push(format!(
                    "{name}:{}: the link #{} of `{}` leads to no section",
                    i + 1,
                    &c[2],
                    &c[1]
                ));
            }
            if let Some(want) = shipped.get(&c[1])
                && !severity_word
                    .find_iter(&c[3])
                    .any(|m| m.as_str() == want.as_str())
            {
                problems.push(format!(
                    "{name}:{}: `{}` ships at severity {want}, the table says {}",
                    i + 1,
                    &c[1],
                    c[3].trim()
                ));
            }
        }
    }
    for id in shipped.keys() {
        match documented.get(id).map(Vec::len) {
            None => problems.push(format!(
                "`{id}` ships but has no `## `{id}`` section in docs/probes/"
            )),
            Some(1) => {}
            Some(_) => problems.push(format!(
                "`{id}` has more than one section: {:?}",
                documented[id]
            )),
        }
    }
    // The README's links into the probe pages lead to a section.
    let link = Regex::new(r"\]\((docs/probes/[a-z-]+\.md)#([^)]+)\)").unwrap();
    for c in link.captures_iter(&readme_table) {
        let page = pages
            .iter()
            .find(|(n, _)| n == &c[1])
            .map(|(_, t)| anchors(t))
            .unwrap_or_default();
        if !page.contains(&c[2]) {
            problems.push(format!(
                "README.md (probe table): the link {}#{} leads to no section",
                &c[1], &c[2]
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn ids_are_found_in_backticks_only_for_probe_themes() {
    let themes: BTreeSet<String> = ["headers", "tls"].iter().map(|t| t.to_string()).collect();
    let text = "see [`headers/hsts`](#headershsts), `tls/*`, `text/html`, `net/http/pprof`,\n\
                `probes/tls/x.yaml`, `headers/x-y2` and headers/bare";
    let ids: Vec<String> = mentions("f", text, &themes)
        .into_iter()
        .map(|m| format!("{}:{}", m.line, m.id))
        .collect();
    assert_eq!(ids, ["1:headers/hsts", "2:headers/x-y2"]);
    assert_eq!(
        slug(" `auth/jwt-alg-none` (planned)"),
        "authjwt-alg-none-planned"
    );
}
