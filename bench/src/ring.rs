// SPDX-License-Identifier: GPL-2.0

//! A minimal io_uring: `io_uring_setup`, the three mappings, read SQEs, CQE
//! reaping and `io_uring_enter`, on raw system calls.
//!
//! Raw calls rather than a crate because the benchmark must set a setup flag
//! that no crate knows (`IORING_SETUP_INLINE_READ`, bit 24) and must control
//! exactly which system calls the reader makes (none while busy-polling a
//! plain ring). The layout constants and structures are those of
//! `include/uapi/linux/io_uring.h`.
//!
//! A [`Ring`] is used by the thread that created it only (it is neither
//! `Send` nor `Sync`), as `IORING_SETUP_SINGLE_ISSUER` requires.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::{errno, os_err};

/// `IORING_SETUP_SINGLE_ISSUER`: only one task submits.
pub const SETUP_SINGLE_ISSUER: u32 = 1 << 12;
/// `IORING_SETUP_DEFER_TASKRUN`: completions run when the submitter enters.
pub const SETUP_DEFER_TASKRUN: u32 = 1 << 13;
/// `IORING_SETUP_INLINE_READ` (this series): reads of special files that
/// find no data are completed by the writer.
pub const SETUP_INLINE_READ: u32 = 1 << 24;
/// `IORING_FEAT_SINGLE_MMAP`: SQ and CQ rings share one mapping.
pub const FEAT_SINGLE_MMAP: u32 = 1 << 0;
/// `IORING_FEAT_INLINE_READ` (this series).
pub const FEAT_INLINE_READ: u32 = 1 << 24;
/// `IORING_ENTER_GETEVENTS`: wait for (or, on `DEFER_TASKRUN` rings, run
/// the work of) completions.
pub const ENTER_GETEVENTS: u32 = 1 << 0;
/// `IOSQE_ASYNC`: always issue from an io-wq worker.
pub const SQE_ASYNC: u8 = 1 << 4;
/// `IORING_OP_READ`.
const OP_READ: u8 = 22;

const OFF_SQ_RING: i64 = 0;
const OFF_CQ_RING: i64 = 0x800_0000;
const OFF_SQES: i64 = 0x1000_0000;

#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params`.
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// `struct io_uring_sqe` (64 bytes), the fields a read uses.
#[repr(C)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    rw_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    splice_fd_in: i32,
    addr3: u64,
    pad: u64,
}

/// A completion: `user_data` and `res` of `struct io_uring_cqe`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Cqe {
    /// The submitter's tag (the channel index).
    pub user_data: u64,
    /// Bytes read, or a negative errno.
    pub res: i32,
    /// CQE flags.
    pub flags: u32,
}

const _: () = assert!(std::mem::size_of::<Params>() == 120);
const _: () = assert!(std::mem::size_of::<Sqe>() == 64);
const _: () = assert!(std::mem::size_of::<Cqe>() == 16);

/// One `mmap`ed region, unmapped on drop.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: RawFd, len: usize, offset: i64) -> Result<Map, String> {
        // SAFETY: a fresh shared mapping of the ring fd at a kernel-defined
        // offset; nothing else refers to the address range yet.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap(io_uring)", errno()));
        }
        Ok(Map { ptr: p.cast(), len })
    }

    /// A pointer `off` bytes into the mapping, typed as `T`.
    fn at<T>(&self, off: u32) -> *mut T {
        debug_assert!(off as usize + std::mem::size_of::<T>() <= self.len);
        // SAFETY: `off` is a kernel-supplied offset inside the mapping.
        unsafe { self.ptr.add(off as usize).cast() }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping this object owns; no
        // reference into it outlives the `Ring` that owns the `Map`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// An io_uring instance (see the module documentation).
pub struct Ring {
    // Held to be unmapped on drop, before the fd is closed (field order).
    _sq_map: Map,
    _cq_map: Option<Map>,
    _sqe_map: Map,
    fd: OwnedFd,
    flags: u32,
    features: u32,
    sq_head: *const AtomicU32,
    sq_tail: *const AtomicU32,
    sq_mask: u32,
    sq_entries: u32,
    sq_array: *mut u32,
    sqes: *mut Sqe,
    cq_head: *const AtomicU32,
    cq_tail: *const AtomicU32,
    cq_mask: u32,
    cqes: *const Cqe,
    /// SQ tail as written by us; entries up to it may not be submitted yet.
    local_tail: u32,
    /// Entries queued but not yet passed to `io_uring_enter`.
    unsubmitted: u32,
}

impl Ring {
    /// Creates a ring with `entries` SQ entries and setup `flags`.
    /// On failure returns the errno of `io_uring_setup` or `mmap`.
    pub fn new(entries: u32, flags: u32) -> Result<Ring, (i32, String)> {
        let mut p = Params {
            flags,
            ..Params::default()
        };
        // SAFETY: `p` is a valid io_uring_params the kernel reads and fills.
        let r = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, &mut p as *mut Params) };
        if r < 0 {
            let e = errno();
            return Err((e, os_err("io_uring_setup", e)));
        }
        // SAFETY: a non-negative return of io_uring_setup is a new fd that
        // nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(r as RawFd) };
        let raw = fd.as_raw_fd();
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<Cqe>();
        let single = p.features & FEAT_SINGLE_MMAP != 0;
        let err = |s: String| (0, s);
        let sq_map = Map::new(
            raw,
            if single { sq_len.max(cq_len) } else { sq_len },
            OFF_SQ_RING,
        )
        .map_err(err)?;
        let cq_map = if single {
            None
        } else {
            Some(Map::new(raw, cq_len, OFF_CQ_RING).map_err(err)?)
        };
        let sqe_map = Map::new(
            raw,
            p.sq_entries as usize * std::mem::size_of::<Sqe>(),
            OFF_SQES,
        )
        .map_err(err)?;
        let cqm = cq_map.as_ref().unwrap_or(&sq_map);
        // SAFETY: the offsets come from the kernel and point at the ring's
        // u32 fields inside the mappings just created (same for the next
        // reads).
        let sq_mask = unsafe { *sq_map.at::<u32>(p.sq_off.ring_mask) };
        // SAFETY: as above.
        let sq_entries = unsafe { *sq_map.at::<u32>(p.sq_off.ring_entries) };
        // SAFETY: as above.
        let cq_mask = unsafe { *cqm.at::<u32>(p.cq_off.ring_mask) };
        Ok(Ring {
            sq_head: sq_map.at(p.sq_off.head),
            sq_tail: sq_map.at(p.sq_off.tail),
            sq_array: sq_map.at(p.sq_off.array),
            cq_head: cqm.at(p.cq_off.head),
            cq_tail: cqm.at(p.cq_off.tail),
            cqes: cqm.at(p.cq_off.cqes),
            sqes: sqe_map.ptr.cast(),
            sq_mask,
            sq_entries,
            cq_mask,
            // SAFETY: the SQ tail is ours to read (only we write it).
            local_tail: unsafe { (*sq_map.at::<AtomicU32>(p.sq_off.tail)).load(Ordering::Relaxed) },
            unsubmitted: 0,
            flags,
            features: p.features,
            _sq_map: sq_map,
            _cq_map: cq_map,
            _sqe_map: sqe_map,
            fd,
        })
    }

    /// The ring's fd (for fdinfo).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// `io_uring_params.features` as returned by the kernel.
    pub fn features(&self) -> u32 {
        self.features
    }

    /// Whether completions need the submitter to enter the kernel.
    pub fn is_defer(&self) -> bool {
        self.flags & SETUP_DEFER_TASKRUN != 0
    }

    /// Entries queued by [`Ring::queue_read`] but not submitted yet.
    pub fn unsubmitted(&self) -> u32 {
        self.unsubmitted
    }

    /// Queues a read of `len` bytes of `fd` at the current position into
    /// `buf`, tagged `user_data`, with SQE flags `sqe_flags`.
    ///
    /// # Safety
    /// `buf..buf+len` must stay valid and writable until the read completes
    /// or the ring is dropped (the kernel writes into it asynchronously).
    pub unsafe fn queue_read(
        &mut self,
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        user_data: u64,
        sqe_flags: u8,
    ) -> Result<(), String> {
        // SAFETY: the kernel only advances the head, which we read.
        let head = unsafe { (*self.sq_head).load(Ordering::Acquire) };
        if self.local_tail.wrapping_sub(head) >= self.sq_entries {
            return Err("submission queue full".into());
        }
        let idx = self.local_tail & self.sq_mask;
        // SAFETY: `idx` is within the SQE array and the SQ array, and the
        // slot is ours: the kernel has consumed it (head check above).
        unsafe {
            self.sqes.add(idx as usize).write(Sqe {
                opcode: OP_READ,
                flags: sqe_flags,
                ioprio: 0,
                fd,
                off: u64::MAX, // -1: the file's current position (pipes: none)
                addr: buf as u64,
                len,
                rw_flags: 0,
                user_data,
                buf_index: 0,
                personality: 0,
                splice_fd_in: 0,
                addr3: 0,
                pad: 0,
            });
            self.sq_array.add(idx as usize).write(idx);
        }
        self.local_tail = self.local_tail.wrapping_add(1);
        // SAFETY: the tail is a live u32 in the SQ mapping; Release
        // publishes the SQE written above to the kernel.
        unsafe { (*self.sq_tail).store(self.local_tail, Ordering::Release) };
        self.unsubmitted += 1;
        Ok(())
    }

    /// `io_uring_enter(fd, to_submit, min_complete, flags)`. Returns the
    /// number of SQEs consumed, or the errno.
    pub fn enter(&mut self, to_submit: u32, min_complete: u32, flags: u32) -> Result<u32, i32> {
        // SAFETY: no argument pointer is passed (argsz 0).
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd.as_raw_fd(),
                to_submit,
                min_complete,
                flags,
                ptr::null::<libc::c_void>(),
                0usize,
            )
        };
        if r < 0 {
            return Err(errno());
        }
        let n = (r as u32).min(self.unsubmitted);
        self.unsubmitted -= n;
        Ok(n)
    }

    /// The next completion, if one is in the CQ (no system call).
    pub fn pop_cqe(&mut self) -> Option<Cqe> {
        // SAFETY: head and tail are live u32s in the CQ mapping; only we
        // write the head. Acquire on the tail orders the CQE read after it.
        let (head, tail) = unsafe {
            (
                (*self.cq_head).load(Ordering::Relaxed),
                (*self.cq_tail).load(Ordering::Acquire),
            )
        };
        if head == tail {
            return None;
        }
        // SAFETY: `head & mask` indexes the CQE array; the kernel filled
        // this entry before publishing the tail.
        let cqe = unsafe { self.cqes.add((head & self.cq_mask) as usize).read() };
        // SAFETY: as above; Release hands the slot back after the read.
        unsafe { (*self.cq_head).store(head.wrapping_add(1), Ordering::Release) };
        Some(cqe)
    }
}

/// The page size the read buffers are laid out in.
const PAGE: usize = 4096;

/// Page-aligned anonymous buffers, one slot of whole pages per read, so that
/// no read buffer shares a page with another (the inline path pins the
/// pages it writes). Slots are one page unless a type's reads are longer
/// (`/dev/fuse`: 8 KiB, two pages).
pub struct PageBuffers {
    map: *mut u8,
    len: usize,
    slot_len: usize,
}

impl PageBuffers {
    /// Maps `slots` zeroed slots of at least `min_len` bytes each (rounded
    /// up to whole pages, at least one).
    pub fn new(slots: usize, min_len: usize) -> Result<PageBuffers, String> {
        let slot_len = min_len.max(1).div_ceil(PAGE) * PAGE;
        let len = slots.max(1) * slot_len;
        // SAFETY: a fresh private anonymous mapping.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap(buffers)", errno()));
        }
        Ok(PageBuffers {
            map: p.cast(),
            len,
            slot_len,
        })
    }

    /// The start of slot `i` (whole pages, at least the `min_len` asked for).
    pub fn ptr(&self, i: usize) -> *mut u8 {
        assert!((i + 1) * self.slot_len <= self.len);
        // SAFETY: in bounds, checked above.
        unsafe { self.map.add(i * self.slot_len) }
    }

    /// Slot `i`'s first `len` bytes. The caller must not have a read into
    /// that slot in flight.
    pub fn slot(&self, i: usize, len: usize) -> &[u8] {
        assert!(len <= self.slot_len);
        // SAFETY: in bounds (checked by `ptr` and above); the mapping lives
        // as long as `self`. No read into the slot is in flight (caller).
        unsafe { std::slice::from_raw_parts(self.ptr(i), len) }
    }

    /// Zeroes the first `len` bytes of slot `i` before it is read into
    /// again, so stale data cannot pass for a new message.
    pub fn clear(&mut self, i: usize, len: usize) {
        assert!(len <= self.slot_len);
        // SAFETY: in bounds; no read into the slot is in flight (caller).
        unsafe { ptr::write_bytes(self.ptr(i), 0, len) };
    }
}

impl Drop for PageBuffers {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours; rings reading into it are dropped
        // first (they are declared after the buffers by every user).
        unsafe { libc::munmap(self.map.cast(), self.len) };
    }
}
