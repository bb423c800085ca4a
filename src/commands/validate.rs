//! `picket validate`: loads the config and its probes (or only the given probe files and
//! folders) and reports every problem, located, without running anything.
//!
//! The load's warnings come first on stderr (`path:line:column: warning: …`), then the
//! errors and their count. A warning the service lives with but a review should not (an
//! acceptance whose `until` has passed) is an error here; the others leave the exit code at
//! 0 and are counted on the `ok:` line.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DEFAULT_CONFIG, EXIT_CONFIG, EXIT_OK};
use crate::config::EnvLookup;
use crate::load;
use crate::plan;

/// `picket validate`: the config (and its probes), or the given probe paths.
pub fn validate(
    config: Option<&Path>,
    paths: &[PathBuf],
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    if !paths.is_empty() && config.is_none() {
        return match load::load_probe_paths(paths, &crate::config::Defaults::default()) {
            Ok(probes) => {
                let _ = writeln!(out, "ok: {} probe(s) valid", probes.len());
                EXIT_OK
            }
            Err(diags) => {
                super::say_diagnostics(err, &diags);
                // For folders of probes or templates, or files of which some load: how many
                // (on stdout; stderr holds only the located errors and their count), also when
                // none does.
                let (files, refused) = load::probe_file_census(paths, &diags);
                if files > 0 && (refused < files || paths.iter().any(|p| p.is_dir())) {
                    let _ = writeln!(
                        out,
                        "{} of {files} probe files load; {refused} refused (see the errors)",
                        files - refused
                    );
                }
                EXIT_CONFIG
            }
        };
    }
    let path = config.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_path_buf);
    let (mut result, mut warnings) = match load::load_warned(&path, env) {
        Ok(loaded) => {
            let warnings = loaded.config.warnings.clone();
            (Ok(loaded), warnings)
        }
        Err(refused) => (Err(refused.diags), refused.warnings),
    };
    if let (Ok(loaded), false) = (&result, paths.is_empty()) {
        match load::load_probe_paths(paths, &loaded.config.defaults) {
            Ok(extra) => {
                if let Ok(l) = &mut result {
                    // An acceptance of a probe the PATHs hold selects something after all.
                    warnings = load::warnings_with(l, &extra);
                    l.probes.extend(extra);
                    // The PATHs join the config's probes, the library's included: one id each.
                    let mut diags = crate::diag::Diagnostics::default();
                    crate::probe::check_unique_ids(&l.probes, &mut diags);
                    if !diags.is_empty() {
                        result = Err(diags);
                    }
                }
            }
            Err(d) => result = Err(d),
        }
    }
    // Validation refuses what the service only warns about (an acceptance whose `until` has
    // passed): those are errors here, counted with the load's.
    let (refused, warned): (Vec<_>, Vec<_>) =
        warnings.into_iter().partition(|w| w.refused_by_validate);
    let mut errors = match &result {
        Ok(_) => crate::diag::Diagnostics::default(),
        Err(diags) => diags.clone(),
    };
    refused.into_iter().for_each(|w| errors.push(w.diag));
    super::say_warnings(err, &warned);
    match result {
        Ok(loaded) if errors.is_empty() => {
            let plan = plan::plan(&loaded);
            let warned = match super::sorted_warnings(&warned).len() {
                0 => String::new(),
                n => format!(", {n} warning(s)"),
            };
            let _ = writeln!(
                out,
                "ok: {} probe(s), {} target(s), {} series{warned}",
                loaded.probes.len(),
                loaded.config.targets.len(),
                plan.series.len()
            );
            EXIT_OK
        }
        _ => {
            super::say_diagnostics(err, &errors);
            EXIT_CONFIG
        }
    }
}
