//! The CPU time of another thread, read at exact instants through its CPU-time clock.

use std::io;
use std::mem;
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;
use std::time::Duration;

/// The CPU-time clock of one thread (user plus system time, in nanoseconds, as the
/// scheduler accounts it), readable from any thread while that thread runs.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    /// The clock id from `pthread_getcpuclockid`.
    id: libc::clockid_t,
}

impl CpuClock {
    /// The CPU-time clock of the thread behind `handle` (`pthread_getcpuclockid`).
    pub fn of<T>(handle: &JoinHandle<T>) -> io::Result<CpuClock> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: the thread is joinable (its handle is alive), so its `pthread_t` is valid;
        // `id` is writable.
        let rc = unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t(), &mut id) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(CpuClock { id })
    }

    /// The CPU time the thread has used so far (`clock_gettime`).
    pub fn now(&self) -> io::Result<Duration> {
        // SAFETY: an all-zero `timespec` is valid.
        let mut ts: libc::timespec = unsafe { mem::zeroed() };
        // SAFETY: `ts` is writable; a clock of an exited thread fails with EINVAL.
        let rc = unsafe { libc::clock_gettime(self.id, &mut ts) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
}
