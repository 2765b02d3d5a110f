//! Provider ids and credentials, resolved at the edge before anything is created.

use sandgate_providers::ProviderKind;

use crate::admin::proto::Secret;
use crate::error::{CliError, ErrorKind};
use crate::validate;

/// Parses a provider id, listing the valid ones on error.
pub fn parse(id: &str) -> Result<ProviderKind, CliError> {
    id.parse::<ProviderKind>().map_err(|e| {
        CliError::new(
            ErrorKind::UnknownProvider,
            e.to_string(),
            "pass one of the listed ids with --provider (try `--provider mock` for a local test)",
        )
    })
}

/// A credential read from the environment: the variable's name and its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credential {
    /// The variable the value came from.
    pub env: Option<String>,
    /// The secret itself (never printed).
    pub value: Option<Secret>,
}

/// Reads the provider credential from the variable named by `explicit_env`, or from the
/// provider's conventional variable. A named variable that is unset, or a missing credential
/// the provider requires, is an error that names the variable. Never reads a flag's value.
pub fn credential(
    kind: ProviderKind,
    explicit_env: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Credential, CliError> {
    let profile = kind.profile();
    let missing = |var: &str| {
        CliError::new(
            ErrorKind::MissingCredential,
            format!(
                "the environment variable {var} is not set (it should hold the {kind} API key); nothing was created"
            ),
            format!("export {var}=<your key> and run the command again"),
        )
    };
    if let Some(var) = explicit_env {
        validate::env_var_name(var)?;
        let value = lookup(var)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing(var))?;
        return Ok(Credential {
            env: Some(var.to_string()),
            value: Some(Secret::new(value)),
        });
    }
    let Some(var) = profile.credential_env else {
        return Ok(Credential::default());
    };
    match lookup(var).filter(|v| !v.is_empty()) {
        Some(value) => Ok(Credential {
            env: Some(var.to_string()),
            value: Some(Secret::new(value)),
        }),
        None if profile.credential_required => Err(missing(var)),
        None => Ok(Credential::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn default_variable_of_the_provider() {
        let g = parse("gemini-api").ok();
        let Some(g) = g else { panic!("gemini-api") };
        let c = credential(g, None, env(&[("GEMINI_API_KEY", "k")]));
        assert_eq!(
            c.ok().and_then(|c| c.env),
            Some("GEMINI_API_KEY".to_string())
        );
        let e = credential(g, None, env(&[]))
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(e.contains("GEMINI_API_KEY"), "{e}");
    }

    #[test]
    fn explicit_variable_must_be_set() {
        let Ok(m) = parse("mock") else { panic!("mock") };
        assert_eq!(credential(m, None, env(&[])), Ok(Credential::default()));
        let e = credential(m, Some("MY_KEY"), env(&[]))
            .err()
            .map(|e| e.kind);
        assert_eq!(e, Some(ErrorKind::MissingCredential));
        assert!(parse("bedrock").is_err());
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let Ok(m) = parse("mock") else { panic!("mock") };
        let c = credential(m, Some("K"), env(&[("K", "super-secret")]));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("super-secret"), "{dbg}");
    }
}
