//! The io_uring half of the socket operations: each is one SQE. Sends and receives keep
//! their order per socket through the lanes (see [`lanes`](super::lanes)). Messages (`sendto`,
//! `recvfrom`, `sendmsg`, `recvmsg`) go through `SENDMSG`/`RECVMSG` with the `msghdr`
//! inside the operation, which stays at its table address until the completion.

use super::lanes::Lane;
use super::ops::stream_lane;
use super::UringOp;
use crate::buf::{IoBuf, IoBufMut};
use crate::op::{self, FromSockAddr, FromSocket};
use crate::resource::FileKind;
use crate::sys::readiness::Interest;
use crate::sys::PrepareContext;
use crate::Resource;
use io_uring::{opcode, squeue::Entry, types::Fd};
use std::io;

/// A `SENDMSG` entry for a header the operation built (and keeps until the completion).
fn send_msg(fd: &Resource, msg: *const libc::msghdr, flags: i32) -> Entry {
    opcode::SendMsg::new(Fd(fd.raw()), msg)
        .flags(flags as u32)
        .build()
}

/// A `RECVMSG` entry for a header the operation built (and keeps until the completion).
fn recv_msg(fd: &Resource, msg: *mut libc::msghdr, flags: i32) -> Entry {
    opcode::RecvMsg::new(Fd(fd.raw()), msg)
        .flags(flags as u32)
        .build()
}

impl UringOp for op::Socket {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::Socket::new(self.domain, self.ty(), self.protocol).build())
    }
}

impl<S: FromSocket> UringOp for op::Connect<S> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (fd, addr, len) = self.target()?;
        Ok(opcode::Connect::new(Fd(fd), addr, len).build())
    }
}

impl<S: FromSocket> UringOp for op::Accept<S> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let fd = Fd(self.fd.raw());
        Ok(
            opcode::Accept::new(fd, self.addr.storage_mut(), self.addr.len_mut())
                .flags(libc::SOCK_CLOEXEC)
                .build(),
        )
    }
}

impl<S: FromSocket> UringOp for op::AcceptMulti<S> {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::AcceptMulti::new(Fd(self.fd.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build())
    }
}

impl UringOp for op::RecvMulti {
    fn prepare(&mut self) -> io::Result<Entry> {
        let group = self
            .pool
            .group()
            .ok_or_else(|| io::Error::other("lio: this buffer pool has no io_uring buffer ring"))?;
        Ok(opcode::RecvMulti::new(Fd(self.fd.raw()), group)
            .flags(self.flags)
            .build())
    }
}

impl<B: IoBuf> UringOp for op::Send<B> {
    /// `SEND_ZC` when zero copy was asked for, the kernel has it and the socket is TCP
    /// (other sockets refuse it; the result is the same as a plain send's).
    fn prepare(&mut self) -> io::Result<Entry> {
        let fd = Fd(self.fd.raw());
        let (ptr, len, flags) = (self.buf.buf_ptr(), self.len(), self.send_flags());
        if self.zero_copy && self.fd.kind() == FileKind::Stream {
            return Ok(opcode::SendZc::new(fd, ptr, len).flags(flags).build());
        }
        Ok(opcode::Send::new(fd, ptr, len).flags(flags).build())
    }

    fn try_inline(
        &mut self,
        ctx: &PrepareContext,
        _may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>> {
        self.zero_copy &= ctx.send_zc;
        None
    }

    fn lane(&self) -> Option<Lane> {
        stream_lane(&self.fd, Interest::Write)
    }
}

impl<B: IoBufMut> UringOp for op::Recv<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (fd, len) = (Fd(self.fd.raw()), self.len());
        Ok(opcode::Recv::new(fd, self.buf.buf_mut_ptr(), len)
            .flags(self.flags)
            .build())
    }

    fn lane(&self) -> Option<Lane> {
        stream_lane(&self.fd, Interest::Read)
    }
}

impl<B: IoBuf> UringOp for op::SendTo<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr()?;
        Ok(send_msg(&self.fd, msg, self.send_flags()))
    }

    fn lane(&self) -> Option<Lane> {
        stream_lane(&self.fd, Interest::Write)
    }
}

impl<B: IoBufMut, A: FromSockAddr> UringOp for op::RecvFrom<B, A> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr();
        Ok(recv_msg(&self.fd, msg, self.flags))
    }

    fn lane(&self) -> Option<Lane> {
        stream_lane(&self.fd, Interest::Read)
    }
}

impl<B: IoBuf> UringOp for op::SendMsg<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr()?;
        Ok(send_msg(&self.fd, msg, self.send_flags()))
    }

    fn lane(&self) -> Option<Lane> {
        stream_lane(&self.fd, Interest::Write)
    }
}

impl<B: IoBufMut> UringOp for op::RecvMsg<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr()?;
        Ok(recv_msg(&self.fd, msg, self.recv_flags()))
    }

    fn lane(&self) -> Option<Lane> {
        stream_lane(&self.fd, Interest::Read)
    }
}

impl UringOp for op::Shutdown {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::Shutdown::new(Fd(self.fd.raw()), self.how).build())
    }
}
