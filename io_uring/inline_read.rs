// SPDX-License-Identifier: GPL-2.0

//! io_uring reads completed inline, in the writer's context.
//!
//! An io_uring read of a file whose type supports it (`FOP_INLINE_READ`, see
//! `include/linux/io_uring/inline_read.h`) that finds no data waits on the file's wait queue
//! with a [`WaitEntry`] of ours instead of arming a poll handler. This file is the engine: the
//! per-request state machine, the per-ring index that cancellation searches, and the wake
//! callback. Everything that touches io_uring's request and ring internals is C glue in
//! `io_uring/inline_rd.c`.
//!
//! # Ownership
//!
//! Each pending read is an [`InlineRead`] owned by its ring's index. Exactly one party wins the
//! request with a compare-and-swap on its state, and only the winner takes it out of the index
//! and finishes it:
//!
//! - `Armed -> Claimed`: the wake callback, for a wake-up by a provider's hooked waker
//!   (`io_inline_rd_wake()`); that waker completes the read right after dropping the wait
//!   queue's lock, in its own process context ([`io_inline_rd_complete`]). A waker that must
//!   not sleep (`io_inline_rd_wake_nosleep()`: a faulting task in `handle_userfault()`) does
//!   the same with its provider's non-sleeping read, and leaves the freeing to kworkers.
//! - `Armed -> Fallback`: the wake callback, for any other wake-up (interrupt context, a
//!   kernel thread, `splice`, the last writer's `release`...); the read is handed back to the
//!   stock path through task_work on the submitter, which takes it out of the index.
//! - `Armed -> Cancelled`: cancellation, ring teardown or task exit, under `uring_lock`.
//! - `Armed -> Disarmed`: the submitter itself, when the file became ready while it armed.
//!
//! The wake callback runs under the wait queue's spinlock, possibly in hard-IRQ context: it
//! only flips the state and detaches the entry. It never consumes data or posts a CQE.

use core::{
    pin::Pin,
    ptr,
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};
use kernel::{
    bindings,
    error::code::{EAGAIN, ENOENT},
    ffi::c_void,
    new_spinlock,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{Arc, SpinLock},
    wait::{WaitEntry, WaitQueueHead, Wake, WakeCallback, WakeResult},
};

const __LOG_PREFIX: &[u8] = b"io_uring\0";

/// Poll events that may make a pending read succeed (checked against the C values at build
/// time in `inline_read.c`).
const EPOLLIN: u32 = 0x0001;
const EPOLLERR: u32 = 0x0008;
const EPOLLHUP: u32 = 0x0010;
const EPOLLRDNORM: u32 = 0x0040;
const EPOLLRDHUP: u32 = 0x2000;
const POLLFREE: u32 = 0x4000;
const WAKE_EVENTS: u32 = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLRDHUP;

/// `-EALREADY`, which the 6.12 `kernel` crate does not name.
fn ealready() -> Error {
    Error::from_errno(-(bindings::EALREADY as i32))
}

/// The states of a pending read; see the module documentation.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Armed = 0,
    Claimed = 1,
    Fallback = 2,
    Cancelled = 3,
    Disarmed = 4,
}

/// The part of a pending read that its wake callback sees.
struct Waiter {
    state: AtomicU32,
    /// The request; valid until it is finished by whoever wins it.
    req: *mut bindings::io_kiocb,
    /// The pinned destination, owned by the C glue.
    dest: *mut bindings::io_inline_rd_dest,
    /// The ring this read is indexed in.
    ring: *const Ring,
    /// Bytes of reader memory pinned for this read.
    pinned: u64,
    /// When the read was armed, in the C glue's global numbering of armed reads.
    seq: u64,
    /// Whether the entry has been queued on a wait queue.
    queued: AtomicU32,
}

impl Waiter {
    /// Moves the read from state `from` to `to`; whoever succeeds owns what `to` means.
    fn transition(&self, from: State, to: State) -> bool {
        self.state
            .compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Claims a pending read: `Armed -> to`.
    fn claim(&self, to: State) -> bool {
        self.transition(State::Armed, to)
    }
}

impl WakeCallback for Waiter {
    fn wake(&self, wake: &Wake<'_>) -> WakeResult {
        let events = wake.key() as u32;
        // A key of zero is a plain `wake_up()`: it concerns every waiter.
        if events != 0 && events & (WAKE_EVENTS | POLLFREE) == 0 {
            return WakeResult::Ignored;
        }
        if events & POLLFREE != 0 {
            // The head is about to be freed (a signalfd's `sighand` going away): leave it for
            // good, whatever state the read is in, and hand a pending read to the stock path.
            wake.detach_pollfree();
            if self.claim(State::Fallback) {
                // SAFETY: As for the fallback below.
                unsafe { bindings::io_inline_rd_req_fallback(self.req, true) };
            }
            return WakeResult::Ignored;
        }
        let claimed = ptr::from_ref(self).cast::<c_void>();
        // SAFETY: The C glue only reads the waking task's batch pointer; `head` is only
        // compared.
        let batch = unsafe { bindings::io_inline_rd_batch_get(wake.head()) };
        // SAFETY: The request is alive while its read is queued; this only reads flags.
        let dead = unsafe { bindings::io_inline_rd_req_dead(self.req) };
        // SAFETY: `batch` is null or the hooked waker's batch for this head, alive while it
        // holds the head's lock, which it does for the whole wake-up.
        if !batch.is_null() && self.seq > unsafe { (*batch).seq_limit } {
            // Armed after the hooked wake-up began: it found no data after it was queued, so
            // this wake-up is not for it (`io_inline_rd_sender_wake()`). It stays armed.
            return WakeResult::Ignored;
        }
        // SAFETY: As above.
        let free_slot = !batch.is_null() && unsafe { (*batch).claimed.is_null() };
        // SAFETY: The request is alive (above); `batch` is the hooked waker's, as above.
        if free_slot && !dead && !unsafe { bindings::io_inline_rd_req_wants(self.req, batch) } {
            // The hooked wake-up announces data this read cannot get (a signal its signalfd
            // does not watch, or one sent to another thread): it stays armed.
            return WakeResult::Ignored;
        }
        if free_slot && !dead {
            // A hooked waker: it completes the read in its own context after the wake-up. It
            // wakes one exclusive waiter per wake-up (`nr_exclusive == 1`), so it claims at
            // most one read; any other read it reaches takes the stock path below.
            if !self.claim(State::Claimed) {
                return WakeResult::Ignored;
            }
            wake.detach();
            // SAFETY: `batch` is the hooked waker's batch for this head, alive while it holds
            // the head's lock, which it does for the whole wake-up.
            unsafe { (*batch).claimed = claimed.cast_mut() };
            // Exclusive, like a blocking reader: this wake-up goes no further.
            return WakeResult::Woken;
        }
        if self.claim(State::Fallback) {
            wake.detach();
            // SAFETY: The request is alive: it is only freed by whoever won it, which is the
            // task_work this queues.
            unsafe { bindings::io_inline_rd_req_fallback(self.req, true) };
        }
        // Not claimed as an exclusive waiter: blocking readers behind us still get woken.
        WakeResult::Ignored
    }
}

/// A pending inline read: a wait queue entry carrying the [`Waiter`].
type InlineRead = WaitEntry<Waiter>;

/// The key of a read in its ring's index: the request's address.
type Key = usize;

/// The per-ring state: the index of pending reads and the counters shown in fdinfo.
#[pin_data]
struct Ring {
    #[pin]
    index: SpinLock<RBTree<Key, Arc<InlineRead>>>,
    armed: AtomicU64,
    completed: AtomicU64,
    fallback: AtomicU64,
    cancelled: AtomicU64,
    pinned: AtomicU64,
}

// SAFETY: The raw pointers in a `Waiter` are only dereferenced by the party that won the
// request (module documentation), whichever thread it runs on.
unsafe impl Send for Waiter {}
// SAFETY: Shared access is limited to atomics and to pointers read under the ownership rules.
unsafe impl Sync for Waiter {}

impl Ring {
    /// Takes the read of `req` out of the index, if it is there. The caller drops it (which
    /// takes it off its wait queue) after the index lock is released.
    fn take(&self, req: *mut bindings::io_kiocb) -> Option<Arc<InlineRead>> {
        let read = self.index.lock().remove(&(req as Key));
        if let Some(r) = &read {
            self.pinned.fetch_sub(r.pinned, Ordering::Relaxed);
        }
        read
    }

    /// Cancels one pending read matching `matches`; `Err(EALREADY)` if the only matches are
    /// being completed by a writer.
    ///
    /// A read already handed to the stock path, whose task_work has not run yet, is only
    /// marked: that task_work finds it cancelled and completes it with `-ECANCELED` without
    /// reading (as a stock poll request is cancelled before its task_work runs).
    fn cancel_first(&self, mut matches: impl FnMut(*mut bindings::io_kiocb) -> bool) -> Result {
        let mut busy = false;
        let found = {
            let mut index = self.index.lock();
            let mut won = None;
            for (key, read) in index.iter() {
                if !matches(read.req) {
                    continue;
                }
                if read.claim(State::Cancelled) {
                    won = Some(*key);
                    break;
                }
                if read.transition(State::Fallback, State::Cancelled) {
                    return Ok(());
                }
                busy = true;
            }
            won.and_then(|key| index.remove(&key))
        };
        let Some(read) = found else {
            return Err(if busy { ealready() } else { ENOENT });
        };
        self.pinned.fetch_sub(read.pinned, Ordering::Relaxed);
        self.cancelled.fetch_add(1, Ordering::Relaxed);
        let (req, dest) = (read.req, read.dest);
        // Off the wait queue before the request (and the file reference that keeps the queue
        // alive) goes.
        drop(read);
        // SAFETY: We won the request: nobody else touches it or its destination any more.
        unsafe { bindings::io_inline_rd_req_cancel(req, dest) };
        Ok(())
    }
}

/// Returns the ring behind a pointer the C glue holds.
///
/// # Safety
///
/// `ring` must come from [`io_inline_rd_ring_new`] and not have been freed.
unsafe fn ring_ref<'a>(ring: *const bindings::io_inline_rd_ring) -> &'a Ring {
    // SAFETY: The caller guarantees that `ring` is a live `Ring` handed out as an opaque
    // pointer.
    unsafe { &*ring.cast::<Ring>() }
}

/// Allocates the state of a ring created with `IORING_SETUP_INLINE_READ`.
#[no_mangle]
pub extern "C" fn io_inline_rd_ring_new() -> *mut bindings::io_inline_rd_ring {
    let ring = KBox::pin_init(
        pin_init!(Ring {
            index <- new_spinlock!(RBTree::new(), "io_inline_rd_index"),
            armed: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            fallback: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            pinned: AtomicU64::new(0),
        }),
        GFP_KERNEL,
    );
    match ring {
        // SAFETY: The ring is never moved out of its box: the box is turned back into a
        // `Pin<KBox>` by `io_inline_rd_ring_free`.
        Ok(ring) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(ring) }).cast(),
        Err(_) => ptr::null_mut(),
    }
}

/// Frees a ring's state. Every request is gone by then, so the index is empty.
///
/// # Safety
///
/// `ring` comes from [`io_inline_rd_ring_new`] and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_ring_free(ring: *mut bindings::io_inline_rd_ring) {
    if ring.is_null() {
        return;
    }
    // SAFETY: By the function's safety requirements, `ring` is a leaked `KBox<Ring>`.
    let ring = unsafe { KBox::from_raw(ring.cast::<Ring>()) };
    if ring.index.lock().iter().next().is_some() {
        pr_warn!("inline read index not empty at ring free\n");
    }
}

/// Creates the pending read of `req` and puts it in the ring's index, not yet queued.
///
/// Returns the submitter's reference, which keeps the read alive while it is armed (a writer
/// may complete and release it as soon as it is queued) until [`io_inline_rd_waiter_publish`]
/// gives it back; or null if out of memory.
///
/// # Safety
///
/// `ring` is live, the caller holds the ring's `uring_lock`, and `req`/`dest` stay valid until
/// the read is finished by whoever wins it.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_waiter_new(
    ring: *mut bindings::io_inline_rd_ring,
    req: *mut bindings::io_kiocb,
    dest: *mut bindings::io_inline_rd_dest,
    pinned: u64,
    seq: u64,
) -> *mut bindings::io_inline_rd_waiter {
    // SAFETY: By the function's safety requirements.
    let r = unsafe { ring_ref(ring) };
    let waiter = Waiter {
        state: AtomicU32::new(State::Armed as u32),
        req,
        dest,
        ring: ptr::from_ref(r),
        pinned,
        seq,
        queued: AtomicU32::new(0),
    };
    let Ok(read) = Arc::pin_init(WaitEntry::new(waiter), GFP_KERNEL) else {
        return ptr::null_mut();
    };
    let Ok(node) = RBTreeNode::new(req as Key, read.clone(), GFP_KERNEL) else {
        return ptr::null_mut();
    };
    r.pinned.fetch_add(pinned, Ordering::Relaxed);
    if r.index.lock().insert(node).is_some() {
        pr_warn!("inline read armed twice for one request\n");
    }
    Arc::into_raw(read).cast_mut().cast()
}

/// Queues a pending read on the wait queue its file's `->poll` registered first.
///
/// # Safety
///
/// `w` comes from [`io_inline_rd_waiter_new`] and has not been published yet; `head` is the
/// file's wait queue, alive as long as the request holds the file.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_waiter_queue(
    w: *mut bindings::io_inline_rd_waiter,
    head: *mut bindings::wait_queue_head,
) {
    // SAFETY: By the function's safety requirements, the submitter's reference keeps `w` alive;
    // the contents of an `Arc` never move.
    let read = unsafe { Pin::new_unchecked(&*w.cast::<InlineRead>()) };
    if read.queued.swap(1, Ordering::Relaxed) != 0 {
        // Only the first queue: for a pipe, `->poll` registers the writers' queue next.
        return;
    }
    // SAFETY: `head` is initialised and outlives the entry: the request holds the file until
    // the read is finished, and finishing it drops (and so removes) the entry first.
    let ret = unsafe { read.add(WaitQueueHead::from_raw(head), true) };
    if ret.is_err() {
        pr_warn!("inline read queued twice\n");
    }
}

/// Ends arming: the read stays pending (0), or, if it was never queued or the file is already
/// `ready`, it is taken back and the caller goes on with the stock path (`-EAGAIN`).
///
/// # Safety
///
/// As for [`io_inline_rd_waiter_queue`], with the ring's `uring_lock` held.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_waiter_publish(
    w: *mut bindings::io_inline_rd_waiter,
    ready: bool,
) -> i32 {
    // SAFETY: By the function's safety requirements, `w` is the submitter's reference from
    // `io_inline_rd_waiter_new`, which this takes back: it is dropped on return.
    let read = unsafe { Arc::from_raw(w.cast::<InlineRead>().cast_const()) };
    // SAFETY: The ring outlives its requests.
    let ring = unsafe { &*read.ring };
    if read.queued.load(Ordering::Relaxed) != 0 && !ready {
        ring.armed.fetch_add(1, Ordering::Relaxed);
        return 0;
    }
    if !read.claim(State::Disarmed) {
        // A wake-up won the race and owns the read now: it is as good as armed.
        ring.armed.fetch_add(1, Ordering::Relaxed);
        return 0;
    }
    // The submitter frees the destination itself on this path.
    drop(ring.take(read.req));
    EAGAIN.to_errno()
}

/// Completes the read a hooked wake-up claimed, in the waker's process context: consume the
/// data into the pinned destination (with the provider's read, if the batch names one), post
/// the CQE, free everything (or, if the batch says the waker must not sleep, leave the freeing
/// to kworkers).
///
/// Returns whether the file still has data for the next reader.
///
/// # Safety
///
/// `batch` is valid, and its `claimed` was set by [`WakeCallback::wake`] during a wake-up that
/// has ended; the caller may sleep unless `batch.nosleep` is set.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_complete(batch: *mut bindings::io_inline_rd_batch) -> bool {
    // SAFETY: `batch` is valid for reads.
    let (claimed, nosleep) = unsafe { ((*batch).claimed, (*batch).nosleep) };
    // SAFETY: A claimed read stays in the index until its claimer (us) takes it out.
    let w = unsafe { &*claimed.cast::<Waiter>() };
    let (req, dest) = (w.req, w.dest);
    // SAFETY: The ring outlives its requests.
    let ring = unsafe { &*w.ring };

    // SAFETY: We own the claimed request and its destination.
    let res = unsafe { bindings::io_inline_rd_req_consume(req, dest, batch) } as isize;
    if res == EAGAIN.to_errno() as isize {
        // Someone else consumed the data first, or (on a queue shared by readers of different
        // data) the data was not for this read: hand the read to the stock path, whose
        // task_work takes it out of the index and frees the destination.
        w.state.store(State::Fallback as u32, Ordering::Release);
        // SAFETY: We own the request.
        unsafe { bindings::io_inline_rd_req_fallback(req, false) };
        // SAFETY: `batch` is valid for reads; `ops`, if set, points at a provider's static
        // operations.
        let shared = unsafe { !(*batch).ops.is_null() && (*(*batch).ops).shared_queue };
        // The wake-up stopped at this read: on a shared queue, pass it on.
        return shared;
    }
    // SAFETY: We own the request, which holds its file.
    let more = res > 0 && unsafe { bindings::io_inline_rd_req_ready(req, batch) };
    // Off the wait queue (it was detached already) and out of the index before the request
    // goes: once the CQE is posted the ring may be torn down. `w` dangles from here on.
    drop(ring.take(req));
    ring.completed.fetch_add(1, Ordering::Relaxed);
    // SAFETY: We own the request and its destination; both are freed by this call.
    unsafe { bindings::io_inline_rd_req_complete(req, dest, res as _, nosleep) };
    more
}

/// Takes the read of `req` out of the index for the stock-path task_work that a
/// [`State::Fallback`] claim queued; returns its destination for the caller to free, and
/// sets `*cancelled` if a cancel marked it meanwhile.
///
/// # Safety
///
/// `ring` is live, `req` is a request of this ring and `cancelled` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_take(
    ring: *mut bindings::io_inline_rd_ring,
    req: *mut bindings::io_kiocb,
    cancelled: *mut bool,
) -> *mut bindings::io_inline_rd_dest {
    // SAFETY: By the function's safety requirements.
    let ring = unsafe { ring_ref(ring) };
    let Some(read) = ring.take(req) else {
        return ptr::null_mut();
    };
    // Nobody else changes a Fallback or Cancelled read's state.
    if read.state.load(Ordering::Acquire) == State::Cancelled as u32 {
        ring.cancelled.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `cancelled` is valid for writes.
        unsafe { cancelled.write(true) };
    } else {
        ring.fallback.fetch_add(1, Ordering::Relaxed);
    }
    read.dest
}

/// Cancels one pending read matching `cd` (`IORING_OP_ASYNC_CANCEL`, sync cancel, linked
/// timeouts): 0, `-ENOENT`, or `-EALREADY` if it is being completed right now.
///
/// # Safety
///
/// `ring` is live and `cd` is valid; the caller holds the ring's `uring_lock`.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_cancel(
    ring: *mut bindings::io_inline_rd_ring,
    cd: *mut bindings::io_cancel_data,
) -> i32 {
    // SAFETY: By the function's safety requirements.
    let ring = unsafe { ring_ref(ring) };
    let matches = |req| {
        // SAFETY: `cd` is valid and the requests in the index are alive.
        unsafe { bindings::io_inline_rd_req_match(req, cd) }
    };
    match ring.cancel_first(matches) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Cancels every pending read of `task` (all of them if `cancel_all`), at task exit and ring
/// teardown. Returns whether any was found.
///
/// # Safety
///
/// `ring` is live; the caller holds the ring's `uring_lock`.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_remove_all(
    ring: *mut bindings::io_inline_rd_ring,
    task: *mut bindings::task_struct,
    cancel_all: bool,
) -> bool {
    // SAFETY: By the function's safety requirements.
    let ring = unsafe { ring_ref(ring) };
    let matches = |req| {
        // SAFETY: The requests in the index are alive; `task` is only compared.
        unsafe { bindings::io_inline_rd_req_match_task(req, task, cancel_all) }
    };
    let mut found = false;
    while ring.cancel_first(matches).is_ok() {
        found = true;
    }
    found
}

/// Reads the ring's counters for its fdinfo.
///
/// # Safety
///
/// `ring` is live and `stats` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn io_inline_rd_get_stats(
    ring: *mut bindings::io_inline_rd_ring,
    stats: *mut bindings::io_inline_rd_stats,
) {
    // SAFETY: By the function's safety requirements.
    let ring = unsafe { ring_ref(ring) };
    let s = bindings::io_inline_rd_stats {
        armed: ring.armed.load(Ordering::Relaxed),
        completed: ring.completed.load(Ordering::Relaxed),
        fallback: ring.fallback.load(Ordering::Relaxed),
        cancelled: ring.cancelled.load(Ordering::Relaxed),
        pinned: ring.pinned.load(Ordering::Relaxed),
    };
    // SAFETY: `stats` is valid for writes.
    unsafe { stats.write(s) };
}
