//! Private inference over the connection: the [`Service`] that runs
//! [`ServerSession`](crate::private::ServerSession)s, [`serve`], and the [`Client`].

use std::fmt::Display;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::Arc;

use circa_ot::Prg;

use super::admission::ServeReport;
use super::channel::SessionChannel;
use super::client::connect_channel;
use super::config::{ClientConfig, ServerConfig, session_rng};
use super::error::{NetError, NetResult};
use super::server::{Service, serve_with};
use crate::model::{Architecture, Network};
use crate::private::{
    ClientSession, LinearMode, PrivateParams, ServerModel, ServerSession, SessionStats,
};

/// The server's service: one private-inference session per connection, any number of
/// inferences per session, with the network encoded once (when the service is built) and
/// shared read-only by all sessions: a connection costs no copy of the weights.
#[derive(Debug)]
pub struct PrivateInference {
    model: ServerModel,
}

impl PrivateInference {
    /// The service for `network` under `params` (validated and encoded here, once).
    pub fn new(network: &Network, params: PrivateParams) -> NetResult<Self> {
        Ok(Self {
            model: ServerModel::new(network, params)?,
        })
    }

    /// Chooses the linear layers' correlations under `mode`, with the HE kernels' NTT forms
    /// precomputed when `ntt_cache` ([`ServerModel::with_linear_options`]).
    pub fn with_linear(self, mode: LinearMode, ntt_cache: bool) -> NetResult<Self> {
        Ok(Self {
            model: self.model.with_linear_options(mode, ntt_cache)?,
        })
    }

    /// Garbles every session's ReLU chunks on `threads` threads
    /// ([`ServerModel::set_garble_threads`]; the wire does not change).
    pub fn set_garble_threads(&mut self, threads: usize) {
        self.model.set_garble_threads(threads);
    }

    /// The encoded model.
    pub fn model(&self) -> &ServerModel {
        &self.model
    }
}

impl Service for PrivateInference {
    type Session = ServerSession;

    fn handshake(&self, ch: &mut SessionChannel, mut rng: Prg) -> NetResult<ServerSession> {
        // `rng` (wiped on drop) seeds the session's own generators and is dropped here.
        Ok(ServerSession::handshake(ch, &self.model, &mut rng)?)
    }

    fn serve(&self, mut session: ServerSession, ch: &mut SessionChannel) -> NetResult<u64> {
        let mut served = 0;
        while session.serve_one(ch)?.is_some() {
            served += 1;
        }
        Ok(served)
    }
}

/// Serves private inference with `network` under `params` on `listener` until
/// `config.shutdown` is triggered (see [`serve_with`] for the behaviour of the loop). The model
/// is checked and encoded before the first connection is accepted: to refuse an unservable
/// model before binding a socket, build [`PrivateInference::new`] first and call
/// [`serve_with`].
pub fn serve(
    listener: TcpListener,
    network: Arc<Network>,
    params: PrivateParams,
    config: ServerConfig,
) -> NetResult<ServeReport> {
    let service = PrivateInference::new(&network, params)?;
    serve_with(listener, Arc::new(service), config)
}

/// A connected client: one session, any number of inferences.
#[derive(Debug)]
pub struct Client {
    ch: SessionChannel,
    session: ClientSession,
}

impl Client {
    /// Connects, exchanges the greetings, receives the architecture and parameters and sets up
    /// the session (base OTs). The session's generator is seeded from the operating system.
    pub fn connect<A: ToSocketAddrs + Display>(addr: A, config: &ClientConfig) -> NetResult<Self> {
        Self::connect_with_rng(addr, config, session_rng()?)
    }

    /// [`connect`](Self::connect) with the session's generator given by the caller, for
    /// reproducible sessions (tests; a [`Service`] wrapper does the same on the server's
    /// side). Whoever knows the generator's seed learns the client's masks and so its inputs:
    /// outside tests, use [`connect`](Self::connect).
    pub fn connect_with_rng<A: ToSocketAddrs + Display>(
        addr: A,
        config: &ClientConfig,
        mut rng: Prg,
    ) -> NetResult<Self> {
        let mut ch = connect_channel(addr, config)?;
        let session = ClientSession::handshake(&mut ch, &mut rng)?;
        Ok(Self { ch, session })
    }

    /// The architecture the server announced.
    pub fn architecture(&self) -> &Architecture {
        self.session.architecture()
    }

    /// The session's public parameters.
    pub fn params(&self) -> &PrivateParams {
        self.session.params()
    }

    /// Runs one private inference (offline, then online) on `input` (`C x H x W` order) and
    /// returns the logits and the costs seen by the client. An input whose length differs from
    /// the architecture's is rejected before anything is sent (the session stays usable); after
    /// any other error the session is broken and the client should be dropped.
    pub fn infer(&mut self, input: &[f64]) -> NetResult<(Vec<f64>, SessionStats)> {
        // Length and the server's calibrated range, before any protocol work.
        self.session.check_input(input).map_err(NetError::Model)?;
        let pre = self.session.offline(&mut self.ch)?;
        let logits = self.session.online(&mut self.ch, pre, input)?;
        Ok((logits, self.session.last_stats()))
    }

    /// Ends the session politely.
    pub fn close(mut self) -> NetResult<()> {
        self.session.close(&mut self.ch)?;
        Ok(())
    }
}

/// Connects to `addr`, runs one private inference on `input`, closes the session and returns
/// the logits and the client's costs.
pub fn infer<A: ToSocketAddrs + Display>(
    addr: A,
    input: &[f64],
    config: &ClientConfig,
) -> NetResult<(Vec<f64>, SessionStats)> {
    let mut client = Client::connect(addr, config)?;
    let out = client.infer(input)?;
    client.close()?;
    Ok(out)
}
