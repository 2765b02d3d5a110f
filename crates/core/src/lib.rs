//! sandgate-core: the OpenClaw gateway protocol as Rust types, scopes and roles, and device
//! identity. No network I/O and no async runtime: other crates build on these types.

pub mod pairing_reason;
pub mod role;
pub mod scope;

pub use pairing_reason::PairingReason;
pub use role::{InvalidRole, Role};
pub use scope::{Scope, ScopeSet};
