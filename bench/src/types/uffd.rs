// SPDX-License-Identifier: GPL-2.0

//! userfaultfd (`userfaultfd(2)`): page faults resolved by a handler in user
//! space. The writer is the faulting thread, the reader is the handler.
//!
//! Each channel is one userfaultfd (`UFFDIO_API` with no features) and a
//! private anonymous region of [`PAGES`] pages registered with
//! `UFFDIO_REGISTER_MODE_MISSING`. A message is the writer touching the next
//! unpopulated page: message `seq` is a load from the start of page
//! `seq % PAGES`, which faults, queues a `struct uffd_msg` (32 bytes,
//! `UFFD_EVENT_PAGEFAULT`, the page's address) and blocks the writer until
//! the handler resolves the fault. A read is exactly one message. After
//! checking it, the handler ([`Channel::reply`]) resolves the fault with
//! `UFFDIO_COPY` of a page stamped with the message's sequence number and
//! address, which wakes the writer; the writer then checks that the page it
//! reads back holds that stamp. After the fault on the region's last page the
//! writer empties the region with `MADV_DONTNEED` (without
//! `UFFD_FEATURE_EVENT_REMOVE` this only drops the pages), so its next
//! message faults on page 0 again: the message count is unbounded and the
//! memory stays at one region per file. That `madvise` comes after the
//! fault is resolved and before the next message's timestamp, so it is in
//! no latency, only in the writer's costs and the throughput (once per
//! [`PAGES`] messages).
//!
//! The fault message cannot carry the writer's timestamp: [`Channel::check`]
//! returns `ts_ns: None` and the harness uses the time the writer recorded
//! just before the faulting load.
//!
//! Integrity: every read must be one page-fault message for exactly the page
//! of the next message (a lost fault, or one delivered twice, names the
//! wrong page), a read fault on a missing page (flags 0); every page the
//! writer reads back must hold the stamp the handler copied for that
//! message; at the end no fault may be left unread or unresolved
//! (`pending:` and `total:` in `/proc/self/fdinfo/<fd>`).
//!
//! io_uring and epoll readers need an `O_NONBLOCK` userfaultfd (without it
//! its `poll` reports only `EPOLLERR`); the blocking reader gets a blocking
//! one. The userfaultfd is created with `UFFD_USER_MODE_ONLY`, which needs
//! no privilege: the faults here are user-mode loads.
//!
//! A fault blocked in the kernel does not end on a signal (the load is
//! retried and faults again), so when a case is aborted [`Channel::abort`]
//! unregisters the region: that wakes the faulting thread, whose retry then
//! maps the zero page, and its `send` returns `EINTR`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use super::{Channel, FileType, OpenCfg, Received};
use crate::case::{Kind, Method, Mode};
use crate::sys::{errno, os_err};

const PAGE: usize = 4096;
/// Pages of a channel's region (1 MiB): message `seq` faults page
/// `seq % PAGES`; the region is emptied after its last page.
pub const PAGES: usize = 256;
/// `sizeof(struct uffd_msg)`: the size of every read.
const MSG: usize = 32;
const MAGIC: u64 = 0x6975_6666_642d_6962; // "iuffd-ib"
/// Word offsets (u64) of the stamp in a page: the faulting load reads the
/// first.
const STAMP_AT: [usize; 4] = [0, 1, 2, PAGE / 8 - 1];

// include/uapi/linux/userfaultfd.h
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFD_API: u64 = 0xaa;
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
const UFFDIO_COPY_BIT: u64 = 1 << 3;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioCopy {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

/// `_IOC(dir, 0xAA, nr, size)` on x86_64.
const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (0xaa << 8) | nr
}
const IOC_WRITE: u64 = 1;
const IOC_READ: u64 = 2;
const UFFDIO_API: u64 = ioc(IOC_READ | IOC_WRITE, 0x3f, std::mem::size_of::<UffdioApi>());
const UFFDIO_REGISTER: u64 = ioc(
    IOC_READ | IOC_WRITE,
    0x00,
    std::mem::size_of::<UffdioRegister>(),
);
const UFFDIO_UNREGISTER: u64 = ioc(IOC_READ, 0x01, std::mem::size_of::<UffdioRange>());
const UFFDIO_COPY: u64 = ioc(
    IOC_READ | IOC_WRITE,
    0x03,
    std::mem::size_of::<UffdioCopy>(),
);

/// Why the batch kind is skipped (see the README).
const BATCH_SKIP: &str = "batch needs K faults outstanding, but a fault blocks the one writer \
     thread until it is resolved: it would need K faulting threads (README, userfaultfd)";

/// The userfaultfd type.
pub struct Uffd;

/// A new userfaultfd, `UFFDIO_API` done.
fn new_uffd(nonblock: bool) -> Result<OwnedFd, String> {
    let mut flags = libc::O_CLOEXEC;
    if nonblock {
        flags |= libc::O_NONBLOCK;
    }
    // SAFETY: plain system call without pointers.
    let mut fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY) };
    let mut e = errno();
    if fd < 0 && e == libc::EINVAL {
        // Kernels before 5.11 have no UFFD_USER_MODE_ONLY.
        // SAFETY: as above.
        fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
        e = errno();
    }
    if fd < 0 {
        let why = match e {
            libc::ENOSYS => {
                "the kernel has no userfaultfd (CONFIG_USERFAULTFD=n) or a filter hides it"
            }
            libc::EPERM => {
                "not permitted (vm.unprivileged_userfaultfd, a seccomp filter or an LSM)"
            }
            _ => "cannot create a userfaultfd",
        };
        return Err(format!("{}: {why}", os_err("userfaultfd", e)));
    }
    // SAFETY: the system call succeeded: the fd is new and owned by nobody
    // else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let mut api = UffdioApi {
        api: UFFD_API,
        features: 0,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_API reads and writes one struct uffdio_api.
    if unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API as _, &mut api) } != 0 {
        return Err(os_err("ioctl(UFFDIO_API)", errno()));
    }
    Ok(fd)
}

/// A private anonymous mapping, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a `Mapping` is an address range owned by its channel. Its memory
// is accessed only by the writer's loads (region: the kernel populates the
// pages, nobody stores to them in user space) and under the channel's mutex
// (the handler's source page).
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(len: usize, populate: bool) -> Result<Mapping, String> {
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if populate {
            flags |= libc::MAP_POPULATE;
        }
        // SAFETY: a fresh private anonymous mapping.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap(userfaultfd region)", errno()));
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    fn addr(&self) -> u64 {
        self.ptr as u64
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing uses it any more (the
        // channel is dropped after its threads have been joined).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl FileType for Uffd {
    fn name(&self) -> &'static str {
        "uffd"
    }

    fn unavailable(&self) -> Option<String> {
        static PROBE: OnceLock<Option<String>> = OnceLock::new();
        PROBE.get_or_init(|| new_uffd(true).err()).clone()
    }

    fn skip(&self, kind: Kind, _mode: Mode, _method: Method) -> Option<String> {
        (kind == Kind::Batch).then(|| BATCH_SKIP.to_string())
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "The writer is the faulting thread, the reader the fault handler. A message is \
             one load from the next unpopulated page of a private anonymous region registered \
             with `UFFDIO_REGISTER_MODE_MISSING` (1 MiB per file): the load faults, the \
             handler reads the 32-byte `struct uffd_msg` (one per read) and resolves the fault \
             with `UFFDIO_COPY` of a page stamped with the message's sequence number; the \
             writer resumes and checks the stamp. Latency runs from just before the faulting \
             load (the send time the writer records in shared memory) to the handler seeing \
             the message (CQE, or the return of `read(2)`); it does not include the \
             resolution. A fault blocks the writer until it is resolved, so throughput \
             (msgs/s) is faults resolved per second with one fault in flight, and the \
             writer's send CPU is the whole fault: on the inline path it includes the read \
             and the CQE done for the handler. After the region's last page the writer \
             empties it with `MADV_DONTNEED`, outside every latency. The batch kind is \
             skipped (one writer thread cannot have K faults outstanding).",
        )
    }

    fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
        let fd = new_uffd(!cfg.blocking_read)?;
        let region = Mapping::new(PAGES * PAGE, false)?;
        // One fault per 4 KiB page even with THP; fails (EINVAL) on kernels
        // without THP, where it is not needed.
        // SAFETY: the range is our mapping; the advice changes no memory.
        unsafe { libc::madvise(region.ptr.cast(), region.len, libc::MADV_NOHUGEPAGE) };
        let mut reg = UffdioRegister {
            range: UffdioRange {
                start: region.addr(),
                len: region.len as u64,
            },
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_REGISTER reads and writes one struct
        // uffdio_register; the range is our mapping.
        if unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_REGISTER as _, &mut reg) } != 0 {
            return Err(os_err("ioctl(UFFDIO_REGISTER)", errno()));
        }
        if reg.ioctls & UFFDIO_COPY_BIT == 0 {
            return Err("UFFDIO_COPY is not available for the registered region".into());
        }
        let src = Mapping::new(PAGE, true)?;
        Ok(Box::new(UffdChannel {
            fd,
            region,
            src: Mutex::new(src),
            replying: AtomicU64::new(u64::MAX),
            aborted: AtomicBool::new(false),
        }))
    }
}

/// Field order is drop order: closing the userfaultfd first wakes any fault
/// still blocked and unregisters the region, which is then unmapped.
struct UffdChannel {
    fd: OwnedFd,
    region: Mapping,
    /// The handler's source page for `UFFDIO_COPY`.
    src: Mutex<Mapping>,
    /// The message `check` accepted last: `reply` resolves its fault.
    replying: AtomicU64,
    /// Set by `abort`: the region is unregistered.
    aborted: AtomicBool,
}

/// What the handler stamps at [`STAMP_AT`] in the page of message `seq` at
/// `addr`.
fn stamp(seq: u64, addr: u64) -> [u64; 4] {
    [seq, addr, seq ^ addr ^ MAGIC, !seq]
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Pending and total (pending + read but unresolved) faults, from the text
/// of `/proc/self/fdinfo/<userfaultfd>`.
fn fdinfo_faults(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .parse()
            .ok()
    };
    Some((field("pending:")?, field("total:")?))
}

impl UffdChannel {
    /// The address of message `seq`'s page.
    fn page(&self, seq: u64) -> u64 {
        self.region.addr() + (seq % PAGES as u64) * PAGE as u64
    }

    /// Describes `addr` relative to the region, for errors.
    fn where_is(&self, addr: u64) -> String {
        let base = self.region.addr();
        if (base..base + self.region.len as u64).contains(&addr) {
            format!("page {}", (addr - base) / PAGE as u64)
        } else {
            format!("{addr:#x}, outside the region")
        }
    }
}

impl Channel for UffdChannel {
    fn read_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn read_len(&self) -> usize {
        MSG
    }

    fn send(&self, seq: u64, _ts_ns: u64) -> Result<(), (i32, String)> {
        let addr = self.page(seq);
        let p = addr as *const u64;
        let got = STAMP_AT.map(|w| {
            // SAFETY: word `w` of a page of `self.region`, which stays
            // mapped while the channel lives; aligned. The first load
            // faults (the page is missing) and returns once the handler
            // has copied the page in. Volatile: exactly these loads, in
            // this order.
            unsafe { ptr::read_volatile(p.add(w)) }
        });
        if self.aborted.load(Ordering::SeqCst) {
            return Err((
                libc::EINTR,
                "the case was aborted (region unregistered)".into(),
            ));
        }
        let want = stamp(seq, addr);
        if got != want {
            return Err((
                0,
                format!(
                    "message {seq}: {} read back {got:#x?}, not the page the handler copies \
                     for it {want:#x?}",
                    self.where_is(addr)
                ),
            ));
        }
        if (seq + 1).is_multiple_of(PAGES as u64) {
            // Re-arm: every page is populated; drop them all.
            // SAFETY: the range is our mapping; no load of it is in flight
            // (this thread is the only one that touches it).
            let r = unsafe {
                libc::madvise(self.region.ptr.cast(), self.region.len, libc::MADV_DONTNEED)
            };
            if r != 0 {
                let e = errno();
                return Err((e, os_err("madvise(MADV_DONTNEED)", e)));
            }
        }
        Ok(())
    }

    fn check(&self, data: &[u8], seq: u64) -> Result<Received, String> {
        if data.len() != MSG {
            return Err(format!(
                "message {seq}: read returned {} bytes, expected {MSG}",
                data.len()
            ));
        }
        if data[0] != UFFD_EVENT_PAGEFAULT {
            return Err(format!(
                "message {seq}: event {:#x}, not a page fault ({UFFD_EVENT_PAGEFAULT:#x})",
                data[0]
            ));
        }
        let (flags, addr) = (u64_at(data, 8), u64_at(data, 16));
        let want = self.page(seq);
        if addr != want {
            return Err(format!(
                "message {seq}: fault on {}, expected {} (a fault lost or delivered twice?)",
                self.where_is(addr),
                self.where_is(want)
            ));
        }
        if flags != 0 {
            return Err(format!(
                "message {seq}: fault flags {flags:#x}, expected 0 (a read of a missing page)"
            ));
        }
        self.replying.store(seq, Ordering::Release);
        Ok(Received {
            msgs: 1,
            ts_ns: None,
        })
    }

    fn reply(&self, data: &[u8]) -> Result<(), String> {
        let seq = self.replying.load(Ordering::Acquire);
        // `check` accepted the message: the address is that of `seq`'s page.
        let addr = u64_at(data, 16);
        let src = self.src.lock().unwrap_or_else(|e| e.into_inner());
        let words = src.ptr.cast::<u64>();
        for (w, v) in STAMP_AT.into_iter().zip(stamp(seq, addr)) {
            // SAFETY: word `w` of the source page (w < PAGE / 8), aligned;
            // the lock makes this the only access to it.
            unsafe { words.add(w).write(v) };
        }
        let mut c = UffdioCopy {
            dst: addr,
            src: src.addr(),
            len: PAGE as u64,
            mode: 0,
            copy: 0,
        };
        // SAFETY: UFFDIO_COPY reads and writes one struct uffdio_copy; the
        // kernel reads the source page and fills the faulting one.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), UFFDIO_COPY as _, &mut c) } != 0 {
            return Err(os_err(
                &format!("message {seq}: ioctl(UFFDIO_COPY)"),
                errno(),
            ));
        }
        if c.copy != PAGE as i64 {
            return Err(format!(
                "message {seq}: UFFDIO_COPY copied {} bytes, expected {PAGE}",
                c.copy
            ));
        }
        Ok(())
    }

    fn leftover(&self) -> Result<usize, String> {
        let fd = self.fd.as_raw_fd();
        let Ok(text) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else {
            // Without /proc: a pending fault makes a non-blocking
            // userfaultfd readable (a blocking one always polls EPOLLERR).
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `p` is one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, 0) };
            if n > 0 && p.revents == libc::POLLIN {
                return Err("a fault was left unread".into());
            }
            return Ok(0);
        };
        let (pending, total) = fdinfo_faults(&text)
            .ok_or_else(|| format!("no pending:/total: in /proc/self/fdinfo/{fd}"))?;
        if total != 0 {
            return Err(format!(
                "{pending} faults left unread and {} read but not resolved",
                total.saturating_sub(pending)
            ));
        }
        Ok(0)
    }

    fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        let mut r = UffdioRange {
            start: self.region.addr(),
            len: self.region.len as u64,
        };
        // SAFETY: UFFDIO_UNREGISTER reads one struct uffdio_range; the range
        // is our mapping. It wakes a fault blocked in it; an error (already
        // unregistered) changes nothing.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), UFFDIO_UNREGISTER as _, &mut r) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn abi() {
        assert_eq!(UFFDIO_API, 0xc018_aa3f);
        assert_eq!(UFFDIO_REGISTER, 0xc020_aa00);
        assert_eq!(UFFDIO_UNREGISTER, 0x8010_aa01);
        assert_eq!(UFFDIO_COPY, 0xc028_aa03);
        let t = "pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t1057\npending:\t1\n\
                 total:\t3\nAPI:\taa:0:c000000000000007\n";
        assert_eq!(fdinfo_faults(t), Some((1, 3)));
        assert_eq!(fdinfo_faults("pos:\t0\n"), None);
    }

    /// A channel, or `None` (the test is skipped) where this machine
    /// cannot create a userfaultfd.
    fn open(blocking: bool) -> Option<Arc<Box<dyn Channel>>> {
        if let Some(why) = Uffd.unavailable() {
            eprintln!("userfaultfd test skipped: {why}");
            return None;
        }
        let ch = Uffd
            .open(&OpenCfg {
                nonblocking_read: !blocking,
                blocking_read: blocking,
                msg_size: 64,
            })
            .unwrap();
        Some(Arc::new(ch))
    }

    /// A blocking read of one message.
    fn read(ch: &dyn Channel) -> [u8; MSG] {
        let mut b = [0u8; MSG];
        // SAFETY: `b` is a valid buffer of the length passed.
        let n = unsafe { libc::read(ch.read_fd(), b.as_mut_ptr().cast(), MSG) };
        assert_eq!(n, MSG as isize, "{}", os_err("read", errno()));
        b
    }

    #[test]
    fn faults_round_trip_across_rearm() {
        let Some(ch) = open(true) else { return };
        let n = PAGES as u64 + 3;
        let w = {
            let ch = ch.clone();
            std::thread::spawn(move || (0..n).try_for_each(|seq| ch.send(seq, 0)))
        };
        for seq in 0..n {
            let m = read(ch.as_ref().as_ref());
            let r = ch.check(&m, seq).unwrap();
            assert_eq!((r.msgs, r.ts_ns), (1, None));
            ch.reply(&m).unwrap();
        }
        w.join().unwrap().unwrap();
        assert_eq!(ch.leftover(), Ok(0));
    }

    #[test]
    fn lost_and_repeated_faults_fail() {
        let Some(ch) = open(true) else { return };
        let w = {
            let ch = ch.clone();
            // Message 1 is lost.
            std::thread::spawn(move || [0, 2].into_iter().try_for_each(|seq| ch.send(seq, 0)))
        };
        let m0 = read(ch.as_ref().as_ref());
        ch.check(&m0, 0).unwrap();
        ch.reply(&m0).unwrap();
        // Message 0 again, where 1 is expected.
        assert!(ch.check(&m0, 1).is_err());
        let m2 = read(ch.as_ref().as_ref());
        assert!(ch.check(&m2, 1).is_err());
        assert!(ch.check(&m2[..16], 2).is_err());
        ch.check(&m2, 2).unwrap();
        ch.reply(&m2).unwrap();
        w.join().unwrap().unwrap();
        assert_eq!(ch.leftover(), Ok(0));
    }

    #[test]
    fn abort_releases_a_blocked_writer() {
        let Some(ch) = open(false) else { return };
        let w = {
            let ch = ch.clone();
            std::thread::spawn(move || ch.send(0, 0))
        };
        // Wait for the fault, then leave it unresolved.
        let mut p = libc::pollfd {
            fd: ch.read_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut p, 1, 10_000) }, 1);
        assert!(ch.leftover().is_err());
        ch.abort();
        let r = w.join().unwrap();
        assert_eq!(r.map_err(|(e, _)| e), Err(libc::EINTR));
    }
}
