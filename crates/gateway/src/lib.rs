//! sandgate-gateway: the per-sandbox listeners (OpenClaw WebSocket gateway, the
//! `inference.local` CONNECT proxy and the direct `/v1` API on one port) and a client.
//!
//! [`Gateway`] is the whole server of one host; [`client`] is the WebSocket client library.

mod body_timeout;
pub mod ca;
pub mod client;
mod conn_io;
pub mod egress;
pub mod fdreserve;
mod fsutil;
mod gateway;
mod inference;
mod limits;
pub mod listener;
pub mod metrics;
pub mod proxy;
pub mod ratelimit;
mod registry;
mod sandbox;
mod shared;
mod spec;
pub mod ws;

pub use gateway::{
    DeviceApproved, DeviceRejected, DeviceRevoked, Gateway, GatewayError, GatewayOptions,
    RouteSpec, SandboxInfo, SandboxSpec, valid_name,
};
pub use limits::{ConnCap, ConnSlot, Full, Limits};
pub use registry::RegistryError;
/// The device views [`Gateway::devices_list`] answers with.
pub use sandgate_pairing::{DeviceMetadata, PairedDeviceView, PairingList, PendingRequest};
