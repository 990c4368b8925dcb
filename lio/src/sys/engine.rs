//! [`Engine`]: the contract every backend keeps, as code.
//!
//! A backend owns the OS's queue (an io_uring, an epoll set; kqueue and IOCP later) and
//! talks to the rest of lio only through the in-flight [`Table`]. It never calls user code:
//! callbacks and wakers run in the driver's dispatch, after `wait` returned.
//!
//! Each operation's backend half is a trait implemented per operation type in the backend's
//! folder (io_uring: "prepare an SQE"; readiness: "try now or say what to wait for"), never a
//! `match` over all operations.

use super::{Backend, BufRing, Inserted, Notifier, SysOp, Table, WaitMode};
use crate::table::Key;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A backend of the driver.
pub(crate) trait Engine {
    /// Hands an operation to the OS. It already sits in its table slot, at an address that
    /// does not move until its completion; the engine records how many OS completions it
    /// expects. Returns the result instead if the operation finished without the OS (an
    /// inline fast path, an argument error): the caller then owns the slot again.
    fn start<T: SysOp>(
        &mut self,
        table: &mut Table,
        inserted: Inserted<T>,
        deadline: Option<Duration>,
    ) -> Option<io::Result<u32>>;

    /// Asks the OS to stop `key`'s operation early. It still completes through the table;
    /// its slot is freed only then.
    fn cancel(&mut self, table: &mut Table, key: Key);

    /// Submits everything queued and waits per `mode` (not at all, until at least one
    /// completion, or at most a duration), retrying `EINTR`, then reports every completion
    /// to the table. Returns whether a [`LioWaker`](crate::LioWaker) woke it.
    fn wait(&mut self, table: &mut Table, mode: WaitMode) -> io::Result<bool>;

    /// The `Send + Sync` handle that makes a blocked `wait` return from any thread.
    fn notifier(&mut self, table: &mut Table) -> Arc<Notifier>;

    /// Cancels every running operation and waits (bounded) for the OS to release them, so
    /// that the table can free their memory; what the OS does not release in time is
    /// leaked, never freed.
    fn shutdown(&mut self, table: &mut Table);

    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Registers a provided-buffer ring of `count` buffers with the kernel; `None` on
    /// backends that hand out pool buffers themselves.
    fn register_buf_ring(&mut self, _count: u16) -> io::Result<Option<BufRing>> {
        Ok(None)
    }

    /// Unregisters the ring of `group` from
    /// [`register_buf_ring`](Engine::register_buf_ring); its id may then be reused.
    fn unregister_buf_ring(&mut self, _group: u16) -> io::Result<()> {
        Ok(())
    }
}
