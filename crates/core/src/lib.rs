//! sandgate-core: the OpenClaw gateway protocol as Rust types, scopes and roles, and device
//! identity. No network I/O and no async runtime: other crates build on these types.
//!
//! * [`frame`]: `req`/`res`/`event` frames, size limits, [`Frame::parse`].
//! * [`codes`]: error codes, detail codes, auth reasons, close codes, [`close_reason`].
//! * [`error`]: builders for the reference handshake and method errors.
//! * [`protocol`]: protocol versions and [`negotiate`].
//! * [`connect`]: `connect` params and the `connect.challenge` payload.
//! * [`hello`]: the `hello-ok` payload.
//! * [`event`]: event names and the `tick` / `shutdown` payloads.
//! * [`identity`]: Ed25519 device identity and its `device.json` file.
//! * [`signature`]: v2/v3 signature payloads and [`verify_device_proof`].
//! * [`scope`], [`role`], [`pairing_reason`]: authority vocabulary.
//! * [`name`]: [`SandboxName`], the one sandbox-name rule.
//!
//! Parse at the edge: text becomes a [`Frame`], `connect` params become [`ConnectParams`];
//! everything past that point works with typed values.

#![warn(missing_docs)]

pub mod codes;
pub mod connect;
pub mod error;
pub mod event;
pub mod frame;
pub mod hello;
pub mod identity;
pub mod name;
pub mod pairing_reason;
pub mod protocol;
pub mod role;
pub mod scope;
pub mod signature;

pub use codes::{AuthReason, CloseCode, DetailCode, ErrorCode, RecommendedNextStep, close_reason};
pub use connect::{
    ClientId, ClientInfo, ClientMode, ConnectAuth, ConnectChallenge, ConnectParams,
    ConnectParamsError, DeviceProof,
};
pub use error::{AuthFailure, HandshakeRejection, PairingRequired};
pub use frame::{
    ErrorShape, EventFrame, Frame, FrameError, MAX_FRAME_BYTES, MAX_PREAUTH_FRAME_BYTES,
    RequestFrame, ResponseFrame, StateVersion,
};
pub use hello::{
    AuthMethod, Features, HelloAuth, HelloOk, Policy, ServerInfo, SessionDefaults, Snapshot,
};
pub use identity::{DeviceIdentity, IdentityError, KeyDecodeError};
pub use name::{NameError, SandboxName};
pub use pairing_reason::PairingReason;
pub use protocol::{ProtocolMismatch, ProtocolVersion, negotiate};
pub use role::{InvalidRole, Role};
pub use scope::{Scope, ScopeSet};
pub use signature::{DeviceAuthError, SignatureVersion, verify_device_proof};
