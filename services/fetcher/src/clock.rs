//! Time as the poller sees it. Every deadline of the schedule — a feed's next poll, a host's
//! spacing and pause, `Retry-After`, the registry reload — is read from and waited on through
//! a [`Clock`], so that tests replace the system's time with a [`ManualClock`] they advance
//! themselves: a 2-second `Retry-After` is then checked in microseconds, against the real
//! loopback server, without waiting for it. Network timeouts (connect, first byte, body) stay
//! on the system's time: they guard real I/O.
//!
//! tokio's paused time (`start_paused`) was the other way; it was not used because its
//! auto-advance jumps to the next timer whenever the runtime has no task ready, which happens
//! while a request waits on a socket or the SQLite worker thread, and then fires the request's
//! timeout. A [`ManualClock`] moves only when the test moves it, and its [`ManualClock::settle`]
//! knows when the poller has nothing left to do at the current time.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A wait for a deadline of a [`Clock`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of "now" and of timers for the poller.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Instant;

    /// Completes once [`Clock::now`] has reached `at` (at once when it has already).
    fn sleep_until(&self, at: Instant) -> Sleep;

    /// Marks work in progress (a poll in flight) until the returned guard is dropped. A
    /// [`ManualClock`] does not call itself settled while any is held; the system clock
    /// ignores it.
    fn busy(&self) -> Busy {
        Busy(None)
    }
}

/// Guard of [`Clock::busy`].
pub struct Busy(Option<Box<dyn std::any::Any + Send + Sync>>);

impl std::fmt::Debug for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Busy").field(&self.0.is_some()).finish()
    }
}

/// The system's monotonic time and tokio's timers: what the fetcher uses outside tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, at: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(at)))
    }
}

#[derive(Debug)]
struct State {
    now: Instant,
    /// Deadlines being waited on, with how many waiters each.
    sleepers: BTreeMap<Instant, usize>,
    /// [`Busy`] guards alive.
    busy: usize,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Woken on every move of the time.
    moved: Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A clock that moves only when told to ([`ManualClock::advance`]), for tests: it knows the
/// deadlines being waited on and the work in progress, so a test can wait until the poller is
/// idle at the current time ([`ManualClock::settle`]) before moving on. Idleness is exact when
/// the poller runs on a current-thread runtime (`#[tokio::test]`'s default).
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Inner>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Deregisters a sleeper when its wait ends or is dropped.
struct Sleeper {
    inner: Arc<Inner>,
    at: Instant,
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        if let Some(n) = s.sleepers.get_mut(&self.at) {
            *n -= 1;
            if *n == 0 {
                s.sleepers.remove(&self.at);
            }
        }
    }
}

struct BusyGuard(Arc<Inner>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.busy = s.busy.saturating_sub(1);
    }
}

/// How often [`ManualClock::settle`] looks again (real time).
const SETTLE_POLL: Duration = Duration::from_millis(1);

impl ManualClock {
    /// A clock standing at the system's current instant.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    now: Instant::now(),
                    sleepers: BTreeMap::new(),
                    busy: 0,
                }),
                moved: Notify::new(),
            }),
        }
    }

    /// Move the time forward by `by`, waking the waits that are due.
    pub fn advance(&self, by: Duration) {
        let mut s = self.inner.lock();
        s.now += by;
        drop(s);
        self.inner.moved.notify_waiters();
    }

    /// Move the time forward to `at` (nothing happens when it is already past).
    pub fn advance_to(&self, at: Instant) {
        let mut s = self.inner.lock();
        s.now = s.now.max(at);
        drop(s);
        self.inner.moved.notify_waiters();
    }

    /// The deadlines being waited on, earliest first (one entry per distinct deadline).
    pub fn sleepers(&self) -> Vec<Instant> {
        self.inner.lock().sleepers.keys().copied().collect()
    }

    /// Whether the poller is idle at the current time: no work in progress, and waiting only
    /// for deadlines still ahead (at least one: a running poller always waits for its next
    /// registry check).
    pub fn is_idle(&self) -> bool {
        let s = self.inner.lock();
        s.busy == 0 && s.sleepers.keys().next().is_some_and(|first| *first > s.now)
    }

    /// Wait (in real time) until [`ManualClock::is_idle`]. Never returns for a poller that
    /// stopped; callers bound it with their own timeout.
    pub async fn settle(&self) {
        while !self.is_idle() {
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    /// [`ManualClock::settle`], then move the time to the earliest deadline waited on (what
    /// tokio's paused time does by itself, but only once the poller is idle). Returns it.
    pub async fn advance_to_next(&self) -> Instant {
        self.settle().await;
        let next = {
            let mut s = self.inner.lock();
            let next = s.sleepers.keys().next().copied().unwrap_or(s.now);
            s.now = s.now.max(next);
            s.now
        };
        self.inner.moved.notify_waiters();
        next
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.lock().now
    }

    fn sleep_until(&self, at: Instant) -> Sleep {
        *self.inner.lock().sleepers.entry(at).or_insert(0) += 1;
        let sleeper = Sleeper {
            inner: self.inner.clone(),
            at,
        };
        Box::pin(async move {
            loop {
                let moved = sleeper.inner.moved.notified();
                tokio::pin!(moved);
                // Registered before the time is read, so a move in between is not missed.
                moved.as_mut().enable();
                if sleeper.inner.lock().now >= sleeper.at {
                    return;
                }
                moved.await;
            }
        })
    }

    fn busy(&self) -> Busy {
        self.inner.lock().busy += 1;
        Busy(Some(Box::new(BusyGuard(self.inner.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_time_moves_only_when_told_and_wakes_due_sleepers() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        assert!(!clock.is_idle(), "nobody waits: not a running poller");
        let early = tokio::spawn(clock.sleep_until(t0 + Duration::from_secs(2)));
        let late = tokio::spawn(clock.sleep_until(t0 + Duration::from_secs(5)));
        clock.settle().await;
        assert_eq!(
            clock.sleepers(),
            [t0 + Duration::from_secs(2), t0 + Duration::from_secs(5)]
        );
        clock.advance(Duration::from_millis(1_999));
        tokio::task::yield_now().await;
        assert!(!early.is_finished(), "woken before its deadline");
        assert_eq!(clock.advance_to_next().await, t0 + Duration::from_secs(2));
        tokio::time::timeout(Duration::from_secs(5), early)
            .await
            .expect("woken at its deadline")
            .expect("sleep task");
        assert_eq!(clock.sleepers(), [t0 + Duration::from_secs(5)]);
        assert!(!late.is_finished());
        // Work in progress holds the clock unsettled.
        let busy = clock.busy();
        assert!(!clock.is_idle());
        drop(busy);
        assert!(clock.is_idle());
        clock.advance_to(t0 + Duration::from_secs(9));
        clock.advance_to(t0);
        assert_eq!(clock.now(), t0 + Duration::from_secs(9), "never backwards");
        tokio::time::timeout(Duration::from_secs(5), late)
            .await
            .expect("woken")
            .expect("sleep task");
        // A dropped wait is forgotten; a past deadline completes at once.
        drop(clock.sleep_until(t0 + Duration::from_secs(60)));
        assert!(clock.sleepers().is_empty());
        clock.sleep_until(t0).await;
    }
}
