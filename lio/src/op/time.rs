//! Timer operations.

use super::Op;
use std::io;
use std::time::Duration;

/// Completes after a duration. Output: `io::Result<()>`.
///
/// Dropping the handle (or cancelling it) stops the timer.
pub struct Sleep {
    pub(crate) duration: Duration,
    pub(crate) timespec: crate::sys::Timespec,
}

impl Sleep {
    /// A timer that fires `duration` after submission.
    pub fn new(duration: Duration) -> Self {
        Sleep {
            duration,
            timespec: crate::sys::Timespec::default(),
        }
    }
}

impl Op for Sleep {
    type Output = io::Result<()>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        match result {
            // The timer expiring is the success case.
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            other => other.map(drop),
        }
    }
}
