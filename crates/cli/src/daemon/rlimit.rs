//! Raises the daemon's soft open-files limit to its hard limit at start: every sandbox
//! connection is a descriptor, and the common soft default (1024) is far below what the
//! per-sandbox connection caps of a few sandboxes add up to.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft `RLIMIT_NOFILE` before and after (`None` means unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileRaise {
    /// Soft limit found at start.
    pub before: Option<u64>,
    /// Soft limit now in force.
    pub after: Option<u64>,
}

/// Sets the soft `RLIMIT_NOFILE` to the hard limit. A failure is logged and the limit left
/// as it was: the daemon still runs, with fewer descriptors.
pub fn raise_nofile() -> NofileRaise {
    let lim = getrlimit(Resource::Nofile);
    if lim.current == lim.maximum {
        return NofileRaise {
            before: lim.current,
            after: lim.current,
        };
    }
    let raised = Rlimit {
        current: lim.maximum,
        maximum: lim.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => NofileRaise {
            before: lim.current,
            after: getrlimit(Resource::Nofile).current,
        },
        Err(e) => {
            tracing::warn!(error = %e, soft = ?lim.current, hard = ?lim.maximum, "cannot raise the open-files limit");
            NofileRaise {
                before: lim.current,
                after: lim.current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_reaches_the_hard_limit() {
        let hard = getrlimit(Resource::Nofile).maximum;
        let r = raise_nofile();
        assert_eq!(r.after, hard);
        assert_eq!(getrlimit(Resource::Nofile).current, hard);
    }
}
