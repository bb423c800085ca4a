//! `picket probes`: the built-in probe library, one line a probe; and `--export DIR`, which
//! writes the library's files out to be edited.

use std::io::Write;
use std::path::Path;

use super::{EXIT_CONFIG, EXIT_OK};
use crate::load;
use crate::term::escape_controls;

/// `picket probes`: the built-in library, one line per probe (id, severity, the first
/// sentence of its description), sorted by id.
pub fn probes(out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    use std::fmt::Write as _;
    let mut diags = crate::diag::Diagnostics::default();
    let mut probes = load::library_probes(&crate::config::Defaults::default(), &mut diags);
    if !diags.is_empty() {
        // Only a broken build gets here: a test loads the library.
        let _ = writeln!(err, "{}", escape_controls(&diags.to_string()));
        return EXIT_CONFIG;
    }
    probes.sort_by(|a, b| a.id.cmp(&b.id));
    let w = probes.iter().map(|p| p.id.len()).max().unwrap_or(0);
    let mut text = String::new();
    for p in &probes {
        // A first sentence of a few words ("HTTPS targets only.") says less than the name.
        let about = p
            .description
            .as_deref()
            .map(first_sentence)
            .filter(|s| s.split(' ').count() >= 4)
            .map_or_else(|| p.name.clone(), |s| clip_words(&s, 80));
        let _ = writeln!(text, "{:<w$}  {:<8}  {about}", p.id, p.severity);
    }
    let _ = out.write_all(escape_controls(&text).as_bytes());
    EXIT_OK
}

/// `picket probes --export DIR`: writes the library's files under `dir`.
pub fn export_probes(dir: &Path, force: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let shown = dir.display().to_string();
    let shown = escape_controls(&shown);
    match crate::library::export(dir, force) {
        Ok(n) => {
            let _ = writeln!(out, "wrote {n} probe files to {shown}");
            let _ = writeln!(
                out,
                "to run these copies instead of the built-in library, set `library: false` and `probes: [{shown}]` in the config"
            );
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "error: {}", escape_controls(&e.to_string()));
            if matches!(e, crate::library::ExportError::Exists { .. }) {
                let _ = writeln!(err, "  hint: pass --force to overwrite them");
            }
            EXIT_CONFIG
        }
    }
}

/// The first sentence of a description, on one line: up to the first `. ` that is not part
/// of `e.g.`/`i.e.`, or all of it.
fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = flat.as_str();
    let mut from = 0;
    while let Some(i) = flat[from..].find(". ").map(|i| from + i) {
        let before = &flat[..i];
        if !(before.ends_with("e.g") || before.ends_with("i.e") || before.ends_with("etc")) {
            return flat[..=i].to_string();
        }
        from = i + 2;
    }
    flat.to_string()
}

/// `text` cut at a word boundary to at most `max` characters, with `…` when cut.
fn clip_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + word.chars().count() + 1 >= max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sentences_are_clipped_at_a_word() {
        assert_eq!(clip_words("short enough", 20), "short enough");
        assert_eq!(clip_words("one two three four", 12), "one two…");
    }

    #[test]
    fn first_sentences() {
        assert_eq!(
            first_sentence("Browsers must use HTTPS.\n  Fails when it is missing."),
            "Browsers must use HTTPS."
        );
        assert_eq!(
            first_sentence("Some servers, e.g. nginx. Second."),
            "Some servers, e.g. nginx."
        );
        assert_eq!(first_sentence("No full stop"), "No full stop");
        assert_eq!(first_sentence("  "), "");
    }
}
