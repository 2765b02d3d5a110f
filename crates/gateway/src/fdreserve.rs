//! One descriptor held in reserve, so that an accept loop out of descriptors (EMFILE/ENFILE)
//! can still take the connection at the head of its queue: release the reserve, accept, answer
//! (or refuse) it, and re-take the reserve once a descriptor is free again. Without it the
//! pending connection can only wait in the queue until something else closes, and the admin
//! socket would be as stuck as the sandbox ports.

use std::fs::File;
use std::io;

/// The reserved descriptor (an open `/dev/null`).
#[derive(Debug)]
pub struct FdReserve {
    file: Option<File>,
}

impl Default for FdReserve {
    fn default() -> Self {
        FdReserve::new()
    }
}

impl FdReserve {
    /// Takes the reserve now (at start, when descriptors are free).
    pub fn new() -> Self {
        FdReserve {
            file: File::open("/dev/null").ok(),
        }
    }

    /// Frees the reserved descriptor for the next accept; `false` if none was held.
    pub fn release(&mut self) -> bool {
        self.file.take().is_some()
    }

    /// Re-takes the reserve if it was released and a descriptor is free again.
    pub fn refill(&mut self) {
        if self.file.is_none() {
            self.file = File::open("/dev/null").ok();
        }
    }
}

/// Whether `err` means the process (EMFILE) or the system (ENFILE) is out of descriptors.
pub fn out_of_descriptors(err: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(err),
        Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_and_refill() {
        let mut r = FdReserve::new();
        assert!(r.release());
        assert!(!r.release());
        r.refill();
        assert!(r.release());
    }

    #[test]
    fn recognises_descriptor_exhaustion() {
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            rustix::io::Errno::MFILE.raw_os_error()
        )));
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            rustix::io::Errno::NFILE.raw_os_error()
        )));
        assert!(!out_of_descriptors(&io::Error::from_raw_os_error(
            rustix::io::Errno::CONNABORTED.raw_os_error()
        )));
    }
}
