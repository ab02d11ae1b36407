// SPDX-License-Identifier: GPL-2.0

//! Wait queues with custom wake functions.
//!
//! A [`WaitEntry`] is a [`struct wait_queue_entry`] whose wake function calls back into Rust:
//! when the [`struct wait_queue_head`] it is queued on is woken, the entry's data runs
//! [`WakeCallback::wake`]. This is what the kernel's own "wake function" users (io_uring's
//! poll, futex and waitid requests, KVM's irqfd, epoll) do in C: react to a wake-up in the
//! waker's context instead of waking a sleeping task.
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)
//!
//! # Examples
//!
//! ```
//! use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
//! use kernel::wait::{new_wait_queue_head, WaitEntry, WaitQueueHead, Wake, WakeCallback,
//!                    WakeResult};
//!
//! struct Recorder {
//!     calls: AtomicU32,
//!     last_key: AtomicUsize,
//! }
//!
//! impl WakeCallback for Recorder {
//!     fn wake(&self, wake: &Wake<'_>) -> WakeResult {
//!         self.calls.fetch_add(1, Ordering::Relaxed);
//!         self.last_key.store(wake.key(), Ordering::Relaxed);
//!         WakeResult::Woken
//!     }
//! }
//!
//! let head = KBox::pin_init(new_wait_queue_head!(), GFP_KERNEL)?;
//! let rec = Recorder { calls: AtomicU32::new(0), last_key: AtomicUsize::new(0) };
//! let entry = KBox::pin_init(WaitEntry::new(rec), GFP_KERNEL)?;
//!
//! // SAFETY: `head` is declared before `entry`, so it is dropped after it: it stays valid
//! // until `entry` is dropped.
//! unsafe { entry.as_ref().add(&head, false)? };
//! head.wake_up_poll(0x41);
//! assert_eq!(entry.calls.load(Ordering::Relaxed), 1);
//! assert_eq!(entry.last_key.load(Ordering::Relaxed), 0x41);
//!
//! // Once dropped, the entry is off the queue: later wake-ups do not reach it.
//! drop(entry);
//! head.wake_up_poll(0x1);
//! # Ok::<(), Error>(())
//! ```
//!
//! [`struct wait_queue_entry`]: srctree/include/linux/wait.h
//! [`struct wait_queue_head`]: srctree/include/linux/wait.h

use crate::{
    bindings,
    error::{code::EBUSY, Result},
    ffi::{c_int, c_uint, c_void},
    init::PinInit,
    pin_init,
    str::CStr,
    sync::LockClassKey,
    task::TASK_NORMAL,
    types::Opaque,
};
use core::{
    marker::{PhantomData, PhantomPinned},
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use macros::{pin_data, pinned_drop};

/// Creates a [`WaitQueueHead`] initialiser with the given name and a newly-created lock class.
#[macro_export]
macro_rules! new_wait_queue_head {
    ($($name:literal)?) => {
        $crate::wait::WaitQueueHead::new(
            $crate::optional_name!($($name)?),
            $crate::static_lock_class!(),
        )
    };
}
pub use new_wait_queue_head;

/// A wait queue head, the kernel's [`struct wait_queue_head`].
///
/// Entries queued on it are woken, in queue order, by the `wake_up*()` family.
///
/// # Invariants
///
/// `inner` is an initialised `struct wait_queue_head`.
///
/// [`struct wait_queue_head`]: srctree/include/linux/wait.h
#[repr(transparent)]
#[pin_data]
pub struct WaitQueueHead {
    #[pin]
    inner: Opaque<bindings::wait_queue_head>,
}

// SAFETY: A `struct wait_queue_head` may be used from any thread; its state is protected by the
// spinlock it contains.
unsafe impl Send for WaitQueueHead {}

// SAFETY: All operations on a `struct wait_queue_head` take its spinlock, so it may be used from
// several threads at once.
unsafe impl Sync for WaitQueueHead {}

impl WaitQueueHead {
    /// Constructs a new wait queue head initialiser.
    pub fn new(name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid while the closure is called, and `name` and `key` have
            // static lifetimes so they outlive the head.
            inner <- Opaque::ffi_init(|slot| unsafe {
                bindings::__init_waitqueue_head(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// Borrows a wait queue head owned by C code.
    ///
    /// # Safety
    ///
    /// `ptr` must point at an initialised `struct wait_queue_head` that stays valid, and is not
    /// moved, for the lifetime `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::wait_queue_head) -> &'a Self {
        // SAFETY: `WaitQueueHead` is a transparent wrapper of the C struct, and the caller
        // guarantees that `ptr` is valid and initialised for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Returns the raw `struct wait_queue_head` pointer.
    pub fn as_raw(&self) -> *mut bindings::wait_queue_head {
        self.inner.get()
    }

    /// Wakes the queue with a poll key, as `wake_up_poll()` does.
    ///
    /// Non-exclusive entries are all woken; among exclusive entries, only the first that
    /// reports [`WakeResult::Woken`] is.
    pub fn wake_up_poll(&self, events: u32) {
        // SAFETY: `self.as_raw()` is an initialised wait queue head by the type invariant. The
        // key of a poll wake-up is the event mask cast to a pointer (`poll_to_key()`).
        unsafe {
            bindings::__wake_up(
                self.as_raw(),
                TASK_NORMAL,
                1,
                events as usize as *mut c_void,
            )
        };
    }
}

/// What a [`WakeCallback`] tells the waker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeResult {
    /// The wake-up was not for this entry: the waker goes on to the next entry as if this one
    /// were not there.
    Ignored,
    /// The entry took the wake-up. For an exclusive entry this counts towards the number of
    /// exclusive entries the waker asked to wake (one, for `wake_up()`), which may end the walk.
    Woken,
}

/// A wake-up, as seen by [`WakeCallback::wake`].
///
/// It only exists while the wait queue head's spinlock is held.
pub struct Wake<'a> {
    entry: *mut bindings::wait_queue_entry,
    head: *mut bindings::wait_queue_head,
    /// The entry's record of its head (`WaitEntry::head`).
    slot: *const AtomicPtr<bindings::wait_queue_head>,
    mode: c_uint,
    key: *mut c_void,
    _locked: PhantomData<&'a ()>,
}

impl Wake<'_> {
    /// The task state mask the waker passed (`TASK_NORMAL`, `TASK_INTERRUPTIBLE`...).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The key the waker passed, as an integer. For poll wake-ups, this is the event mask
    /// (`key_to_poll()`); it is zero for a plain `wake_up()`.
    pub fn key(&self) -> usize {
        self.key as usize
    }

    /// The wait queue head being woken (whose lock is held).
    pub fn head(&self) -> *mut bindings::wait_queue_head {
        self.head
    }

    /// Takes the entry off the wait queue, so that no further wake-up reaches it, as
    /// `autoremove_wake_function()` does.
    ///
    /// The entry stays associated with the head: dropping the entry still takes the head's lock,
    /// which waits for a callback that is still running.
    pub fn detach(&self) {
        // SAFETY: `self.entry` is queued on a head whose lock the waker holds for the lifetime
        // of `self`, so unlinking it here is serialised with every other list operation.
        unsafe { bindings::list_del_init(ptr::addr_of_mut!((*self.entry).entry)) };
    }

    /// Takes the entry off the wait queue for good, for a `POLLFREE` wake-up: the head's
    /// owner is about to free it (`wake_up_pollfree()`), so the entry forgets it, and dropping
    /// the entry no longer touches it.
    ///
    /// Like `io_pollfree_wake()` in C, this relies on the owner delaying the free by an RCU
    /// grace period, which covers an entry being dropped concurrently.
    pub fn detach_pollfree(&self) {
        self.detach();
        // SAFETY: `slot` is the `head` field of the live entry being woken.
        unsafe { (*self.slot).store(ptr::null_mut(), Ordering::Release) };
    }
}

/// The callback a [`WaitEntry`] runs when its wait queue is woken.
///
/// # Context
///
/// [`WakeCallback::wake`] runs in the waker's context, with the wait queue head's spinlock held
/// and possibly with interrupts disabled or from hard-IRQ context (wait queues are woken from
/// interrupt handlers). It must not sleep, allocate with `GFP_KERNEL`, or take a lock that is
/// not IRQ-safe if the head's lock is. It must not queue or remove entries of the same head
/// other than through [`Wake::detach`]: the lock is already held.
pub trait WakeCallback: Sync {
    /// Called for each wake-up of the head this entry is queued on.
    fn wake(&self, wake: &Wake<'_>) -> WakeResult;
}

/// A wait queue entry whose wake function is [`WakeCallback::wake`] of the data it carries.
///
/// The data is reachable through [`Deref`](core::ops::Deref) by its owner and, concurrently, by
/// the wake callback; so it must be [`Sync`] and use interior mutability for what the callback
/// changes. Dropping the entry takes it off its wait queue before the data is dropped.
///
/// # Examples
///
/// Exclusive entries are woken one per `wake_up()`, in queue order; an entry that ignores the
/// wake-up passes it on, and a one-shot entry detaches itself from the callback:
///
/// ```
/// use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
/// use kernel::wait::{new_wait_queue_head, WaitEntry, Wake, WakeCallback, WakeResult};
///
/// struct OneShot {
///     willing: AtomicBool,
///     calls: AtomicU32,
/// }
///
/// impl WakeCallback for OneShot {
///     fn wake(&self, wake: &Wake<'_>) -> WakeResult {
///         self.calls.fetch_add(1, Ordering::Relaxed);
///         if !self.willing.load(Ordering::Relaxed) {
///             return WakeResult::Ignored;
///         }
///         wake.detach();
///         WakeResult::Woken
///     }
/// }
///
/// let head = KBox::pin_init(new_wait_queue_head!(), GFP_KERNEL)?;
/// let new = |willing| OneShot { willing: AtomicBool::new(willing), calls: AtomicU32::new(0) };
/// let a = KBox::pin_init(WaitEntry::new(new(false)), GFP_KERNEL)?;
/// let b = KBox::pin_init(WaitEntry::new(new(true)), GFP_KERNEL)?;
/// let c = KBox::pin_init(WaitEntry::new(new(true)), GFP_KERNEL)?;
/// // SAFETY: `head` is declared first, so it outlives the entries.
/// unsafe {
///     a.as_ref().add(&head, true)?;
///     b.as_ref().add(&head, true)?;
///     c.as_ref().add(&head, true)?;
///     // An entry is on one queue at a time.
///     assert_eq!(c.as_ref().add(&head, true), Err(EBUSY));
/// }
///
/// // `a` ignores the wake-up, `b` takes it and leaves the queue, `c` is not reached.
/// head.wake_up_poll(1);
/// let calls = |e: &WaitEntry<OneShot>| e.calls.load(Ordering::Relaxed);
/// assert_eq!((calls(&a), calls(&b), calls(&c)), (1, 1, 0));
///
/// // `b` is gone from the queue: the next wake-up goes to `c`.
/// head.wake_up_poll(1);
/// assert_eq!((calls(&a), calls(&b), calls(&c)), (2, 1, 1));
///
/// // Dropping a queued entry takes it off the queue.
/// drop(a);
/// head.wake_up_poll(1);
/// assert_eq!(calls(&c), 1);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `entry` is an initialised `struct wait_queue_entry` whose `func` is `Self::wake_func`.
/// - `head` is null, or points at the wait queue head the entry was added to, which the adder
///   guaranteed to stay valid until the entry is dropped or a `POLLFREE` wake-up detaches it
///   for good ([`Wake::detach_pollfree`]), and for an RCU grace period after that. While `head`
///   is null, `entry` is not linked on any wait queue; it is set, together with linking the
///   entry, under the head's lock, and cleared under that lock too.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct WaitEntry<T: WakeCallback> {
    // `entry` must be the first field: `wake_func` casts the C entry pointer to `Self`.
    #[pin]
    entry: Opaque<bindings::wait_queue_entry>,
    head: AtomicPtr<bindings::wait_queue_head>,
    data: T,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The C entry is only touched under the head's lock; the data is sent with the entry.
unsafe impl<T: WakeCallback + Send> Send for WaitEntry<T> {}

// SAFETY: Shared references only allow `add`, which is serialised by the head's lock
// and the atomic `head`, and shared access to `T`, which is `Sync`.
unsafe impl<T: WakeCallback> Sync for WaitEntry<T> {}

impl<T: WakeCallback> WaitEntry<T> {
    /// Constructs an initialiser for an entry that is not on any wait queue.
    pub fn new(data: T) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes while the closure runs. The list node is
            // initialised to an empty list, so that unlinking an entry that was never linked is
            // a no-op.
            entry <- Opaque::ffi_init(|slot: *mut bindings::wait_queue_entry| unsafe {
                bindings::init_waitqueue_func_entry(slot, Some(Self::wake_func));
                bindings::INIT_LIST_HEAD(ptr::addr_of_mut!((*slot).entry));
            }),
            head: AtomicPtr::new(ptr::null_mut()),
            data,
            _pin: PhantomPinned,
        })
    }

    /// Queues the entry on `head`.
    ///
    /// An `exclusive` entry is added at the tail with `WQ_FLAG_EXCLUSIVE`, as
    /// `add_wait_queue_exclusive()` does: a `wake_up()` stops at the first exclusive entry
    /// whose callback returns [`WakeResult::Woken`]. Otherwise it is added at the head, as
    /// `add_wait_queue()` does.
    ///
    /// Returns `EBUSY` if the entry is already associated with a head: an entry is added once.
    ///
    /// # Safety
    ///
    /// `head` must stay valid until the entry is dropped; or, if its owner frees it after a
    /// `wake_up_pollfree()` (whose callback must then call [`Wake::detach_pollfree`]), until an
    /// RCU grace period after that wake-up.
    pub unsafe fn add(
        self: core::pin::Pin<&Self>,
        head: &WaitQueueHead,
        exclusive: bool,
    ) -> Result {
        let h = head.as_raw();
        // SAFETY: `h` is a valid, initialised head (type invariant of `WaitQueueHead`).
        let flags = unsafe { bindings::spin_lock_irqsave(ptr::addr_of_mut!((*h).lock)) };
        // Publishing `head` and linking the entry happen together under the head's lock, so
        // `remove` (which also takes it) never sees one without the other.
        let ret = if self
            .head
            .compare_exchange(ptr::null_mut(), h, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            Err(EBUSY)
        } else {
            let e = self.entry.get();
            // SAFETY: We hold the head's lock; `e` is initialised and, since `head` was null,
            // not linked anywhere (type invariant). `self` is pinned and `drop` unlinks it, so it
            // stays valid while linked. The caller guarantees `h` stays valid until then.
            unsafe {
                if exclusive {
                    (*e).flags |= bindings::WQ_FLAG_EXCLUSIVE;
                    bindings::__add_wait_queue_entry_tail(h, e);
                } else {
                    (*e).flags &= !bindings::WQ_FLAG_EXCLUSIVE;
                    bindings::__add_wait_queue(h, e);
                }
            }
            Ok(())
        };
        // SAFETY: We took this lock above with these flags.
        unsafe { bindings::spin_unlock_irqrestore(ptr::addr_of_mut!((*h).lock), flags) };
        ret
    }

    /// Takes the entry off its wait queue, if it was added. Called from `drop` only, so no
    /// `add` can run concurrently; when this returns, no callback of this entry is running and
    /// none will run.
    fn remove(&self) {
        // SAFETY: Always allowed; a `POLLFREE` owner delays freeing the head past this section.
        unsafe { bindings::rcu_read_lock() };
        let h = self.head.load(Ordering::Acquire);
        if !h.is_null() {
            // SAFETY: `h` is the head the entry was added to, which stays valid until the entry
            // is dropped (now) or, after a `POLLFREE` detach, for an RCU grace period (type
            // invariant): we are in an RCU read-side section that began before that detach.
            let flags = unsafe { bindings::spin_lock_irqsave(ptr::addr_of_mut!((*h).lock)) };
            // A `POLLFREE` wake-up may have detached the entry for good before we got the lock.
            if self.head.load(Ordering::Relaxed) == h {
                // SAFETY: We hold the lock of the head the entry is linked on, if at all;
                // unlinking an entry that a callback already detached is a no-op.
                unsafe { bindings::list_del_init(ptr::addr_of_mut!((*self.entry.get()).entry)) };
                // INVARIANT: The entry is unlinked, so `head` may become null.
                self.head.store(ptr::null_mut(), Ordering::Relaxed);
            }
            // SAFETY: We took this lock above with these flags.
            unsafe { bindings::spin_unlock_irqrestore(ptr::addr_of_mut!((*h).lock), flags) };
        }
        // SAFETY: Paired with the `rcu_read_lock()` above.
        unsafe { bindings::rcu_read_unlock() };
    }

    /// The wake function installed in the C entry.
    ///
    /// # Safety
    ///
    /// Called by the wait queue code only, for an entry linked on a head whose lock is held;
    /// `wq_entry` is the `entry` field of a live `WaitEntry<T>`.
    unsafe extern "C" fn wake_func(
        wq_entry: *mut bindings::wait_queue_entry,
        mode: c_uint,
        _flags: c_int,
        key: *mut c_void,
    ) -> c_int {
        let this = wq_entry.cast::<Self>().cast_const();
        // SAFETY: `entry` is the first field of this `repr(C)` struct, so the entry pointer is a
        // pointer to the `WaitEntry<T>`. It is linked, so it has not been dropped: `drop` unlinks
        // it under the lock the waker holds now.
        let data = unsafe { &(*this).data };
        let wake = Wake {
            entry: wq_entry,
            // SAFETY: `this` is live (above); `head` is the head being woken, set under its lock.
            head: unsafe { (*this).head.load(Ordering::Relaxed) },
            // SAFETY: `this` is live (above).
            slot: unsafe { ptr::addr_of!((*this).head) },
            mode,
            key,
            _locked: PhantomData,
        };
        match data.wake(&wake) {
            WakeResult::Ignored => 0,
            WakeResult::Woken => 1,
        }
    }
}

impl<T: WakeCallback> core::ops::Deref for WaitEntry<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

#[pinned_drop]
impl<T: WakeCallback> PinnedDrop for WaitEntry<T> {
    fn drop(self: core::pin::Pin<&mut Self>) {
        // Unlink before `data` is dropped: afterwards no callback can run or be running.
        self.remove();
    }
}
