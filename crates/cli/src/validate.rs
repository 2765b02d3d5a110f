//! Input validation done before anything is created.

use sandgate_core::{NameError, SandboxName};
use sandgate_gateway::egress::Preset;

use crate::error::{CliError, ErrorKind};

/// Words that are commands and therefore cannot be sandbox names.
pub const RESERVED: &[&str] = &[
    "gateway",
    "onboard",
    "list",
    "status",
    "agent",
    "demo",
    "completions",
    "logs",
    "help",
];

/// Checks a sandbox name against [`SandboxName`]'s rule (lowercase letters, digits and `-`,
/// 1–63 characters, starting with a letter or digit, not ending with `-`) and that it is not a
/// command word.
pub fn sandbox_name(name: &str) -> Result<(), CliError> {
    let remedy = "use 1–63 lowercase letters, digits and `-`, starting with a letter or digit, e.g. `--name my-sandbox`";
    let bad = |why: String| CliError::new(ErrorKind::InvalidName, why, remedy);
    match SandboxName::parse(name) {
        Ok(_) => {}
        Err(e @ (NameError::Empty | NameError::TooLong(_))) => return Err(bad(e.to_string())),
        Err(NameError::BadChar(c)) => {
            let what = match c {
                '/' | '\\' | '.' => "a path character",
                c if c.is_ascii_uppercase() => "an uppercase letter",
                c if c.is_whitespace() => "whitespace",
                _ => "a character that is not allowed",
            };
            return Err(bad(format!(
                "invalid sandbox name {name:?}: it contains {what} ({c:?})"
            )));
        }
        Err(NameError::EdgeDash) => {
            return Err(bad(format!(
                "invalid sandbox name {name:?}: it must not start or end with `-`"
            )));
        }
    }
    if RESERVED.contains(&name) {
        return Err(CliError::new(
            ErrorKind::InvalidName,
            format!("`{name}` is a sandgate command and cannot be a sandbox name"),
            "choose another name, e.g. `--name my-sandbox`",
        ));
    }
    Ok(())
}

/// Checks and normalises the `--policy` list (deduplicated, order kept) against the preset
/// table of `sandgate_gateway::egress`.
pub fn policies(list: &[String]) -> Result<Vec<Preset>, CliError> {
    let mut out: Vec<Preset> = Vec::new();
    for p in list.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let preset: Preset = p
            .parse()
            .map_err(|e: sandgate_gateway::egress::UnknownPreset| {
                CliError::new(
                    ErrorKind::InvalidPolicy,
                    e.to_string(),
                    format!("use a comma-separated list of: {}", Preset::names()),
                )
            })?;
        if !out.contains(&preset) {
            out.push(preset);
        }
    }
    Ok(out)
}

/// Checks an environment variable name given to `--credential-env`.
pub fn env_var_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CliError::new(
            ErrorKind::InvalidCredentialEnv,
            format!("`{name}` is not an environment variable name"),
            "pass the NAME of the variable holding the key, e.g. `--credential-env GEMINI_API_KEY` (never the key itself)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "alpha", "prachi-gemini", "x1", &"a".repeat(63)] {
            assert_eq!(sandbox_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "A",
            "a b",
            "-a",
            "a-",
            "a.b",
            "status",
            &"a".repeat(64),
        ] {
            let err = sandbox_name(bad).err();
            assert_eq!(err.map(|e| e.kind), Some(ErrorKind::InvalidName), "{bad}");
        }
        let msg = sandbox_name("../x")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(msg.contains("path character"), "{msg}");
    }

    #[test]
    fn policy_list() {
        let v: Vec<String> = ["npm", "pypi", "npm", " brave "]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            policies(&v),
            Ok(vec![Preset::Npm, Preset::Pypi, Preset::Brave])
        );
        assert!(policies(&["ftp".to_string()]).is_err());
    }

    #[test]
    fn env_names() {
        assert!(env_var_name("GEMINI_API_KEY").is_ok());
        assert!(env_var_name("sk-abc").is_err());
        assert!(env_var_name("").is_err());
    }
}
