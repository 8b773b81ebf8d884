//! The library's module graph stays acyclic and layered as `src/lib.rs` documents: this
//! reads every `crate::…` and `super::…` path in `src/` (tests and binaries aside) and
//! fails on an import that goes up a layer, on a cycle between top-level modules, and on
//! a cycle between the files of one module.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/lib.rs`, bottom first. A module may import its own layer's
/// peers (as long as no cycle forms) and anything below.
const LAYERS: &[&[&str]] = &[
    &["money", "encoding", "logging", "env", "service"],
    &["wire", "http_server"],
    &["signing"],
    &["client"],
    &["error"],
    &["config"],
    &["ledger"],
    &["params"],
    &["pricing", "staking", "storage"],
    &["audits"],
    &["rewards"],
    &["governance"],
    &["epoch"],
    &["auth"],
    &["http"],
    &["explorer"],
    &["app"],
];

/// Modules the storage node and the checker link: they may import only each other.
const PURE: &[&str] = &[
    "money",
    "encoding",
    "logging",
    "env",
    "service",
    "wire",
    "http_server",
    "signing",
    "client",
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `money/split.rs` → ["money", "split"]; `ledger/mod.rs` → ["ledger"].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("under src/");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn non_test_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` (also inside `use crate::{a::b, c}`) as `(a, Some(b))`.
fn crate_paths(code: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let list = if let Some(inner) = rest.strip_prefix('{') {
            &inner[..inner.find('}').unwrap_or(inner.len())]
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            &rest[..end]
        };
        for item in list.split(',') {
            let mut segments = item.trim().split("::").map(str::trim);
            let Some(top) = segments.next().filter(|s| !s.is_empty()) else {
                continue;
            };
            let sub = segments.next().map(str::to_owned);
            found.push((top.to_owned(), sub));
        }
    }
    found
}

/// `super::b` seen from a file at depth 2 (`a/x.rs`) is the sibling `a::b`.
fn super_paths(code: &str) -> Vec<String> {
    code.match_indices("super::")
        .filter_map(|(at, _)| {
            let rest = &code[at + "super::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            (!name.is_empty() && name.chars().next().is_some_and(char::is_lowercase))
                .then(|| name.to_owned())
        })
        .collect()
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// (edges between top-level modules, edges between files of the same module).
fn graphs() -> (Graph, Graph) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut top = Graph::new();
    let mut inner = Graph::new();
    for file in files {
        let module = module_path(&src, &file);
        let Some(own) = module.first().cloned() else {
            continue; // lib.rs
        };
        let code = non_test_code(&std::fs::read_to_string(&file).expect("readable"));
        let own_file = module.get(..2).unwrap_or(&module).join("::");
        top.entry(own.clone()).or_default();
        inner.entry(own_file.clone()).or_default();
        for (target, sub) in crate_paths(&code) {
            if target != own {
                top.entry(own.clone()).or_default().insert(target);
            } else if let Some(sub) =
                sub.filter(|s| s.chars().all(|c| c.is_lowercase() || c == '_'))
            {
                let target_file = format!("{own}::{sub}");
                if target_file != own_file && module.len() >= 2 {
                    inner
                        .entry(own_file.clone())
                        .or_default()
                        .insert(target_file);
                }
            }
        }
        if module.len() == 2 {
            for sibling in super_paths(&code) {
                let target_file = format!("{own}::{sibling}");
                if target_file != own_file {
                    inner
                        .entry(own_file.clone())
                        .or_default()
                        .insert(target_file);
                }
            }
        }
    }
    // Only edges to files that exist (a `super::Type` is not a module).
    let known: BTreeSet<String> = inner.keys().cloned().collect();
    for targets in inner.values_mut() {
        targets.retain(|t| known.contains(t));
    }
    (top, inner)
}

/// One cycle of `graph`, if it has any (depth-first search with colours).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

#[test]
fn every_import_goes_down_the_layers_of_lib_rs() {
    let (top, _) = graphs();
    let mut upward = Vec::new();
    for (from, targets) in &top {
        let from_layer = layer_of(from).unwrap_or_else(|| {
            panic!("module {from} is not in a layer: add it to src/lib.rs's docs and LAYERS")
        });
        for to in targets {
            let to_layer =
                layer_of(to).unwrap_or_else(|| panic!("{from} imports unknown module {to}"));
            if to_layer > from_layer {
                upward.push(format!("{from} -> {to}"));
            }
            if PURE.contains(&from.as_str()) && !PURE.contains(&to.as_str()) {
                upward.push(format!("{from} (pure) -> {to} (server)"));
            }
        }
    }
    assert!(upward.is_empty(), "imports that go up a layer: {upward:?}");
}

#[test]
fn top_level_modules_form_no_cycle() {
    let (top, _) = graphs();
    assert!(top.len() >= 15, "the scan found the modules: {top:?}");
    assert_eq!(find_cycle(&top), None, "a cycle between modules");
}

#[test]
fn files_within_a_module_form_no_cycle() {
    let (_, inner) = graphs();
    assert_eq!(
        find_cycle(&inner),
        None,
        "a cycle between files of one module"
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        crate_paths("use crate::{ledger::account::Address, money};"),
        vec![
            ("ledger".into(), Some("account".into())),
            ("money".into(), None)
        ]
    );
}
