//! Private inference over TCP: a server that serves many clients at once and a client.
//!
//! The server ([`serve`], or [`serve_with`] for any [`Service`]) accepts connections on a
//! `TcpListener` and runs each session in its own thread with its own generator (ChaCha20
//! seeded from the operating system through `getrandom`), hence its own garbling offset,
//! seeds and masks. Sessions are bounded by [`ServerConfig::max_sessions`]: a connection
//! beyond the bound receives a "busy" greeting and is closed. Every session socket has read
//! and write deadlines, and every message from the peer is checked against
//! [`ServerConfig::max_message`] (and, inside the session protocol, against the
//! architecture) before anything is allocated for it; [`ServerConfig::max_session_time`]
//! bounds a session's length (a watchdog in the accept loop shuts the socket of a session
//! over time). A client that sends garbage, disconnects or stalls ends only its own session,
//! with one line on standard error.
//! [`Shutdown`] stops the accept loop; clients still queued are told the server is shutting
//! down, and `serve` waits for the running sessions.
//!
//! Entropy: each session's ChaCha20 generator is seeded with 32 bytes from `getrandom` (the
//! workspace's `rand_core` 0.10 has no OS generator of its own).
//!
//! Wire format: the greetings of [`hello`] (magic `CIRCA-NN`, protocol version, server status),
//! then the private inference session of the engine. Semi-honest security: the framing adds
//! robustness against malformed or hostile traffic, not security against a malicious party.

mod client;
mod config;
mod error;
pub mod hello;
mod inference;
mod limited;
mod server;

pub use client::connect_channel;
pub use config::{
    ACCEPT_POLL, ClientConfig, DEFAULT_MAX_MESSAGE, DEFAULT_MAX_SESSION_TIME, DEFAULT_MAX_SESSIONS,
    DEFAULT_TIMEOUT, ServerConfig, Shutdown, session_rng,
};
pub use error::{NetError, NetResult};
pub use inference::{Client, PrivateInference, infer, serve};
pub use limited::LimitedChannel;
pub use server::{ServeReport, Service, SessionChannel, serve_with};
