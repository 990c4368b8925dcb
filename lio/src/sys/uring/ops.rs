//! The io_uring half of every operation: how it becomes an SQE.

use super::lanes::Lane;
use crate::buf::{IoBuf, IoBufMut};
use crate::op::{self, kernel_offset};
use crate::resource::FileKind;
use crate::sys::inline::InlineWrite;
use crate::sys::readiness::Interest;
use crate::sys::PrepareContext;
use crate::table::Key;
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// Prepares an operation for io_uring.
///
/// `prepare` is called once, with the operation at its final address in the in-flight
/// table: pointers it puts in the SQE (buffers, paths, `iovec`s, `timespec`s) stay valid until
/// the completion. An error completes the operation at once without the kernel.
pub trait UringOp {
    /// Builds the SQE (without `user_data`, which the backend sets).
    fn prepare(&mut self) -> io::Result<Entry>;

    /// Completes the operation on the spot, if a faster path than the ring exists and
    /// `may_overtake()` says no earlier operation of its lane is pending (ask it only when
    /// about to complete inline: it costs a lookup). Also where an operation adapts to the
    /// kernel before `prepare`.
    fn try_inline(
        &mut self,
        _ctx: &PrepareContext,
        _may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>> {
        None
    }

    /// Called once the SQE is in the submission queue: from here on the kernel acts on it
    /// (a close now belongs to the kernel). Not called if the operation finished without
    /// the kernel.
    fn submitted(&mut self) {}

    /// The descriptor direction this operation must keep its order on (reads and writes on
    /// pipes and sockets; reads and writes at a file's position, which share one lane; see
    /// [`lanes`](super::lanes)), if any.
    fn lane(&self) -> Option<Lane> {
        None
    }

    /// The operation this one cancels, if it is a cancel.
    fn cancel_target(&self) -> Option<Key> {
        None
    }
}

/// The read or write lane of `fd`, if it is a pipe, socket or other pollable descriptor.
pub(super) fn stream_lane(fd: &crate::Resource, interest: Interest) -> Option<Lane> {
    matches!(fd.kind(), FileKind::Stream | FileKind::Datagram).then(|| (fd.raw(), interest))
}

/// The lane of a read or write on `fd`: its `interest` lane on a pipe or socket; without an
/// offset on a file (see [`op::position_fd`]), the file's position lane, which reads and
/// writes share (its write lane; files have no other) because each moves the position the
/// next starts from; none otherwise.
#[inline]
fn rw_lane(fd: &crate::Resource, offset: Option<u64>, interest: Interest) -> Option<Lane> {
    match fd.kind() {
        FileKind::Stream | FileKind::Datagram => Some((fd.raw(), interest)),
        _ => op::position_fd(fd, offset).map(|fd| (fd, Interest::Write)),
    }
}

fn fd(res: &crate::Resource) -> types::Fd {
    types::Fd(res.raw())
}

impl<B: IoBufMut> UringOp for op::Read<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let offset = kernel_offset(self.offset);
        let len = self.len();
        Ok(opcode::Read::new(fd(&self.fd), self.buf.buf_mut_ptr(), len)
            .offset(offset)
            .build())
    }

    /// A zero-length read is made as a plain `read(2)`: io_uring skips the file entirely
    /// for it, which would hide errors such as `EISDIR` that `read(2)` reports.
    fn try_inline(
        &mut self,
        _ctx: &PrepareContext,
        may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>> {
        if self.len() != 0 || !may_overtake() {
            return None;
        }
        let mut empty = [0u8; 0];
        let result: rustix::io::Result<usize> = rustix::io::read(&self.fd, &mut empty[..]);
        Some(result.map(|n| n as u32).map_err(Into::into))
    }

    fn lane(&self) -> Option<Lane> {
        rw_lane(&self.fd, self.offset, Interest::Read)
    }
}

impl<B: IoBuf> UringOp for op::Write<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let offset = kernel_offset(self.offset);
        Ok(
            opcode::Write::new(fd(&self.fd), self.buf.buf_ptr(), self.len())
                .offset(offset)
                .build(),
        )
    }

    fn lane(&self) -> Option<Lane> {
        rw_lane(&self.fd, self.offset, Interest::Write)
    }

    fn try_inline(
        &mut self,
        ctx: &PrepareContext,
        may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>> {
        InlineWrite::try_inline(self, ctx, may_overtake)
    }
}

impl<B: IoBufMut> UringOp for op::Readv<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let offset = kernel_offset(self.offset);
        // Validated at submission: at most IOV_MAX.
        let count = self.bufs.len() as u32;
        self.iovecs = op::iovecs(
            self.bufs
                .iter_mut()
                .map(|b| (b.buf_mut_ptr(), b.buf_capacity())),
        );
        Ok(
            opcode::Readv::new(fd(&self.fd), self.iovecs.as_ptr(), count)
                .offset(offset)
                .build(),
        )
    }

    fn lane(&self) -> Option<Lane> {
        rw_lane(&self.fd, self.offset, Interest::Read)
    }
}

impl<B: IoBuf> UringOp for op::Writev<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let offset = kernel_offset(self.offset);
        // Validated at submission: at most IOV_MAX.
        let count = self.bufs.len() as u32;
        self.iovecs = op::iovecs(
            self.bufs
                .iter()
                .map(|b| (b.buf_ptr().cast_mut(), b.buf_len())),
        );
        Ok(
            opcode::Writev::new(fd(&self.fd), self.iovecs.as_ptr(), count)
                .offset(offset)
                .build(),
        )
    }

    fn lane(&self) -> Option<Lane> {
        rw_lane(&self.fd, self.offset, Interest::Write)
    }

    fn try_inline(
        &mut self,
        ctx: &PrepareContext,
        may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>> {
        InlineWrite::try_inline(self, ctx, may_overtake)
    }
}

impl UringOp for op::Fsync {
    fn prepare(&mut self) -> io::Result<Entry> {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        Ok(opcode::Fsync::new(fd(&self.fd)).flags(flags).build())
    }
}

impl UringOp for op::Fallocate {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::Fallocate::new(fd(&self.fd), self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build())
    }
}

impl UringOp for op::Ftruncate {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::Ftruncate::new(fd(&self.fd), self.len).build())
    }
}

impl UringOp for op::OpenAt {
    fn prepare(&mut self) -> io::Result<Entry> {
        let flags = match &self.flags {
            Ok(flags) => *flags,
            Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
        };
        let path = op::path_ptr(&self.path)?;
        Ok(opcode::OpenAt::new(types::Fd(op::dir_fd(&self.dir)), path)
            .flags(flags)
            .mode(self.mode)
            .build())
    }
}

impl UringOp for op::Close {
    fn prepare(&mut self) -> io::Result<Entry> {
        let raw = self.raw_fd()?;
        Ok(opcode::Close::new(types::Fd(raw)).build())
    }

    fn submitted(&mut self) {
        self.hand_over();
    }
}

impl UringOp for op::Statx {
    fn prepare(&mut self) -> io::Result<Entry> {
        let path = op::path_ptr(&self.path)?;
        let mask = libc::STATX_BASIC_STATS;
        Ok(opcode::Statx::new(
            types::Fd(op::dir_fd(&self.dir)),
            path,
            self.buf.as_mut_ptr().cast(),
        )
        .flags(self.flags)
        .mask(mask)
        .build())
    }
}

impl UringOp for op::RenameAt {
    fn prepare(&mut self) -> io::Result<Entry> {
        let dir = types::Fd(op::dir_fd(&self.dir));
        Ok(
            opcode::RenameAt::new(dir, op::path_ptr(&self.from)?, dir, op::path_ptr(&self.to)?)
                .build(),
        )
    }
}

impl UringOp for op::UnlinkAt {
    fn prepare(&mut self) -> io::Result<Entry> {
        let flags = if self.remove_dir {
            libc::AT_REMOVEDIR
        } else {
            0
        };
        Ok(
            opcode::UnlinkAt::new(types::Fd(op::dir_fd(&self.dir)), op::path_ptr(&self.path)?)
                .flags(flags)
                .build(),
        )
    }
}

impl UringOp for op::MkdirAt {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(
            opcode::MkDirAt::new(types::Fd(op::dir_fd(&self.dir)), op::path_ptr(&self.path)?)
                .mode(self.mode)
                .build(),
        )
    }
}

impl UringOp for op::SymlinkAt {
    fn prepare(&mut self) -> io::Result<Entry> {
        let dir = types::Fd(op::dir_fd(&self.dir));
        Ok(
            opcode::SymlinkAt::new(dir, op::path_ptr(&self.target)?, op::path_ptr(&self.link)?)
                .build(),
        )
    }
}

impl UringOp for op::LinkAt {
    fn prepare(&mut self) -> io::Result<Entry> {
        let dir = types::Fd(op::dir_fd(&self.dir));
        Ok(
            opcode::LinkAt::new(dir, op::path_ptr(&self.from)?, dir, op::path_ptr(&self.to)?)
                .build(),
        )
    }
}

impl UringOp for op::Sleep {
    fn prepare(&mut self) -> io::Result<Entry> {
        self.timespec = super::timespec(self.duration);
        Ok(opcode::Timeout::new(&self.timespec).build())
    }
}

impl UringOp for op::Nop {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::Nop::new().build())
    }
}

impl UringOp for op::Cancel {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::AsyncCancel::new(self.target.key.to_user_data()).build())
    }

    fn cancel_target(&self) -> Option<Key> {
        Some(self.target.key)
    }
}
