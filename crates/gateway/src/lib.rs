//! sandgate-gateway: the per-sandbox listeners (OpenClaw WebSocket gateway, the
//! `inference.local` CONNECT proxy and the direct `/v1` API on one port) and a client.

pub mod ca;
pub mod fsutil;
pub mod listener;
pub mod proxy;
