//! The blocking half of every operation: the syscall a pool thread runs for it.
//!
//! Each `run_*` function takes raw arguments prepared on the driver thread (see
//! [`JobArgs`]) and makes one syscall through `libc`, the kernel ABI, retrying `EINTR`.

use super::{Job, JobArgs};
use crate::buf::{IoBuf, IoBufMut};
use crate::op::{self, kernel_offset};
use std::io;

/// Describes an operation as a job for the blocking pool.
///
/// `job` is called once, with the operation at its final address in the in-flight table;
/// pointers it puts in the job stay valid until the completion.
pub trait BlockingOp {
    /// The job, or an error that completes the operation at once.
    fn job(&mut self) -> io::Result<Job>;
}

/// Runs `call` until it does not fail with `EINTR`; a negative return is the OS error.
pub(super) use crate::pal::syscall as retry;

pub(super) fn job(run: unsafe fn(&JobArgs) -> io::Result<u32>, args: JobArgs) -> io::Result<Job> {
    Ok(Job {
        run,
        args,
        must_run: false,
        order: None,
    })
}

/// The offset for `p*` calls, or `None` for the file position.
fn offset_arg(offset: Option<u64>) -> Option<u64> {
    let offset = kernel_offset(offset);
    (offset != u64::MAX).then_some(offset)
}

fn with_offset(args: JobArgs, offset: Option<u64>) -> JobArgs {
    match offset_arg(offset) {
        Some(offset) => JobArgs {
            offset,
            flags: 1,
            ..args
        },
        None => args,
    }
}

/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes.
unsafe fn run_read(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: `ptr`/`len` describe the operation's buffer (caller's contract).
    retry(|| unsafe {
        if a.flags == 1 {
            libc::pread(a.fd, a.ptr.cast(), a.len, a.offset as i64)
        } else {
            libc::read(a.fd, a.ptr.cast(), a.len)
        }
    })
}

/// # Safety
///
/// `ptr2` must be valid for reads of `len` bytes.
unsafe fn run_write(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: `ptr2`/`len` describe the operation's initialised bytes (caller's contract).
    retry(|| unsafe {
        if a.flags == 1 {
            libc::pwrite(a.fd, a.ptr2.cast(), a.len, a.offset as i64)
        } else {
            libc::write(a.fd, a.ptr2.cast(), a.len)
        }
    })
}

/// # Safety
///
/// `ptr2` must point to `len` valid `iovec`s whose buffers are valid for writes.
unsafe fn run_readv(a: &JobArgs) -> io::Result<u32> {
    let iov = a.ptr2.cast::<libc::iovec>();
    // SAFETY: the iovecs and their buffers belong to the operation (caller's contract).
    retry(|| unsafe {
        if a.flags == 1 {
            libc::preadv(a.fd, iov, a.len as i32, a.offset as i64)
        } else {
            libc::readv(a.fd, iov, a.len as i32)
        }
    })
}

/// # Safety
///
/// `ptr2` must point to `len` valid `iovec`s whose buffers are valid for reads.
unsafe fn run_writev(a: &JobArgs) -> io::Result<u32> {
    let iov = a.ptr2.cast::<libc::iovec>();
    // SAFETY: the iovecs and their buffers belong to the operation (caller's contract).
    retry(|| unsafe {
        if a.flags == 1 {
            libc::pwritev(a.fd, iov, a.len as i32, a.offset as i64)
        } else {
            libc::writev(a.fd, iov, a.len as i32)
        }
    })
}

impl<B: IoBufMut> BlockingOp for op::Read<B> {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: self.fd.raw(),
            ptr: self.buf.buf_mut_ptr(),
            len: self.len() as usize,
            ..JobArgs::default()
        };
        job(run_read, with_offset(args, self.offset))
    }
}

impl<B: IoBuf> BlockingOp for op::Write<B> {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: self.fd.raw(),
            ptr2: self.buf.buf_ptr(),
            len: self.len() as usize,
            ..JobArgs::default()
        };
        job(run_write, with_offset(args, self.offset))
    }
}

impl<B: IoBufMut> BlockingOp for op::Readv<B> {
    fn job(&mut self) -> io::Result<Job> {
        // Validated at submission: at most IOV_MAX.
        let count = self.bufs.len() as u32;
        self.iovecs = op::iovecs(
            self.bufs
                .iter_mut()
                .map(|b| (b.buf_mut_ptr(), b.buf_capacity())),
        );
        let args = JobArgs {
            fd: self.fd.raw(),
            ptr2: self.iovecs.as_ptr().cast(),
            len: count as usize,
            ..JobArgs::default()
        };
        job(run_readv, with_offset(args, self.offset))
    }
}

impl<B: IoBuf> BlockingOp for op::Writev<B> {
    fn job(&mut self) -> io::Result<Job> {
        // Validated at submission: at most IOV_MAX.
        let count = self.bufs.len() as u32;
        self.iovecs = op::iovecs(
            self.bufs
                .iter()
                .map(|b| (b.buf_ptr().cast_mut(), b.buf_len())),
        );
        let args = JobArgs {
            fd: self.fd.raw(),
            ptr2: self.iovecs.as_ptr().cast(),
            len: count as usize,
            ..JobArgs::default()
        };
        job(run_writev, with_offset(args, self.offset))
    }
}

/// # Safety
///
/// No pointers are used.
unsafe fn run_fsync(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: plain syscalls on a descriptor number.
    retry(|| unsafe {
        (if a.flags == 1 {
            libc::fdatasync(a.fd)
        } else {
            libc::fsync(a.fd)
        }) as isize
    })
}

impl BlockingOp for op::Fsync {
    fn job(&mut self) -> io::Result<Job> {
        let flags = i32::from(self.data_only);
        job(
            run_fsync,
            JobArgs {
                fd: self.fd.raw(),
                flags,
                ..JobArgs::default()
            },
        )
    }
}

/// # Safety
///
/// No pointers are used.
unsafe fn run_fallocate(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: a plain syscall on a descriptor number.
    retry(|| unsafe { libc::fallocate(a.fd, a.flags, a.offset as i64, a.len as i64) as isize })
}

impl BlockingOp for op::Fallocate {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: self.fd.raw(),
            offset: self.offset,
            len: self.len as usize,
            flags: self.mode,
            ..JobArgs::default()
        };
        job(run_fallocate, args)
    }
}

/// # Safety
///
/// No pointers are used.
unsafe fn run_ftruncate(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: a plain syscall on a descriptor number.
    retry(|| unsafe { libc::ftruncate(a.fd, a.offset as i64) as isize })
}

impl BlockingOp for op::Ftruncate {
    fn job(&mut self) -> io::Result<Job> {
        if self.len > i64::MAX as u64 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        job(
            run_ftruncate,
            JobArgs {
                fd: self.fd.raw(),
                offset: self.len,
                ..JobArgs::default()
            },
        )
    }
}

/// # Safety
///
/// `ptr2` must be a NUL-terminated path.
unsafe fn run_openat(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: the path belongs to the operation (caller's contract).
    retry(|| unsafe { libc::openat(a.fd, a.ptr2.cast(), a.flags, a.mode) as isize })
}

impl BlockingOp for op::OpenAt {
    fn job(&mut self) -> io::Result<Job> {
        let flags = match &self.flags {
            Ok(flags) => *flags,
            Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
        };
        let args = JobArgs {
            fd: op::dir_fd(&self.dir),
            ptr2: op::path_ptr(&self.path)?.cast(),
            flags,
            mode: self.mode,
            ..JobArgs::default()
        };
        job(run_openat, args)
    }
}

/// # Safety
///
/// No pointers are used; the descriptor belongs to the job.
unsafe fn run_close(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: the job owns the descriptor. Linux releases it even when close fails with
    // EINTR, so close is never retried.
    match unsafe { libc::close(a.fd) } {
        0 => Ok(0),
        _ => match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            e => Err(e),
        },
    }
}

impl BlockingOp for op::Close {
    fn job(&mut self) -> io::Result<Job> {
        let fd = self.raw_fd()?;
        self.hand_over();
        let args = JobArgs {
            fd,
            ..JobArgs::default()
        };
        Ok(Job {
            run: run_close,
            args,
            must_run: true,
            order: None,
        })
    }
}

/// # Safety
///
/// `ptr2` must be a NUL-terminated path and `ptr` valid for a `statx` write.
unsafe fn run_statx(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: path and buffer belong to the operation (caller's contract).
    retry(|| unsafe { libc::statx(a.fd, a.ptr2.cast(), a.flags, a.mode, a.ptr.cast()) as isize })
}

impl BlockingOp for op::Statx {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: op::dir_fd(&self.dir),
            ptr2: op::path_ptr(&self.path)?.cast(),
            ptr: self.buf.as_mut_ptr().cast(),
            flags: self.flags,
            mode: libc::STATX_BASIC_STATS,
            ..JobArgs::default()
        };
        job(run_statx, args)
    }
}

/// # Safety
///
/// `ptr2` and `ptr` must be NUL-terminated paths.
unsafe fn run_renameat(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: both paths belong to the operation (caller's contract).
    retry(|| unsafe { libc::renameat(a.fd, a.ptr2.cast(), a.fd, a.ptr.cast()) as isize })
}

impl BlockingOp for op::RenameAt {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: op::dir_fd(&self.dir),
            ptr2: op::path_ptr(&self.from)?.cast(),
            ptr: op::path_ptr(&self.to)?.cast_mut().cast(),
            ..JobArgs::default()
        };
        job(run_renameat, args)
    }
}

/// # Safety
///
/// `ptr2` must be a NUL-terminated path.
unsafe fn run_unlinkat(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: the path belongs to the operation (caller's contract).
    retry(|| unsafe { libc::unlinkat(a.fd, a.ptr2.cast(), a.flags) as isize })
}

impl BlockingOp for op::UnlinkAt {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: op::dir_fd(&self.dir),
            ptr2: op::path_ptr(&self.path)?.cast(),
            flags: if self.remove_dir {
                libc::AT_REMOVEDIR
            } else {
                0
            },
            ..JobArgs::default()
        };
        job(run_unlinkat, args)
    }
}

/// # Safety
///
/// `ptr2` must be a NUL-terminated path.
unsafe fn run_mkdirat(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: the path belongs to the operation (caller's contract).
    retry(|| unsafe { libc::mkdirat(a.fd, a.ptr2.cast(), a.mode) as isize })
}

impl BlockingOp for op::MkdirAt {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: op::dir_fd(&self.dir),
            ptr2: op::path_ptr(&self.path)?.cast(),
            mode: self.mode,
            ..JobArgs::default()
        };
        job(run_mkdirat, args)
    }
}

/// # Safety
///
/// `ptr2` (target) and `ptr` (link) must be NUL-terminated paths.
unsafe fn run_symlinkat(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: both paths belong to the operation (caller's contract).
    retry(|| unsafe { libc::symlinkat(a.ptr2.cast(), a.fd, a.ptr.cast()) as isize })
}

impl BlockingOp for op::SymlinkAt {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: op::dir_fd(&self.dir),
            ptr2: op::path_ptr(&self.target)?.cast(),
            ptr: op::path_ptr(&self.link)?.cast_mut().cast(),
            ..JobArgs::default()
        };
        job(run_symlinkat, args)
    }
}

/// # Safety
///
/// `ptr2` and `ptr` must be NUL-terminated paths.
unsafe fn run_linkat(a: &JobArgs) -> io::Result<u32> {
    // SAFETY: both paths belong to the operation (caller's contract).
    retry(|| unsafe { libc::linkat(a.fd, a.ptr2.cast(), a.fd, a.ptr.cast(), 0) as isize })
}

impl BlockingOp for op::LinkAt {
    fn job(&mut self) -> io::Result<Job> {
        let args = JobArgs {
            fd: op::dir_fd(&self.dir),
            ptr2: op::path_ptr(&self.from)?.cast(),
            ptr: op::path_ptr(&self.to)?.cast_mut().cast(),
            ..JobArgs::default()
        };
        job(run_linkat, args)
    }
}

/// Operations that never need a thread (they complete in the driver itself).
pub(super) fn no_job(what: &str) -> io::Result<Job> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("lio: {what} has no blocking form"),
    ))
}

impl BlockingOp for op::Nop {
    fn job(&mut self) -> io::Result<Job> {
        no_job("nop")
    }
}

impl BlockingOp for op::Sleep {
    fn job(&mut self) -> io::Result<Job> {
        no_job("sleep")
    }
}

impl BlockingOp for op::Cancel {
    fn job(&mut self) -> io::Result<Job> {
        no_job("cancel")
    }
}
