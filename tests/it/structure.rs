//! The module structure holds: no import cycle among `src/` files, and no module imports a
//! stage above it in the order the `lib.rs` layout doc lists them (top stage first).
//!
//! Read from the source as text, like rust-analyzer's `tidy` tests: every `crate::a::b` path
//! (in `use` lines and inline) names the deepest module file it reaches. A module and the
//! folder module above it (`check/tls.rs` and `check/mod.rs`) may use each other: a folder's
//! `mod.rs` declares and dispatches to its files, which share its types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::helpers::repo_root;

/// Module path (`check::http`) → its source text, for every file under `src/` but `main.rs`.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut p = prefix.to_vec();
                if name != "mod" && name != "lib" && name != "main" {
                    p.push(name.clone());
                }
                if prefix.is_empty() && name == "main" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(p.join("::"), text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&repo_root().join("src"), &[], &mut out);
    out
}

/// The text without `#[cfg(test)]` modules (tests may reach anywhere) and comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a use tree stands for: `a::{b, c::{d, e}}` is `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, tree: &str) -> Vec<String> {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{') {
        let inner = inner.strip_suffix('}').unwrap_or(inner);
        let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&inner[start..]);
        return parts
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .flat_map(|p| expand(prefix, p))
            .collect();
    }
    let path: String = tree
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let rest = &tree[path.len()..];
    if rest.starts_with('{') {
        expand(&format!("{prefix}{path}"), rest)
    } else {
        vec![format!("{prefix}{path}")]
    }
}

/// The modules `text` names through `crate::…` paths, each resolved to the deepest known
/// module (an item path `crate::check::http::Response` names `check::http`).
fn imports(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code_of(text);
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    loop {
        // The next path rooted at `crate::`, `super::` or `self::`, and the module it is
        // relative to.
        let next = ["crate::", "super::", "self::"]
            .iter()
            .filter_map(|root| rest.find(root).map(|at| (at, *root)))
            .filter(|(at, _)| {
                *at == 0 || {
                    let before = rest[..*at].chars().next_back().unwrap_or(' ');
                    !(before.is_alphanumeric() || before == '_' || before == ':' || before == '$')
                }
            })
            .min();
        let Some((at, root)) = next else { break };
        rest = &rest[at + root.len()..];
        let mut base: Vec<&str> = match root {
            "crate::" => Vec::new(),
            _ => module.split("::").filter(|s| !s.is_empty()).collect(),
        };
        if root == "super::" {
            base.pop();
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
        }
        let prefix = if base.is_empty() {
            String::new()
        } else {
            format!("{}::", base.join("::"))
        };
        // The use tree: path characters, and a balanced `{…}` group where one opens.
        let mut end = 0;
        let mut depth = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                c if c.is_alphanumeric() || c == '_' || c == ':' => {}
                c if depth > 0 && (c == ',' || c.is_whitespace()) => {}
                _ if depth > 0 => {}
                _ => {
                    end = i;
                    break;
                }
            }
            end = i + c.len_utf8();
            if depth == 0 && c == '}' {
                break;
            }
        }
        for path in expand(&prefix, &rest[..end]) {
            let path = path.split(" as ").next().unwrap_or("").to_string();
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            for n in (1..=segments.len()).rev() {
                let module = segments[..n].join("::");
                if known.contains(&module) {
                    out.insert(module);
                    break;
                }
            }
        }
    }
    out
}

/// The graph: module → modules it imports, less a module's own ancestors and descendants.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let related = |a: &str, b: &str| {
        a == b
            || b.is_empty()
            || a.is_empty()
            || a.starts_with(&format!("{b}::"))
            || b.starts_with(&format!("{a}::"))
    };
    modules
        .iter()
        .map(|(m, text)| {
            let to = imports(m, text, &known)
                .into_iter()
                .filter(|t| !related(m, t))
                .collect();
            (m.clone(), to)
        })
        .collect()
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The stage order of `lib.rs`'s layout doc: the top-level modules its `# Layout` list names,
/// top stage first, and each one's rank (0 = top). Modules named on one line share a rank.
fn stages() -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(repo_root().join("src/lib.rs")).unwrap();
    let doc: Vec<&str> = lib
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim())
        .collect();
    let mut ranks = BTreeMap::new();
    let mut rank = 0;
    for line in doc.iter().skip_while(|l| !l.starts_with("## Stages")) {
        let Some(item) = line.strip_prefix("- ") else {
            continue;
        };
        let names = item.split(':').next().unwrap_or("");
        for name in names.split(',') {
            let name = name
                .trim()
                .trim_matches(|c| c == '[' || c == ']' || c == '`');
            if !name.is_empty() {
                ranks.insert(name.to_string(), rank);
            }
        }
        rank += 1;
    }
    ranks
}

#[test]
fn no_import_cycle_among_modules() {
    let cycles = cycles(&graph());
    assert!(
        cycles.is_empty(),
        "import cycles among src/ modules (each line one circle):\n{}",
        cycles
            .iter()
            .map(|c| c.join(", "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn no_module_imports_a_stage_above_it() {
    let ranks = stages();
    let graph = graph();
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let tops: BTreeSet<String> = graph
        .keys()
        .map(|m| top(m))
        .filter(|t| !t.is_empty())
        .collect();
    let unranked: Vec<&String> = tops.iter().filter(|t| !ranks.contains_key(*t)).collect();
    assert!(
        unranked.is_empty(),
        "lib.rs's `## Stages` list does not place these modules: {unranked:?}"
    );
    let mut upward = Vec::new();
    for (from, tos) in &graph {
        let Some(&rf) = ranks.get(&top(from)) else {
            continue;
        };
        for to in tos {
            let rt = ranks[&top(to)];
            if rt < rf {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports of a stage above (lib.rs `## Stages` order):\n{}",
        upward.join("\n")
    );
}

/// The checker itself: it finds a cycle and resolves grouped imports.
#[test]
fn the_structure_checker_sees_cycles_and_groups() {
    let known: BTreeSet<String> = ["a", "b", "b::c", "d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let found = imports(
        "b::c",
        "use crate::{a::X, b::c::{Y, Z}};\nfn f() { crate::d::g(); super::super::a::h(); }",
        &known,
    );
    assert_eq!(
        found,
        ["a", "b::c", "d"].iter().map(|s| s.to_string()).collect()
    );
    let found = imports("b::c", "use super::c::Y; use self::Z;", &known);
    assert_eq!(found, ["b::c"].iter().map(|s| s.to_string()).collect());
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("d".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
}
