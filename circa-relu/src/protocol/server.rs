//! The server (garbler, garbling-COT sender, lambda-OT receiver): setup, offline and online.

use circa_gc::evaluate::WireTable;
use circa_gc::{Circuit, Delta, GarblerSession, Label};
use circa_ot::{Block, Channel, CotReceiver, CotSender, Prg, TweakableHash};
use circa_share::{Fp, Modulus, Server, TripleSource};
use rand_core::CryptoRng;
use zeroize::Zeroize;

use super::block_rng::{BlockRng, fill_like_block_rng};
use super::conversion::lambda_ot_server;
use super::msgs::{recv_u64, send_bits, send_labels};
use super::preprocessed::{ServerChunk, ServerPreprocessed};
use super::session::{
    CircuitCache, MAX_BATCH, MAX_SESSION_RELUS, chunk_lengths, chunk_tweak, conversion_tweak,
    exchange_fingerprints, reserve_wiped,
};
use crate::circuits::split_garbler_inputs;
use crate::error::Error;
use crate::params::{ProductPath, ReluParams};

/// Appends the labels of the low `zero.len()` bits of `v` (LSB first): `zero[j] ^ bit_j Delta`,
/// selected without a branch on the bits.
pub(super) fn encode_word(zero: &[Label], v: u64, delta: Block, out: &mut Vec<Label>) {
    out.extend(zero.iter().enumerate().map(|(j, z)| {
        let bit = subtle::Choice::from(((v >> j) & 1) as u8);
        let z = z.as_block();
        Label::from_block(Block::select(bit, z, z ^ delta))
    }));
}

/// The server's side of a ReLU session (semi-honest). Garbles the circuits and learns its shares
/// `s` online only.
pub struct ReluServer<M: Modulus> {
    pub(super) params: ReluParams<M>,
    pub(super) delta: Delta,
    garble_tweak: Block,
    pub(super) conv_hash: TweakableHash,
    cot: CotSender,
    lambda_ot: Option<CotReceiver>,
    pub(super) prg: Prg,
    next_relu: u64,
    next_chunk: u64,
    circuits: CircuitCache,
    /// Threads garbling each chunk (1: the calling thread only).
    threads: usize,
    /// The garbled tables of the chunk being sent (public ciphertexts; reused).
    tables: Vec<Block>,
    /// Garbling buffers reused across chunks (wiped in place after every batch).
    garbling: GarblingBuffers,
}

/// The server's garbling buffers: the wire table, the garbling-COT outputs `q` (the client's
/// input zero-labels) and the output zero-labels of the chunk. Wiped in place at the end of
/// every offline batch (errors included) and on drop.
#[derive(Default)]
struct GarblingBuffers {
    wires: WireTable,
    q: Vec<Block>,
    outputs: Vec<Label>,
}

impl GarblingBuffers {
    fn wipe(&mut self) {
        self.wires.wipe();
        self.q.iter_mut().zeroize();
        self.outputs.iter_mut().zeroize();
    }
}

impl Drop for GarblingBuffers {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl<M: Modulus> core::fmt::Debug for ReluServer<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ReluServer({:?}, {} ReLUs preprocessed, secrets redacted)",
            self.params.variant(),
            self.next_relu
        )
    }
}

impl<M: Modulus> ReluServer<M> {
    /// Session setup: compares parameters with the client, samples the free-XOR `Delta` and the
    /// session tweak, runs the base OTs of the garbling COT and (sign variants) of the reversed
    /// lambda-OT.
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        params: &ReluParams<M>,
        rng: &mut R,
    ) -> Result<Self, Error> {
        exchange_fingerprints(ch, &params.fingerprint(), true)?;
        let mut prg = Prg::from_crypto_rng(rng);
        let delta = Delta::random(&mut prg);
        let garble_tweak = prg.random_block();
        ch.send_blocks(&[garble_tweak])?;
        ch.flush()?;
        let cot = CotSender::setup(ch, delta.as_block(), &mut prg)?;
        let lambda_ot = if params.variant().is_sign() {
            Some(CotReceiver::setup(ch, &mut prg)?)
        } else {
            None
        };
        Ok(ReluServer {
            params: *params,
            delta,
            garble_tweak,
            conv_hash: TweakableHash::new(conversion_tweak(garble_tweak)),
            cot,
            lambda_ot,
            prg,
            next_relu: 0,
            next_chunk: 0,
            circuits: CircuitCache::default(),
            threads: 1,
            tables: Vec::new(),
            garbling: GarblingBuffers::default(),
        })
    }

    /// The session's parameters.
    pub fn params(&self) -> &ReluParams<M> {
        &self.params
    }

    /// Garbles each chunk on up to `threads` threads (at least 1; default 1): the chunk's ReLUs
    /// are dealt out to the threads, the tables, labels and tweaks are the same for every thread
    /// count (nothing on the wire changes), so the client needs no matching setting.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Offline phase for a batch of `n` ReLUs (label-table path or baseline). The client must
    /// call [`ReluClient::offline`](super::ReluClient::offline) with `n` shares.
    pub fn offline<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<ServerPreprocessed<M>, Error> {
        let params = self.params;
        self.offline_for(ch, n, &params, None)
    }

    /// Offline phase for the Beaver product path: as [`ReluServer::offline`] plus `n` triples
    /// from `triples`.
    pub fn offline_with_triples<C: Channel + ?Sized, T: TripleSource<M, Role = Server> + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
        triples: &mut T,
    ) -> Result<ServerPreprocessed<M>, Error> {
        let params = self.params;
        let t = if params.variant().is_sign() && params.product() == ProductPath::Beaver {
            Some(triples.triples(n)?)
        } else {
            None
        };
        self.offline_for(ch, n, &params, t)
    }

    /// Offline phase for a batch of `n` ReLUs with its own parameters `params` (a variant of
    /// the session's: another `k` or tie rule, see [`ReluParams::batch_compatible`]) and, on
    /// the Beaver path, `n` pregenerated triples. The client must call
    /// [`ReluClient::offline_for`](super::ReluClient::offline_for) with the same parameters.
    pub fn offline_for<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
        params: &ReluParams<M>,
        triples: Option<circa_share::Triples<Server, M>>,
    ) -> Result<ServerPreprocessed<M>, Error> {
        if !self.params.batch_compatible(params) {
            return Err(Error::InvalidParams {
                reason: "batch parameters incompatible with the session",
            });
        }
        let beaver = params.variant().is_sign() && params.product() == ProductPath::Beaver;
        if beaver != triples.is_some() {
            return Err(Error::TriplesRequired);
        }
        if n > MAX_BATCH {
            return Err(Error::BatchTooLarge {
                len: n,
                max: MAX_BATCH,
            });
        }
        if self.next_relu + n as u64 > MAX_SESSION_RELUS {
            return Err(Error::SessionExhausted);
        }
        let announced = recv_u64(ch)?;
        if announced != n as u64 {
            return Err(Error::LengthMismatch {
                what: "batch size announced by the client",
                expected: n,
                actual: usize::try_from(announced).unwrap_or(usize::MAX),
            });
        }
        let batch_id = self.next_relu;
        let mut chunks = Vec::with_capacity(n.div_ceil(super::CHUNK_RELUS));
        let res = (|| -> Result<(), Error> {
            for count in chunk_lengths(n) {
                chunks.push(self.offline_chunk(ch, params, count)?);
            }
            Ok(())
        })();
        self.garbling.wipe();
        res?;
        ch.flush()?;
        Ok(ServerPreprocessed {
            params: *params,
            batch_id,
            len: n,
            chunks,
            triples,
        })
    }

    fn offline_chunk<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        params: &ReluParams<M>,
        count: usize,
    ) -> Result<ServerChunk<M>, Error> {
        let sign = params.variant().is_sign();
        let label_table = sign && params.product() == ProductPath::LabelTable;
        let circuit = self.circuits.get(params, count)?;
        let chunk_id = self.next_chunk;
        let first_relu = self.next_relu;
        self.next_chunk += 1;
        self.next_relu += count as u64;

        // Sign variants on one thread: garbled in place on the reused buffers, the garbler's
        // input zero-labels drawn straight into the chunk's material (they are all online
        // inputs). Same PRG draws, labels and tables as the general path below.
        if sign && self.threads <= 1 {
            return self.offline_chunk_sign(ch, &circuit, count, label_table, first_relu, chunk_id);
        }

        // 1. The client's input labels by correlated OT under Delta.
        let mut q = vec![Block::ZERO; circuit.evaluator_inputs()];
        self.cot.send_cot(ch, &mut q)?;

        // 2. Garble (on `self.threads` threads, with identical tables) and send the tables.
        let tweak = chunk_tweak(self.garble_tweak, chunk_id);
        let mut session = GarblerSession::new(self.delta.clone(), tweak);
        let mut label_rng = BlockRng::new(&mut self.prg);
        let garbled = session.garble_parallel_with_evaluator_labels(
            &circuit,
            &mut label_rng,
            &q,
            self.threads,
            &mut self.tables,
        );
        drop(label_rng);
        q.zeroize();
        let (encoder, outputs) = garbled?;
        // The zero-labels of the garbler's inputs, split into the online part (kept for the
        // online phase) and the offline part (the baseline's masks r').
        let mut zero_labels = encoder.encode_garbler(&vec![false; circuit.garbler_inputs()])?;
        drop(encoder);
        let (mut online_zero, mut offline_zero) = (Vec::new(), Vec::new());
        let split = split_garbler_inputs(params, &zero_labels, &mut online_zero, &mut offline_zero);
        zero_labels.zeroize();
        split?;
        // One write: larger than the channel's buffer, so passed straight to the socket.
        ch.send_blocks(&self.tables)?;
        let colours = outputs.decoder().colours().to_vec();

        let mut chunk = ServerChunk::new(first_relu, count, online_zero);
        if !sign {
            // Baseline: labels of the fresh masks r' and the output colours go offline.
            chunk.masks = (0..count).map(|_| Fp::random(&mut self.prg)).collect();
            let n = params.field_bits();
            let mut labels = Vec::with_capacity(offline_zero.len());
            let d = self.delta.as_block();
            for (zero, r) in offline_zero.chunks_exact(n).zip(&chunk.masks) {
                encode_word(zero, r.value(), d, &mut labels);
            }
            offline_zero.zeroize();
            let sent = send_labels(ch, &labels);
            labels.zeroize();
            sent?;
            send_bits(ch, &colours)?;
            return Ok(chunk);
        }
        // Sign variants: lambda = colour of the output zero-label; the reversed COT.
        if label_table {
            chunk.out_zero = outputs.zero_labels().iter().map(|l| l.as_block()).collect();
        }
        chunk.lambda = colours;
        self.lambda_ot_receive(ch, &mut chunk)?;
        Ok(chunk)
    }

    /// [`ReluServer::offline_chunk`] for the sign variants on the calling thread.
    fn offline_chunk_sign<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        circuit: &Circuit,
        count: usize,
        label_table: bool,
        first_relu: u64,
        chunk_id: u64,
    ) -> Result<ServerChunk<M>, Error> {
        let g = &mut self.garbling;
        // 1. The client's input labels by correlated OT under Delta.
        reserve_wiped(&mut g.q, circuit.evaluator_inputs());
        reserve_wiped(&mut g.outputs, circuit.outputs().len());
        g.q.resize(circuit.evaluator_inputs(), Block::ZERO);
        self.cot.send_cot(ch, &mut g.q)?;
        // 2. The garbler's input zero-labels (as the general path's BlockRng draws them), then
        // garble and send the tables.
        let mut online_zero = vec![Label::default(); circuit.garbler_inputs()];
        fill_like_block_rng(&mut self.prg, bytemuck::cast_slice_mut(&mut online_zero));
        let mut session =
            GarblerSession::new(self.delta.clone(), chunk_tweak(self.garble_tweak, chunk_id));
        let mut chunk = ServerChunk::new(first_relu, count, online_zero);
        session.garble_in_place(
            circuit,
            &chunk.online_zero,
            &g.q,
            &mut g.wires,
            &mut self.tables,
            &mut g.outputs,
        )?;
        // One write: larger than the channel's buffer, so passed straight to the socket.
        ch.send_blocks(&self.tables)?;
        // lambda = colour of the output zero-label; the reversed COT.
        chunk.lambda = g.outputs.iter().map(|l| l.lsb()).collect();
        if label_table {
            chunk.out_zero = g.outputs.iter().map(|l| l.as_block()).collect();
        }
        self.lambda_ot_receive(ch, &mut chunk)?;
        Ok(chunk)
    }

    /// A sign chunk's lambda-OT (the reversed COT, the server choosing `chunk.lambda`): its
    /// `v = m + lambda rho`.
    fn lambda_ot_receive<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        chunk: &mut ServerChunk<M>,
    ) -> Result<(), Error> {
        let lambda_ot = self.lambda_ot.as_mut().ok_or(Error::SessionState {
            what: "lambda-OT missing",
        })?;
        let mut t = vec![Block::ZERO; chunk.count];
        lambda_ot.receive_cot(ch, &chunk.lambda, &mut t)?;
        chunk.v = lambda_ot_server(&self.conv_hash, &t, chunk.first_relu);
        t.zeroize();
        Ok(())
    }

    /// Online phase: consumes the batch's material and the server's shares `s` (one per ReLU);
    /// returns the server's shares of the ReLU outputs. The pure steps
    /// ([`ReluServer::online_flight`], [`ServerOnline::finish`](super::ServerOnline::finish))
    /// over `ch`.
    pub fn online<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ServerPreprocessed<M>,
        s: &[Fp<M>],
    ) -> Result<Vec<Fp<M>>, Error> {
        let (flight, state) = self.online_flight(pre, s)?;
        ch.send(&flight)?;
        ch.flush()?;
        let mut reply = vec![0u8; state.reply_len()];
        if !reply.is_empty() {
            ch.recv(&mut reply)?;
        }
        let (out, last) = state.finish(&reply)?;
        if !last.is_empty() {
            ch.send(&last)?;
            ch.flush()?;
        }
        Ok(out)
    }
}
