//! The client (evaluator, garbling-COT receiver, lambda-OT sender): setup, offline and online.

use circa_gc::Label;
use circa_ot::{Block, Channel, CotReceiver, CotSender, TweakableHash};
use circa_share::{Client, Fp, Modulus, TripleSource};
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use super::conversion::lambda_ot_client;
use super::msgs::{recv_bits, recv_blocks, recv_labels, send_u64};
use super::online::ClientBuffers;
use super::preprocessed::{ClientChunk, ClientPreprocessed};
use super::session::{
    CircuitCache, MAX_BATCH, MAX_SESSION_RELUS, chunk_lengths, conversion_tweak,
    exchange_fingerprints,
};
use crate::circuits::{evaluator_bits, garbler_offline_inputs_per_relu};
use crate::error::Error;
use crate::params::{ProductPath, ReluParams};
use crate::reference::product_client_share;

/// A garbling-COT receiver message computed ahead of its turn, and the input labels it gives.
struct PreparedCot {
    /// The receiver's message (count and matrix rows; not secret: sent as is).
    message: Vec<u8>,
    /// The client's input labels (secret).
    labels: Zeroizing<Vec<Label>>,
}

/// The client's side of a ReLU session (semi-honest). Knows its shares `c` offline; evaluates
/// the garbled circuits online.
pub struct ReluClient<M: Modulus> {
    pub(super) params: ReluParams<M>,
    pub(super) garble_tweak: Block,
    pub(super) conv_hash: TweakableHash,
    cot: CotReceiver,
    lambda_ot: Option<CotSender>,
    next_relu: u64,
    next_chunk: u64,
    pub(super) circuits: CircuitCache,
    /// Online buffers reused across chunks and batches.
    pub(super) bufs: ClientBuffers,
}

impl<M: Modulus> core::fmt::Debug for ReluClient<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ReluClient({:?}, {} ReLUs preprocessed, secrets redacted)",
            self.params.variant(),
            self.next_relu
        )
    }
}

impl<M: Modulus> ReluClient<M> {
    /// Session setup (the counterpart of [`ReluServer::setup`](super::ReluServer::setup)).
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        params: &ReluParams<M>,
        rng: &mut R,
    ) -> Result<Self, Error> {
        exchange_fingerprints(ch, &params.fingerprint(), false)?;
        let mut tweaks = [Block::ZERO; 1];
        ch.recv_blocks(&mut tweaks)?;
        let cot = CotReceiver::setup(ch, rng)?;
        let lambda_ot = if params.variant().is_sign() {
            let delta_prime = Block::random(rng);
            Some(CotSender::setup(ch, delta_prime, rng)?)
        } else {
            None
        };
        ch.flush()?;
        Ok(ReluClient {
            params: *params,
            garble_tweak: tweaks[0],
            conv_hash: TweakableHash::new(conversion_tweak(tweaks[0])),
            cot,
            lambda_ot,
            next_relu: 0,
            next_chunk: 0,
            circuits: CircuitCache::default(),
            bufs: ClientBuffers::default(),
        })
    }

    /// The session's parameters.
    pub fn params(&self) -> &ReluParams<M> {
        &self.params
    }

    /// Offline phase for a batch with the client's shares `c` (label-table path or baseline).
    pub fn offline<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        c: &[Fp<M>],
    ) -> Result<ClientPreprocessed<M>, Error> {
        let params = self.params;
        self.offline_for(ch, c, &params, None)
    }

    /// Offline phase for the Beaver product path: as [`ReluClient::offline`] plus `c.len()`
    /// triples from `triples`.
    pub fn offline_with_triples<C: Channel + ?Sized, T: TripleSource<M, Role = Client> + ?Sized>(
        &mut self,
        ch: &mut C,
        c: &[Fp<M>],
        triples: &mut T,
    ) -> Result<ClientPreprocessed<M>, Error> {
        let params = self.params;
        let t = if params.variant().is_sign() && params.product() == ProductPath::Beaver {
            Some(triples.triples(c.len())?)
        } else {
            None
        };
        self.offline_for(ch, c, &params, t)
    }

    /// Offline phase for a batch with its own parameters `params` (the counterpart of
    /// [`ReluServer::offline_for`](super::ReluServer::offline_for)) and, on the Beaver path,
    /// `c.len()` pregenerated triples.
    pub fn offline_for<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        c: &[Fp<M>],
        params: &ReluParams<M>,
        triples: Option<circa_share::Triples<Client, M>>,
    ) -> Result<ClientPreprocessed<M>, Error> {
        if !self.params.batch_compatible(params) {
            return Err(Error::InvalidParams {
                reason: "batch parameters incompatible with the session",
            });
        }
        let beaver = params.variant().is_sign() && params.product() == ProductPath::Beaver;
        if beaver != triples.is_some() {
            return Err(Error::TriplesRequired);
        }
        let n = c.len();
        if n > MAX_BATCH {
            return Err(Error::BatchTooLarge {
                len: n,
                max: MAX_BATCH,
            });
        }
        if self.next_relu + n as u64 > MAX_SESSION_RELUS {
            return Err(Error::SessionExhausted);
        }
        send_u64(ch, n as u64)?;
        let batch_id = self.next_relu;
        let mut chunks = Vec::with_capacity(n.div_ceil(super::CHUNK_RELUS));
        // Pipelining: the garbling-COT message of chunk i + 1 is computed while the server
        // garbles chunk i, and sent at the same point of the message order as before (after
        // chunk i's lambda-OT), so the wire format and the server are unchanged.
        let ranges: Vec<(usize, usize)> = chunk_lengths(n)
            .scan(0, |off, len| {
                let r = (*off, *off + len);
                *off += len;
                Some(r)
            })
            .collect();
        let mut next = match ranges.first() {
            Some(&(a, b)) => Some(self.prepare_cot(params, &c[a..b])?),
            None => None,
        };
        for (i, &(a, b)) in ranges.iter().enumerate() {
            let prepared = next.take().ok_or(Error::SessionState {
                what: "prepared COT missing",
            })?;
            ch.send(&prepared.message)?;
            ch.flush()?;
            if let Some(&(a2, b2)) = ranges.get(i + 1) {
                next = Some(self.prepare_cot(params, &c[a2..b2])?);
            }
            chunks.push(self.offline_chunk(ch, params, &c[a..b], prepared)?);
        }
        ch.flush()?;
        Ok(ClientPreprocessed {
            params: *params,
            batch_id,
            len: n,
            chunks,
            triples,
        })
    }

    /// The garbling-COT receiver's message for one chunk's input bits (sent later, in protocol
    /// order) and the client's input labels.
    fn prepare_cot(&mut self, params: &ReluParams<M>, c: &[Fp<M>]) -> Result<PreparedCot, Error> {
        let mut bits = Vec::new();
        evaluator_bits(params, c, &mut bits);
        // The COT outputs are the labels: written in place (`Label` is a transparent block).
        let mut labels = Zeroizing::new(vec![Label::default(); bits.len()]);
        let r = self
            .cot
            .prepare_cot(&bits, bytemuck::cast_slice_mut(labels.as_mut_slice()));
        bits.zeroize();
        Ok(PreparedCot {
            message: r?,
            labels,
        })
    }

    fn offline_chunk<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        params: &ReluParams<M>,
        c: &[Fp<M>],
        mut prepared: PreparedCot,
    ) -> Result<ClientChunk<M>, Error> {
        let count = c.len();
        let circuit = self.circuits.get(params, count)?;
        // The evaluation schedule is built on first use: build it now, offline.
        let _ = circuit.wire_slots();
        let chunk_id = self.next_chunk;
        let first_relu = self.next_relu;
        self.next_chunk += 1;
        self.next_relu += count as u64;

        let own_labels = core::mem::take(&mut *prepared.labels);
        let tables = recv_blocks(ch, 2 * circuit.and_count())?;
        let mut chunk = ClientChunk {
            chunk_id,
            first_relu,
            count,
            tables,
            own_labels,
            c: c.iter()
                .map(|&ci| product_client_share(params, ci))
                .collect(),
            m: Vec::new(),
            rho: Vec::new(),
            mask_labels: Vec::new(),
            colours: Vec::new(),
        };
        if params.variant().is_sign() {
            let lambda_ot = self.lambda_ot.as_mut().ok_or(Error::SessionState {
                what: "lambda-OT missing",
            })?;
            let mut q = vec![Block::ZERO; count];
            lambda_ot.send_cot(ch, &mut q)?;
            let (m, rho) = lambda_ot_client(&self.conv_hash, lambda_ot.delta(), &q, first_relu);
            q.zeroize();
            chunk.m = m;
            chunk.rho = rho;
        } else {
            chunk.mask_labels = recv_labels(ch, count * garbler_offline_inputs_per_relu(params))?;
            chunk.colours = recv_bits(ch, circuit.outputs().len())?;
        }
        Ok(chunk)
    }

    /// Online phase: consumes the batch's material; returns the client's shares of the ReLU
    /// outputs (in the order of the `c` given offline). The pure steps
    /// ([`ReluClient::online_reply`], [`ClientOnline::finish`](super::ClientOnline::finish))
    /// over `ch`.
    pub fn online<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ClientPreprocessed<M>,
    ) -> Result<Vec<Fp<M>>, Error> {
        Ok(self.online_inner(ch, pre)?.0)
    }

    /// As [`ReluClient::online`], also returning the colour bits of the client's output labels
    /// (its view of the garbled sign; empty for the baseline). Feature `test-utils`: for tests of
    /// the client's view.
    #[cfg(feature = "test-utils")]
    pub fn online_with_colours<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ClientPreprocessed<M>,
    ) -> Result<(Vec<Fp<M>>, Vec<bool>), Error> {
        self.online_inner(ch, pre)
    }

    fn online_inner<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ClientPreprocessed<M>,
    ) -> Result<(Vec<Fp<M>>, Vec<bool>), Error> {
        let (reply, state) = self.online_recv(ch, pre)?;
        if !reply.is_empty() {
            ch.send(&reply)?;
            ch.flush()?;
        }
        let mut last = vec![0u8; state.last_len()];
        if !last.is_empty() {
            ch.recv(&mut last)?;
        }
        state.finish_with_colours(&last)
    }
}
