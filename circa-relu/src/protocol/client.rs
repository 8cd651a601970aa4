//! The client (evaluator, garbling-COT receiver, lambda-OT sender): setup, offline and online.

use circa_gc::{EvaluatorSession, Label};
use circa_ot::{Block, Channel, CotReceiver, CotSender, TweakableHash};
use circa_share::{Client, Fp, Modulus, Share, TripleSource, beaver};
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use super::conversion::{
    client_label_table_shares, client_open_tables, client_sign_shares, lambda_ot_client,
};
use super::msgs::{
    recv_bits, recv_blocks, recv_field, recv_labels, recv_u64, send_field, send_u64,
};
use super::preprocessed::{ClientChunk, ClientPreprocessed};
use super::session::{
    CircuitCache, MAX_BATCH, MAX_SESSION_RELUS, chunk_lengths, chunk_tweak, conversion_tweak,
    exchange_fingerprints,
};
use crate::circuits::{
    evaluator_bits, garbler_offline_inputs_per_relu, garbler_online_inputs_per_relu,
    merge_garbler_inputs,
};
use crate::error::Error;
use crate::params::{ProductPath, ReluParams};

/// A garbling-COT receiver message computed ahead of its turn, and the input labels it gives.
struct PreparedCot {
    /// The receiver's message (count and matrix rows; not secret: sent as is).
    message: Vec<u8>,
    /// The client's input labels (secret).
    labels: Zeroizing<Vec<Label>>,
}

/// A write-only [`Channel`] that keeps what is sent, so that a message can be computed before
/// its turn in the protocol order. Receiving from it is an error (nothing is ever received).
#[derive(Default)]
struct Deferred {
    buf: Vec<u8>,
}

impl Channel for Deferred {
    fn send(&mut self, data: &[u8]) -> Result<(), circa_ot::Error> {
        self.buf.extend_from_slice(data);
        Ok(())
    }
    fn recv(&mut self, _buf: &mut [u8]) -> Result<(), circa_ot::Error> {
        Err(circa_ot::Error::Closed)
    }
    fn flush(&mut self) -> Result<(), circa_ot::Error> {
        Ok(())
    }
    fn stats(&self) -> circa_ot::ChannelStats {
        circa_ot::ChannelStats::default()
    }
}

/// The client's side of a ReLU session (semi-honest). Knows its shares `c` offline; evaluates
/// the garbled circuits online.
pub struct ReluClient<M: Modulus> {
    params: ReluParams<M>,
    garble_tweak: Block,
    conv_hash: TweakableHash,
    cot: CotReceiver,
    lambda_ot: Option<CotSender>,
    next_relu: u64,
    next_chunk: u64,
    circuits: CircuitCache,
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
        if self.params.variant().is_sign() && self.params.product() == ProductPath::Beaver {
            return Err(Error::TriplesRequired);
        }
        self.offline_inner(ch, c, None)
    }

    /// Offline phase for the Beaver product path: as [`ReluClient::offline`] plus `c.len()`
    /// triples from `triples`.
    pub fn offline_with_triples<C: Channel + ?Sized, T: TripleSource<M, Role = Client> + ?Sized>(
        &mut self,
        ch: &mut C,
        c: &[Fp<M>],
        triples: &mut T,
    ) -> Result<ClientPreprocessed<M>, Error> {
        let t = if self.params.variant().is_sign() && self.params.product() == ProductPath::Beaver {
            Some(triples.triples(c.len())?)
        } else {
            None
        };
        self.offline_inner(ch, c, t)
    }

    fn offline_inner<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        c: &[Fp<M>],
        triples: Option<circa_share::Triples<Client, M>>,
    ) -> Result<ClientPreprocessed<M>, Error> {
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
            Some(&(a, b)) => Some(self.prepare_cot(&c[a..b])?),
            None => None,
        };
        for (i, &(a, b)) in ranges.iter().enumerate() {
            let prepared = next.take().ok_or(Error::SessionState {
                what: "prepared COT missing",
            })?;
            ch.send(&prepared.message)?;
            ch.flush()?;
            if let Some(&(a2, b2)) = ranges.get(i + 1) {
                next = Some(self.prepare_cot(&c[a2..b2])?);
            }
            chunks.push(self.offline_chunk(ch, &c[a..b], prepared)?);
        }
        ch.flush()?;
        Ok(ClientPreprocessed {
            batch_id,
            len: n,
            chunks,
            triples,
        })
    }

    /// The garbling-COT receiver's message for one chunk's input bits (sent later, in protocol
    /// order) and the client's input labels.
    fn prepare_cot(&mut self, c: &[Fp<M>]) -> Result<PreparedCot, Error> {
        let mut bits = Vec::new();
        evaluator_bits(&self.params, c, &mut bits);
        let mut t = vec![Block::ZERO; bits.len()];
        let mut out = Deferred::default();
        let r = self.cot.receive_cot(&mut out, &bits, &mut t);
        bits.zeroize();
        let labels = Zeroizing::new(t.iter().map(|&b| Label::from_block(b)).collect());
        t.zeroize();
        r?;
        Ok(PreparedCot {
            message: out.buf,
            labels,
        })
    }

    fn offline_chunk<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        c: &[Fp<M>],
        mut prepared: PreparedCot,
    ) -> Result<ClientChunk<M>, Error> {
        let params = &self.params;
        let count = c.len();
        let circuit = self.circuits.get(params, count)?;
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
            c: c.to_vec(),
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
    /// outputs (in the order of the `c` given offline).
    pub fn online<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ClientPreprocessed<M>,
    ) -> Result<Vec<Fp<M>>, Error> {
        let (out, mut colours) = self.online_inner(ch, pre)?;
        colours.zeroize();
        Ok(out)
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
        let params = &self.params;
        let sign = params.variant().is_sign();
        let label_table = sign && params.product() == ProductPath::LabelTable;
        let batch_id = recv_u64(ch)?;
        if batch_id != pre.batch_id {
            return Err(Error::BatchIdMismatch {
                expected: pre.batch_id,
                actual: batch_id,
            });
        }
        let n = pre.len;
        let mut out = Vec::with_capacity(n);
        let mut d_all = Vec::with_capacity(if sign { n } else { 0 });
        let mut col_all = Vec::new();
        let mut inputs = Vec::new();
        for chunk in &pre.chunks {
            let circuit = self.circuits.get(params, chunk.count)?;
            let online = recv_labels(ch, chunk.count * garbler_online_inputs_per_relu(params))?;
            merge_garbler_inputs(params, &online, &chunk.mask_labels, &mut inputs)?;
            inputs.extend_from_slice(&chunk.own_labels);
            let mut es = EvaluatorSession::new(chunk_tweak(self.garble_tweak, chunk.chunk_id));
            let mut ev = es.evaluate_stream(&circuit, &inputs)?;
            inputs.zeroize();
            ev.consume(&chunk.tables)?;
            let labels = ev.finish()?;
            if !sign {
                let per = params.field_bits();
                let mut bits: Vec<bool> = labels
                    .iter()
                    .zip(&chunk.colours)
                    .map(|(l, &c)| l.lsb() ^ c)
                    .collect();
                for word in bits.chunks_exact(per) {
                    let v = word
                        .iter()
                        .enumerate()
                        .fold(0u64, |acc, (i, &b)| acc | (u64::from(b) << i));
                    out.push(Fp::from_u64(v)?);
                }
                bits.zeroize();
                continue;
            }
            let col: Vec<bool> = labels.iter().map(|l| l.lsb()).collect();
            if label_table {
                let ct = recv_field::<M, _>(ch, 2 * chunk.count)?;
                let blocks: Vec<Block> = labels.iter().map(|l| l.as_block()).collect();
                let e = client_open_tables(&self.conv_hash, &blocks, chunk.first_relu, &ct)?;
                let (u, d) = client_label_table_shares(&chunk.c, &col, &e, &chunk.m, &chunk.rho)?;
                out.extend_from_slice(&u);
                d_all.extend_from_slice(&d);
            } else {
                let (b, d) = client_sign_shares(&col, &chunk.m, &chunk.rho)?;
                out.extend_from_slice(&b);
                d_all.extend_from_slice(&d);
            }
            col_all.extend_from_slice(&col);
        }
        if !sign {
            return Ok((out, col_all));
        }
        send_field(ch, &d_all)?;
        if label_table {
            ch.flush()?;
            return Ok((out, col_all));
        }
        // Beaver path: multiply c by the client's share of b.
        let mut pre = pre;
        let triples = pre.triples.take().ok_or(Error::TriplesRequired)?;
        let c: Vec<Fp<M>> = pre
            .chunks
            .iter()
            .flat_map(|ch| ch.c.iter().copied())
            .collect();
        let x = Share::<Client, M>::from_vec(c);
        let y = Share::<Client, M>::from_vec(out);
        let mine = beaver::blind(&x, &y, &triples)?;
        ch.send(&mine.to_bytes())?;
        ch.flush()?;
        let mut buf = vec![0u8; beaver::BeaverOpening::<M>::encoded_len(n)];
        ch.recv(&mut buf)?;
        let theirs = beaver::BeaverOpening::<M>::from_bytes(&buf, n)?;
        let opened = beaver::open(&mine, &theirs)?;
        Ok((beaver::finish(triples, &opened)?.into_vec(), col_all))
    }
}
