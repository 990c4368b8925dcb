//! Counting another thread's system calls: `perf_event_open` counters on the
//! `raw_syscalls:sys_enter` tracepoint, one unfiltered and one per syscall family (a
//! tracepoint filter on the syscall number), in one group enabled and disabled together.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The reads: `read`, `readv`, `recvfrom` (`recv`), `recvmsg`, `recvmmsg`.
const RECV: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_recvmmsg,
];

/// The writes: `write`, `writev`, `sendto` (`send`), `sendmsg`, `sendmmsg`.
const SEND: &[libc::c_long] = &[
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_sendmmsg,
];

/// The waits: the epoll waits and `io_uring_enter` (which also submits).
#[cfg(target_arch = "x86_64")]
const WAIT: &[libc::c_long] = &[
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_io_uring_enter,
];
/// The waits: the epoll waits and `io_uring_enter` (which also submits).
#[cfg(not(target_arch = "x86_64"))]
const WAIT: &[libc::c_long] = &[
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_io_uring_enter,
];

/// Where tracefs may be mounted; each holds the tracepoint's id.
const TRACEPOINT_ID: [&str; 2] = [
    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
    "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
];

/// `PERF_TYPE_TRACEPOINT`.
const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_FLAG_FD_CLOEXEC`.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `PERF_IOC_FLAG_GROUP`: apply an ioctl to the leader's whole group.
const PERF_IOC_FLAG_GROUP: libc::c_ulong = 1;
/// `PERF_EVENT_IOC_ENABLE`, `_IO('$', 0)` (asm-generic ioctl encoding).
const IOC_ENABLE: libc::c_ulong = 0x2400;
/// `PERF_EVENT_IOC_DISABLE`, `_IO('$', 1)`.
const IOC_DISABLE: libc::c_ulong = 0x2401;
/// `PERF_EVENT_IOC_RESET`, `_IO('$', 3)`.
const IOC_RESET: libc::c_ulong = 0x2403;
/// `PERF_EVENT_IOC_SET_FILTER`, `_IOW('$', 6, char *)`.
const IOC_SET_FILTER: libc::c_ulong =
    (1 << 30) | ((std::mem::size_of::<*const libc::c_char>() as libc::c_ulong) << 16) | 0x2406;

/// The first 64 bytes of `struct perf_event_attr` (`PERF_ATTR_SIZE_VER0`), which is all a
/// counting tracepoint event needs.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    /// `type`.
    kind: u32,
    /// `size`: of this struct, so the kernel reads no further.
    size: u32,
    /// `config`: the tracepoint id.
    config: u64,
    /// `sample_period`: unused when counting.
    sample_period: u64,
    /// `sample_type`: unused when counting.
    sample_type: u64,
    /// `read_format`: 0, a `read` gives one `u64`.
    read_format: u64,
    /// The flag bits: bit 0 is `disabled`.
    flags: u64,
    /// `wakeup_events`: unused.
    wakeup_events: u32,
    /// `bp_type`: unused.
    bp_type: u32,
    /// `config1`: unused.
    config1: u64,
}
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 64);

/// System calls a thread made over a window, by family.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyscallCounts {
    /// All of them.
    pub total: u64,
    /// [`RECV`]: reads and receives.
    pub recv: u64,
    /// [`SEND`]: writes and sends.
    pub send: u64,
    /// [`WAIT`]: epoll waits and `io_uring_enter`.
    pub wait: u64,
}

impl SyscallCounts {
    /// Every other system call (`epoll_ctl`, `accept4`, `poll`, ...).
    pub fn other(&self) -> u64 {
        self.total.saturating_sub(self.recv + self.send + self.wait)
    }
}

/// Counters attached to one thread: the unfiltered group leader and one per family.
pub struct SyscallCounters {
    /// Every `sys_enter`; the group leader.
    total: OwnedFd,
    /// The [`RECV`], [`SEND`] and [`WAIT`] counters.
    families: [OwnedFd; 3],
}

impl SyscallCounters {
    /// Opens disabled counters on thread `tid`, or says why that is not possible (not
    /// root and `perf_event_paranoid` too high, no tracefs, an unsupported architecture).
    pub fn open(tid: libc::pid_t) -> Result<SyscallCounters, String> {
        if !cfg!(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "riscv64",
            target_arch = "loongarch64"
        )) {
            return Err("perf ioctl numbers are only wired up for asm-generic targets".into());
        }
        let id = tracepoint_id()?;
        let total = open_counter(id, tid, None)
            .map_err(|e| format!("perf_event_open(raw_syscalls:sys_enter): {e}"))?;
        let mut families = Vec::with_capacity(3);
        for (name, ids) in [("recv", RECV), ("send", SEND), ("wait", WAIT)] {
            let counter = open_counter(id, tid, Some(&total))
                .map_err(|e| format!("perf_event_open({name} counter): {e}"))?;
            set_filter(&counter, ids).map_err(|e| format!("PERF_EVENT_IOC_SET_FILTER: {e}"))?;
            families.push(counter);
        }
        let families = families
            .try_into()
            .map_err(|_| "three family counters".to_owned())?;
        Ok(SyscallCounters { total, families })
    }

    /// Zeroes the counters and starts counting.
    pub fn start(&self) -> io::Result<()> {
        ioctl(&self.total, IOC_RESET, PERF_IOC_FLAG_GROUP)?;
        ioctl(&self.total, IOC_ENABLE, PERF_IOC_FLAG_GROUP)
    }

    /// Stops counting and reads the counts.
    pub fn stop(&self) -> io::Result<SyscallCounts> {
        ioctl(&self.total, IOC_DISABLE, PERF_IOC_FLAG_GROUP)?;
        let [recv, send, wait] = &self.families;
        Ok(SyscallCounts {
            total: read_count(&self.total)?,
            recv: read_count(recv)?,
            send: read_count(send)?,
            wait: read_count(wait)?,
        })
    }
}

/// The id of the `raw_syscalls:sys_enter` tracepoint, from tracefs.
fn tracepoint_id() -> Result<u64, String> {
    let mut last = String::new();
    for path in TRACEPOINT_ID {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                return text
                    .trim()
                    .parse()
                    .map_err(|e| format!("{path}: not a tracepoint id: {e}"))
            }
            Err(e) => last = format!("no tracefs: {path}: {e}"),
        }
    }
    Err(last)
}

/// A counting `perf_event_open` on tracepoint `id` for thread `tid` on any CPU, the leader
/// of a new group (created disabled) or a member of `group`.
fn open_counter(id: u64, tid: libc::pid_t, group: Option<&OwnedFd>) -> io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        kind: PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: id,
        flags: u64::from(group.is_none()),
        ..PerfEventAttr::default()
    };
    let group_fd = group.map_or(-1, AsRawFd::as_raw_fd);
    // SAFETY: `attr` is a valid `perf_event_attr` of the size it declares, alive for the
    // call; the other arguments are plain integers.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            tid,
            -1,
            group_fd,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Restricts `counter` to the syscall numbers `ids` (`id == a || id == b ...`).
fn set_filter(counter: &OwnedFd, ids: &[libc::c_long]) -> io::Result<()> {
    let filter: Vec<String> = ids.iter().map(|id| format!("id == {id}")).collect();
    let filter = CString::new(filter.join(" || ")).map_err(io::Error::other)?;
    // SAFETY: `filter` is a NUL-terminated string alive for the call, which only reads it.
    let rc = unsafe { libc::ioctl(counter.as_raw_fd(), IOC_SET_FILTER as _, filter.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A perf ioctl that takes an integer argument.
fn ioctl(counter: &OwnedFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: `request` is a perf ioctl whose argument is an integer, not a pointer.
    let rc = unsafe { libc::ioctl(counter.as_raw_fd(), request as _, arg) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The current value of `counter`.
fn read_count(counter: &OwnedFd) -> io::Result<u64> {
    let mut value = 0u64;
    // SAFETY: `value` is 8 writable bytes.
    let n = unsafe {
        libc::read(
            counter.as_raw_fd(),
            (&mut value as *mut u64).cast(),
            std::mem::size_of::<u64>(),
        )
    };
    match n {
        8 => Ok(value),
        n if n < 0 => Err(io::Error::last_os_error()),
        n => Err(io::Error::other(format!(
            "perf counter: read {n} bytes of 8"
        ))),
    }
}
