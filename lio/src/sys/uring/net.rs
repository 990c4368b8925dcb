//! The io_uring half of the socket operations: each is one SQE. Messages (`sendto`,
//! `recvfrom`, `sendmsg`, `recvmsg`) go through `SENDMSG`/`RECVMSG` with the `msghdr`
//! inside the operation, which stays at its table address until the completion.

use super::UringOp;
use crate::buf::{IoBuf, IoBufMut};
use crate::op::{self, FromSockAddr, FromSocket};
use io_uring::{opcode, squeue::Entry, types::Fd};
use std::io;

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

impl<B: IoBuf> UringOp for op::Send<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let fd = Fd(self.fd.raw());
        Ok(opcode::Send::new(fd, self.buf.buf_ptr(), self.len())
            .flags(self.send_flags())
            .build())
    }
}

impl<B: IoBufMut> UringOp for op::Recv<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (fd, len) = (Fd(self.fd.raw()), self.len());
        Ok(opcode::Recv::new(fd, self.buf.buf_mut_ptr(), len)
            .flags(self.flags)
            .build())
    }
}

impl<B: IoBuf> UringOp for op::SendTo<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr()?;
        Ok(opcode::SendMsg::new(Fd(self.fd.raw()), msg)
            .flags(self.send_flags() as u32)
            .build())
    }
}

impl<B: IoBufMut, A: FromSockAddr> UringOp for op::RecvFrom<B, A> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr();
        Ok(opcode::RecvMsg::new(Fd(self.fd.raw()), msg)
            .flags(self.flags as u32)
            .build())
    }
}

impl<B: IoBuf> UringOp for op::SendMsg<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr()?;
        Ok(opcode::SendMsg::new(Fd(self.fd.raw()), msg)
            .flags(self.send_flags() as u32)
            .build())
    }
}

impl<B: IoBufMut> UringOp for op::RecvMsg<B> {
    fn prepare(&mut self) -> io::Result<Entry> {
        let (msg, _) = self.msghdr()?;
        Ok(opcode::RecvMsg::new(Fd(self.fd.raw()), msg)
            .flags(self.recv_flags() as u32)
            .build())
    }
}

impl UringOp for op::Shutdown {
    fn prepare(&mut self) -> io::Result<Entry> {
        Ok(opcode::Shutdown::new(Fd(self.fd.raw()), self.how).build())
    }
}
