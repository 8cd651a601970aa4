//! Admission: the places a server has for connections (the admission stage, where a
//! connection waits for its greeting, and the session slots), the share of one client address,
//! and the live counters ([`Monitor`]).
//!
//! Every decision is taken under one lock, so the bounds hold exactly; a place is held by a
//! [`Ticket`] and returned when the ticket is dropped (also when its thread panics).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Counters of a server run, returned by [`serve_with`](crate::net::serve_with) when it stops
/// (and readable live through [`Monitor::report`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Sessions that ended normally.
    pub sessions_completed: u64,
    /// Connections admitted that ended with an error (a bad or late greeting, a peer that
    /// misbehaved, disconnected or stalled).
    pub sessions_failed: u64,
    /// Sessions whose thread panicked (a bug: peer data must never cause one). The panic is
    /// contained: the server goes on and the session's place is returned.
    pub sessions_panicked: u64,
    /// Connections refused: no place in the admission stage or no session slot, this client
    /// address's share used up, or the server stopping.
    pub refused: u64,
    /// Inferences served by sessions that ended normally.
    pub inferences: u64,
}

#[derive(Debug, Default)]
struct Counters {
    pending: AtomicUsize,
    sessions: AtomicUsize,
    completed: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    refused: AtomicU64,
    inferences: AtomicU64,
}

/// Live counters of a server: a cloneable handle (put one in
/// [`ServerConfig::monitor`](crate::net::ServerConfig::monitor) and keep a clone).
#[derive(Debug, Clone, Default)]
pub struct Monitor(Arc<Counters>);

impl Monitor {
    /// Fresh counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions running now (slots taken).
    pub fn sessions(&self) -> usize {
        self.0.sessions.load(Ordering::SeqCst)
    }

    /// Connections in the admission stage now (accepted, greeting not yet answered).
    pub fn pending(&self) -> usize {
        self.0.pending.load(Ordering::SeqCst)
    }

    /// The totals so far.
    pub fn report(&self) -> ServeReport {
        let c = &self.0;
        ServeReport {
            sessions_completed: c.completed.load(Ordering::SeqCst),
            sessions_failed: c.failed.load(Ordering::SeqCst),
            sessions_panicked: c.panicked.load(Ordering::SeqCst),
            refused: c.refused.load(Ordering::SeqCst),
            inferences: c.inferences.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn refused(&self) {
        self.0.refused.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn completed(&self, inferences: u64) {
        self.0.completed.fetch_add(1, Ordering::SeqCst);
        self.0.inferences.fetch_add(inferences, Ordering::SeqCst);
    }

    pub(crate) fn failed(&self) {
        self.0.failed.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn panicked(&self) {
        self.0.panicked.fetch_add(1, Ordering::SeqCst);
    }
}

/// The unit one client's share is counted in: an IPv4 address, or an IPv6 /64 prefix (one
/// host commonly holds a whole /64). IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddressKey(IpAddr);

impl AddressKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(prefix.into()))
            }
            v4 => Self(v4),
        }
    }
}

/// Why a connection got no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The admission stage is full.
    AdmissionFull,
    /// This address holds its whole share.
    AddressShare,
    /// Every session slot is taken.
    SessionsFull,
}

impl Refusal {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Refusal::AdmissionFull => "too many connections waiting for their greeting",
            Refusal::AddressShare => "too many connections from this address",
            Refusal::SessionsFull => "every session slot is taken",
        }
    }
}

#[derive(Debug, Default)]
struct Places {
    pending: usize,
    sessions: usize,
    by_address: HashMap<AddressKey, usize>,
}

/// The bounds and the places taken.
#[derive(Debug)]
pub(crate) struct Admission {
    max_sessions: usize,
    max_pending: usize,
    max_per_address: usize,
    places: Mutex<Places>,
    monitor: Monitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Pending,
    Session,
}

/// A place held by one connection: in the admission stage, then (after
/// [`Ticket::promote`]) a session slot. Returned on drop.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    key: AddressKey,
    stage: Stage,
}

impl Admission {
    pub(crate) fn new(
        max_sessions: usize,
        max_pending: usize,
        max_per_address: usize,
        monitor: Monitor,
    ) -> Self {
        Self {
            max_sessions,
            max_pending,
            max_per_address,
            places: Mutex::new(Places::default()),
            monitor,
        }
    }

    pub(crate) fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    fn lock(&self) -> MutexGuard<'_, Places> {
        // Nothing panics while the lock is held; a poisoned lock still holds exact counts.
        self.places.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, places: &Places) {
        let c = &self.monitor.0;
        c.pending.store(places.pending, Ordering::SeqCst);
        c.sessions.store(places.sessions, Ordering::SeqCst);
    }

    /// A place in the admission stage for a connection from `ip`.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let key = AddressKey::of(ip);
        let mut places = self.lock();
        if places.pending >= self.max_pending {
            return Err(Refusal::AdmissionFull);
        }
        let share = places.by_address.entry(key).or_insert(0);
        if *share >= self.max_per_address {
            return Err(Refusal::AddressShare);
        }
        *share += 1;
        places.pending += 1;
        self.publish(&places);
        Ok(Ticket {
            admission: Arc::clone(self),
            key,
            stage: Stage::Pending,
        })
    }
}

impl Ticket {
    /// Moves the connection from the admission stage to a session slot, if one is free.
    pub(crate) fn promote(&mut self) -> Result<(), Refusal> {
        if self.stage == Stage::Session {
            return Ok(());
        }
        let admission = &self.admission;
        let mut places = admission.lock();
        if places.sessions >= admission.max_sessions {
            return Err(Refusal::SessionsFull);
        }
        places.sessions += 1;
        places.pending -= 1;
        self.stage = Stage::Session;
        admission.publish(&places);
        Ok(())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let admission = &self.admission;
        let mut places = admission.lock();
        match self.stage {
            Stage::Pending => places.pending -= 1,
            Stage::Session => places.sessions -= 1,
        }
        if let Some(share) = places.by_address.get_mut(&self.key) {
            *share -= 1;
            if *share == 0 {
                places.by_address.remove(&self.key);
            }
        }
        admission.publish(&places);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_and_places_come_back() {
        let a = Arc::new(Admission::new(1, 3, 2, Monitor::new()));
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        let y: IpAddr = "10.0.0.2".parse().unwrap();
        let mut t1 = a.admit(x).unwrap();
        let t2 = a.admit(x).unwrap();
        assert_eq!(a.admit(x).unwrap_err(), Refusal::AddressShare);
        let mut t3 = a.admit(y).unwrap();
        assert_eq!(a.admit(y).unwrap_err(), Refusal::AdmissionFull);
        assert_eq!(a.monitor().pending(), 3);
        t1.promote().unwrap();
        assert_eq!(t3.promote().unwrap_err(), Refusal::SessionsFull);
        assert_eq!((a.monitor().pending(), a.monitor().sessions()), (2, 1));
        drop(t1);
        t3.promote().unwrap();
        drop((t2, t3));
        assert_eq!((a.monitor().pending(), a.monitor().sessions()), (0, 0));
        assert!(a.lock().by_address.is_empty());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!(AddressKey::of(a), AddressKey::of(b));
        assert_ne!(AddressKey::of(a), AddressKey::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            AddressKey::of(mapped),
            AddressKey::of("10.0.0.1".parse().unwrap())
        );
    }
}
