//! The channel a session runs on: TCP under the message-size limit and the time rules.
//!
//! Four rules bound the time a session may spend on its peer, each with its own
//! [`Expired`] reason when it ends the session:
//!
//! * every channel operation (one `recv`, one `send` or `flush`) by the read or write deadline
//!   (the socket's deadline, as in `circa_ot::TcpChannel`);
//! * every *flight* by the flight budget: the time spent blocked on the peer (reading, or
//!   writing into a full socket) between two changes of direction is summed, so a peer that
//!   trickles many small messages, each within the per-operation deadline, is still cut
//!   (time spent computing between operations does not count). Every
//!   [`FLIGHT_CREDIT_BYTES`] the flight moves add one second to its budget, so a large flight
//!   that the peer streams while it computes (megabytes of a big layer's correlation) is not
//!   cut, while a trickle earns nothing;
//! * the handshake (greetings and the session's setup), and then the whole session, by an
//!   absolute deadline ([`SessionChannel::set_deadline`]).
//!
//! Each operation's socket deadline is the smallest of the three, so no rule is overrun by
//! more than one system call's granularity.

use std::time::{Duration, Instant};

use circa_ot::{Channel, ChannelStats, Error, TcpChannel};

use super::limited::LimitedChannel;

/// Below this difference the socket deadline is not reset (a system call saved per operation
/// at the price of cutting a peer at most this much early).
const RESET_SLACK: Duration = Duration::from_millis(50);

/// Bytes moved in a flight that add one second to its budget (a peer moving data at 64 KiB/s
/// or faster is never cut by the flight rule, only by the per-operation deadlines and the
/// session time).
pub const FLIGHT_CREDIT_BYTES: u64 = 64 << 10;

/// Per-operation deadlines and the flight budget of a session's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadlines {
    pub(crate) read: Duration,
    pub(crate) write: Duration,
    pub(crate) flight: Duration,
}

/// Which time rule ended a channel operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// One read took longer than the read deadline.
    Read,
    /// One write or flush took longer than the write deadline.
    Write,
    /// The peer took longer than the flight budget over one flight.
    Flight,
    /// The handshake did not end within its deadline.
    Handshake,
    /// The session reached its maximum time.
    Session,
}

impl Expired {
    /// A short description for logs.
    pub fn describe(self) -> &'static str {
        match self {
            Expired::Read => "read deadline passed",
            Expired::Write => "write deadline passed",
            Expired::Flight => "flight deadline passed (the peer trickled or stalled)",
            Expired::Handshake => "handshake deadline passed",
            Expired::Session => "maximum session time reached",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Receiving,
    Sending,
}

/// A session's channel: TCP with per-operation deadlines, a flight budget, an optional absolute
/// deadline, and the message-size limit of [`LimitedChannel`] (see the module docs).
#[derive(Debug)]
pub struct SessionChannel {
    inner: LimitedChannel<TcpChannel>,
    deadlines: Deadlines,
    deadline: Option<(Instant, Expired)>,
    direction: Option<Direction>,
    flight_left: Duration,
    /// The per-operation limits currently set on the socket.
    read_set: Duration,
    write_set: Duration,
    expired: Option<Expired>,
}

impl SessionChannel {
    /// Wraps a connected channel whose socket deadlines are `deadlines.read` and
    /// `deadlines.write`, refusing single messages larger than `max_message`.
    pub(crate) fn new(inner: TcpChannel, deadlines: Deadlines, max_message: usize) -> Self {
        Self {
            inner: LimitedChannel::new(inner, max_message),
            deadlines,
            deadline: None,
            direction: None,
            flight_left: deadlines.flight,
            read_set: deadlines.read,
            write_set: deadlines.write,
            expired: None,
        }
    }

    /// Sets (or clears) the absolute deadline every later operation must end by, and the rule
    /// reported when it passes ([`Expired::Handshake`] or [`Expired::Session`]).
    pub(crate) fn set_deadline(&mut self, deadline: Option<(Instant, Expired)>) {
        self.deadline = deadline;
    }

    /// The rule that ended the last failed operation, if a time rule did.
    pub fn expired(&self) -> Option<Expired> {
        self.expired
    }

    /// The largest single message accepted from the peer.
    pub fn max_message(&self) -> usize {
        self.inner.max_message()
    }

    /// The underlying TCP channel (for the socket's addresses).
    pub fn tcp(&self) -> &TcpChannel {
        self.inner.get_ref()
    }

    /// Starts an operation in `direction` with a per-operation deadline `per_op`: the socket
    /// deadline to use (the smallest rule) and the rule it stands for.
    fn limit(
        &mut self,
        direction: Direction,
        per_op: Duration,
    ) -> Result<(Duration, Expired), Error> {
        if self.direction != Some(direction) {
            self.direction = Some(direction);
            self.flight_left = self.deadlines.flight;
        }
        let per_op_rule = match direction {
            Direction::Receiving => Expired::Read,
            Direction::Sending => Expired::Write,
        };
        let (mut limit, mut rule) = if per_op <= self.flight_left {
            (per_op, per_op_rule)
        } else {
            (self.flight_left, Expired::Flight)
        };
        if let Some((at, which)) = self.deadline {
            let left = at.saturating_duration_since(Instant::now());
            if left < limit {
                (limit, rule) = (left, which);
            }
        }
        if limit.is_zero() {
            self.expired = Some(rule);
            return Err(Error::Timeout);
        }
        Ok((limit, rule))
    }

    /// Runs `op`, which moves `bytes`, under the rules, in `direction`.
    fn timed<T>(
        &mut self,
        direction: Direction,
        bytes: usize,
        op: impl FnOnce(&mut LimitedChannel<TcpChannel>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let per_op = match direction {
            Direction::Receiving => self.deadlines.read,
            Direction::Sending => self.deadlines.write,
        };
        let (limit, rule) = self.limit(direction, per_op)?;
        let set = match direction {
            Direction::Receiving => &mut self.read_set,
            Direction::Sending => &mut self.write_set,
        };
        if *set > limit || *set + RESET_SLACK < limit {
            let tcp = self.inner.get_mut();
            match direction {
                Direction::Receiving => tcp.set_read_timeout(Some(limit))?,
                Direction::Sending => tcp.set_write_timeout(Some(limit))?,
            }
            *set = limit;
        }
        let start = Instant::now();
        let result = op(&mut self.inner);
        self.flight_left = self.flight_left.saturating_sub(start.elapsed());
        match &result {
            Ok(_) => {
                // At most the session's own bound of a week: the sum cannot overflow.
                let credit = Duration::from_secs_f64(bytes as f64 / FLIGHT_CREDIT_BYTES as f64);
                self.flight_left = (self.flight_left + credit).min(super::config::MAX_DURATION);
            }
            Err(Error::Timeout) => self.expired = Some(rule),
            Err(_) => {}
        }
        result
    }
}

impl Channel for SessionChannel {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        self.timed(Direction::Sending, data.len(), |c| c.send(data))
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        let len = buf.len();
        self.timed(Direction::Receiving, len, |c| c.recv(buf))
    }

    fn flush(&mut self) -> Result<(), Error> {
        // A flush continues the current flight (it ends an outbound one, or pushes out what a
        // receive would have pushed anyway).
        let direction = self.direction.unwrap_or(Direction::Sending);
        self.timed(direction, 0, |c| c.flush())
    }

    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }

    fn recv_frame(&mut self, max_len: usize) -> Result<Vec<u8>, Error> {
        let max = max_len.min(self.max_message());
        let len = self.recv_u64()?;
        if len > max as u64 {
            return Err(Error::MessageTooLarge {
                len,
                max: max as u64,
            });
        }
        let mut buf = vec![0u8; len as usize];
        self.recv(&mut buf)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::net::{TcpListener, TcpStream};

    fn pair(deadlines: Deadlines) -> (SessionChannel, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().unwrap();
        let tcp =
            TcpChannel::with_timeouts(stream, Some(deadlines.read), Some(deadlines.write)).unwrap();
        (SessionChannel::new(tcp, deadlines, 1 << 20), peer)
    }

    #[test]
    fn a_trickled_flight_is_cut_by_the_flight_budget() {
        let deadlines = Deadlines {
            read: Duration::from_secs(5),
            write: Duration::from_secs(5),
            flight: Duration::from_millis(400),
        };
        let (mut ch, mut peer) = pair(deadlines);
        let trickle = std::thread::spawn(move || {
            for _ in 0..40 {
                if peer.write_all(&[7]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        // Each one-byte read ends well within the read deadline; the flight does not.
        let start = Instant::now();
        let mut read = 0;
        let err = loop {
            let mut b = [0u8; 1];
            match ch.recv(&mut b) {
                Ok(()) => read += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, Error::Timeout), "{err:?}");
        assert_eq!(ch.expired(), Some(Expired::Flight));
        assert!(read >= 2, "read {read} bytes");
        assert!(start.elapsed() < Duration::from_secs(3));
        drop(ch);
        trickle.join().unwrap();
    }

    #[test]
    fn a_streamed_flight_earns_time_a_trickle_does_not() {
        let deadlines = Deadlines {
            read: Duration::from_secs(5),
            write: Duration::from_secs(5),
            flight: Duration::from_millis(300),
        };
        let (mut ch, mut peer) = pair(deadlines);
        // 640 KiB in 64 KiB pieces 100 ms apart: 1 s of waiting, 10 s of credit.
        let stream = std::thread::spawn(move || {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(100));
                peer.write_all(&[3u8; 64 << 10]).unwrap();
            }
            peer
        });
        let mut piece = vec![0u8; 64 << 10];
        for _ in 0..10 {
            ch.recv(&mut piece).unwrap();
        }
        assert_eq!(ch.expired(), None);
        let _peer = stream.join().unwrap();
    }

    #[test]
    fn sending_starts_a_new_flight_and_the_deadline_is_absolute() {
        let deadlines = Deadlines {
            read: Duration::from_secs(5),
            write: Duration::from_secs(5),
            flight: Duration::from_millis(300),
        };
        let (mut ch, mut peer) = pair(deadlines);
        peer.write_all(&[1; 4]).unwrap();
        let mut b = [0u8; 2];
        ch.recv(&mut b).unwrap();
        // A turn of ours resets the budget for the peer's next flight.
        ch.send(&[9]).unwrap();
        ch.recv(&mut b).unwrap();
        ch.set_deadline(Some((Instant::now(), Expired::Handshake)));
        assert!(matches!(ch.recv(&mut b), Err(Error::Timeout)));
        assert_eq!(ch.expired(), Some(Expired::Handshake));
        ch.set_deadline(None);
        // Silent peer: the flight budget (300 ms) ends the read, not the read deadline (5 s).
        assert!(matches!(ch.recv(&mut b), Err(Error::Timeout)));
        assert_eq!(ch.expired(), Some(Expired::Flight));
    }
}
