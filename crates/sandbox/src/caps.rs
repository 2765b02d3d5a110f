//! Dropping every capability (effective, permitted, inheritable, ambient and bounding) and
//! locking securebits so that uid 0 gains nothing back, then no_new_privs.

use rustix::io::{self, Errno};
use rustix::thread::{CapabilitiesSecureBits as Bits, CapabilitySet, CapabilitySets};

/// Drops all capabilities of the calling thread for good and sets `PR_SET_NO_NEW_PRIVS`.
pub(crate) fn drop_all() -> io::Result<()> {
    let have = rustix::thread::capabilities(None)?;
    if have.effective.contains(CapabilitySet::SETPCAP) {
        rustix::thread::set_capabilities_secure_bits(
            Bits::NO_ROOT
                | Bits::NO_ROOT_LOCKED
                | Bits::NO_SETUID_FIXUP
                | Bits::NO_SETUID_FIXUP_LOCKED
                | Bits::KEEP_CAPS_LOCKED,
        )?;
        for bit in 0..64 {
            match rustix::thread::remove_capability_from_bounding_set(
                CapabilitySet::from_bits_retain(1 << bit),
            ) {
                Ok(()) => {}
                Err(Errno::INVAL) => break, // past the last capability this kernel knows
                Err(e) => return Err(e),
            }
        }
    }
    // Without CAP_SETPCAP (an ordinary user in Landlock mode) the bounding set cannot be changed;
    // no_new_privs below still makes it unreachable (no setuid/file-capability gains on exec).
    rustix::thread::clear_ambient_capability_set()?;
    let none = CapabilitySet::empty();
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: none,
            permitted: none,
            inheritable: none,
        },
    )?;
    rustix::thread::set_no_new_privs(true)
}
