//! `sandgate [<name>] logs`: the gateway log lines (about one sandbox, or all of them), from
//! a time on ([`since`]), and followed as they are written ([`follow`]). The daemon writes one JSON
//! object per line (fields flattened, `sandbox` among them); lines from older daemons, in
//! plain text, are matched by the sandbox's name as a whole word.

use serde_json::{Map, Value};

mod follow;
mod since;

use crate::args::LogsArgs;
use crate::env;
use crate::error::{CliError, CliResult, ErrorKind};
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

/// Keeps the lines of a `logs` invocation: about one sandbox (or all) and not before `since`.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Only lines about this sandbox.
    pub name: Option<String>,
    /// Only lines timestamped at or after this (ms since the epoch).
    pub since_ms: Option<u64>,
}

impl Filter {
    /// The line, parsed, if it passes.
    pub fn keep(&self, raw: &str) -> Option<Line> {
        let line = match &self.name {
            Some(n) => Line::about(raw, n)?,
            None => Line::parse(raw)?,
        };
        match (self.since_ms, &line) {
            (None, _) => Some(line),
            (Some(since), Line::Json(m)) => m
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(since::rfc3339_ms)
                .is_some_and(|t| t >= since)
                .then_some(line),
            // Plain-text lines carry no time we can compare.
            (Some(_), Line::Text(_)) => None,
        }
    }
}

impl Line {
    /// Parses any non-empty line.
    pub fn parse(raw: &str) -> Option<Line> {
        if raw.trim().is_empty() {
            return None;
        }
        Some(match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(m)) => Line::Json(m),
            _ => Line::Text(raw.to_owned()),
        })
    }

    /// Prints the line (`--json`: as one object; otherwise rendered, refusals highlighted).
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.json());
        } else {
            let h = self.human();
            let denied = matches!(self, Line::Json(m) if m.get("decision").and_then(Value::as_str) == Some("denied"));
            println!("{}", if denied { ui::warn(&h) } else { h });
        }
    }
}

/// `sandgate [<name>] logs [-n N] [--since T] [--follow] [--json]`.
pub async fn command(
    state: &StateDir,
    name: Option<&str>,
    args: &LogsArgs,
    json: bool,
) -> CliResult<u8> {
    if let Some(n) = name
        && env::read_record(state, n).is_none()
    {
        return Err(env::unknown_sandbox(state, n));
    }
    let since_ms = match &args.since {
        Some(s) => Some(since::parse(s, crate::pidfile::now_ms()).ok_or_else(|| {
            CliError::new(
                ErrorKind::Usage,
                format!("cannot read --since {s:?}"),
                "give a duration ago (90s, 10m, 2h, 1d) or an RFC 3339 time (2026-01-31T12:00:00Z)",
            )
        })?),
        None => None,
    };
    let filter = Filter {
        name: name.map(str::to_owned),
        since_ms,
    };
    let path = state.log_file();
    let text = std::fs::read(&path).map_err(|e| {
        CliError::new(
            ErrorKind::NoLogs,
            format!("cannot read {}: {e}", path.display()),
            format!("start the gateway with `{}`", state.cmd("gateway start")),
        )
    })?;
    // Only whole lines; a following reader picks up the rest.
    let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let shown = String::from_utf8_lossy(&text[..whole]);
    let lines: Vec<Line> = shown.lines().filter_map(|l| filter.keep(l)).collect();
    if lines.is_empty() && !json && !args.follow {
        let about = name.map(|n| format!(" about `{n}`")).unwrap_or_default();
        println!("No gateway log lines{about} yet (log: {}).", path.display());
    }
    for l in &lines[lines.len().saturating_sub(args.tail)..] {
        l.print(json);
    }
    if args.follow {
        follow::run(&path, whole as u64, &filter, json).await?;
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
