//! Loading: read the config and every probe file, parse, validate, and report every problem
//! in one pass.
//!
//! Files are read only if they are regular files, with a size cap ([`files`]), and checked
//! for UTF-8 before parsing; YAML is parsed by serde-saphyr with budgets that stop alias
//! bombs and runaway nesting. A file that fails to
//! parse contributes one diagnostic and the load continues with the next file, so errors in
//! three files are three lines of one report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use crate::config::{self, Config, EnvLookup};
use crate::diag::{self, Diagnostic, Diagnostics, Pos};
use crate::files;
use crate::library;
use crate::probe::{self, Probe, Selector};

pub use crate::files::MAX_FILE_BYTES;
pub use crate::yaml::parse_yaml;
use crate::yaml::{is_blank, yaml_options};

/// A loaded, valid configuration and its probes.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The service config.
    pub config: Config,
    /// Every probe from the config's probe paths.
    pub probes: Vec<Probe>,
}

/// The options of the second reading of a file that did not deserialize ([`crate::shape`]):
/// the same, with budgets ten times smaller. That reading expands what serde may have
/// stopped before (an alias bomb under a key serde refused at once), so it must stay cheap;
/// a file of more than 20,000 values whose first error was a wrong shape gets that first
/// error only.
fn shape_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 20_000,
            max_aliases: 1_000,
            max_total_scalar_bytes: 8 << 20,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
        },
    }
}

/// Reads a file as UTF-8 text, refusing huge, binary or non-regular files (FIFOs, sockets,
/// devices) with a positioned message. Never blocks and never reads past the cap; see
/// [`files::read_regular`].
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let bytes = files::read_regular(path, MAX_FILE_BYTES).map_err(|e| {
        let d = Diagnostic::new(path, Pos::START, e.to_string());
        match e.hint() {
            Some(hint) => d.with_hint(hint),
            None => d,
        }
    })?;
    decode(path, bytes)
}

/// The bytes of the file shown as `path`, as UTF-8 text, or where they stop being UTF-8.
fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        let pos = diag::utf8_error_pos(e.as_bytes(), &e.utf8_error());
        Diagnostic::new(path, pos, "file is not valid UTF-8")
            .with_hint("save the file as UTF-8 text")
    })
}

/// What reading a file of a known format gave ([`parse_checked`]).
#[derive(Debug)]
pub enum Parsed<T> {
    /// The file deserialized.
    Clean(T),
    /// It did not, but its shape problems could be blanked out of the text: `value` is
    /// the rest of the file, for the validation stage to report its own problems in the
    /// same pass. What that stage reports at a `quiet` position follows from the repair
    /// and is left out ([`without_quiet`]).
    Repaired {
        /// The file without its problems.
        value: T,
        /// The shape problems.
        problems: Vec<Diagnostic>,
        /// Where validation errors are consequences of the repair.
        quiet: Vec<Pos>,
    },
    /// It did not; these are all its problems that could be found.
    Failed(Vec<Diagnostic>),
}

/// Parses YAML text into `T`. When serde refuses it and the text is well-formed YAML, the
/// file is checked against `schema` (the JSON Schema of `T`), so that every unknown key and
/// every value of the wrong type is reported, not only the first ([`crate::shape`]).
pub fn parse_checked<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    schema: &serde_json::Value,
) -> Parsed<T> {
    if is_blank(text) {
        return Parsed::Failed(vec![
            Diagnostic::new(path, Pos::START, "file is empty")
                .with_hint("a YAML mapping is expected here"),
        ]);
    }
    let error = match serde_saphyr::from_str_with_options::<T>(text, yaml_options()) {
        Ok(value) => return Parsed::Clean(value),
        Err(e) => e,
    };
    let first = diag::from_yaml_error(path, &error);
    // Syntax errors, budgets and the like: the text is no tree to walk.
    if !crate::shape::worth_checking(&error) {
        return Parsed::Failed(vec![first]);
    }
    let Some(found) = crate::shape::check(text, schema, shape_options()) else {
        return Parsed::Failed(vec![first]);
    };
    let mut problems: Vec<Diagnostic> = found
        .problems
        .iter()
        .map(|p| Diagnostic {
            path: path.to_path_buf(),
            pos: p.pos,
            message: p.message.clone(),
            hint: p.hint.clone(),
        })
        .collect();
    if problems.is_empty() {
        return Parsed::Failed(vec![first]);
    }
    if let Some(value) = found
        .repair(text)
        .and_then(|t| serde_saphyr::from_str_with_options::<T>(&t, yaml_options()).ok())
    {
        return Parsed::Repaired {
            value,
            problems,
            quiet: found.quiet,
        };
    }
    // serde's error is one of the problems found (then it keeps serde's position, which
    // for a missing field is where serde noticed), unless the check is more lenient than
    // serde somewhere: then it is reported too.
    if let Some(same) = problems.iter_mut().find(|p| p.message == first.message) {
        same.pos = first.pos;
    } else if !problems.iter().any(|p| p.pos == first.pos) {
        problems.push(first);
    }
    Parsed::Failed(problems)
}

/// Moves `from` into `into`, leaving out what was reported at a `quiet` position of `file`.
pub fn without_quiet(from: Diagnostics, file: &Path, quiet: &[Pos], into: &mut Diagnostics) {
    for d in from.iter() {
        if !(d.path == file && quiet.contains(&d.pos)) {
            into.push(d.clone());
        }
    }
}

/// The JSON Schemas of the file formats, made once.
fn probe_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(probe::probe_schema);
    &SCHEMA
}

fn config_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(config::config_schema);
    &SCHEMA
}

fn targets_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(config::targets_schema);
    &SCHEMA
}

/// The YAML files found under a path, and what could not be walked.
#[derive(Debug, Default)]
pub struct Listing {
    /// YAML files, sorted. Entries that are not regular files (a FIFO named `x.yaml`) are
    /// listed too, so that reading them reports them.
    pub files: Vec<PathBuf>,
    /// Entries that could not be followed: symlink loops, unreadable folders, dangling
    /// symlinks named `*.yaml`.
    pub problems: Vec<Diagnostic>,
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn is_loop(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Lists the YAML files under `path` (itself if it is not a folder), sorted for stable
/// output. Symlinks are followed, to files and to folders (Kubernetes ConfigMap volumes are
/// made of them); a folder reached twice is walked once, and a symlink back to a folder being
/// walked is a reported loop. Entries whose name starts with `.` are skipped: ConfigMap
/// volumes keep every file a second time under `..data/` and `..2026_…/`. Problems with
/// single entries are collected in [`Listing::problems`] and the walk goes on; only a `path`
/// that cannot be read at all is an `Err`. Only `stat` and `readdir` are used: nothing is
/// opened for reading, so a FIFO or device in the tree cannot block or feed the walk.
pub fn yaml_files(path: &Path) -> std::io::Result<Listing> {
    let mut out = Listing::default();
    if !std::fs::metadata(path)?.is_dir() {
        out.files.push(path.to_path_buf());
        return Ok(out);
    }
    let root = std::fs::canonicalize(path)?;
    let mut seen = std::collections::BTreeSet::from([root.clone()]);
    // Each folder to walk, with the canonical folders on the way to it (to tell a loop from
    // a second way into a folder already walked).
    let mut stack = vec![(path.to_path_buf(), vec![root])];
    while let Some((dir, ancestors)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == path => return Err(e),
            Err(e) => {
                out.problems.push(
                    Diagnostic::new(&dir, Pos::START, format!("cannot read folder: {e}"))
                        .with_hint("fix its permissions, or remove it from the probe folder"),
                );
                continue;
            }
        };
        let mut names: Vec<PathBuf> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => names.push(entry.path()),
                Err(e) => out.problems.push(Diagnostic::new(
                    &dir,
                    Pos::START,
                    format!("cannot list folder: {e}"),
                )),
            }
        }
        names.sort();
        for p in names {
            if is_hidden(&p) {
                continue;
            }
            // `metadata` follows symlinks: a link is treated as what it points to.
            let meta = match std::fs::metadata(&p) {
                Ok(meta) => meta,
                Err(e) if is_loop(&e) => {
                    out.problems.push(
                        Diagnostic::new(&p, Pos::START, format!("symlink loop: {e}"))
                            .with_hint("make the symlink point at a file or folder"),
                    );
                    continue;
                }
                Err(e) if is_yaml(&p) => {
                    out.problems.push(
                        Diagnostic::new(&p, Pos::START, format!("cannot read file: {e}"))
                            .with_hint("a dangling symlink? point it at an existing file"),
                    );
                    continue;
                }
                // A dangling link or unreadable entry that is not YAML: nothing to load.
                Err(_) => continue,
            };
            if meta.is_dir() {
                let canonical = match std::fs::canonicalize(&p) {
                    Ok(c) => c,
                    Err(e) => {
                        out.problems.push(Diagnostic::new(
                            &p,
                            Pos::START,
                            format!("cannot read folder: {e}"),
                        ));
                        continue;
                    }
                };
                if ancestors.contains(&canonical) {
                    out.problems.push(
                        Diagnostic::new(
                            &p,
                            Pos::START,
                            format!(
                                "symlink loop: this folder leads back to `{}`",
                                canonical.display()
                            ),
                        )
                        .with_hint("make the symlink point outside the folder that holds it"),
                    );
                } else if seen.insert(canonical.clone()) {
                    let mut inner = ancestors.clone();
                    inner.push(canonical);
                    stack.push((p, inner));
                }
            } else if is_yaml(&p) {
                out.files.push(p);
            }
        }
    }
    out.files.sort();
    Ok(out)
}

/// Loads every probe under `paths`, validating each file; problems go to `diags`. Only these
/// files: the built-in library is added by [`load_config_probes`].
pub fn load_probes(
    paths: &[config::SourcedPath],
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Vec<Probe> {
    let probes = load_path_probes(paths, defaults, diags);
    probe::check_unique_ids(&probes, diags);
    check_regex_budget(&probes, diags);
    probes
}

/// The probes a config loads: the built-in library (unless `library: false`) without the
/// probes its `library.exclude` globs leave out, then the team's files from `probes:`. A team
/// probe may not take the id of a library probe that is loaded: replacing one is said out
/// loud, by excluding it.
pub fn load_config_probes(config: &Config, diags: &mut Diagnostics) -> Vec<Probe> {
    let library = load_library(&config.library, &config.defaults, diags);
    let team = load_path_probes(&config.probe_paths, &config.defaults, diags);
    check_library_overlap(&config.probe_paths, &library, &team, diags);
    probe::check_unique_ids(&team, diags);
    let mut probes = library;
    probes.extend(team);
    check_regex_budget(&probes, diags);
    probes
}

/// Every probe of the built-in library, through the same loader as files on disk (errors read
/// `library:headers/hsts.yaml:3:1: …`).
pub fn library_probes(defaults: &config::Defaults, diags: &mut Diagnostics) -> Vec<Probe> {
    library::files()
        .iter()
        .filter_map(|f| {
            let path = f.display_path();
            match decode(&path, f.bytes.to_vec()) {
                Ok(text) => load_probe_text(&path, &text, defaults, diags),
                Err(d) => {
                    diags.push(d);
                    None
                }
            }
        })
        .collect()
}

/// The library probes `selection` keeps. Every exclude glob must leave out at least one
/// library probe: one that matches nothing is a typo or a probe renamed since, and silently
/// keeping the probe it meant would be worse than saying so.
fn load_library(
    selection: &config::Library,
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Vec<Probe> {
    if !selection.enabled {
        return Vec::new();
    }
    let mut probes = library_probes(defaults, diags);
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
    library: &[Probe],
    team: &[Probe],
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

/// Loads the probe files under `paths`, without checks across probes.
fn load_path_probes(
    paths: &[config::SourcedPath],
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    for sourced in paths {
        let files = match yaml_files(&sourced.path) {
            Ok(listing) => {
                listing.problems.into_iter().for_each(|d| diags.push(d));
                listing.files
            }
            Err(e) => {
                diags.push(
                    Diagnostic::new(
                        &sourced.file,
                        sourced.pos,
                        format!("cannot read probes from `{}`: {e}", sourced.path.display()),
                    )
                    .with_hint(
                        "probe paths are files or folders, relative to the working directory",
                    ),
                );
                continue;
            }
        };
        for file in files {
            if let Some(p) = load_probe_file(&file, defaults, diags) {
                probes.push(p);
            }
        }
    }
    probes
}

/// The compiled regexes of all probes together stay within [`probe::REGEX_TOTAL_BYTES`]; the
/// probe that crosses it is reported, once.
fn check_regex_budget(probes: &[Probe], diags: &mut Diagnostics) {
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

/// Loads and validates one probe file.
pub fn load_probe_file(
    file: &Path,
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    match read_text(file) {
        Ok(text) => load_probe_text(file, &text, defaults, diags),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// Probes compiled from files that loaded without a diagnostic, by file, with a hash of the
/// text and the defaults they were compiled with: a reload compiles again only the files that
/// changed (parsing, validating and compiling regexes is most of a load; reading and hashing
/// 10,000 files is not). Bounded: cleared when it holds more than [`COMPILED_CAP`] files.
static COMPILED: std::sync::LazyLock<std::sync::Mutex<HashMap<PathBuf, (u64, Probe)>>> =
    std::sync::LazyLock::new(Default::default);

/// At most this many compiled probes are kept for reloads.
const COMPILED_CAP: usize = 50_000;

/// Forgets every compiled probe, so the next load compiles every file (benchmarks of a cold
/// load use it).
pub fn forget_compiled() {
    COMPILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

/// Parses and validates the text of one probe file (a picket probe or a nuclei template)
/// shown as `file`, or takes the probe compiled from the same text and defaults before.
fn load_probe_text(
    file: &Path,
    text: &str,
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{defaults:?}").hash(&mut hasher);
    let key = hasher.finish();
    let cache = || {
        COMPILED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some((k, probe)) = cache().get(file)
        && *k == key
    {
        return Some(probe.clone());
    }
    let mut own = Diagnostics::default();
    let probe = compile_probe_text(file, text, defaults, &mut own);
    if let Some(p) = &probe
        && own.is_empty()
    {
        let mut cache = cache();
        if cache.len() >= COMPILED_CAP {
            cache.clear();
        }
        cache.insert(file.to_path_buf(), (key, p.clone()));
    }
    diags.extend(own);
    probe
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

/// Loads the config file at `path`, its `targets_from` files and its probes.
pub fn load(path: &Path, env: EnvLookup<'_>) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    if let Some(missing) = missing_config(path) {
        diags.push(missing);
        return Err(diags);
    }
    // Shape problems of the config and targets files, kept apart until the end: what the
    // validation of their repaired rest reports at a quiet position is left out.
    let mut shape = Diagnostics::default();
    let mut quiet: Vec<(PathBuf, Pos)> = Vec::new();
    let parsed = match read_text(path) {
        Ok(text) => parse_checked::<config::raw::Config>(path, &text, config_schema()),
        Err(d) => Parsed::Failed(vec![d]),
    };
    let raw = match parsed {
        Parsed::Clean(raw) => raw,
        Parsed::Repaired {
            value,
            problems,
            quiet: q,
        } => {
            problems.into_iter().for_each(|d| shape.push(d));
            quiet.extend(q.into_iter().map(|p| (path.to_path_buf(), p)));
            value
        }
        Parsed::Failed(problems) => {
            problems.into_iter().for_each(|d| diags.push(d));
            // The config is invalid, but its `probes:` list may still be readable: validate
            // those probes too, so one run reports every error in every file.
            if let Some(paths) = lenient_probe_paths(path) {
                load_probes(&paths, &config::Defaults::default(), &mut diags);
            }
            return Err(diags);
        }
    };
    let mut origins: Vec<(String, PathBuf, Pos)> = raw
        .targets
        .iter()
        .map(|t| {
            (
                t.value.name.value.clone(),
                path.to_path_buf(),
                Pos::from_location(&t.value.name.referenced),
            )
        })
        .collect();
    let targets_from_pos: Vec<Pos> = raw
        .targets_from
        .iter()
        .map(|p| Pos::from_location(&p.referenced))
        .collect();
    let mut config = config::compile(path, raw, env, &mut diags);

    for (dir, pos) in config.targets_from.clone().iter().zip(targets_from_pos) {
        let files = match yaml_files(dir) {
            Ok(listing) => {
                listing.problems.into_iter().for_each(|d| diags.push(d));
                listing.files
            }
            Err(e) => {
                diags.push(Diagnostic::new(
                    path,
                    pos,
                    format!("cannot read targets from `{}`: {e}", dir.display()),
                ));
                continue;
            }
        };
        for file in files {
            let parsed = match read_text(&file) {
                Ok(text) => parse_checked::<Vec<Spanned<config::raw::Target>>>(
                    &file,
                    &text,
                    targets_schema(),
                ),
                Err(d) => Parsed::Failed(vec![d]),
            };
            let raw = match parsed {
                Parsed::Clean(raw) => raw,
                Parsed::Repaired {
                    value,
                    problems,
                    quiet: q,
                } => {
                    problems.into_iter().for_each(|d| shape.push(d));
                    quiet.extend(q.into_iter().map(|p| (file.clone(), p)));
                    value
                }
                Parsed::Failed(problems) => {
                    problems.into_iter().for_each(|d| diags.push(d));
                    continue;
                }
            };
            origins.extend(raw.iter().map(|t| {
                (
                    t.value.name.value.clone(),
                    file.clone(),
                    Pos::from_location(&t.value.name.referenced),
                )
            }));
            let mut redactor = config.redactor.clone();
            let targets = config::compile_targets(&file, raw, env, &mut redactor, &mut diags);
            config.redactor = redactor;
            config.targets.extend(targets);
        }
    }
    config::check_unique_targets(&origins, &mut diags);

    let probes = load_config_probes(&config, &mut diags);
    check_selectors(&config, &probes, &mut diags);
    check_request_caps(&config, &probes, &mut diags);

    if !shape.is_empty() {
        let mut kept = Diagnostics::default();
        for d in diags.iter() {
            if !quiet.iter().any(|(f, p)| *f == d.path && *p == d.pos) {
                kept.push(d.clone());
            }
        }
        kept.extend(shape);
        diags = kept;
    }
    if diags.is_empty() {
        Ok(Loaded { config, probes })
    } else {
        Err(diags)
    }
}

/// A config file that is not there at all (or a dangling symlink) is said plainly, with no
/// position and with where a relative path was looked for.
fn missing_config(path: &Path) -> Option<Diagnostic> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let looked_in = if path.is_relative() {
                std::env::current_dir()
                    .map(|d| format!("looked for it in the working directory, {}; ", d.display()))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            Some(
                Diagnostic::new(path, Pos::FILE, "no such file").with_hint(format!(
                    "{looked_in}pass the service config with `-c PATH` (`picket check --target URL` needs none)"
                )),
            )
        }
        _ => None,
    }
}

/// Loads probes only (no config), for `picket validate PATH…` and ad-hoc checks.
pub fn load_probe_paths(
    paths: &[PathBuf],
    defaults: &config::Defaults,
) -> Result<Vec<Probe>, Diagnostics> {
    let mut diags = Diagnostics::default();
    let sourced: Vec<config::SourcedPath> = paths
        .iter()
        .map(|p| config::SourcedPath {
            path: p.clone(),
            file: p.clone(),
            pos: Pos::START,
        })
        .collect();
    let probes = load_probes(&sourced, defaults, &mut diags);
    if diags.is_empty() {
        Ok(probes)
    } else {
        Err(diags)
    }
}

/// For `validate`'s summary over folders of probes and templates: how many probe files
/// `paths` hold, and how many of them are refused in `diags`.
pub fn probe_file_census(paths: &[PathBuf], diags: &Diagnostics) -> (usize, usize) {
    let files: std::collections::BTreeSet<PathBuf> = paths
        .iter()
        .filter_map(|r| yaml_files(r).ok())
        .flat_map(|l| l.files)
        .collect();
    let refused = files
        .iter()
        .filter(|f| diags.iter().any(|d| d.path == **f))
        .count();
    (files.len(), refused)
}

/// Reads only the `probes:` list of a config that failed to load, ignoring everything else.
fn lenient_probe_paths(path: &Path) -> Option<Vec<config::SourcedPath>> {
    #[derive(serde::Deserialize)]
    struct ProbesOnly {
        #[serde(default)]
        probes: Vec<Spanned<String>>,
    }
    let text = read_text(path).ok()?;
    let raw: ProbesOnly = serde_saphyr::from_str_with_options(&text, yaml_options()).ok()?;
    Some(
        raw.probes
            .iter()
            .map(|p| config::SourcedPath {
                path: PathBuf::from(&p.value),
                file: path.to_path_buf(),
                pos: Pos::from_location(&p.referenced),
            })
            .collect(),
    )
}

/// No series may send more than [`probe::MAX_REQUESTS_PER_RUN`] requests in one run: a
/// target's list variables multiply a probe's paths, so this is known only once config and
/// probes are both loaded. Reported at the path that crosses the cap, once per target.
fn check_request_caps(config: &Config, probes: &[Probe], diags: &mut Diagnostics) {
    let cap = probe::MAX_REQUESTS_PER_RUN;
    for p in probes {
        // Only HTTP probes send a request per expanded path.
        let Some(http) = p.kind.as_http() else {
            continue;
        };
        let paths: Vec<(&probe::Template, Pos)> = http
            .exchanges
            .iter()
            .flat_map(|e| {
                let r = &e.request;
                r.paths
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t, r.path_pos.get(i).copied().unwrap_or(Pos::START)))
            })
            .collect();
        for target in config.targets.iter().filter(|t| p.applies_to(t)) {
            let Some(counts) = http
                .exchanges
                .iter()
                .map(|e| e.request.request_counts(&target.vars))
                .collect::<Option<Vec<Vec<usize>>>>()
                .map(|c| c.concat())
            else {
                continue;
            };
            let mut total: usize = 0;
            let crossing = counts.iter().position(|n| {
                total = total.saturating_add(*n);
                total > cap
            });
            let Some(i) = crossing else { continue };
            let all = counts.iter().fold(0usize, |a, n| a.saturating_add(*n));
            let lists: Vec<String> = paths[i]
                .0
                .vars
                .iter()
                .filter_map(|name| match target.vars.get(name) {
                    Some(config::Var::List(items)) => {
                        Some(format!("`vars.{name}` has {} items", items.len()))
                    }
                    _ => None,
                })
                .collect();
            diags.push(
                Diagnostic::new(
                    &p.source,
                    paths[i].1,
                    format!(
                        "probe `{}` would send {all} requests per run to target `{}`; one run sends at most {cap}",
                        p.id, target.name
                    ),
                )
                .with_hint(if lists.is_empty() {
                    "split the paths across several probes".to_string()
                } else {
                    format!(
                        "target `{}`: {}; shorten the list or split it across several targets",
                        target.name,
                        lists.join(", ")
                    )
                }),
            );
        }
    }
}

/// A probe that names targets must name existing ones.
fn check_selectors(config: &Config, probes: &[Probe], diags: &mut Diagnostics) {
    let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    for p in probes {
        if let Selector::Names(_) = &p.targets {
            for (w, pos) in &p.target_name_pos {
                if !names.contains(&w.as_str()) {
                    let mut d = Diagnostic::new(
                        &p.source,
                        *pos,
                        format!("probe `{}` names unknown target `{w}`", p.id),
                    );
                    d.hint = Some(match diag::did_you_mean(w, &names) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!(
                            "targets in {}: {}",
                            config.source.display(),
                            if names.is_empty() {
                                "(none)".to_string()
                            } else {
                                names.join(", ")
                            }
                        ),
                    });
                    diags.push(d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &Path, files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn a_configmap_volume_is_read_once_through_its_symlinks() {
        // What Kubernetes mounts: the files live in a hidden timestamped folder, `..data`
        // points at it, and each visible name is a symlink through `..data`.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("..2026_01_01/sub")).unwrap();
        std::fs::write(root.join("..2026_01_01/a.yaml"), "x").unwrap();
        std::fs::write(root.join("..2026_01_01/sub/b.yml"), "x").unwrap();
        std::os::unix::fs::symlink("..2026_01_01", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/a.yaml", root.join("a.yaml")).unwrap();
        std::os::unix::fs::symlink("..data/sub", root.join("sub")).unwrap();
        std::fs::write(root.join(".hidden.yaml"), "x").unwrap();
        std::fs::write(root.join("notes.txt"), "x").unwrap();
        let listing = yaml_files(root).unwrap();
        assert!(listing.problems.is_empty(), "{:?}", listing.problems);
        assert_eq!(names(root, &listing.files), ["a.yaml", "sub/b.yml"]);
    }

    #[test]
    fn loops_and_dangling_links_are_reported_and_the_walk_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/p.yaml"), "x").unwrap();
        std::fs::write(root.join("z.yaml"), "x").unwrap();
        std::os::unix::fs::symlink("../..", root.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("self.yaml", root.join("self.yaml")).unwrap();
        std::os::unix::fs::symlink("missing.yaml", root.join("gone.yaml")).unwrap();
        std::os::unix::fs::symlink("missing", root.join("gone-dir")).unwrap();
        // A second way into a folder already walked is not a loop, and adds nothing.
        std::os::unix::fs::symlink("a", root.join("again")).unwrap();
        let listing = yaml_files(root).unwrap();
        assert_eq!(names(root, &listing.files), ["a/b/p.yaml", "z.yaml"]);
        let mut problems: Vec<String> = listing
            .problems
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    names(root, std::slice::from_ref(&d.path))[0],
                    d.message
                )
            })
            .collect();
        problems.sort();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("a/b/up symlink loop"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("gone.yaml cannot read file"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("self.yaml symlink loop"),
            "{problems:?}"
        );
    }

    fn probe_from(file: &str, yaml: &str) -> Probe {
        let file = Path::new(file);
        let raw = parse_yaml(file, yaml).unwrap();
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
        check_regex_budget(&[one.clone(), big("b.yaml"), big("c.yaml")], &mut diags);
        let all: Vec<&Diagnostic> = diags.iter().collect();
        assert_eq!(all.len(), 1, "{diags}");
        assert_eq!(all[0].path, Path::new("c.yaml"));
        assert_eq!(all[0].pos, Pos { line: 1, column: 5 });
        assert!(
            all[0].message.contains("over the budget of 128 MiB"),
            "{diags}"
        );
        let mut diags = Diagnostics::default();
        check_regex_budget(&[one.clone(), big("b.yaml")], &mut diags);
        assert!(diags.is_empty());
    }

    #[test]
    fn a_fifo_is_listed_and_refused_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let listing = yaml_files(dir.path()).unwrap();
        assert_eq!(listing.files, std::slice::from_ref(&fifo));
        let d = read_text(&fifo).unwrap_err();
        assert_eq!(d.message, "this is a FIFO, not a regular file");
        assert_eq!(d.pos, Pos::START);
    }
}

#[cfg(test)]
mod compiled_cache {
    use super::*;

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
        let load = |defaults: &config::Defaults| {
            let mut diags = Diagnostics::default();
            let p = load_probe_file(&file, defaults, &mut diags);
            (p, diags)
        };
        let (p, d) = load(&defaults);
        assert!(d.is_empty());
        assert_eq!(p.unwrap().name, "first");
        // The same text and defaults: the compiled probe, unchanged.
        assert_eq!(load(&defaults).0.unwrap().name, "first");
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
