//! What the server spends over the measured window: CPU time, system calls, allocations.

use super::cpu::CpuClock;
use super::syscalls::{SyscallCounters, SyscallCounts};
use crate::alloc_count;
use std::io;
use std::time::Duration;

/// Reads the server thread's costs at the edges of the measured window. The client calls
/// it, so the edges are exactly those of the client's own count of round trips.
pub struct Probe {
    /// The server thread's CPU-time clock.
    cpu: CpuClock,
    /// Its syscall counters, or why there are none; `None` when not asked for.
    syscalls: Option<Result<SyscallCounters, String>>,
    /// CPU time and process-wide allocation count when the window opened.
    start: (Duration, u64),
}

/// The server's costs over one window.
#[derive(Clone, Debug)]
pub struct Cost {
    /// CPU time of the server thread.
    pub cpu: Duration,
    /// System calls of the server thread, or why they could not be counted; `None` when
    /// they were not asked for.
    pub syscalls: Option<Result<SyscallCounts, String>>,
    /// Heap allocations of the whole process (the client allocates nothing per round
    /// trip, so these are the server's).
    pub allocs: u64,
}

impl Probe {
    /// A probe on the thread `tid` whose CPU-time clock is `cpu`, counting its system
    /// calls if `count_syscalls`.
    ///
    /// While any counter on the `raw_syscalls:sys_enter` tracepoint exists, every system
    /// call of every thread takes the kernel's slower traced path (about 70 ns more here),
    /// so runs whose CPU time and latency are reported must not count.
    pub fn new(cpu: CpuClock, tid: libc::pid_t, count_syscalls: bool) -> Probe {
        Probe {
            cpu,
            syscalls: count_syscalls.then(|| SyscallCounters::open(tid)),
            start: (Duration::ZERO, 0),
        }
    }

    /// Opens the window.
    pub fn start(&mut self) -> io::Result<()> {
        if let Some(Ok(counters)) = &self.syscalls {
            if let Err(e) = counters.start() {
                self.syscalls = Some(Err(format!("enabling the perf counters: {e}")));
            }
        }
        self.start = (self.cpu.now()?, alloc_count::allocations());
        Ok(())
    }

    /// Closes the window and returns what was spent in it.
    pub fn stop(&mut self) -> io::Result<Cost> {
        let cpu = self.cpu.now()?.saturating_sub(self.start.0);
        let allocs = alloc_count::allocations().saturating_sub(self.start.1);
        let syscalls = self.syscalls.as_ref().map(|syscalls| match syscalls {
            Ok(counters) => counters
                .stop()
                .map_err(|e| format!("reading the perf counters: {e}")),
            Err(reason) => Err(reason.clone()),
        });
        Ok(Cost {
            cpu,
            syscalls,
            allocs,
        })
    }
}
