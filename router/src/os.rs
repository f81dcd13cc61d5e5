//! What std does not offer: signal handlers for PID 1, raising the open files limit and a listen
//! backlog of one's choice.
//! The only `unsafe` code in this crate, each block a single C library call.

use std::io;

/// Makes SIGTERM and SIGINT end the process at once with status 0 (PID 1 has no default handling).
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn exit_on_termination() -> io::Result<()> {
    extern "C" fn on_signal(_: libc::c_int) {
        // SAFETY: `_exit` is async-signal-safe and takes no pointers.
        unsafe { libc::_exit(0) }
    }
    for signum in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `on_signal` has the C handler signature and only calls `_exit`.
        if unsafe { libc::signal(signum, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn exit_on_termination() -> io::Result<()> {
    Ok(())
}

/// Sets the length of `listener`'s queue of connections not yet accepted (std listens with 128;
/// Linux takes a second `listen` as a new length, capped at `net.core.somaxconn`).
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn set_listen_backlog(listener: &std::net::TcpListener, backlog: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open (borrowed from `listener`) and `listen` takes no pointers.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn set_listen_backlog(_listener: &std::net::TcpListener, _backlog: i32) -> io::Result<()> {
    Ok(())
}

/// Raises the soft limit on open files (RLIMIT_NOFILE) to `wanted`, as far as the hard limit
/// allows (no privilege needed), and returns the soft limit now in force. A soft limit already at
/// or above `wanted` is left alone.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn raise_open_files_limit(wanted: u64) -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `rlim_t` is `u64` on the targets this crate is built for.
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), rlim_max: limit.rlim_max };
    // SAFETY: `raised` is a valid `rlimit`; the kernel only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(raised.rlim_cur)
}

/// Without a known limit, callers get back what they asked for and meet the real limit, if
/// any, as failed `accept`s (logged).
#[cfg(not(unix))]
pub fn raise_open_files_limit(wanted: u64) -> io::Result<u64> {
    Ok(wanted)
}
