//! The repair: which character ranges to blank out (an unknown key, a mistyped optional
//! field, with its value and in a flow mapping its comma) so that serde reads the rest, and
//! [`Findings::repair`], which blanks them keeping every other value's line and column.

use serde_saphyr::Spanned;

use super::node::Node;
use super::{Findings, Walk};

impl Findings {
    /// `text` with the problems blanked out (each character replaced by a space, line
    /// breaks kept, so every other value keeps its line and column), when that is possible.
    pub fn repair(&self, text: &str) -> Option<String> {
        let ranges = self.repair.as_ref()?;
        let mut chars: Vec<char> = text.chars().collect();
        for range in ranges {
            for c in chars.get_mut(range.clone())? {
                if *c != '\n' && *c != '\r' {
                    *c = ' ';
                }
            }
        }
        // Each fill is at the start of a blanked key, so it overwrites blanks only.
        for at in &self.fills {
            let pair = chars.get_mut(*at..at.saturating_add(2))?;
            if pair != [' ', ' '] {
                return None;
            }
            pair.copy_from_slice(&['{', '}']);
        }
        Some(chars.into_iter().collect())
    }
}

impl<'a> Walk<'a> {
    /// Marks a key and its value for blanking; in a flow mapping, with the comma after it.
    pub(super) fn drop_entry(&mut self, key: &Spanned<String>, value: &Spanned<Node>, flow: bool) {
        // Values reached through an alias or a merge key are written elsewhere: blanking
        // their place here would change other values.
        if key.referenced != key.defined || value.referenced != value.defined {
            self.repairable = false;
            return;
        }
        let start = offset_of(key);
        let Some(mut end) = self.end(value) else {
            self.repairable = false;
            return;
        };
        if flow {
            let next = (end..self.chars.len()).find(|i| !self.chars[*i].is_whitespace());
            if let Some(i) = next.filter(|i| self.chars[*i] == ',') {
                end = i + 1;
            }
        }
        if start >= end || end > self.chars.len() {
            self.repairable = false;
            return;
        }
        self.repair.push(start..end);
    }

    /// Where a node's text ends (exclusive, in characters): its last descendant, and for a
    /// flow collection its closing bracket. `None` when the text does not look as expected.
    fn end(&self, node: &Spanned<Node>) -> Option<usize> {
        let start = offset(node);
        let mut end = start + node.referenced.span().len() as usize;
        match &node.value {
            Node::Seq(items) => {
                for item in items {
                    end = end.max(self.end(item)?);
                }
            }
            Node::Map(entries) => {
                for (key, value) in entries {
                    end = end.max(offset_of(key) + key.referenced.span().len() as usize);
                    end = end.max(self.end(value)?);
                }
            }
            _ => return Some(end),
        }
        let close = match self.chars.get(start) {
            Some('[') => ']',
            Some('{') => '}',
            _ => return Some(end),
        };
        // Past the last item: spaces, commas and comments, then the bracket.
        let mut i = end.max(start + 1);
        while let Some(c) = self.chars.get(i) {
            match c {
                c if *c == close => return Some(i + 1),
                ',' => i += 1,
                c if c.is_whitespace() => i += 1,
                '#' => {
                    while self.chars.get(i).is_some_and(|c| *c != '\n') {
                        i += 1;
                    }
                }
                _ => return None,
            }
        }
        None
    }
}

/// The character offset of a node in its file.
pub(super) fn offset(node: &Spanned<Node>) -> usize {
    node.referenced.span().offset() as usize
}

fn offset_of<T>(spanned: &Spanned<T>) -> usize {
    spanned.referenced.span().offset() as usize
}
