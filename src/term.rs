//! Text that reaches a terminal: control characters shown escaped, never raw.
//!
//! Targets choose their headers and bodies, and probe files are written by many teams, so any
//! of that text may carry ESC or C1 sequences (CSI, OSC) that move the cursor, rewrite the
//! screen, set the window title or plant clickable links in an operator's terminal. Every
//! text output (`check` text, `list`, `validate`, errors, log lines) passes through
//! [`escape_controls`]; machine formats keep their data but stay printable: JSON through
//! [`escape_json`], XML through [`escape_controls`] before its own escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown escaped: C0 controls other than `\n` and `\t`, DEL, and C1 controls
/// (U+0080–U+009F, which include CSI U+009B and OSC U+009D).
pub fn is_unsafe_control(c: char) -> bool {
    matches!(c, '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}')
}

/// `text` with every unsafe control character written as `\u{1b}` (Rust's escape syntax);
/// borrowed when there is none. `\n` and `\t` stay as they are.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_where(text, is_unsafe_control)
}

/// Like [`escape_controls`], but keeps ESC: for log lines coloured on a terminal, where
/// `tracing-subscriber` writes the colour codes and already escapes ESC inside values.
pub fn escape_controls_but_colours(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\x1b' && is_unsafe_control(c))
}

fn escape_where(text: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Serialized JSON with DEL and C1 controls written as `\u00XX` escapes. serde_json already
/// escapes C0 controls but writes DEL and C1 raw, which is valid JSON and still a terminal
/// control sequence. Outside strings serialized JSON is plain ASCII, so every such character
/// is inside a string, where the escape means exactly the same character: the data is
/// unchanged.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe_control) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_control(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether text for a terminal gets colour: only when it goes to a terminal and `NO_COLOR`
/// is unset or empty (<https://no-color.org>).
pub fn colour_wanted(is_terminal: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    is_terminal && env("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The outcome words `check` starts its result lines with, and their colours (SGR codes).
const OUTCOME_COLOURS: [(&str, &str); 5] = [
    ("PASS ", "32"),
    ("FAIL ", "31"),
    ("ERROR ", "33"),
    ("SKIP ", "2"),
    ("ACCEPTED ", "36"),
];

/// `check`'s text with the outcome word at the start of each result line coloured: green
/// PASS, red FAIL, yellow ERROR, dim SKIP, cyan ACCEPTED. Applied to text already through
/// [`escape_controls`], so the only escape sequences in the result are these.
pub fn colour_outcomes(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.split_inclusive('\n') {
        match OUTCOME_COLOURS
            .iter()
            .find(|(word, _)| line.starts_with(word))
        {
            Some((word, code)) => {
                let bare = word.trim_end();
                let _ = write!(out, "\x1b[{code}m{bare}\x1b[0m");
                out.push_str(&line[bare.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let unset = |_: &str| None;
        let set = |_: &str| Some("1".to_string());
        let empty = |_: &str| Some(String::new());
        assert!(colour_wanted(true, &unset));
        assert!(colour_wanted(true, &empty));
        assert!(!colour_wanted(true, &set));
        assert!(!colour_wanted(false, &unset));
    }

    #[test]
    fn outcome_words_are_coloured_at_line_starts_only() {
        let text = "PASS  a/b  web\nFAIL  c/d  web\n      - FAIL in a finding\nERROR e/f\nSKIP  g\n\n2 series\n";
        assert_eq!(
            colour_outcomes(text),
            "\x1b[32mPASS\x1b[0m  a/b  web\n\x1b[31mFAIL\x1b[0m  c/d  web\n      - FAIL in a finding\n\x1b[33mERROR\x1b[0m e/f\n\x1b[2mSKIP\x1b[0m  g\n\n2 series\n"
        );
        assert_eq!(
            colour_outcomes("ACCEPTED a/b  web\n      accepted until 2027-03-31: why\n"),
            "\x1b[36mACCEPTED\x1b[0m a/b  web\n      accepted until 2027-03-31: why\n"
        );
    }

    #[test]
    fn plain_text_is_borrowed() {
        let text = "héllo\tworld\n→ ok";
        assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
        assert!(matches!(escape_json(text), Cow::Borrowed(_)));
    }

    #[test]
    fn c0_del_and_c1_are_escaped() {
        assert_eq!(
            escape_controls("a\u{1b}[31mb\rc\u{7f}d\u{9b}2Je\u{9d}0;x\u{7}\0"),
            "a\\u{1b}[31mb\\u{d}c\\u{7f}d\\u{9b}2Je\\u{9d}0;x\\u{7}\\u{0}"
        );
        // The first character after C1 is not a control.
        assert_eq!(escape_controls("\u{a0}\u{80}"), "\u{a0}\\u{80}");
    }

    #[test]
    fn every_control_but_newline_and_tab_is_caught() {
        for c in (0u32..0x100).filter_map(char::from_u32) {
            let escaped = escape_controls(&c.to_string()).into_owned();
            let raw = escaped.contains(c);
            let expected_raw = !(c.is_control()) || c == '\n' || c == '\t';
            assert_eq!(raw, expected_raw, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn json_keeps_its_meaning() {
        let value = serde_json::json!({ "s": "x\u{1b}[2J\u{9b}31m\u{9d}8;;http://a\u{7}\u{7f}" });
        let text = serde_json::to_string(&value).unwrap();
        let escaped = escape_json(&text);
        assert!(!escaped.chars().any(char::is_control), "{escaped}");
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }
}
