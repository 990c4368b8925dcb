//! [`Fused`]: Linux's engine, chosen at run time: io_uring, or epoll where the kernel refuses
//! io_uring (seccomp as in Docker's default profile, `kernel.io_uring_disabled`, an old
//! kernel), or either one when `Builder::backend` or `LIO_BACKEND` asks for it.

use super::{readiness, uring, BufRing, Engine, Inserted, Notifier, SysOp, Table, WaitMode};
use crate::sys::Backend;
use crate::sys::Config;
use crate::table::Key;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// The engine of a Linux driver: one backend, chosen at run time.
// One engine exists per driver, inside its shared state: boxing the larger variant would
// only add an indirection to every submission.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Fused {
    Uring(uring::Uring),
    Readiness(readiness::Readiness),
}

/// Calls the same method on whichever backend runs.
macro_rules! on_backend {
    ($engine:expr, $backend:ident => $call:expr) => {
        match $engine {
            Fused::Uring($backend) => $call,
            Fused::Readiness($backend) => $call,
        }
    };
}

impl Fused {
    /// Starts the backend `config` (or `LIO_BACKEND`) asks for; without a request, io_uring,
    /// falling back to epoll when the kernel refuses io_uring. Returns the engine and the
    /// reason for a fallback.
    pub(crate) fn new(config: &Config) -> io::Result<(Fused, Option<String>)> {
        let wanted = match config.backend {
            Some(backend) => Some(backend),
            None => Backend::from_env()?,
        };
        match wanted {
            Some(Backend::IoUring) => Ok((Fused::Uring(uring::Uring::new(config)?), None)),
            Some(Backend::Epoll) => {
                Ok((Fused::Readiness(readiness::Readiness::new(config)?), None))
            }
            None => match uring::Uring::new(config) {
                Ok(engine) => Ok((Fused::Uring(engine), None)),
                Err(e) if uring::may_fall_back(&e) => {
                    let reason = format!("io_uring unavailable ({e}); using epoll");
                    Ok((
                        Fused::Readiness(readiness::Readiness::new(config)?),
                        Some(reason),
                    ))
                }
                Err(e) => Err(e),
            },
        }
    }
}

impl Engine for Fused {
    #[inline]
    fn start<T: SysOp>(
        &mut self,
        table: &mut Table,
        inserted: Inserted<T>,
        deadline: Option<Duration>,
    ) -> Option<io::Result<u32>> {
        on_backend!(self, engine => engine.start(table, inserted, deadline))
    }

    fn cancel(&mut self, table: &mut Table, key: Key) {
        on_backend!(self, engine => engine.cancel(table, key))
    }

    fn wait(&mut self, table: &mut Table, mode: WaitMode) -> io::Result<bool> {
        on_backend!(self, engine => engine.wait(table, mode))
    }

    fn notifier(&mut self, table: &mut Table) -> Arc<Notifier> {
        on_backend!(self, engine => engine.notifier(table))
    }

    fn shutdown(&mut self, table: &mut Table) {
        on_backend!(self, engine => engine.shutdown(table))
    }

    fn backend(&self) -> Backend {
        on_backend!(self, engine => engine.backend())
    }

    fn register_buf_ring(&mut self, count: u16) -> io::Result<Option<BufRing>> {
        on_backend!(self, engine => engine.register_buf_ring(count))
    }

    fn unregister_buf_ring(&mut self, group: u16) -> io::Result<()> {
        on_backend!(self, engine => engine.unregister_buf_ring(group))
    }
}
