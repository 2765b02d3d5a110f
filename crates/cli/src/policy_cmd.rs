//! `sandgate <name> policy list|add|remove`, and the one-line summary of refused egress that
//! `connect`/`exec` print when they end (clients hide the proxy's 403 body).

use sandgate_gateway::egress::{Denial, HostRule, Preset};

use crate::admin::client;
use crate::admin::proto::{Denials, PolicyChange, PolicyReply, Request};
use crate::args::{PolicyAction, PolicyTarget};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::StateDir;
use crate::{ui, validate};

fn change(target: &PolicyTarget, add: bool) -> CliResult<PolicyChange> {
    if let Some(host) = &target.host {
        let rule: HostRule = host.parse().map_err(|e| {
            CliError::new(
                ErrorKind::InvalidHost,
                format!("`{host}`: {e}"),
                "pass HOST[:PORT] or *.suffix[:PORT], e.g. `--host api.example.com:443`",
            )
        })?;
        return Ok(if add {
            PolicyChange::AddHost(rule)
        } else {
            PolicyChange::RemoveHost(rule)
        });
    }
    let name = target.preset.clone().unwrap_or_default();
    let preset = validate::policies(std::slice::from_ref(&name))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CliError::new(
                ErrorKind::Usage,
                "no preset given",
                format!("name one of: {}", Preset::names()),
            )
        })?;
    Ok(if add {
        PolicyChange::AddPreset(preset)
    } else {
        PolicyChange::RemovePreset(preset)
    })
}

/// `sandgate <name> policy …`.
pub async fn command(
    state: &StateDir,
    name: &str,
    action: &PolicyAction,
    json: bool,
) -> CliResult<u8> {
    let req = match action {
        PolicyAction::List => Request::PolicyList {
            name: name.to_owned(),
        },
        PolicyAction::Add(t) => Request::PolicyChange {
            name: name.to_owned(),
            change: change(t, true)?,
        },
        PolicyAction::Remove(t) => Request::PolicyChange {
            name: name.to_owned(),
            change: change(t, false)?,
        },
    };
    let reply: PolicyReply = client::call(state, &req).await?;
    if json {
        let mut v = serde_json::to_value(&reply).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("schemaVersion".into(), serde_json::json!(1));
        }
        ui::print_json(&v);
        return Ok(0);
    }
    match action {
        PolicyAction::List => {}
        PolicyAction::Add(_) if reply.changed => {
            println!("Allowed for `{name}` from its next connection.")
        }
        PolicyAction::Remove(_) if reply.changed => {
            println!("Removed for `{name}` from its next connection.")
        }
        _ => println!("Nothing to change."),
    }
    print_policy(&reply);
    Ok(0)
}

fn print_policy(r: &PolicyReply) {
    println!(
        "Egress policy of `{}` (besides inference.local:443):",
        r.sandbox
    );
    if r.presets.is_empty() && r.hosts.is_empty() {
        println!("  nothing: every other destination is refused");
    }
    for p in &r.presets {
        println!("  {}  {}", ui::ok(p.name.as_str()), p.description);
        for h in &p.hosts {
            println!("      {h}");
        }
    }
    for h in &r.hosts {
        println!("  host  {h}");
    }
    println!("Refused since the gateway started: {}", r.denied);
}

/// The refusals of a session that started at `since_ms`, or `None` when there were none or
/// the gateway cannot say.
pub async fn session_denials(state: &StateDir, name: &str, since_ms: u64) -> Option<Denials> {
    let req = Request::EgressDenials {
        name: name.to_owned(),
        since_ms,
    };
    let d: Denials = client::call(state, &req).await.ok()?;
    (!d.is_empty()).then_some(d)
}

/// One line (per distinct target) saying what was refused and the command that allows it.
pub fn summary(state: &StateDir, name: &str, denials: &[Denial]) -> String {
    let mut seen: Vec<(&str, usize, Option<Preset>)> = Vec::new();
    for d in denials {
        match seen.iter_mut().find(|(t, _, _)| *t == d.target) {
            Some(e) => e.1 += 1,
            None => seen.push((&d.target, 1, d.suggest)),
        }
    }
    let parts: Vec<String> = seen
        .iter()
        .map(|(target, n, suggest)| {
            let how = match suggest {
                Some(p) => state.cmd(&format!("{name} policy add {p}")),
                None => state.cmd(&format!("{name} policy add --host {target}")),
            };
            let times = if *n > 1 {
                format!(" ×{n}")
            } else {
                String::new()
            };
            format!("{target}{times} (allow: `{how}`)")
        })
        .collect();
    format!(
        "sandgate: egress refused in this session: {}",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_groups_targets_and_names_the_remedy() {
        let s = StateDir::new("/s".into());
        let d = |t: &str, p| Denial {
            at_ms: 1,
            target: t.into(),
            reason: "r".into(),
            suggest: p,
        };
        let line = summary(
            &s,
            "alpha",
            &[
                d("pypi.org:443", Some(Preset::Pypi)),
                d("pypi.org:443", Some(Preset::Pypi)),
                d("evil.example:443", None),
            ],
        );
        assert!(line.contains("pypi.org:443 ×2"), "{line}");
        assert!(line.contains("alpha policy add pypi"), "{line}");
        assert!(
            line.contains("alpha policy add --host evil.example:443"),
            "{line}"
        );
    }

    #[test]
    fn changes_parse_at_the_edge() {
        let t = |p: Option<&str>, h: Option<&str>| PolicyTarget {
            preset: p.map(Into::into),
            host: h.map(Into::into),
        };
        assert_eq!(
            change(&t(Some("npm"), None), true).ok(),
            Some(PolicyChange::AddPreset(Preset::Npm))
        );
        assert!(change(&t(Some("ftp"), None), true).is_err());
        assert!(change(&t(None, Some("a b")), true).is_err());
        assert!(matches!(
            change(&t(None, Some("api.example.com")), false),
            Ok(PolicyChange::RemoveHost(_))
        ));
    }
}
