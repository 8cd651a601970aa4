//! The server (garbler, garbling-COT sender, lambda-OT receiver): setup, offline and online.

use circa_gc::{Delta, GarblerSession, Label};
use circa_ot::{Block, Channel, CotReceiver, CotSender, Prg, TweakableHash};
use circa_share::{Fp, Modulus, Server, Share, TripleSource, beaver};
use rand_core::CryptoRng;
use zeroize::Zeroize;

use super::block_rng::BlockRng;
use super::conversion::{
    lambda_ot_server, server_label_table_shares, server_output_tables, server_sign_shares,
};
use super::msgs::{recv_field, recv_u64, send_bits, send_field, send_labels, send_u64};
use super::preprocessed::{ServerChunk, ServerPreprocessed};
use super::session::{
    CircuitCache, MAX_BATCH, MAX_SESSION_RELUS, chunk_lengths, chunk_tweak, conversion_tweak,
    exchange_fingerprints,
};
use crate::circuits::{garbler_online_inputs_per_relu, garbler_online_word, split_garbler_inputs};
use crate::error::Error;
use crate::params::{ProductPath, ReluParams};

/// Appends the labels of the low `zero.len()` bits of `v` (LSB first): `zero[j] ^ bit_j Delta`,
/// selected without a branch on the bits.
fn encode_word(zero: &[Label], v: u64, delta: Block, out: &mut Vec<Label>) {
    out.extend(zero.iter().enumerate().map(|(j, z)| {
        let bit = subtle::Choice::from(((v >> j) & 1) as u8);
        let z = z.as_block();
        Label::from_block(Block::select(bit, z, z ^ delta))
    }));
}

/// The server's side of a ReLU session (semi-honest). Garbles the circuits and learns its shares
/// `s` online only.
pub struct ReluServer<M: Modulus> {
    params: ReluParams<M>,
    delta: Delta,
    garble_tweak: Block,
    conv_hash: TweakableHash,
    cot: CotSender,
    lambda_ot: Option<CotReceiver>,
    prg: Prg,
    next_relu: u64,
    next_chunk: u64,
    circuits: CircuitCache,
    /// Threads garbling each chunk (1: the calling thread only).
    threads: usize,
    /// The garbled tables of the chunk being sent (public ciphertexts; reused).
    tables: Vec<Block>,
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
        if self.params.variant().is_sign() && self.params.product() == ProductPath::Beaver {
            return Err(Error::TriplesRequired);
        }
        self.offline_inner(ch, n, None)
    }

    /// Offline phase for the Beaver product path: as [`ReluServer::offline`] plus `n` triples
    /// from `triples`.
    pub fn offline_with_triples<C: Channel + ?Sized, T: TripleSource<M, Role = Server> + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
        triples: &mut T,
    ) -> Result<ServerPreprocessed<M>, Error> {
        let t = if self.params.variant().is_sign() && self.params.product() == ProductPath::Beaver {
            Some(triples.triples(n)?)
        } else {
            None
        };
        self.offline_inner(ch, n, t)
    }

    fn offline_inner<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
        triples: Option<circa_share::Triples<Server, M>>,
    ) -> Result<ServerPreprocessed<M>, Error> {
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
        for count in chunk_lengths(n) {
            chunks.push(self.offline_chunk(ch, count)?);
        }
        ch.flush()?;
        Ok(ServerPreprocessed {
            batch_id,
            len: n,
            chunks,
            triples,
        })
    }

    fn offline_chunk<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        count: usize,
    ) -> Result<ServerChunk<M>, Error> {
        let params = &self.params;
        let sign = params.variant().is_sign();
        let label_table = sign && params.product() == ProductPath::LabelTable;
        let circuit = self.circuits.get(params, count)?;
        let chunk_id = self.next_chunk;
        let first_relu = self.next_relu;
        self.next_chunk += 1;
        self.next_relu += count as u64;

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

        let mut chunk = ServerChunk {
            first_relu,
            count,
            online_zero,
            out_zero: Vec::new(),
            lambda: Vec::new(),
            v: Vec::new(),
            masks: Vec::new(),
        };
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
        let lambda_ot = self.lambda_ot.as_mut().ok_or(Error::SessionState {
            what: "lambda-OT missing",
        })?;
        let mut t = vec![Block::ZERO; count];
        lambda_ot.receive_cot(ch, &chunk.lambda, &mut t)?;
        chunk.v = lambda_ot_server(&self.conv_hash, &t, first_relu);
        t.zeroize();
        Ok(chunk)
    }

    /// Online phase: consumes the batch's material and the server's shares `s` (one per ReLU);
    /// returns the server's shares of the ReLU outputs.
    pub fn online<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ServerPreprocessed<M>,
        s: &[Fp<M>],
    ) -> Result<Vec<Fp<M>>, Error> {
        if s.len() != pre.len {
            return Err(Error::LengthMismatch {
                what: "server shares vs preprocessed batch",
                expected: pre.len,
                actual: s.len(),
            });
        }
        let params = &self.params;
        let sign = params.variant().is_sign();
        let label_table = sign && params.product() == ProductPath::LabelTable;
        send_u64(ch, pre.batch_id)?;
        // Flight 1: garbler input labels (+ output tables).
        let mut r_all: Vec<Fp<M>> = Vec::new();
        let mut offset = 0;
        let w = garbler_online_inputs_per_relu(params);
        let d = self.delta.as_block();
        let mut labels = Vec::<Label>::new();
        for chunk in &pre.chunks {
            let s_chunk = &s[offset..offset + chunk.count];
            offset += chunk.count;
            if chunk.online_zero.len() != w * s_chunk.len() {
                return Err(Error::SessionState {
                    what: "preprocessed labels do not match the chunk",
                });
            }
            labels.clear();
            for (zero, &si) in chunk.online_zero.chunks_exact(w).zip(s_chunk) {
                encode_word(zero, garbler_online_word(params, si), d, &mut labels);
            }
            let sent = send_labels(ch, &labels);
            labels.zeroize();
            sent?;
            if label_table {
                let r: Vec<Fp<M>> = (0..chunk.count)
                    .map(|_| Fp::random(&mut self.prg))
                    .collect();
                let ct = server_output_tables(
                    &self.conv_hash,
                    self.delta.as_block(),
                    &chunk.out_zero,
                    chunk.first_relu,
                    s_chunk,
                    &r,
                )?;
                send_field(ch, &ct)?;
                r_all.extend_from_slice(&r);
                let mut r = r;
                r.zeroize();
            }
        }
        ch.flush()?;
        if !sign {
            // Baseline: the client decodes ReLU(y) + r'; the server's share is -r'.
            return Ok(pre
                .chunks
                .iter()
                .flat_map(|c| c.masks.iter().map(|&r| -r))
                .collect());
        }
        // Flight 2: the client's d.
        let n = pre.len;
        let d = recv_field::<M, _>(ch, n)?;
        let lambda: Vec<bool> = pre
            .chunks
            .iter()
            .flat_map(|c| c.lambda.iter().copied())
            .collect();
        let v: Vec<Fp<M>> = pre
            .chunks
            .iter()
            .flat_map(|c| c.v.iter().copied())
            .collect();
        let (mut lambda, mut v) = (lambda, v);
        let shares = if label_table {
            server_label_table_shares(&v, &lambda, &d, &r_all)
        } else {
            server_sign_shares(&v, &lambda, &d)
        };
        lambda.zeroize();
        v.zeroize();
        r_all.zeroize();
        if label_table {
            return shares;
        }
        // Beaver path: shares of b, then one multiplication s * b.
        let b = shares?;
        let mut pre = pre;
        let triples = pre.triples.take().ok_or(Error::TriplesRequired)?;
        let x = Share::<Server, M>::from_vec(s.to_vec());
        let y = Share::<Server, M>::from_vec(b);
        let mine = beaver::blind(&x, &y, &triples)?;
        let theirs_bytes = {
            let mut buf = vec![0u8; beaver::BeaverOpening::<M>::encoded_len(n)];
            ch.recv(&mut buf)?;
            buf
        };
        let theirs = beaver::BeaverOpening::<M>::from_bytes(&theirs_bytes, n)?;
        ch.send(&mine.to_bytes())?;
        ch.flush()?;
        let opened = beaver::open(&mine, &theirs)?;
        Ok(beaver::finish(triples, &opened)?.into_vec())
    }
}
