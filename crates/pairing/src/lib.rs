//! `sandgate-pairing`: the pairing authority of sandgate.
//!
//! It decides, at the connect handshake, which role and scopes a client of an OpenClaw-style
//! gateway gets, following the OpenClaw pairing state machine (not-paired → metadata-upgrade →
//! role-upgrade → scope-upgrade) with one change: a per-sandbox [`SandboxPolicy`] grants
//! everything within its ceiling to *eligible* clients (loopback + sandbox token) in the same
//! round trip, and records a pending request only for the rest.
//!
//! Layers:
//! * [`attempt`], [`ids`]: the edge. A [`ConnectAttempt`] is validated once into a [`Connect`]
//!   of newtypes ([`sandgate_core::SandboxName`], [`DeviceId`], [`PublicKey`]).
//! * [`decision`] and [`approval`]: pure functions of (connect or operation, stored device
//!   state, policy, clock reading, entropy) returning the result, the new state and the events.
//!   No I/O. Both act on the state through the methods of [`device_ops`] and [`History`].
//! * [`store`]: the [`Store`] trait applying those results atomically ([`SqliteStore`],
//!   [`MemoryStore`]).
//! * [`PairingAuthority`]: the async façade with policies, events and an injectable clock.
//!
//! No sockets and no signature verification: the gateway verifies device proofs and the
//! sandbox token before calling [`PairingAuthority::connect`].

pub mod approval;
pub mod attempt;
pub mod authority;
pub mod decision;
pub mod device_ops;
pub mod error;
pub mod events;
pub mod history;
pub mod ids;
pub mod limits;
pub mod policy;
pub mod records;
pub mod store;
pub mod token;

pub use approval::{Approval, Approver, DeviceRemoved, RevokedToken, RotatedToken};
pub use attempt::{Connect, ConnectAttempt, Device, DeviceInfo};
pub use authority::{
    AuthorityConfig, Clock, ManualClock, PairingAuthority, PairingList, SystemClock,
};
pub use decision::{
    Decision, DecisionContext, DeviceChange, Outcome, PairingDetails, PendingSummary, decide,
    decide_deviceless,
};
pub use error::{PairingError, StoreError, TokenFailure};
pub use events::{PairingEvent, Resolution, ResolutionDecision, WaitError};
pub use history::History;
pub use ids::{DeviceId, PublicKey};
pub use policy::{Credential, Locality, PolicyMode, SandboxPolicy};
pub use records::{
    ApprovedVia, DeviceMetadata, DeviceState, PairedDevice, PairedDeviceView, PendingRequest,
    TokenRecord, TokenSummary,
};
pub use sandgate_core::{PairingReason, Role, Scope, ScopeSet};
pub use store::{MemoryStore, SqliteStore, Store};
pub use token::{Entropy, IssuedToken, OsEntropy, TokenSecret};
