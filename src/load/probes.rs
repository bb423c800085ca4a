//! Loading probe files: the built-in library and the team's folders, each file compiled once
//! and kept, by the [`Compiled`] cache a reload loop owns, until its text or the defaults
//! change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config};
use crate::diag::{self, Diagnostic, Diagnostics};
use crate::files::{self, MAX_FILE_BYTES, decode, read_text};
use crate::library;
use crate::parse::{Parsed, parse_checked, without_quiet};
use crate::probe::{self, Probe};

/// The JSON Schema of probe files, made once.
fn probe_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(probe::probe_schema);
    &SCHEMA
}

/// Loads every probe under `paths`, validating each file; problems go to `diags`. Only these
/// files: the built-in library is added by [`load_config_probes`].
pub fn load_probes(
    paths: &[config::SourcedPath],
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Vec<Arc<Probe>> {
    let probes = Compiled::default().with(defaults).paths(paths, diags);
    probe::check_unique_ids(&probes, diags);
    check_regex_budget(&probes, diags);
    probes
}

/// The probes a config loads: the built-in library (unless `library: false`) without the
/// probes its `library.exclude` globs leave out, then the team's files from `probes:`. A team
/// probe may not take the id of a library probe that is loaded: replacing one is said out
/// loud, by excluding it.
pub fn load_config_probes(config: &Config, diags: &mut Diagnostics) -> Vec<Arc<Probe>> {
    Compiled::default().config_probes(config, diags)
}

/// Every probe of the built-in library, through the same loader as files on disk (errors read
/// `library:headers/hsts.yaml:3:1: …`).
pub fn library_probes(defaults: &config::Defaults, diags: &mut Diagnostics) -> Vec<Arc<Probe>> {
    Compiled::default().with(defaults).library(diags)
}

/// Loads and validates one probe file.
pub fn load_probe_file(
    file: &Path,
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Option<Arc<Probe>> {
    Compiled::default().with(defaults).file(file, diags)
}

/// Probes compiled from files that loaded without a diagnostic, by file, with a hash of the
/// text and the defaults they were compiled with: a reload compiles again only the files that
/// changed (parsing, validating and compiling regexes is most of a load; reading and hashing
/// 10,000 files is not). A value, owned by whoever loads again (the service's reload loop);
/// one load that is not followed by another uses a fresh one. Bounded: cleared when it holds
/// more than [`COMPILED_CAP`] files.
#[derive(Debug, Default)]
pub struct Compiled {
    by_file: HashMap<PathBuf, Cached>,
}

/// A compiled probe file: the hash of its text and the defaults, what `stat` said of the file
/// before it was read, and the probe.
#[derive(Debug)]
struct Cached {
    key: u64,
    stamp: Option<Stamp>,
    /// The defaults it was compiled under (part of `key` too).
    defaults_key: u64,
    probe: Arc<Probe>,
}

/// What identifies a file's content without reading it: device, inode, size, and the
/// modification and change times in nanoseconds. A write changes the times (and `touch -d`,
/// which sets the modification time back, still changes the change time); a file replaced by
/// a rename is another inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(file: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(file).ok()?;
        m.is_file().then(|| Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// At most this many compiled probes are kept for reloads.
const COMPILED_CAP: usize = 50_000;

impl Compiled {
    /// The probes `config` loads: the built-in library (unless `library: false`) without
    /// the probes its `library.exclude` globs leave out, then the team's files from
    /// `probes:`, with the checks across them.
    pub fn config_probes(&mut self, config: &Config, diags: &mut Diagnostics) -> Vec<Arc<Probe>> {
        let mut compiler = self.with(&config.defaults);
        let library = if config.library.enabled {
            let all = compiler.library(diags);
            exclude_from_library(&config.library, all, diags)
        } else {
            Vec::new()
        };
        let team = compiler.paths(&config.probe_paths, diags);
        check_library_overlap(&config.probe_paths, &library, &team, diags);
        probe::check_unique_ids(&team, diags);
        let mut probes = library;
        probes.extend(team);
        check_regex_budget(&probes, diags);
        probes
    }

    /// A compiler for one load under `defaults`.
    fn with<'a>(&'a mut self, defaults: &'a config::Defaults) -> Compiler<'a> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        format!("{defaults:?}").hash(&mut hasher);
        Compiler {
            cache: self,
            defaults,
            defaults_key: hasher.finish(),
        }
    }
}

/// One load's use of the [`Compiled`] cache, under one set of defaults.
struct Compiler<'a> {
    cache: &'a mut Compiled,
    defaults: &'a config::Defaults,
    /// A hash of the defaults, part of every file's key.
    defaults_key: u64,
}

impl Compiler<'_> {
    /// Every probe of the built-in library.
    fn library(&mut self, diags: &mut Diagnostics) -> Vec<Arc<Probe>> {
        library::files()
            .iter()
            .filter_map(|f| {
                let path = f.display_path();
                match decode(&path, f.bytes.to_vec()) {
                    Ok(text) => self.text(&path, &text, diags),
                    Err(d) => {
                        diags.push(d);
                        None
                    }
                }
            })
            .collect()
    }

    /// The probe files under `paths`, without checks across probes.
    fn paths(&mut self, paths: &[config::SourcedPath], diags: &mut Diagnostics) -> Vec<Arc<Probe>> {
        let mut probes = Vec::new();
        for sourced in paths {
            let files = files::yaml_files_of(&sourced.path, diags, |e| {
                Diagnostic::new(
                    &sourced.file,
                    sourced.pos,
                    format!("cannot read probes from `{}`: {e}", sourced.path.display()),
                )
                .with_hint("probe paths are files or folders, relative to the working directory")
            });
            for file in files {
                if let Some(p) = self.file(&file, diags) {
                    probes.push(p);
                }
            }
        }
        probes
    }

    /// One probe file: the probe compiled before when `stat` says the file has not changed
    /// since (it is not even read), else read and [`Compiler::text`].
    fn file(&mut self, file: &Path, diags: &mut Diagnostics) -> Option<Arc<Probe>> {
        // Taken before reading: a write during the read changes it, so it is read again next.
        let stamp = Stamp::of(file);
        if let Some(cached) = self.cache.by_file.get(file)
            && stamp.is_some()
            && cached.stamp == stamp
            && cached.defaults_key == self.defaults_key
        {
            return Some(Arc::clone(&cached.probe));
        }
        match read_text(file) {
            Ok(text) => {
                let probe = self.text(file, &text, diags);
                if let Some(cached) = self.cache.by_file.get_mut(file) {
                    cached.stamp = stamp;
                }
                probe
            }
            Err(d) => {
                diags.push(d);
                None
            }
        }
    }

    /// The text of one probe file (a picket probe or a nuclei template) shown as `file`:
    /// the probe compiled from the same text and defaults before, or compiled now.
    fn text(&mut self, file: &Path, text: &str, diags: &mut Diagnostics) -> Option<Arc<Probe>> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        self.defaults_key.hash(&mut hasher);
        let key = hasher.finish();
        let by_file = &mut self.cache.by_file;
        if let Some(cached) = by_file.get_mut(file)
            && cached.key == key
        {
            // Same text: a stamp taken by the caller is recorded after this returns.
            cached.stamp = None;
            return Some(Arc::clone(&cached.probe));
        }
        let mut own = Diagnostics::default();
        let probe = compile_probe_text(file, text, self.defaults, &mut own).map(Arc::new);
        if let Some(p) = &probe
            && own.is_empty()
        {
            if by_file.len() >= COMPILED_CAP {
                by_file.clear();
            }
            by_file.insert(
                file.to_path_buf(),
                Cached {
                    key,
                    stamp: None,
                    defaults_key: self.defaults_key,
                    probe: Arc::clone(p),
                },
            );
        } else {
            // No probe of an earlier text may stand for this one.
            by_file.remove(file);
        }
        diags.extend(own);
        probe
    }
}

/// The library probes `selection` keeps. Every exclude glob must leave out at least one
/// library probe: one that matches nothing is a typo or a probe renamed since, and silently
/// keeping the probe it meant would be worse than saying so.
fn exclude_from_library(
    selection: &config::Library,
    mut probes: Vec<Arc<Probe>>,
    diags: &mut Diagnostics,
) -> Vec<Arc<Probe>> {
    let ids: Vec<&str> = probes.iter().map(|p| p.id.as_str()).collect();
    for ex in &selection.exclude {
        if ids.iter().any(|id| ex.matcher.is_match(id)) {
            continue;
        }
        let hint = match diag::did_you_mean(&ex.glob, &ids) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "`picket probes` lists the library's probe ids".to_string(),
        };
        diags.push(
            Diagnostic::new(
                &ex.file,
                ex.pos,
                format!(
                    "`{}` in library.exclude matches no library probe",
                    crate::term::escape_controls(&ex.glob)
                ),
            )
            .with_hint(hint),
        );
    }
    probes.retain(|p| {
        !selection
            .exclude
            .iter()
            .any(|ex| ex.matcher.is_match(&p.id))
    });
    probes
}

/// Reports team probes whose id is that of a loaded library probe. A folder holding copies of
/// library files (the repository's own `probes/`, or an old `picket probes --export`) is
/// said once, at its `probes:` entry, rather than once per copy.
fn check_library_overlap(
    paths: &[config::SourcedPath],
    library: &[Arc<Probe>],
    team: &[Arc<Probe>],
    diags: &mut Diagnostics,
) {
    let mut copies: Vec<Vec<&str>> = vec![Vec::new(); paths.len()];
    for p in team {
        let Some(lib) = library.iter().find(|l| l.id == p.id) else {
            continue;
        };
        let embedded = library::file_at(&lib.source);
        let is_copy = embedded.is_some_and(|e| {
            files::read_regular(&p.source, MAX_FILE_BYTES).is_ok_and(|b| b == e.bytes)
        });
        let entry = paths.iter().position(|s| p.source.starts_with(&s.path));
        if let (true, Some(i)) = (is_copy, entry) {
            copies[i].push(&p.id);
            continue;
        }
        let hint = if is_copy {
            format!(
                "this file is a copy of `{}`, which is built into picket: remove the copy",
                lib.source.display()
            )
        } else {
            format!(
                "to use this probe instead of the built-in one, leave that one out with `library: {{ exclude: [\"{}\"] }}` in the config; or give this probe another id",
                p.id
            )
        };
        diags.push(
            Diagnostic::new(
                &p.source,
                p.id_pos,
                format!(
                    "probe id `{}` is taken by the built-in library probe `{}`",
                    p.id,
                    lib.source.display()
                ),
            )
            .with_hint(hint),
        );
    }
    for (sourced, ids) in paths.iter().zip(copies) {
        let Some(first) = ids.first() else { continue };
        let message = if ids.len() == 1 {
            format!(
                "`{}` holds a copy of the built-in library probe `{first}`",
                sourced.path.display()
            )
        } else {
            format!(
                "`{}` holds copies of {} built-in library probes ({first}, …)",
                sourced.path.display(),
                ids.len()
            )
        };
        diags.push(
            Diagnostic::new(&sourced.file, sourced.pos, message).with_hint(
                "the library is built into picket and loads without a `probes:` entry: remove \
                 the copies (or this entry, if it holds nothing else); to run edited copies \
                 instead, set `library: false`",
            ),
        );
    }
}

/// The compiled regexes of all probes together stay within [`probe::REGEX_TOTAL_BYTES`]; the
/// probe that crosses it is reported, once.
fn check_regex_budget(probes: &[Arc<Probe>], diags: &mut Diagnostics) {
    let mut total: usize = 0;
    for p in probes {
        total = total.saturating_add(p.regex_bytes);
        if total > probe::REGEX_TOTAL_BYTES {
            let all: usize = probes.iter().map(|p| p.regex_bytes).sum();
            diags.push(
                Diagnostic::new(
                    &p.source,
                    p.id_pos,
                    format!(
                        "the regexes of all probes need {} MiB of memory, over the budget of {} MiB; loading this probe crosses it",
                        all.div_ceil(1 << 20),
                        probe::REGEX_TOTAL_BYTES >> 20
                    ),
                )
                .with_hint(format!(
                    "this probe's regexes take {} KiB; narrow them (`[0-9]` for `\\d`, `[A-Za-z0-9_]` for `\\w`, fewer `(?i)`), use `contains` where a literal does, or load fewer probes",
                    p.regex_bytes.div_ceil(1 << 10)
                )),
            );
            return;
        }
    }
}

/// Parses and validates the text of one probe file (a picket probe or a nuclei template)
/// shown as `file`.
fn compile_probe_text(
    file: &Path,
    text: &str,
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    if probe::nuclei::looks_like_nuclei(text) {
        return probe::nuclei::load(file, text, defaults, diags);
    }
    match parse_checked::<probe::raw::Probe>(file, text, probe_schema()) {
        Parsed::Clean(raw) => probe::compile(file, raw, defaults, diags),
        Parsed::Repaired {
            value,
            problems,
            quiet,
        } => {
            problems.into_iter().for_each(|d| diags.push(d));
            // The rest of the file is validated for its own problems; the probe is not
            // loaded, whatever that finds.
            let mut rest = Diagnostics::default();
            let _ = probe::compile(file, value, defaults, &mut rest);
            without_quiet(rest, file, &quiet, diags);
            None
        }
        Parsed::Failed(problems) => {
            problems.into_iter().for_each(|d| diags.push(d));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Pos;

    fn probe_from(file: &str, yaml: &str) -> Probe {
        let file = Path::new(file);
        let raw = crate::yaml::parse_yaml(file, yaml).unwrap();
        let mut diags = Diagnostics::default();
        let p = probe::compile(file, raw, &config::Defaults::default(), &mut diags);
        assert!(diags.is_empty(), "{diags}");
        p.unwrap()
    }

    #[test]
    fn the_probe_that_crosses_the_regex_budget_is_reported_once() {
        let yaml = "id: t/a\nname: a\nseverity: low\nhttp: { path: / }\nchecks:\n  - body: { matches: 'max-age=(\\d+)' }\n";
        let one = probe_from("a.yaml", yaml);
        assert!(one.regex_bytes > 0);
        let big = |file: &str| Probe {
            source: PathBuf::from(file),
            regex_bytes: probe::REGEX_TOTAL_BYTES / 2,
            ..one.clone()
        };
        let mut diags = Diagnostics::default();
        let all = [one.clone(), big("b.yaml"), big("c.yaml")].map(Arc::new);
        check_regex_budget(&all, &mut diags);
        let all: Vec<&Diagnostic> = diags.iter().collect();
        assert_eq!(all.len(), 1, "{diags}");
        assert_eq!(all[0].path, Path::new("c.yaml"));
        assert_eq!(all[0].pos, Pos { line: 1, column: 5 });
        assert!(
            all[0].message.contains("over the budget of 128 MiB"),
            "{diags}"
        );
        let mut diags = Diagnostics::default();
        check_regex_budget(&[one.clone(), big("b.yaml")].map(Arc::new), &mut diags);
        assert!(diags.is_empty());
    }

    #[test]
    fn a_reload_compiles_again_what_changed_and_only_that() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        let text = |name: &str| {
            format!(
                "id: cache/p\nname: {name}\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n"
            )
        };
        std::fs::write(&file, text("first")).unwrap();
        let defaults = config::Defaults::default();
        let mut compiled = Compiled::default();
        let mut load = |defaults: &config::Defaults| {
            let mut diags = Diagnostics::default();
            let p = compiled.with(defaults).file(&file, &mut diags);
            (p, diags)
        };
        let (p, d) = load(&defaults);
        assert!(d.is_empty());
        let first = p.unwrap();
        assert_eq!(first.name, "first");
        // The same text and defaults: the compiled probe itself.
        assert!(Arc::ptr_eq(&load(&defaults).0.unwrap(), &first));
        // A changed text is compiled again.
        std::fs::write(&file, text("second")).unwrap();
        assert_eq!(load(&defaults).0.unwrap().name, "second");
        // So is the same text under other defaults.
        let slower = config::Defaults {
            timeout: std::time::Duration::from_secs(42),
            ..config::Defaults::default()
        };
        assert_eq!(
            load(&slower).0.unwrap().timeout,
            std::time::Duration::from_secs(42)
        );
        // A file that turns invalid is reported, not served from before.
        std::fs::write(&file, "id: cache/p\nname: x\nseverity: nope\n").unwrap();
        let (p, d) = load(&slower);
        assert!(p.is_none() && !d.is_empty());
    }
}
