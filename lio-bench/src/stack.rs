//! What every I/O stack under comparison implements.

use crate::measure::Sample;
use crate::workload::Workload;
use std::io;
use std::time::Duration;

/// An I/O stack that can run the workloads.
pub trait Stack {
    /// The column header in the report.
    fn name(&self) -> &'static str;

    /// Runs `workload` for about `budget`, or returns `None` if the stack has no equivalent.
    fn run(&mut self, workload: Workload, budget: Duration) -> io::Result<Option<Sample>>;
}
