//! Connection roles: `operator` (control plane) and `node` (capability host).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The role a connection asks for. The wire carries it as a string; it is parsed once here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Control plane: CLIs, UIs, automation.
    Operator,
    /// Capability host: may call only node-role methods.
    Node,
}

/// A role string that is neither `operator` nor `node`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role: {0:?} (expected \"operator\" or \"node\")")]
pub struct InvalidRole(pub String);

impl Role {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Node => "node",
        }
    }

    /// The role a connect gets when it names none.
    pub const DEFAULT: Role = Role::Operator;
}

impl FromStr for Role {
    type Err = InvalidRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "node" => Ok(Role::Node),
            other => Err(InvalidRole(other.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_roles_and_rejects_others() {
        assert_eq!("operator".parse::<Role>(), Ok(Role::Operator));
        assert_eq!("node".parse::<Role>(), Ok(Role::Node));
        assert!("admin".parse::<Role>().is_err());
        assert!("Operator".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }
}
