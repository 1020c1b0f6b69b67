//! What the kernel alone charges for procpool's start-up work, as a floor
//! for the start-up figures: a bare program (this bench, executed again)
//! forks `n` children, and each makes two socket pairs, sends two of their
//! ends to the parent in one message (the hello), answers one one-byte job,
//! reads the end of its channel and exits; the parent sends the jobs, reads
//! the replies, closes the channels and reaps every child. No threads, no
//! encoding, no scheduling: what is left of a 16-worker run once procpool's
//! own work is taken away, on the same machine in the same minutes.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag,
    SockType,
};
use nix::unistd::{read, write};

/// The environment variable that makes the bench binary run the floor.
pub const FLOOR_ENV: &str = "PROCPOOL_BENCH_FLOOR";

/// Runs the floor for `children`; returns when every child is reaped.
pub fn run(children: usize) -> io::Result<()> {
    let (hellos, hello_tx) = socket_pair()?;
    for _ in 0..children {
        // SAFETY: this program has one thread here (it was just executed to
        // do only this), so the child is a sound copy; it never returns.
        match unsafe { libc::fork() } {
            -1 => return Err(io::Error::last_os_error()),
            0 => child(&hello_tx),
            _ => {}
        }
    }
    drop(hello_tx);
    let mut links = Vec::with_capacity(children);
    for _ in 0..children {
        links.push(receive_two(&hellos)?);
    }
    for (jobs, _) in &links {
        write_byte(jobs)?;
    }
    for (_, results) in &links {
        read_byte(results)?;
    }
    drop(links);
    for _ in 0..children {
        nix::sys::wait::wait()?;
    }
    Ok(())
}

/// A worker's part: its channels made, its hello sent, one job answered.
fn child(hello_tx: &OwnedFd) -> ! {
    let serve = || -> io::Result<()> {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?; // as a worker does
        let (jobs_rx, jobs_tx) = socket_pair()?;
        let (results_rx, results_tx) = socket_pair()?;
        send_two(hello_tx, &jobs_tx, &results_rx)?;
        // This child's copy of the hello channel closed, so that a child that
        // died before its hello ends the parent's wait instead of hanging it.
        // SAFETY: the descriptor is this process's copy; nothing uses it after.
        unsafe { libc::close(hello_tx.as_raw_fd()) };
        drop((jobs_tx, results_rx));
        while read_byte(&jobs_rx)? {
            write_byte(&results_tx)?;
        }
        Ok(())
    };
    let code = i32::from(serve().is_err());
    // SAFETY: ends the child at once, as a forked procpool worker ends.
    unsafe { libc::_exit(code) }
}

fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?)
}

fn send_two(socket: &OwnedFd, a: &OwnedFd, b: &OwnedFd) -> io::Result<()> {
    let fds = [a.as_raw_fd(), b.as_raw_fd()];
    let rights = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(b"h")], &rights, MsgFlags::empty(), None)?;
    Ok(())
}

fn receive_two(socket: &OwnedFd) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut byte = [0u8];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let flags = MsgFlags::MSG_CMSG_CLOEXEC;
    let message = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), flags)?;
    if message.bytes == 0 {
        return Err(io::Error::other("a child sent no hello"));
    }
    match message.cmsgs()?.next() {
        Some(ControlMessageOwned::ScmRights(fds)) if fds.len() == 2 => {
            // SAFETY: two descriptors the kernel just installed in this process, owned by nothing else.
            Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
        }
        _ => Err(io::Error::other("a hello without its two descriptors")),
    }
}

fn write_byte(fd: &OwnedFd) -> io::Result<()> {
    match write(fd, b"j")? {
        1 => Ok(()),
        _ => Err(io::Error::other("a one-byte write wrote nothing")),
    }
}

/// One byte read: true, or false at the end of the channel.
fn read_byte(fd: &OwnedFd) -> io::Result<bool> {
    Ok(read(fd, &mut [0u8])? == 1)
}
