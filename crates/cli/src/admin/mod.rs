//! The admin socket between `sandgate` and `sandgated`: newline-delimited JSON over
//! `<state>/admin.sock` (mode 0600, peer uid checked by the daemon).

pub mod client;
pub mod proto;
pub mod reply;
