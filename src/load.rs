//! Loading: read the config and every probe file, parse, validate, and report every problem
//! in one pass.
//!
//! Files are read with a size cap and checked for UTF-8 before parsing; YAML is parsed by
//! serde-saphyr with budgets that stop alias bombs and runaway nesting. A file that fails to
//! parse contributes one diagnostic and the load continues with the next file, so errors in
//! three files are three lines of one report.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use crate::config::{self, Config, EnvLookup};
use crate::diag::{self, Diagnostic, Diagnostics, Pos};
use crate::probe::{self, Probe, Selector};

/// Largest YAML file picket reads. Probe and config files are small; anything bigger is a
/// mistake or an attack.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// A loaded, valid configuration and its probes.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The service config.
    pub config: Config,
    /// Every probe from the config's probe paths.
    pub probes: Vec<Probe>,
}

/// The YAML parser options: no snippets in messages (we print our own format) and budgets
/// well below anything that could hurt the process.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 200_000,
            max_aliases: 1_000,
            max_total_scalar_bytes: 8 << 20,
        },
    }
}

/// Reads a file as UTF-8 text, refusing huge or binary files with a positioned message.
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::new(path, Pos::START, format!("cannot read file: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            path,
            Pos::START,
            format!(
                "file is {} bytes; picket reads YAML files up to {MAX_FILE_BYTES} bytes",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Diagnostic::new(path, Pos::START, format!("cannot read file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let pos = diag::utf8_error_pos(e.as_bytes(), &e.utf8_error());
        Diagnostic::new(path, pos, "file is not valid UTF-8")
            .with_hint("save the file as UTF-8 text")
    })
}

/// Parses YAML text into `T`, turning any failure into one diagnostic.
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Diagnostic> {
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Err(Diagnostic::new(path, Pos::START, "file is empty")
            .with_hint("a YAML mapping is expected here"));
    }
    serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| diag::from_yaml_error(path, &e))
}

/// Lists the YAML files under `path` (itself if a file), sorted for stable output.
pub fn yaml_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(out);
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads every probe under `paths`, validating each file; problems go to `diags`.
pub fn load_probes(
    paths: &[config::SourcedPath],
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    for sourced in paths {
        let files = match yaml_files(&sourced.path) {
            Ok(files) => files,
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
    probe::check_unique_ids(&probes, diags);
    probes
}

/// Loads and validates one probe file.
pub fn load_probe_file(
    file: &Path,
    defaults: &config::Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    let text = match read_text(file) {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    match parse_yaml::<probe::raw::Probe>(file, &text) {
        Ok(raw) => probe::compile(file, raw, defaults, diags),
        Err(mut d) => {
            if d.message == "unknown field `info`" || d.message == "unknown field `requests`" {
                d.hint = Some(
                    "this looks like a nuclei template; this version of picket loads only picket probes"
                        .into(),
                );
            }
            diags.push(d);
            None
        }
    }
}

/// Loads the config file at `path`, its `targets_from` files and its probes.
pub fn load(path: &Path, env: EnvLookup<'_>) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let raw: config::raw::Config = match read_text(path).and_then(|t| parse_yaml(path, &t)) {
        Ok(raw) => raw,
        Err(d) => {
            diags.push(d);
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
            Ok(f) => f,
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
            let raw = match read_text(&file)
                .and_then(|t| parse_yaml::<Vec<Spanned<config::raw::Target>>>(&file, &t))
            {
                Ok(r) => r,
                Err(d) => {
                    diags.push(d);
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

    let probes = load_probes(&config.probe_paths, &config.defaults, &mut diags);
    check_selectors(&config, &probes, &mut diags);

    if diags.is_empty() {
        Ok(Loaded { config, probes })
    } else {
        Err(diags)
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
