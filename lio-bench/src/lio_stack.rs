//! lio through its idiomatic fast path: `.await` under `Lio::block_on`, each operation
//! owning a buffer that comes back with its result and is reused for the next one. The same
//! code runs on each backend: only the driver's construction differs.

use crate::files::BenchFiles;
use crate::join::join_all;
use crate::measure::{expect_len, Sample, Timer, CHUNK};
use crate::rng::XorShift;
use crate::stack::Stack;
use crate::workload::{buffer, Workload, BATCH, BLOCK, SEQ_BLOCK, SYNC_EVERY};
use lio::op::{Nop, Read};
use lio::{Backend, IoFuture, Lio, Resource};
use std::future::IntoFuture;
use std::io;
use std::time::Duration;

/// A lio driver with the default settings on one backend, and its handles to the bench
/// files.
pub struct LioStack {
    /// The driver under test.
    lio: Lio,
    /// The column header in the report.
    name: &'static str,
    /// The read file.
    read: Resource,
    /// The write file.
    write: Resource,
    /// Length of the read file.
    read_len: u64,
    /// Length of the write file's wrap-around region.
    write_len: u64,
}

impl LioStack {
    /// Creates a driver forced onto `backend` (so that `LIO_BACKEND` cannot swap the
    /// columns) and opens its own handles to the bench files; `name` heads its column.
    pub fn new(files: &BenchFiles, backend: Backend, name: &'static str) -> io::Result<LioStack> {
        Ok(LioStack {
            lio: Lio::builder().backend(backend).build()?,
            name,
            read: Resource::from(files.open_read()?),
            write: Resource::from(files.open_write()?),
            read_len: files.read_len,
            write_len: files.write_len,
        })
    }

    /// The backend the driver runs on.
    pub fn backend(&self) -> Backend {
        self.lio.backend()
    }

    /// One no-op awaited at a time.
    async fn nops_serial(&self, budget: Duration) -> io::Result<Sample> {
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..CHUNK {
                self.lio.nop().await?;
            }
            timer.add(CHUNK);
        }
        Ok(timer.finish())
    }

    /// [`BATCH`] no-ops submitted and joined together.
    async fn nops_batched(&self, budget: Duration) -> io::Result<Sample> {
        let mut slots: Vec<Option<IoFuture<Nop>>> = (0..BATCH).map(|_| None).collect();
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..CHUNK / BATCH {
                for slot in &mut slots {
                    *slot = Some(self.lio.nop().into_future());
                }
                let mut failure = None;
                join_all(&mut slots, |_, result| {
                    if let Err(e) = result {
                        failure.get_or_insert(e);
                    }
                })
                .await;
                failure.map_or(Ok(()), Err)?;
            }
            timer.add(CHUNK / BATCH * BATCH);
        }
        Ok(timer.finish())
    }

    /// Random reads, one awaited at a time.
    async fn random_reads_serial(&self, budget: Duration) -> io::Result<Sample> {
        let mut buf = buffer(BLOCK);
        let mut rng = XorShift::new(XorShift::SEED);
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..CHUNK {
                let offset = rng.aligned_offset(self.read_len, BLOCK as u64);
                let (result, back) = self.lio.read_at(&self.read, buf, offset).await;
                buf = back;
                expect_len("lio read_at", result?, BLOCK)?;
            }
            timer.add(CHUNK);
        }
        Ok(timer.finish())
    }

    /// Random reads, [`BATCH`] submitted and joined together.
    async fn random_reads_batched(&self, budget: Duration) -> io::Result<Sample> {
        let mut bufs: Vec<Option<Vec<u8>>> = (0..BATCH).map(|_| Some(buffer(BLOCK))).collect();
        let mut slots: Vec<Option<IoFuture<Read<Vec<u8>>>>> = (0..BATCH).map(|_| None).collect();
        let mut rng = XorShift::new(XorShift::SEED);
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..CHUNK / BATCH {
                for (slot, buf) in slots.iter_mut().zip(&mut bufs) {
                    let offset = rng.aligned_offset(self.read_len, BLOCK as u64);
                    let buf = buf.take().expect("join_all hands every buffer back");
                    *slot = Some(self.lio.read_at(&self.read, buf, offset).into_future());
                }
                let mut failure = None;
                join_all(&mut slots, |index, (result, buf)| {
                    bufs[index] = Some(buf);
                    if let Err(e) = result.and_then(|n| expect_len("lio read_at", n, BLOCK)) {
                        failure.get_or_insert(e);
                    }
                })
                .await;
                failure.map_or(Ok(()), Err)?;
            }
            timer.add(CHUNK / BATCH * BATCH);
        }
        Ok(timer.finish())
    }

    /// Sequential 1 MiB reads, wrapping around at the end of the file.
    async fn sequential_reads(&self, budget: Duration) -> io::Result<Sample> {
        let mut buf = buffer(SEQ_BLOCK);
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            let (result, back) = self.lio.read_at(&self.read, buf, offset).await;
            buf = back;
            expect_len("lio read_at", result?, SEQ_BLOCK)?;
            offset = (offset + SEQ_BLOCK as u64) % self.read_len;
            timer.add(1);
        }
        Ok(timer.finish())
    }

    /// Sequential writes with `lio.fdatasync` every [`SYNC_EVERY`].
    async fn writes(&self, budget: Duration) -> io::Result<Sample> {
        let mut buf = buffer(BLOCK);
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..SYNC_EVERY {
                let (result, back) = self.lio.write_at(&self.write, buf, offset).await;
                buf = back;
                expect_len("lio write_at", result?, BLOCK)?;
                offset = (offset + BLOCK as u64) % self.write_len;
            }
            self.lio.fdatasync(&self.write).await?;
            timer.add(SYNC_EVERY);
        }
        Ok(timer.finish())
    }
}

impl Stack for LioStack {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&mut self, workload: Workload, budget: Duration) -> io::Result<Option<Sample>> {
        let sample = match workload {
            Workload::Nop1 => self.lio.block_on(self.nops_serial(budget))?,
            Workload::Nop32 => self.lio.block_on(self.nops_batched(budget))?,
            Workload::RandQd1 => self.lio.block_on(self.random_reads_serial(budget))?,
            Workload::RandQd32 => self.lio.block_on(self.random_reads_batched(budget))?,
            Workload::Seq1M => self.lio.block_on(self.sequential_reads(budget))?,
            Workload::Write4k => self.lio.block_on(self.writes(budget))?,
        };
        sample.map(Some)
    }
}
