//! The io_uring backend: ring setup, opcode probe, submission, completion drain, waker.

mod buf_ring;
mod lanes;
mod net;
mod ops;
mod waiting;

pub(crate) use buf_ring::BufRing;
pub use ops::UringOp;

use super::blocking::Pool;
use super::notify::Notifier;
use super::timers::Timers;
use super::{Location, PrepareContext, SysOp, WaitMode};
use crate::pal;
use crate::sys::Config;
use crate::sys::{Inserted, Locations, Table};
use crate::table::Key;
use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use lanes::{Lanes, Waiting};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use io_uring::types::Timespec;

/// `IOU_PBUF_RING_INC`: the kernel consumes provided buffers incrementally (Linux 6.12).
const PBUF_RING_INC: u16 = 2;

/// `user_data` of completions lio ignores (its own cancel requests).
const IGNORED: u64 = u64::MAX;
/// `user_data` of the waker's eventfd poll.
const WAKER: u64 = u64::MAX - 1;
/// Tag bit on the `user_data` of a linked deadline (the slot's key is in the low bits).
const DEADLINE_TAG: u64 = 1 << 63;

/// A kernel timespec for `d`, saturating at `i64::MAX` seconds: the kernel reads the
/// seconds as signed and rejects a negative value, while a saturated one means "never".
pub(crate) fn timespec(d: Duration) -> Timespec {
    match i64::try_from(d.as_secs()) {
        Ok(_) => Timespec::from(d),
        Err(_) => Timespec::new().sec(i64::MAX as u64).nsec(999_999_999),
    }
}

/// `mode`, waiting no later than `at` (the nearest deadline on the timer heap).
#[cold]
fn bounded(mode: WaitMode, at: Instant) -> WaitMode {
    let left = at.saturating_duration_since(Instant::now());
    match mode {
        WaitMode::Block => WaitMode::Timeout(left),
        WaitMode::Timeout(d) => WaitMode::Timeout(d.min(left)),
        WaitMode::NoWait => WaitMode::NoWait,
    }
}

/// The io_uring driver state.
pub(crate) struct Uring {
    ring: IoUring,
    probe: Box<Probe>,
    ctx: PrepareContext,
    notifier: Arc<Notifier>,
    waker_armed: bool,
    pool: Pool,
    lanes: Lanes,
    /// Deadlines of operations that wait where no linked timeout reaches them: queued in a
    /// lane, or on the blocking pool. Operations in the kernel use linked timeouts.
    timers: Timers,
    /// The buffer group id the next buffer ring gets, unless one is free for reuse.
    next_group: u16,
    /// Group ids whose ring the kernel has released (unregistered): reused first, so that
    /// a driver can make and drop any number of pools.
    free_groups: Vec<u16>,
}

/// The kernel's internal "restart the syscall" codes (ERESTARTSYS, ERESTARTNOINTR,
/// ERESTARTNOHAND, ERESTART_RESTARTBLOCK) can leak into a CQE when a blocking operation in
/// a kernel worker is interrupted by a cancel; a user sees them as the cancel they are.
fn user_errno(errno: i32) -> i32 {
    match errno {
        512..=516 => libc::ECANCELED,
        other => other,
    }
}

/// Opcodes lio cannot do without: a kernel whose io_uring lacks one falls back to epoll.
/// All are older than the opcode probe (Linux 5.6), so any kernel lio accepts has them; the
/// socket operations among them have no blocking-pool form. `SOCKET` (5.19) and `SHUTDOWN`
/// (5.11) are optional: without them those operations run on the pool.
const REQUIRED: [u8; 14] = [
    opcode::Nop::CODE,
    opcode::Read::CODE,
    opcode::Write::CODE,
    opcode::Readv::CODE,
    opcode::Timeout::CODE,
    opcode::LinkTimeout::CODE,
    opcode::AsyncCancel::CODE,
    opcode::PollAdd::CODE,
    opcode::Connect::CODE,
    opcode::Accept::CODE,
    opcode::Send::CODE,
    opcode::Recv::CODE,
    opcode::SendMsg::CODE,
    opcode::RecvMsg::CODE,
];

/// Whether a setup error means "io_uring is not available here" (so epoll should take
/// over) rather than a real failure: seccomp and `kernel.io_uring_disabled` (`EPERM`,
/// `EACCES`), no io_uring at all (`ENOSYS`), locked-memory limits (`ENOMEM`), flags or sizes
/// an old kernel rejects (`EINVAL`), or missing required opcodes (`Unsupported`).
pub(crate) fn may_fall_back(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Unsupported
        || matches!(
            error.raw_os_error(),
            Some(libc::EPERM | libc::EACCES | libc::ENOSYS | libc::ENOMEM | libc::EINVAL)
        )
}

impl Uring {
    /// Sets up a ring with the fastest flags the kernel accepts and probes its opcodes.
    pub(crate) fn new(config: &Config) -> io::Result<Self> {
        let cq = (config.capacity.max(config.entries as usize) * 2).next_power_of_two();
        let cq = u32::try_from(cq).unwrap_or(u32::MAX / 2 + 1);
        let attempts: [fn(&mut io_uring::Builder); 3] = [
            |b| {
                b.setup_single_issuer().setup_defer_taskrun();
            },
            |b| {
                b.setup_coop_taskrun();
            },
            |_| {},
        ];
        let mut last = None;
        let mut ring = None;
        for flags in attempts {
            let mut builder = IoUring::builder();
            builder.setup_cqsize(cq).setup_clamp();
            flags(&mut builder);
            match builder.build(config.entries) {
                Ok(r) => {
                    ring = Some(r);
                    break;
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        let ring = match ring {
            Some(ring) => ring,
            None => {
                return Err(last.unwrap_or_else(|| io::Error::other("lio: io_uring setup failed")))
            }
        };
        // A sandbox may allow setup but block the other io_uring calls: try both now, so
        // that lio falls back instead of failing every wait later.
        ring.submitter().submit()?;
        let mut probe = Probe::new();
        let probe = match ring.submitter().register_probe(&mut probe) {
            Ok(()) => Box::new(probe),
            // Kernels before 5.6 have no probe, and lack opcodes lio needs anyway.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "lio: this kernel's io_uring has no opcode probe (before Linux 5.6)",
                ))
            }
            Err(e) => return Err(e),
        };
        let missing: Vec<u8> = REQUIRED
            .into_iter()
            .filter(|&code| !probe.is_supported(code))
            .collect();
        if !missing.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("lio: this kernel's io_uring lacks required opcodes {missing:?}"),
            ));
        }
        let notifier = Arc::new(Notifier::new()?);
        let send_zc = probe.is_supported(opcode::SendZc::CODE);
        Ok(Uring {
            ring,
            probe,
            ctx: PrepareContext {
                inline_write_max: config.inline_write_max,
                send_zc,
            },
            pool: Pool::new(config.pool_threads, notifier.clone()),
            notifier,
            waker_armed: false,
            lanes: Lanes::default(),
            timers: Timers::default(),
            next_group: 0,
            free_groups: Vec::new(),
        })
    }

    /// Pushes a prepared entry, linked to a timeout when it has a deadline (`after` counts
    /// from now; `waiting.deadline` is the same instant, for operations that queued first).
    fn submit(&mut self, table: &mut Table, waiting: Waiting, after: Option<Duration>) {
        let Waiting {
            key, entry, extra, ..
        } = waiting;
        match after {
            None => self.push(table, &[entry]),
            Some(after) => {
                // SAFETY: `extra` points into the slot, which stays put until completion.
                let extra = unsafe { &mut *extra };
                extra.deadline = timespec(after);
                let timeout = opcode::LinkTimeout::new(&extra.deadline)
                    .build()
                    .user_data(key.to_user_data() | DEADLINE_TAG);
                table.set_pending(key, 2);
                self.push(table, &[entry.flags(squeue::Flags::IO_LINK), timeout]);
            }
        }
    }

    /// Pushes entries, flushing the submission queue to the kernel first if they do not fit.
    #[inline]
    fn push(&mut self, table: &mut Table, entries: &[squeue::Entry]) {
        loop {
            let mut sq = self.ring.submission();
            if sq.capacity() - sq.len() >= entries.len() {
                for entry in entries {
                    // SAFETY: every pointer in the entry refers to an operation (or deadline)
                    // stored in the in-flight table, which keeps it until the kernel posts
                    // the completion; the push cannot fail, the space was checked.
                    let _ = unsafe { sq.push(entry) };
                }
                return;
            }
            drop(sq);
            // A failed flush leaves the entries queued; draining completions makes progress.
            if self.enter(table, 0, None).is_err() {
                self.drain(table);
            }
        }
    }

    /// One `io_uring_enter` that submits the queue and waits for `want` completions (with
    /// an optional timeout). `EINTR` and an expired timeout count as success; `EBUSY`/`EAGAIN`
    /// (completion queue full) drain completions and retry.
    fn enter(
        &mut self,
        table: &mut Table,
        want: usize,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        loop {
            let result = match timeout {
                Some(d) => {
                    let ts = timespec(d);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(want, &args)
                }
                None if want == 0 => {
                    // IORING_ENTER_GETEVENTS: runs deferred task work and reaps completions.
                    let flags = 1u32;
                    let pending = self.ring.submission().len() as u32;
                    // SAFETY: a plain enter with no argument struct; the queued entries were
                    // pushed under the rules in `push`.
                    unsafe {
                        self.ring
                            .submitter()
                            .enter::<libc::sigset_t>(pending, 0, flags, None)
                    }
                }
                None => self.ring.submitter().submit_and_wait(want),
            };
            match result {
                Ok(_) => return Ok(()),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::ETIME) => return Ok(()),
                    Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                        self.drain(table);
                        if want > 0 && table.has_ready() {
                            return Ok(());
                        }
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// Moves every completion from the ring into the table. Returns whether the waker fired.
    fn drain(&mut self, table: &mut Table) -> bool {
        let mut woke = false;
        let mut rearm = false;
        loop {
            let mut cq = self.ring.completion();
            cq.sync();
            if cq.is_empty() {
                break;
            }
            for cqe in &mut cq {
                let data = cqe.user_data();
                match data {
                    IGNORED => {}
                    WAKER => {
                        woke |= self.notifier.reset();
                        self.pool.drain(table);
                        rearm |= !cqueue::more(cqe.flags());
                    }
                    _ if data & DEADLINE_TAG != 0 => {
                        // A linked timeout: it fired (ETIME), or was cancelled because its
                        // operation finished first.
                        let fired = cqe.result() == -libc::ETIME;
                        table.complete_deadline(Key::from_user_data(data), fired);
                    }
                    _ => {
                        let result = if cqe.result() < 0 {
                            Err(io::Error::from_raw_os_error(user_errno(-cqe.result())))
                        } else {
                            Ok(cqe.result() as u32)
                        };
                        let key = Key::from_user_data(data);
                        let flags = cqe.flags();
                        if !cqueue::notif(flags) {
                            if let Some(Location::Fd(fd, interest)) = table.location(key) {
                                self.lanes.finished((fd, interest));
                            }
                        }
                        table.complete_cqe(key, result, flags);
                    }
                }
            }
        }
        self.advance_lanes(table);
        if rearm {
            self.waker_armed = false;
            self.arm_waker(table);
        }
        if self.ring.submission().cq_overflow() {
            // The kernel kept completions that did not fit: flush them into the ring.
            let _ = self.enter(table, 0, None);
            woke |= self.drain(table);
        }
        woke
    }

    fn arm_waker(&mut self, table: &mut Table) {
        if self.waker_armed {
            return;
        }
        let fd = types::Fd(self.notifier.fd().as_raw_fd());
        let entry = opcode::PollAdd::new(fd, libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKER);
        self.waker_armed = true;
        self.push(table, &[entry]);
    }

    /// Registers a buffer ring of `count` buffers under a new group id, incremental if the
    /// kernel supports it. The caller fills and publishes it.
    pub(crate) fn register_ring(&mut self, count: u16) -> io::Result<BufRing> {
        let (group, next) = match self.free_groups.last() {
            Some(&group) => (group, self.next_group),
            None => {
                let group = self.next_group;
                let next = group.checked_add(1).ok_or_else(|| {
                    io::Error::other("lio: this driver has 65,535 buffer pools alive already")
                })?;
                (group, next)
            }
        };
        let mut ring = BufRing::allocate(count, group)?;
        let (addr, entries) = ring.registration();
        let submitter = self.ring.submitter();
        // SAFETY: `addr` is a zeroed, page-aligned array of `entries` buffer descriptors that
        // stays allocated until it is unregistered (the pool leaks it otherwise).
        let incremental =
            unsafe { submitter.register_buf_ring_with_flags(addr, entries, group, PBUF_RING_INC) };
        match incremental {
            Ok(()) => ring.set_incremental(),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // SAFETY: as above.
                unsafe { submitter.register_buf_ring_with_flags(addr, entries, group, 0) }
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("lio: io_uring refused a provided-buffer ring (Linux 5.19+ needed): {e}"),
                        )
                    })?;
            }
            Err(e) => return Err(e),
        }
        if self.free_groups.last() == Some(&group) {
            self.free_groups.pop();
        }
        self.next_group = next;
        Ok(ring)
    }

    /// Unregisters the buffer ring of `group`: the kernel no longer reads it or fills its
    /// buffers, and the id is free for the next ring.
    pub(crate) fn unregister_ring(&mut self, group: u16) -> io::Result<()> {
        self.ring.submitter().unregister_buf_ring(group)?;
        debug_assert!(
            !self.free_groups.contains(&group),
            "lio: group {group} freed twice"
        );
        self.free_groups.push(group);
        Ok(())
    }
}

impl super::Engine for Uring {
    fn backend(&self) -> crate::sys::Backend {
        crate::sys::Backend::IoUring
    }

    fn register_buf_ring(&mut self, count: u16) -> io::Result<Option<BufRing>> {
        self.register_ring(count).map(Some)
    }

    fn unregister_buf_ring(&mut self, group: u16) -> io::Result<()> {
        self.unregister_ring(group)
    }

    /// Hands an inserted operation to the kernel. Returns its result instead if it finished
    /// without the kernel (an inline write, an argument error, an unsupported opcode): the
    /// caller then owns the slot again.
    fn start<T: SysOp>(
        &mut self,
        table: &mut Table,
        inserted: Inserted<T>,
        deadline: Option<Duration>,
    ) -> Option<io::Result<u32>> {
        let key = inserted.key;
        // SAFETY: the table just stored the operation at this address; it stays there, and
        // nothing else references it, until its completion is taken.
        let op = unsafe { &mut *inserted.op };
        let lane = op.lane();
        let lanes = &self.lanes;
        let may_overtake = || !lane.is_some_and(|lane| lanes.is_busy(lane));
        if let Some(result) = op.try_inline(&self.ctx, &may_overtake) {
            return Some(result);
        }
        let entry = match op.prepare() {
            Ok(entry) => entry,
            Err(e) => return Some(Err(e)),
        };
        if !self.probe.is_supported(entry.get_opcode() as u8) {
            // An opcode this kernel lacks: run the operation on the blocking pool.
            let job = match op.job() {
                Ok(job) => job,
                Err(e) => return Some(Err(e)),
            };
            if let Err(e) = self.pool.submit(key, job) {
                return Some(Err(e));
            }
            table.set_location(key, Location::Pool);
            self.arm_deadline(key, deadline);
            self.arm_waker(table);
            return None;
        }
        if let Some(target) = op.cancel_target() {
            if let Some(result) = self.cancel_queued(table, target) {
                return Some(result);
            }
        }
        let entry = entry.user_data(key.to_user_data());
        op.submitted();
        let waiting = Waiting {
            key,
            entry,
            deadline: deadline.and_then(|d| Instant::now().checked_add(d)),
            extra: inserted.extra,
        };
        let waiting = match lane {
            Some(lane) => match self.lanes.claim(lane, waiting) {
                Some(waiting) => {
                    table.set_location(key, Location::Fd(lane.0, lane.1));
                    waiting
                }
                None => {
                    // Queued behind the lane's operation: its deadline runs from now.
                    table.set_location(key, Location::Lane(lane.0, lane.1));
                    self.arm_deadline(key, deadline);
                    return None;
                }
            },
            None => waiting,
        };
        self.submit(table, waiting, deadline);
        None
    }

    /// Asks the kernel to cancel `key`; its completion still arrives through the table.
    fn cancel(&mut self, table: &mut Table, key: Key) {
        if self.cancel_queued(table, key).is_some() {
            return;
        }
        if self.pool.cancel(key) {
            table.complete(key, Err(pal::canceled()));
            return;
        }
        let entry = opcode::AsyncCancel::new(key.to_user_data())
            .build()
            .user_data(IGNORED);
        self.push(table, &[entry]);
    }

    /// Submits everything queued and waits according to `mode`, then drains completions.
    /// Returns whether the waker fired.
    fn wait(&mut self, table: &mut Table, mode: WaitMode) -> io::Result<bool> {
        let mode = match self.timers.next() {
            None => mode,
            Some(at) => bounded(mode, at),
        };
        let result = match mode {
            WaitMode::NoWait => self.enter(table, 0, None),
            WaitMode::Block => self.enter(table, 1, None),
            WaitMode::Timeout(d) => self.enter(table, 1, Some(d)),
        };
        let woke = self.drain(table);
        self.fire_timers(table);
        result.map(|()| woke)
    }

    /// The notifier that wakes a blocked `wait`, its poll armed in the ring on first use.
    fn notifier(&mut self, table: &mut Table) -> Arc<Notifier> {
        self.arm_waker(table);
        self.notifier.clone()
    }

    /// Cancels every running operation and waits (bounded) for the kernel to release them.
    fn shutdown(&mut self, table: &mut Table) {
        for key in table.running_keys() {
            self.cancel(table, key);
        }
        if self.waker_armed {
            let entry = opcode::AsyncCancel::new(WAKER).build().user_data(IGNORED);
            self.push(table, &[entry]);
        }
        self.pool
            .shutdown(table, || io::Error::from_raw_os_error(libc::ECANCELED));
        let give_up = Instant::now() + Duration::from_secs(5);
        while table.has_running() {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() || self.wait(table, WaitMode::Timeout(left)).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::table::flags;
    use io_uring::cqueue;

    /// lio's completion flags have io_uring's values, so CQE flags pass through as they are.
    #[test]
    fn lio_completion_flags_are_io_urings() {
        assert!(cqueue::more(flags::MORE));
        assert!(cqueue::notif(flags::NOTIF));
        assert!(cqueue::buffer_more(flags::BUF_MORE));
        let buffer = flags::BUFFER | 517 << flags::BUFFER_SHIFT;
        assert_eq!(cqueue::buffer_select(buffer), Some(517));
        assert_eq!(flags::buffer(buffer), Some(517));
        for flag in [flags::MORE, flags::NOTIF, flags::BUF_MORE] {
            assert_eq!(cqueue::buffer_select(flag), None);
        }
    }
}
