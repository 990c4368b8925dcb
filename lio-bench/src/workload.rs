//! The workloads: what each one does, its sizes, and how its result is reported.

/// Size of a random read and of a write.
pub const BLOCK: usize = 4096;
/// Size of a sequential read.
pub const SEQ_BLOCK: usize = 1 << 20;
/// Operations per batch in the batched workloads (NOP batch 32, random reads QD32).
pub const BATCH: usize = 32;
/// Writes between two `fdatasync`s in the write workload.
pub const SYNC_EVERY: usize = 64;

/// One benchmark workload. Every stack runs each one the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Submit one no-op, wait for it, repeat.
    Nop1,
    /// Submit [`BATCH`] no-ops, wait for all of them, repeat.
    Nop32,
    /// Random [`BLOCK`] reads from the page cache, one at a time.
    RandQd1,
    /// Random [`BLOCK`] reads from the page cache, [`BATCH`] submitted and awaited together.
    RandQd32,
    /// Sequential [`SEQ_BLOCK`] reads over the whole file, wrapping around.
    Seq1M,
    /// Sequential [`BLOCK`] buffered writes over a wrap-around region, `fdatasync` every
    /// [`SYNC_EVERY`] writes.
    Write4k,
}

/// How a workload's result is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Nanoseconds per operation: lower is better.
    NsPerOp,
    /// Thousands of operations per second: higher is better.
    KopsPerSec,
    /// MiB per second: higher is better.
    MibPerSec,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 6] = [
        Workload::Nop1,
        Workload::Nop32,
        Workload::RandQd1,
        Workload::RandQd32,
        Workload::Seq1M,
        Workload::Write4k,
    ];

    /// The row label in the report.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Nop1 => "nop, batch 1",
            Workload::Nop32 => "nop, batch 32",
            Workload::RandQd1 => "random 4 KiB read, QD1",
            Workload::RandQd32 => "random 4 KiB read, QD32",
            Workload::Seq1M => "sequential 1 MiB read",
            Workload::Write4k => "4 KiB write, fdatasync/64",
        }
    }

    /// Bytes each operation moves.
    pub fn bytes_per_op(self) -> u64 {
        match self {
            Workload::Nop1 | Workload::Nop32 => 0,
            Workload::RandQd1 | Workload::RandQd32 | Workload::Write4k => BLOCK as u64,
            Workload::Seq1M => SEQ_BLOCK as u64,
        }
    }

    /// How the result is reported.
    pub fn metric(self) -> Metric {
        match self {
            Workload::Nop1 | Workload::Nop32 => Metric::NsPerOp,
            Workload::RandQd1 | Workload::RandQd32 => Metric::KopsPerSec,
            Workload::Seq1M | Workload::Write4k => Metric::MibPerSec,
        }
    }
}

impl Metric {
    /// The unit as printed.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::NsPerOp => "ns/op",
            Metric::KopsPerSec => "kops/s",
            Metric::MibPerSec => "MiB/s",
        }
    }
}

/// A buffer of `len` bytes, every page touched, so that no run pays page faults for it.
pub fn buffer(len: usize) -> Vec<u8> {
    vec![0xa5; len]
}
