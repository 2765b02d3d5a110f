#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `src/ws` is a graph without cycles, and nothing but the upgrade handler uses `session`.

use std::collections::{BTreeMap, BTreeSet};

const MODULES: [&str; 8] = [
    "agent",
    "catalog",
    "conn",
    "handshake",
    "methods",
    "origin",
    "session",
    "mod",
];

fn source(module: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ws");
    let mut text = std::fs::read_to_string(format!("{dir}/{module}.rs"))
        .or_else(|_| std::fs::read_to_string(format!("{dir}/{module}/mod.rs")))
        .unwrap();
    if let Ok(entries) = std::fs::read_dir(format!("{dir}/{module}")) {
        for e in entries {
            text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    text
}

/// Which sibling modules each module refers to (`crate::ws::x` or `ws::{x, …}`).
fn graph() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut g = BTreeMap::new();
    for m in MODULES.iter().filter(|m| **m != "mod") {
        let text = source(m);
        let deps = MODULES
            .iter()
            .filter(|d| *d != m && **d != "mod")
            .filter(|d| {
                text.contains(&format!("crate::ws::{d}"))
                    || text.contains(&format!("ws::{{{d}"))
                    || text.contains(&format!(", {d}}}"))
                    || text.contains(&format!("super::{d}"))
            })
            .copied()
            .collect();
        g.insert(*m, deps);
    }
    g
}

fn reaches(
    g: &BTreeMap<&str, BTreeSet<&str>>,
    from: &str,
    to: &str,
    seen: &mut BTreeSet<String>,
) -> bool {
    g.get(from).is_some_and(|deps| {
        deps.iter()
            .any(|d| *d == to || (seen.insert((*d).to_owned()) && reaches(g, d, to, seen)))
    })
}

#[test]
fn ws_modules_form_a_dag_with_session_on_top() {
    let g = graph();
    for m in g.keys() {
        assert!(
            !reaches(&g, m, m, &mut BTreeSet::new()),
            "cycle through {m}: {g:?}"
        );
    }
    for (m, deps) in &g {
        assert!(!deps.contains("session"), "{m} imports session");
    }
    assert!(g["conn"].is_empty(), "conn is a leaf: {:?}", g["conn"]);
    assert!(
        g["origin"].is_empty(),
        "origin is a leaf: {:?}",
        g["origin"]
    );
    assert!(g["session"].contains("handshake") && g["session"].contains("catalog"));
}
