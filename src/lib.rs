//! `sandgate`: one dependency for embedders.
//!
//! Re-exports the library crates so a tool can depend on `sandgate` alone and reach the
//! protocol types ([`proto`]), the pairing authority ([`pairing`]), the provider adapters
//! ([`providers`]) and the gateway server and client ([`gateway`]). The protocol crate is
//! `proto`, not `core`, so that it never shadows `::core`.

pub use sandgate_core as proto;
pub use sandgate_gateway as gateway;
pub use sandgate_pairing as pairing;
pub use sandgate_providers as providers;
