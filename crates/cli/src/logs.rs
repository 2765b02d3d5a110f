//! `sandgate <name> logs`: the gateway log lines about one sandbox. The daemon writes one JSON
//! object per line (fields flattened, `sandbox` among them); lines from older daemons, in
//! plain text, are matched by the sandbox's name as a whole word.

use serde_json::{Map, Value};

use crate::env;
use crate::error::{CliError, CliResult};
use crate::paths::StateDir;
use crate::ui;

/// Keys rendered in fixed places (not as `k=v`).
const FIXED: &[&str] = &["timestamp", "level", "target", "message"];

/// One log line about `name`, parsed when it is JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A structured line.
    Json(Map<String, Value>),
    /// A plain-text line.
    Text(String),
}

impl Line {
    /// Parses `raw` and keeps it only if it is about `name`.
    pub fn about(raw: &str, name: &str) -> Option<Line> {
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(m)) => {
                (m.get("sandbox").and_then(Value::as_str) == Some(name)).then_some(Line::Json(m))
            }
            _ => mentions(raw, name).then(|| Line::Text(raw.to_owned())),
        }
    }

    /// `2026-12-01T09:00:00Z INFO egress denied dest=… rule=…`.
    pub fn human(&self) -> String {
        let m = match self {
            Line::Text(t) => return t.clone(),
            Line::Json(m) => m,
        };
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
        let mut out = format!("{} {:>5} {}", s("timestamp"), s("level"), s("message"));
        for (k, v) in m
            .iter()
            .filter(|(k, _)| !FIXED.contains(&k.as_str()) && k.as_str() != "sandbox")
        {
            match v {
                Value::String(t) => out.push_str(&format!(" {k}={t}")),
                other => out.push_str(&format!(" {k}={other}")),
            }
        }
        out
    }

    /// The line as one JSON object (plain-text lines as `{"message": …}`).
    pub fn json(&self) -> String {
        match self {
            Line::Json(m) => Value::Object(m.clone()).to_string(),
            Line::Text(t) => serde_json::json!({ "message": t }).to_string(),
        }
    }
}

/// `sandgate <name> logs [-n N] [--json]`.
pub fn command(state: &StateDir, name: &str, tail: usize, json: bool) -> CliResult<u8> {
    if env::read_record(state, name).is_none() {
        return Err(env::unknown_sandbox(state, name));
    }
    let path = state.log_file();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::new(
            "no_logs",
            format!("cannot read {}: {e}", path.display()),
            format!("start the gateway with `{}`", state.cmd("gateway start")),
        )
    })?;
    let lines: Vec<Line> = text.lines().filter_map(|l| Line::about(l, name)).collect();
    if lines.is_empty() && !json {
        println!(
            "No gateway log lines about `{name}` yet (log: {}).",
            path.display()
        );
    }
    for l in &lines[lines.len().saturating_sub(tail)..] {
        if json {
            println!("{}", l.json());
        } else {
            let h = l.human();
            let denied = matches!(l, Line::Json(m) if m.get("decision").and_then(Value::as_str) == Some("denied"));
            println!("{}", if denied { ui::warn(&h) } else { h });
        }
    }
    Ok(0)
}

fn mentions(line: &str, name: &str) -> bool {
    line.match_indices(name).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + name.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-'));
        boundary(before) && boundary(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_field_and_by_whole_word() {
        let j = r#"{"timestamp":"t","level":"INFO","message":"egress denied","sandbox":"alpha","dest":"pypi.org:443","bytes_up":0,"target":"sandgate::egress"}"#;
        let l = Line::about(j, "alpha");
        assert!(matches!(l, Some(Line::Json(_))));
        let h = l.map(|l| l.human()).unwrap_or_default();
        assert!(h.starts_with("t  INFO egress denied "), "{h}");
        assert!(
            h.contains(" dest=pypi.org:443") && h.contains(" bytes_up=0"),
            "{h}"
        );
        assert!(!h.contains("sandbox="), "{h}");
        assert_eq!(Line::about(j, "alpha-2"), None);
        assert!(Line::about("INFO sandbox created sandbox=alpha port=1", "alpha").is_some());
        assert!(Line::about("INFO sandbox=alpha-2 port=1", "alpha").is_none());
        assert!(Line::about("x \"alpha\" y", "alpha").is_some());
    }
}
