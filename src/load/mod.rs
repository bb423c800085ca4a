//! Loading: read the config and every probe file, parse, validate, and report every problem
//! in one pass.
//!
//! Files are read only if they are regular files, with a size cap ([`files`]), and checked
//! for UTF-8 before parsing; YAML is parsed by serde-saphyr with budgets that stop alias
//! bombs and runaway nesting. A file that fails to
//! parse contributes one diagnostic and the load continues with the next file, so errors in
//! three files are three lines of one report.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_saphyr::Spanned;

use crate::config::{self, Config, EnvLookup};
use crate::diag::{Diagnostic, Diagnostics, Pos, Warning};
use crate::discover::{self, Origin};
use crate::files::{read_text, yaml_files};
use crate::parse::{Parsed, Shapes, parse_checked};
use crate::probe::Probe;
use crate::redact::Redactor;
use crate::yaml::yaml_options;

mod accept;
mod cross;
mod probes;

pub use probes::{Compiled, library_probes, load_config_probes, load_probe_file, load_probes};

/// A loaded, valid configuration and its probes.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The service config.
    pub config: Config,
    /// Every probe from the config's probe paths.
    pub probes: Vec<Arc<Probe>>,
}

fn config_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(config::config_schema);
    &SCHEMA
}

/// A load that found errors: every error, and the warnings it found on the way (an
/// acceptance whose `until` has passed), which `picket validate` reports beside the errors.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Every error, scrubbed of the secrets the load resolved.
    pub diags: Diagnostics,
    /// The warnings, scrubbed likewise. Whether an acceptance or a window selects nothing is
    /// not judged on a failed load: the probes and targets it would be judged against are
    /// incomplete, and a warning about them could be wrong.
    pub warnings: Vec<Warning>,
}

/// Loads the config file at `path`, its `targets_from` files and its probes, compiling every
/// probe file (a one-off load: `check`, `validate`, `list`).
pub fn load(path: &Path, env: EnvLookup<'_>) -> Result<Loaded, Diagnostics> {
    Compiled::default().load(path, env)
}

/// Like [`load`], and a failed load keeps its warnings (a loaded config holds them in
/// [`Config::warnings`]).
pub fn load_warned(path: &Path, env: EnvLookup<'_>) -> Result<Loaded, Refused> {
    Compiled::default().load_warned(path, env)
}

impl Compiled {
    /// Loads the config file at `path`, its `targets_from` files and its probes, compiling
    /// again only the probe files that changed since this cache's last load.
    pub fn load(&mut self, path: &Path, env: EnvLookup<'_>) -> Result<Loaded, Diagnostics> {
        self.load_warned(path, env).map_err(|r| r.diags)
    }

    /// Like [`Compiled::load`], and a failed load keeps its warnings.
    pub fn load_warned(&mut self, path: &Path, env: EnvLookup<'_>) -> Result<Loaded, Refused> {
        let refused = |diags| Refused {
            diags,
            warnings: Vec::new(),
        };
        let mut diags = Diagnostics::default();
        if let Some(missing) = missing_config(path) {
            diags.push(missing);
            return Err(refused(diags));
        }
        let mut shapes = Shapes::default();
        let parsed = match read_text(path) {
            Ok(text) => parse_checked::<config::raw::Config>(path, &text, config_schema()),
            Err(d) => Parsed::Failed(vec![d]),
        };
        let Some(raw) = shapes.take(path, parsed, &mut diags) else {
            // The config is invalid, but its `probes:` list may still be readable: validate
            // those probes too, so one run reports every error in every file.
            if let Some(paths) = lenient_probe_paths(path) {
                load_probes(&paths, &config::Defaults::default(), &mut diags);
            }
            return Err(refused(diags));
        };
        let mut origins: Vec<Origin> = raw
            .targets
            .iter()
            .map(|t| Origin::of(path, &t.value.name))
            .collect();
        let targets_from_pos: Vec<Pos> = raw
            .targets_from
            .iter()
            .map(|p| Pos::from_location(&p.referenced))
            .collect();
        let mut config = config::compile(path, raw, env, &mut diags);
        let dirs: Vec<(PathBuf, Pos)> = config
            .targets_from
            .iter()
            .cloned()
            .zip(targets_from_pos)
            .collect();
        let from_files = discover::files::read(
            path,
            &dirs,
            env,
            &mut config.redactor,
            &mut origins,
            &mut shapes,
            &mut diags,
        );
        config.targets.extend(from_files);
        discover::check_unique(&origins, &mut diags);
        let mut warnings = std::mem::take(&mut config.warnings);
        let from_files = accept::read(
            &config,
            std::time::SystemTime::now(),
            &mut shapes,
            &mut diags,
            &mut warnings,
        );
        config.accept.extend(from_files);

        let probes = self.config_probes(&config, &mut diags);
        cross::check_selectors(&config, &probes, &mut diags);
        cross::check_request_caps(&config, &probes, &mut diags);

        let diags = shapes.settle(diags);
        if diags.is_empty() {
            warnings.extend(config::selects_nothing(
                &config.accept,
                &config.maintenance,
                &config.targets,
                probes.iter().map(|p| p.id.as_str()),
            ));
            config.warnings = scrubbed_warnings(warnings, &config.redactor);
            Ok(Loaded { config, probes })
        } else {
            Err(Refused {
                warnings: scrubbed_warnings(warnings, &config.redactor),
                diags: scrubbed(diags, &config.redactor),
            })
        }
    }
}

/// The warnings of `loaded` once the probes `extra` join its own (`picket validate -c …
/// PATH…`): whether each acceptance and window selects anything is judged again, with them.
pub fn warnings_with(loaded: &Loaded, extra: &[Arc<Probe>]) -> Vec<Warning> {
    let judge = |probes: &mut dyn Iterator<Item = &Arc<Probe>>| {
        let ids: Vec<&str> = probes.map(|p| p.id.as_str()).collect();
        scrubbed_warnings(
            config::selects_nothing(
                &loaded.config.accept,
                &loaded.config.maintenance,
                &loaded.config.targets,
                ids.iter().copied(),
            ),
            &loaded.config.redactor,
        )
    };
    let before = judge(&mut loaded.probes.iter());
    let mut out: Vec<Warning> = loaded
        .config
        .warnings
        .iter()
        .filter(|w| !before.contains(w))
        .cloned()
        .collect();
    out.extend(judge(&mut loaded.probes.iter().chain(extra)));
    out
}

/// What a failed load says, scrubbed of the secrets it resolved. Loading registers them
/// nowhere (`picket validate` and a failed reload leave the process as they found it), so
/// this is the last place that knows them: a message that quotes a value built from
/// `${env:…}` must not carry it on to the terminal or the service's log.
fn scrubbed(diags: Diagnostics, redactor: &Redactor) -> Diagnostics {
    if redactor.is_empty() {
        return diags;
    }
    let mut out = Diagnostics::default();
    for d in diags.iter() {
        let mut d = d.clone();
        d.message = redactor.scrub(&d.message).into_owned();
        d.hint = d.hint.map(|h| redactor.scrub(&h).into_owned());
        out.push(d);
    }
    out
}

/// Warnings, scrubbed of the secrets the load resolved like its errors.
fn scrubbed_warnings(warnings: Vec<Warning>, redactor: &Redactor) -> Vec<Warning> {
    warnings
        .into_iter()
        .map(|mut w| {
            w.diag.message = redactor.scrub(&w.diag.message).into_owned();
            w.diag.hint = w.diag.hint.map(|h| redactor.scrub(&h).into_owned());
            w
        })
        .collect()
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
) -> Result<Vec<Arc<Probe>>, Diagnostics> {
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
