//! What the kernel alone charges for procpool's start-up work, as a floor
//! for the start-up figures: a bare program (this bench, executed again)
//! forks `n` children, and each makes two socket pairs, sends two of their
//! ends to the parent in one message (the hello), answers one one-byte job,
//! reads the end of its channel and exits; the parent sends the jobs, reads
//! the replies, closes the channels and reaps every child. No threads, no
//! encoding, no scheduling: what is left of a 16-worker run once procpool's
//! own work is taken away, on the same machine in the same minutes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
        // SAFETY: waits for any child of ours; writes nothing.
        unsafe { libc::wait(std::ptr::null_mut()) };
    }
    Ok(())
}

/// A worker's part: its channels made, its hello sent, one job answered.
fn child(hello_tx: &OwnedFd) -> ! {
    let serve = || -> io::Result<()> {
        // SAFETY: prctl with an integer argument; as a procpool worker does.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
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
    let mut fds = [0; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: socketpair writes two descriptors into `fds`.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

const TWO_FDS: usize = 2 * std::mem::size_of::<RawFd>();

/// Room for one control message of two descriptors, aligned for cmsghdr.
#[repr(C, align(8))]
struct Control([u8; 64]);

fn send_two(socket: &OwnedFd, a: &OwnedFd, b: &OwnedFd) -> io::Result<()> {
    let mut byte = [b'h'];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut control = Control([0; 64]);
    // SAFETY: the header points at live buffers; CMSG_* stay inside `control`,
    // which is large enough for one header and two descriptors.
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.0.as_mut_ptr().cast();
        message.msg_controllen = libc::CMSG_SPACE(TWO_FDS as u32) as usize;
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(TWO_FDS as u32) as usize;
        let fds = [a.as_raw_fd(), b.as_raw_fd()];
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(header), TWO_FDS);
        if libc::sendmsg(socket.as_raw_fd(), &message, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn receive_two(socket: &OwnedFd) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut byte = [0u8];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut control = Control([0; 64]);
    // SAFETY: as in `send_two`; the two descriptors read are fresh and ours.
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.0.as_mut_ptr().cast();
        message.msg_controllen = control.0.len();
        if libc::recvmsg(socket.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC) <= 0 {
            return Err(io::Error::other("a child sent no hello"));
        }
        let header = libc::CMSG_FIRSTHDR(&message);
        if header.is_null() || (*header).cmsg_len != libc::CMSG_LEN(TWO_FDS as u32) as usize {
            return Err(io::Error::other("a hello without its two descriptors"));
        }
        let mut fds = [0 as RawFd; 2];
        std::ptr::copy_nonoverlapping(libc::CMSG_DATA(header), fds.as_mut_ptr().cast::<u8>(), TWO_FDS);
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

fn write_byte(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: writes one byte from a live buffer.
    match unsafe { libc::write(fd.as_raw_fd(), b"j".as_ptr().cast(), 1) } {
        1 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// One byte read: true, or false at the end of the channel.
fn read_byte(fd: &OwnedFd) -> io::Result<bool> {
    let mut byte = [0u8];
    // SAFETY: reads at most one byte into a live buffer.
    match unsafe { libc::read(fd.as_raw_fd(), byte.as_mut_ptr().cast(), 1) } {
        1 => Ok(true),
        0 => Ok(false),
        _ => Err(io::Error::last_os_error()),
    }
}
