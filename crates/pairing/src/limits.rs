//! Input bounds and retention limits of the pairing authority.

/// Most scopes a connect may list.
pub const MAX_SCOPES: usize = 64;
/// Longest scope string.
pub const MAX_SCOPE_LEN: usize = 128;
/// Longest metadata string or public key.
pub const MAX_FIELD_LEN: usize = 256;
/// Longest presented device token.
pub const MAX_TOKEN_LEN: usize = 512;
/// How long resolved request ids are remembered (for precise errors), in ms.
pub const HISTORY_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;
/// How many resolved request ids are remembered per device.
pub const HISTORY_PER_DEVICE: usize = 32;
/// Default lifetime of a pending request, counted from creation.
pub const DEFAULT_PENDING_TTL_MS: u64 = 5 * 60 * 1000;
