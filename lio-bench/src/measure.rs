//! Timing one run: a time budget, an operation count, and the resulting sample.

use crate::alloc_count;
use crate::workload::{Metric, Workload, BATCH};
use std::io;
use std::time::{Duration, Instant};

/// Operations between two clock checks: a whole number of batches.
pub const CHUNK: usize = 64;
const _: () = assert!(CHUNK.is_multiple_of(BATCH));

/// Counts operations until a time budget is spent, and the heap allocations made meanwhile.
/// Stacks check it between chunks of operations, never per operation, so that reading the
/// clock stays out of the figures, and start it after their buffers are set up, so that the
/// allocation count is the steady state's.
pub struct Timer {
    /// When the run started.
    start: Instant,
    /// How long it may take.
    budget: Duration,
    /// Operations completed so far.
    ops: u64,
    /// The process's allocation count at the start.
    allocs: u64,
}

impl Timer {
    /// Starts the clock.
    pub fn start(budget: Duration) -> Timer {
        Timer {
            start: Instant::now(),
            budget,
            ops: 0,
            allocs: alloc_count::allocations(),
        }
    }

    /// Whether the budget is not spent yet.
    pub fn running(&self) -> bool {
        self.start.elapsed() < self.budget
    }

    /// Records `ops` completed operations.
    pub fn add(&mut self, ops: usize) {
        self.ops += ops as u64;
    }

    /// Stops the clock.
    pub fn finish(self) -> Sample {
        Sample {
            ops: self.ops,
            elapsed: self.start.elapsed(),
            allocs: alloc_count::allocations() - self.allocs,
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Operations completed.
    pub ops: u64,
    /// Wall-clock time they took.
    pub elapsed: Duration,
    /// Heap allocations the process made meanwhile (the bench runs on one thread).
    pub allocs: u64,
}

impl Sample {
    /// The sample in the workload's reporting unit.
    pub fn value(&self, workload: Workload) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        let ops = self.ops.max(1) as f64;
        match workload.metric() {
            Metric::NsPerOp => secs * 1e9 / ops,
            Metric::KopsPerSec => ops / secs / 1e3,
            Metric::MibPerSec => ops * workload.bytes_per_op() as f64 / secs / (1 << 20) as f64,
        }
    }
}

/// Fails unless an operation moved exactly the bytes it asked for.
pub fn expect_len(what: &str, got: usize, want: usize) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: {got} bytes instead of {want}"
        )))
    }
}
