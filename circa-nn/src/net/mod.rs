//! Private inference over TCP: a server that serves many clients at once and a client.
//!
//! The server ([`serve`], or [`serve_with`] for any [`Service`]) accepts connections on a
//! `TcpListener` and runs each connection in its own thread with its own generator, hence its
//! own garbling offset, seeds and masks.
//!
//! Admission ([`ServerConfig`]): the client greets first ([`hello`]). A new connection waits
//! in a bounded admission stage ([`ServerConfig::max_pending`]) until its greeting has
//! arrived, under a short handshake deadline ([`ServerConfig::handshake_timeout`]), so a
//! connection that says nothing or trickles never holds a session slot. A complete greeting
//! takes one of [`ServerConfig::max_sessions`] slots; one client address (an IPv4 address or
//! an IPv6 /64) holds at most [`ServerConfig::max_per_address`] connections in both. A
//! connection beyond any bound is answered "busy" at once and closed. The session's setup
//! (parameters, architecture, OT setup) must also end within the handshake deadline.
//!
//! Time ([`SessionChannel`]): every channel operation has a read or write deadline; the time
//! spent blocked on the peer over one flight is bounded by [`ServerConfig::flight_timeout`]
//! plus one second per [`FLIGHT_CREDIT_BYTES`] moved (so a client trickling many small
//! messages is cut, not only one stalling a single read, while a large flight streamed as the
//! peer computes is not);
//! the whole session by [`ServerConfig::max_session_time`]. A session that ends (the peer
//! closed, a rule expired, the peer sent something wrong) returns its slot at once; the log
//! line names the rule that expired. Every message from the peer is checked against
//! [`ServerConfig::max_message`] (and, inside the session protocol, against the architecture)
//! before anything is allocated for it. A session thread that panics is contained and
//! counted. [`Monitor`] reads the counters live. [`Shutdown`] stops the accept loop; clients
//! still queued are told the server is shutting down, and `serve` waits for the running
//! sessions.
//!
//! Entropy: each session's generator is `circa_ot::Prg` (AES-128 in counter mode) seeded with
//! 16 bytes from `getrandom` ([`session_rng`]; the workspace's `rand_core` 0.10 has no OS
//! generator of its own); the seed is wiped once the generator is keyed, and the generator's
//! state when it is dropped.
//!
//! Wire format: the greetings of [`hello`] (magic `CIRCA-NN`, protocol version, the server's
//! status), then the private inference session of the engine. Semi-honest security: the
//! framing adds robustness against malformed or hostile traffic, not security against a
//! malicious party.

mod admission;
mod channel;
mod client;
mod config;
mod error;
pub mod hello;
mod inference;
mod limited;
mod server;

pub use admission::{Monitor, ServeReport};
pub use channel::{Expired, FLIGHT_CREDIT_BYTES, SessionChannel};
pub use client::connect_channel;
pub use config::{
    ACCEPT_POLL, ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_FLIGHT_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_MESSAGE, DEFAULT_MAX_PENDING, DEFAULT_MAX_PER_ADDRESS,
    DEFAULT_MAX_SESSION_TIME, DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT, MAX_DURATION, MAX_MESSAGE_CAP,
    MAX_PENDING_CAP, MAX_SESSIONS_CAP, ServerConfig, Shutdown, session_rng,
};
pub use error::{NetError, NetResult};
pub use inference::{Client, PrivateInference, infer, serve};
pub use limited::LimitedChannel;
pub use server::{Service, serve_with};
