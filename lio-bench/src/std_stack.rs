//! The plain-syscall baseline: `pread`/`pwrite`/`fdatasync` through std's `FileExt`.

use crate::files::BenchFiles;
use crate::measure::{expect_len, Sample, Timer, CHUNK};
use crate::rng::XorShift;
use crate::stack::Stack;
use crate::workload::{buffer, Workload, BLOCK, SEQ_BLOCK, SYNC_EVERY};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// Blocking syscalls, one per operation. A queue depth means nothing here: its "QD32" run
/// is 32 `pread`s in a row.
pub struct StdStack {
    /// The read file.
    read: File,
    /// The write file.
    write: File,
    /// Length of the read file.
    read_len: u64,
    /// Length of the write file's wrap-around region.
    write_len: u64,
}

impl StdStack {
    /// Opens its own handles to the bench files.
    pub fn new(files: &BenchFiles) -> io::Result<StdStack> {
        Ok(StdStack {
            read: files.open_read()?,
            write: files.open_write()?,
            read_len: files.read_len,
            write_len: files.write_len,
        })
    }

    /// Random reads, one `pread` after another.
    fn random_reads(&self, budget: Duration) -> io::Result<Sample> {
        let mut buf = buffer(BLOCK);
        let mut rng = XorShift::new(XorShift::SEED);
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..CHUNK {
                let offset = rng.aligned_offset(self.read_len, BLOCK as u64);
                expect_len("pread", self.read.read_at(&mut buf, offset)?, BLOCK)?;
            }
            timer.add(CHUNK);
        }
        Ok(timer.finish())
    }

    /// Sequential 1 MiB reads, wrapping around at the end of the file.
    fn sequential_reads(&self, budget: Duration) -> io::Result<Sample> {
        let mut buf = buffer(SEQ_BLOCK);
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            expect_len("pread", self.read.read_at(&mut buf, offset)?, SEQ_BLOCK)?;
            offset = (offset + SEQ_BLOCK as u64) % self.read_len;
            timer.add(1);
        }
        Ok(timer.finish())
    }

    /// Sequential writes with an `fdatasync` every [`SYNC_EVERY`].
    fn writes(&self, budget: Duration) -> io::Result<Sample> {
        let buf = buffer(BLOCK);
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..SYNC_EVERY {
                expect_len("pwrite", self.write.write_at(&buf, offset)?, BLOCK)?;
                offset = (offset + BLOCK as u64) % self.write_len;
            }
            self.write.sync_data()?;
            timer.add(SYNC_EVERY);
        }
        Ok(timer.finish())
    }
}

impl Stack for StdStack {
    fn name(&self) -> &'static str {
        "std"
    }

    fn run(&mut self, workload: Workload, budget: Duration) -> io::Result<Option<Sample>> {
        let sample = match workload {
            Workload::Nop1 | Workload::Nop32 => return Ok(None),
            Workload::RandQd1 | Workload::RandQd32 => self.random_reads(budget)?,
            Workload::Seq1M => self.sequential_reads(budget)?,
            Workload::Write4k => self.writes(budget)?,
        };
        Ok(Some(sample))
    }
}
