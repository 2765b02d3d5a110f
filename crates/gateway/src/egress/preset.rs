//! The egress presets: one table, the only place that says which hosts a preset opens.
//!
//! Hosts come from NemoClaw's preset files (see `shared/reference/sandbox-isolation.md`),
//! plus the CDN suffixes the registries redirect downloads to. `local-inference` has no static
//! hosts: it opens the sandbox's own provider endpoint when that endpoint is local.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::target::HostPattern;

/// A named egress allowlist a sandbox can be given at onboarding or with `policy add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The npm and yarn registries.
    Npm,
    /// PyPI and its file host.
    Pypi,
    /// The Hugging Face hub, its LFS/Xet CDNs and router.
    Huggingface,
    /// Homebrew: formulae, GitHub and its package/content hosts.
    Brew,
    /// The Brave Search API.
    Brave,
    /// The sandbox's own provider endpoint when it is on this host or the local network.
    LocalInference,
}

/// One allowed host pattern and port of a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresetHost {
    /// `registry.npmjs.org` (exact) or `*.hf.co` (any name below the suffix).
    pub pattern: &'static str,
    /// The port the preset opens on that host.
    pub port: u16,
}

const fn tls(pattern: &'static str) -> PresetHost {
    PresetHost { pattern, port: 443 }
}

/// The preset table.
const TABLE: &[(Preset, &str, &[PresetHost])] = &[
    (
        Preset::Npm,
        "npm and yarn package registries",
        &[tls("registry.npmjs.org"), tls("registry.yarnpkg.com")],
    ),
    (
        Preset::Pypi,
        "the Python Package Index",
        &[tls("pypi.org"), tls("files.pythonhosted.org")],
    ),
    (
        Preset::Huggingface,
        "the Hugging Face hub and its download CDNs",
        &[
            tls("huggingface.co"),
            tls("cdn-lfs.huggingface.co"),
            tls("router.huggingface.co"),
            tls("*.hf.co"),
        ],
    ),
    (
        Preset::Brew,
        "Homebrew formulae, bottles and GitHub",
        &[
            tls("formulae.brew.sh"),
            tls("github.com"),
            tls("ghcr.io"),
            tls("pkg-containers.githubusercontent.com"),
            tls("objects.githubusercontent.com"),
            tls("raw.githubusercontent.com"),
        ],
    ),
    (
        Preset::Brave,
        "the Brave Search API",
        &[tls("api.search.brave.com")],
    ),
    (
        Preset::LocalInference,
        "the sandbox's own provider endpoint, when it is local",
        &[],
    ),
];

impl Preset {
    /// Every preset, in table order.
    pub const ALL: [Preset; 6] = [
        Preset::Npm,
        Preset::Pypi,
        Preset::Huggingface,
        Preset::Brew,
        Preset::Brave,
        Preset::LocalInference,
    ];

    /// The name used on the command line and in stored records.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Npm => "npm",
            Preset::Pypi => "pypi",
            Preset::Huggingface => "huggingface",
            Preset::Brew => "brew",
            Preset::Brave => "brave",
            Preset::LocalInference => "local-inference",
        }
    }

    fn row(self) -> (&'static str, &'static [PresetHost]) {
        TABLE
            .iter()
            .find(|(p, _, _)| *p == self)
            .map(|(_, d, h)| (*d, *h))
            .unwrap_or(("", &[]))
    }

    /// One line saying what the preset opens.
    pub fn description(self) -> &'static str {
        self.row().0
    }

    /// The static hosts the preset opens (empty for `local-inference`).
    pub fn hosts(self) -> &'static [PresetHost] {
        self.row().1
    }

    /// Whether `name:port` is opened by this preset's static hosts.
    pub fn allows(self, name: &str, port: u16) -> bool {
        self.hosts()
            .iter()
            .any(|h| h.port == port && HostPattern::static_matches(h.pattern, name))
    }

    /// The first preset whose static hosts open `name:port` (for a refusal's remedy).
    pub fn opening(name: &str, port: u16) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.allows(name, port))
    }

    /// The valid names, comma-separated (for error messages).
    pub fn names() -> String {
        Preset::ALL.map(Preset::as_str).join(", ")
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A preset name that is not in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network policy preset `{0}` (valid: {list})", list = Preset::names())]
pub struct UnknownPreset(pub String);

impl FromStr for Preset {
    type Err = UnknownPreset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Preset::ALL
            .into_iter()
            .find(|p| p.as_str() == lower)
            .ok_or_else(|| UnknownPreset(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_a_row_and_round_trips() {
        for p in Preset::ALL {
            assert!(!p.description().is_empty(), "{p}");
            assert_eq!(p.as_str().parse::<Preset>(), Ok(p));
        }
        assert_eq!("NPM".parse::<Preset>(), Ok(Preset::Npm));
        let err = "ftp".parse::<Preset>().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("valid: npm, pypi")));
    }

    #[test]
    fn hosts_and_suffixes() {
        assert!(Preset::Npm.allows("registry.npmjs.org", 443));
        assert!(!Preset::Npm.allows("registry.npmjs.org", 80));
        assert!(!Preset::Npm.allows("evil-registry.npmjs.org", 443));
        assert!(Preset::Huggingface.allows("cas-bridge.xethub.hf.co", 443));
        assert!(!Preset::Huggingface.allows("hf.co.evil.example", 443));
        assert!(!Preset::Huggingface.allows("hf.co", 443));
        assert_eq!(Preset::opening("pypi.org", 443), Some(Preset::Pypi));
        assert_eq!(Preset::opening("example.com", 443), None);
        assert!(Preset::LocalInference.hosts().is_empty());
    }
}
