//! The fuzz targets' entry points; see `targets.rs`.
mod targets;
pub use targets::*;
