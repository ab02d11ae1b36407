// SPDX-License-Identifier: GPL-2.0

//! Thin wrappers around the system calls the benchmark needs besides
//! io_uring: clocks, per-thread resource usage, CPU affinity, futexes, the
//! signal used to interrupt blocked threads, and `/proc` sampling.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::AtomicU32;

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The symbolic name of the errno values the benchmark is likely to meet.
pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENXIO => "ENXIO",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::ENOTCONN => "ENOTCONN",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EMFILE => "EMFILE",
        libc::ENOSYS => "ENOSYS",
        libc::ECANCELED => "ECANCELED",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => "E?",
    }
}

/// Formats `what` failing with `e` as "what: ENAME (description)".
pub fn os_err(what: &str, e: i32) -> String {
    let text = io::Error::from_raw_os_error(e).to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    format!("{what}: {} ({text})", errno_name(e))
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used here
    // always exist on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_MONOTONIC` in nanoseconds (served by the vDSO: no system call).
pub fn now_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time used by the calling thread, in nanoseconds
/// (`CLOCK_THREAD_CPUTIME_ID`: a real system call, precise to the
/// nanosecond, unlike the tick-sampled user/system split of `getrusage`).
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The calling thread's resource usage (`getrusage(RUSAGE_THREAD)`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Voluntary context switches (the thread slept).
    pub vcsw: u64,
    /// Involuntary context switches (the thread was preempted).
    pub ivcsw: u64,
    /// User CPU time.
    pub user_ns: u64,
    /// System CPU time.
    pub sys_ns: u64,
}

impl Usage {
    /// Samples the calling thread.
    pub fn now() -> Usage {
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD exists
        // since Linux 2.6.26 and cannot fail with a valid pointer.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
        Usage {
            vcsw: ru.ru_nvcsw as u64,
            ivcsw: ru.ru_nivcsw as u64,
            user_ns: tv(ru.ru_utime),
            sys_ns: tv(ru.ru_stime),
        }
    }

    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            vcsw: self.vcsw.saturating_sub(earlier.vcsw),
            ivcsw: self.ivcsw.saturating_sub(earlier.ivcsw),
            user_ns: self.user_ns.saturating_sub(earlier.user_ns),
            sys_ns: self.sys_ns.saturating_sub(earlier.sys_ns),
        }
    }
}

/// The CPUs the process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain old data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if r != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `c` is below CPU_SETSIZE, within `set`.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> Result<(), String> {
    // SAFETY: cpu_set_t is plain old data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from `allowed_cpus`, below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 is the
    // calling thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if r != 0 {
        return Err(os_err(&format!("sched_setaffinity(cpu {cpu})"), errno()));
    }
    Ok(())
}

/// Sleeps while `*word == val`, at most `timeout_ns` (spurious wake-ups are
/// possible: callers re-check their condition).
pub fn futex_wait(word: &AtomicU32, val: u32, timeout_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `word` is a live, aligned u32 for the whole call and `ts` a
    // valid relative timeout; FUTEX_WAIT only reads them.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            val,
            &ts as *const libc::timespec,
        )
    };
}

/// Wakes every thread sleeping in [`futex_wait`] on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE does not access it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        )
    };
}

/// The signal sent to a thread blocked in a system call to make it return
/// `EINTR` (the harness then sees its abort flag).
pub const KICK_SIGNAL: libc::c_int = libc::SIGUSR1;

extern "C" fn kick_handler(_sig: libc::c_int) {}

/// Installs a do-nothing handler for [`KICK_SIGNAL`] without `SA_RESTART`,
/// so that blocking calls it interrupts fail with `EINTR`.
pub fn install_kick_handler() -> Result<(), String> {
    // SAFETY: sigaction is plain old data; all-zero means no flags and an
    // empty mask.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = kick_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: `sa` is valid; the handler is async-signal-safe (it does
    // nothing); the old action is not requested.
    let r = unsafe { libc::sigaction(KICK_SIGNAL, &sa, std::ptr::null_mut()) };
    if r != 0 {
        return Err(os_err("sigaction", errno()));
    }
    Ok(())
}

/// Interrupts `thread` with [`KICK_SIGNAL`].
pub fn kick(thread: libc::pthread_t) {
    // SAFETY: callers pass the pthread_t of a thread they have not joined
    // yet, so it is still valid.
    unsafe { libc::pthread_kill(thread, KICK_SIGNAL) };
}

/// The thread ids of the process's io-wq workers (threads named
/// `iou-wrk-*`), from `/proc/self/task/*/comm`.
pub fn iowq_worker_tids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let tid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        comm.starts_with("iou-wrk-").then_some(tid)
    })
    .collect()
}

/// The `InlineRead*` counters of an io_uring fd from
/// `/proc/self/fdinfo/<fd>` (empty on kernels without the feature).
pub fn inline_counters(fd: RawFd) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !k.starts_with("InlineRead") {
                return None;
            }
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `uname -r` and `uname -v` of the running kernel.
pub fn kernel_version() -> String {
    // SAFETY: utsname is plain old data; all-zero is valid.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::from("unknown");
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {}", field(&u.release), field(&u.version))
}
