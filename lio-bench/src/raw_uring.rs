//! The raw io_uring baseline: the `io-uring` crate driven by a minimal hand-written loop
//! (push SQEs, `submit_and_wait`, reap CQEs), with fixed buffers per in-flight slot.

use crate::files::BenchFiles;
use crate::measure::{Sample, Timer, CHUNK};
use crate::rng::XorShift;
use crate::stack::Stack;
use crate::workload::{buffer, Workload, BATCH, BLOCK, SEQ_BLOCK, SYNC_EVERY};
use io_uring::{opcode, squeue, types, IoUring};
use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Submission queue entries, as lio's default.
const ENTRIES: u32 = 256;

/// A ring plus the buffers its operations use. Buffers are only reused after their
/// completion has been reaped.
pub struct RawStack {
    ring: IoUring,
    /// Setup flags the kernel accepted, for the report.
    flags: &'static str,
    /// The read file.
    read: File,
    /// The write file.
    write: File,
    /// Length of the read file.
    read_len: u64,
    /// Length of the write file's wrap-around region.
    write_len: u64,
    /// One read buffer per batch slot.
    small: Vec<Vec<u8>>,
    /// The sequential-read buffer.
    large: Vec<u8>,
    /// The data every write sends.
    out: Vec<u8>,
    /// Entries pushed whose completion has not been reaped.
    in_flight: usize,
}

impl RawStack {
    /// Sets up a ring with the same flags lio tries (single issuer with deferred task
    /// work, else cooperative task work, else none), so that the comparison measures the
    /// library, not the ring setup.
    pub fn new(files: &BenchFiles) -> io::Result<RawStack> {
        let (ring, flags) = setup()?;
        Ok(RawStack {
            ring,
            flags,
            read: files.open_read()?,
            write: files.open_write()?,
            read_len: files.read_len,
            write_len: files.write_len,
            small: (0..BATCH).map(|_| buffer(BLOCK)).collect(),
            large: buffer(SEQ_BLOCK),
            out: buffer(BLOCK),
            in_flight: 0,
        })
    }

    /// The ring setup flags in use.
    pub fn flags(&self) -> &'static str {
        self.flags
    }

    /// Queues one entry.
    ///
    /// # Safety
    ///
    /// Every buffer the entry names must stay allocated and untouched until its completion
    /// is reaped by [`complete`](Self::complete).
    unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: the caller keeps the entry's buffers alive until its completion.
        unsafe { self.ring.submission().push(&entry) }
            .map_err(|_| io::Error::other("raw io_uring: submission queue full"))?;
        self.in_flight += 1;
        Ok(())
    }

    /// Submits what is queued and waits until every entry in flight has completed, each
    /// with result `want`.
    fn complete(&mut self, want: i32) -> io::Result<()> {
        let mut failure = None;
        while self.in_flight > 0 {
            match self.ring.submit_and_wait(self.in_flight) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for cqe in self.ring.completion() {
                self.in_flight -= 1;
                let got = cqe.result();
                if got != want && failure.is_none() {
                    failure = Some(if got < 0 {
                        io::Error::from_raw_os_error(-got)
                    } else {
                        io::Error::other(format!("raw io_uring: result {got} instead of {want}"))
                    });
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// `batch` no-ops per submission.
    fn nops(&mut self, budget: Duration, batch: usize) -> io::Result<Sample> {
        let rounds = CHUNK / batch;
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..rounds {
                for _ in 0..batch {
                    // SAFETY: a no-op names no memory.
                    unsafe { self.push(opcode::Nop::new().build())? };
                }
                self.complete(0)?;
            }
            timer.add(rounds * batch);
        }
        Ok(timer.finish())
    }

    /// Random reads, `batch` per submission.
    fn random_reads(&mut self, budget: Duration, batch: usize) -> io::Result<Sample> {
        let fd = types::Fd(self.read.as_raw_fd());
        let rounds = CHUNK / batch;
        let mut rng = XorShift::new(XorShift::SEED);
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..rounds {
                for slot in 0..batch {
                    let offset = rng.aligned_offset(self.read_len, BLOCK as u64);
                    let ptr = self.small[slot].as_mut_ptr();
                    let entry = opcode::Read::new(fd, ptr, BLOCK as u32).offset(offset);
                    // SAFETY: `small[slot]` is owned by `self`, used by this entry only, and
                    // `complete` below reaps it before the slot is reused.
                    unsafe { self.push(entry.build())? };
                }
                self.complete(BLOCK as i32)?;
            }
            timer.add(rounds * batch);
        }
        Ok(timer.finish())
    }

    /// Sequential 1 MiB reads, wrapping around at the end of the file.
    fn sequential_reads(&mut self, budget: Duration) -> io::Result<Sample> {
        let fd = types::Fd(self.read.as_raw_fd());
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            let ptr = self.large.as_mut_ptr();
            let entry = opcode::Read::new(fd, ptr, SEQ_BLOCK as u32).offset(offset);
            // SAFETY: `large` is owned by `self` and reaped by `complete` before reuse.
            unsafe { self.push(entry.build())? };
            self.complete(SEQ_BLOCK as i32)?;
            offset = (offset + SEQ_BLOCK as u64) % self.read_len;
            timer.add(1);
        }
        Ok(timer.finish())
    }

    /// Sequential writes with an `fdatasync` (`IORING_OP_FSYNC` + `DATASYNC`) every
    /// [`SYNC_EVERY`].
    fn writes(&mut self, budget: Duration) -> io::Result<Sample> {
        let fd = types::Fd(self.write.as_raw_fd());
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..SYNC_EVERY {
                let entry = opcode::Write::new(fd, self.out.as_ptr(), BLOCK as u32).offset(offset);
                // SAFETY: `out` is owned by `self`, only read, and reaped before it is freed.
                unsafe { self.push(entry.build())? };
                self.complete(BLOCK as i32)?;
                offset = (offset + BLOCK as u64) % self.write_len;
            }
            let sync = opcode::Fsync::new(fd).flags(types::FsyncFlags::DATASYNC);
            // SAFETY: an fsync names no memory.
            unsafe { self.push(sync.build())? };
            self.complete(0)?;
            timer.add(SYNC_EVERY);
        }
        Ok(timer.finish())
    }
}

impl Stack for RawStack {
    fn name(&self) -> &'static str {
        "raw io-uring"
    }

    fn run(&mut self, workload: Workload, budget: Duration) -> io::Result<Option<Sample>> {
        let sample = match workload {
            Workload::Nop1 => self.nops(budget, 1)?,
            Workload::Nop32 => self.nops(budget, BATCH)?,
            Workload::RandQd1 => self.random_reads(budget, 1)?,
            Workload::RandQd32 => self.random_reads(budget, BATCH)?,
            Workload::Seq1M => self.sequential_reads(budget)?,
            Workload::Write4k => self.writes(budget)?,
        };
        Ok(Some(sample))
    }
}

impl Drop for RawStack {
    fn drop(&mut self) {
        if self.in_flight > 0 {
            // A failed wait left operations in the kernel: leak their buffers rather than
            // free memory it may still write.
            mem::forget(mem::take(&mut self.small));
            mem::forget(mem::take(&mut self.large));
            mem::forget(mem::take(&mut self.out));
        }
    }
}

/// A ring with the fastest setup flags the kernel accepts, and their names.
pub fn setup() -> io::Result<(IoUring, &'static str)> {
    type Flags = fn(&mut io_uring::Builder);
    let attempts: [(&'static str, Flags); 3] = [
        ("SINGLE_ISSUER|DEFER_TASKRUN", |b| {
            b.setup_single_issuer().setup_defer_taskrun();
        }),
        ("COOP_TASKRUN", |b| {
            b.setup_coop_taskrun();
        }),
        ("none", |_| {}),
    ];
    let mut last = None;
    for (name, flags) in attempts {
        let mut builder = IoUring::builder();
        flags(&mut builder);
        match builder.build(ENTRIES) {
            Ok(ring) => return Ok((ring, name)),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("raw io_uring: setup failed")))
}
