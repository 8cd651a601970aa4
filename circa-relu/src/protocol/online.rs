//! The online phase as pure steps (message in, message out), for callers that own the channel
//! and coalesce flights (the network engine puts the client's reply in the same flight as its
//! next messages). The channel drivers `ReluServer::online` / `ReluClient::online` are these
//! steps plus I/O.
//!
//! | step | party | consumes | produces |
//! |---|---|---|---|
//! | [`ReluServer::online_flight`] | server | material, its shares `s` | flight 1 (batch id, input labels, output tables), [`ServerOnline`] |
//! | [`ReluClient::online_reply`] | client | material, flight 1 | reply (`d`, Beaver opening), [`ClientOnline`] |
//! | [`ServerOnline::finish`] | server | reply | output shares, last message (Beaver opening) |
//! | [`ClientOnline::finish`] | client | last message | output shares |
//!
//! Every length is derived from the material (public batch and chunk sizes), never from the
//! peer: [`ReluClient::flight_len`], [`ServerOnline::reply_len`], [`ClientOnline::last_len`].

use circa_gc::evaluate::WireTable;
use circa_gc::{EvaluatorSession, Label};
use circa_ot::{Block, Channel};
use circa_share::field::batch::{decode_many, encode_many};
use circa_share::{BeaverRound, Client, FP_BYTES, Fp, Modulus, Server, Share, Triples};
use zeroize::{Zeroize, Zeroizing};

use super::client::ReluClient;
use super::conversion::{
    ClientAcc, client_label_table_chunk, client_sign_chunk, server_label_table_shares,
    server_output_tables, server_sign_shares,
};
use super::preprocessed::{ClientChunk, ClientPreprocessed, ServerPreprocessed};
use super::server::{ReluServer, encode_word};
use super::session::{chunk_tweak, reserve_wiped};
use crate::circuits::{garbler_online_inputs_per_relu, garbler_online_word, merge_garbler_inputs};
use crate::error::{Error, check_len};
use crate::params::{ProductPath, ReluParams};
use crate::reference::product_server_share;

const LABEL_BYTES: usize = 16;

/// Which product path a batch uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// Delphi-style baseline: the circuit outputs the masked ReLU.
    Baseline,
    /// Sign variants, label-table product.
    LabelTable,
    /// Sign variants, Beaver product.
    Beaver,
}

fn path<M: Modulus>(params: &ReluParams<M>) -> Path {
    match (params.variant().is_sign(), params.product()) {
        (false, _) => Path::Baseline,
        (true, ProductPath::LabelTable) => Path::LabelTable,
        (true, ProductPath::Beaver) => Path::Beaver,
    }
}

/// Bytes of flight 1 for chunks of `counts` ReLUs.
fn flight_len<M: Modulus>(params: &ReluParams<M>, counts: impl Iterator<Item = usize>) -> usize {
    let w = garbler_online_inputs_per_relu(params);
    let tables = path(params) == Path::LabelTable;
    8 + counts
        .map(|n| n * w * LABEL_BYTES + if tables { 2 * n * FP_BYTES } else { 0 })
        .sum::<usize>()
}

/// Bytes of the client's reply for `n` ReLUs.
fn reply_len(path: Path, n: usize) -> usize {
    match path {
        Path::Baseline => 0,
        Path::LabelTable => n * FP_BYTES,
        Path::Beaver => n * FP_BYTES + 2 * n * FP_BYTES,
    }
}

/// The server's shares `s` and the triples that multiply them by the sign (Beaver path).
type BeaverInputs<M> = (Vec<Fp<M>>, Triples<Server, M>);

/// The server's state between flight 1 and the client's reply.
pub struct ServerOnline<M: Modulus> {
    path: Path,
    len: usize,
    /// Baseline: the server's output shares `-r'`. Sign: the lambda-OT outputs `v`.
    v: Vec<Fp<M>>,
    /// Permute bits of the outputs (sign variants).
    lambda: Vec<bool>,
    /// Label table: the output-table masks `r`.
    r: Vec<Fp<M>>,
    /// Beaver: the server's shares `s` and the batch's triples.
    beaver: Option<BeaverInputs<M>>,
}

impl<M: Modulus> Drop for ServerOnline<M> {
    fn drop(&mut self) {
        self.v.zeroize();
        self.lambda.zeroize();
        self.r.zeroize();
        if let Some((s, _)) = &mut self.beaver {
            s.zeroize();
        }
    }
}

impl<M: Modulus> core::fmt::Debug for ServerOnline<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ServerOnline(len = {}, redacted)", self.len)
    }
}

impl<M: Modulus> ReluServer<M> {
    /// Online step 1: consumes the batch's material and the server's shares `s` (one per
    /// ReLU); returns flight 1 for the client and the state that takes the client's reply.
    pub fn online_flight(
        &mut self,
        pre: ServerPreprocessed<M>,
        s: &[Fp<M>],
    ) -> Result<(Vec<u8>, ServerOnline<M>), Error> {
        check_len("server shares vs preprocessed batch", pre.len, s.len())?;
        let params = pre.params;
        // What the product multiplies the sign with (the truncated shares with a fused
        // rescale); the circuit's inputs come from `s` itself.
        let truncated: Zeroizing<Vec<Fp<M>>> = Zeroizing::new(if params.rescale() {
            s.iter()
                .map(|&si| product_server_share(&params, si))
                .collect()
        } else {
            Vec::new()
        });
        let s_prod: &[Fp<M>] = if params.rescale() { &truncated } else { s };
        let path = path(&params);
        let w = garbler_online_inputs_per_relu(&params);
        let d = self.delta.as_block();
        let mut msg = Vec::with_capacity(flight_len(&params, pre.chunks.iter().map(|c| c.count)));
        msg.extend_from_slice(&pre.batch_id.to_le_bytes());
        let mut r_all = Vec::with_capacity(if path == Path::LabelTable { pre.len } else { 0 });
        let mut labels = Zeroizing::new(Vec::<Label>::new());
        let mut offset = 0;
        for chunk in &pre.chunks {
            let s_chunk = &s[offset..offset + chunk.count];
            let s_prod_chunk = &s_prod[offset..offset + chunk.count];
            offset += chunk.count;
            check_len(
                "preprocessed labels of the chunk",
                w * s_chunk.len(),
                chunk.online_zero.len(),
            )?;
            labels.clear();
            for (zero, &si) in chunk.online_zero.chunks_exact(w).zip(s_chunk) {
                encode_word(zero, garbler_online_word(&params, si), d, &mut labels);
            }
            msg.extend_from_slice(bytemuck::cast_slice(&labels));
            if path == Path::LabelTable {
                let r: Zeroizing<Vec<Fp<M>>> = Zeroizing::new(
                    (0..chunk.count)
                        .map(|_| Fp::random(&mut self.prg))
                        .collect(),
                );
                let ct = server_output_tables(
                    &self.conv_hash,
                    d,
                    &chunk.out_zero,
                    chunk.first_relu,
                    s_prod_chunk,
                    &r,
                )?;
                msg.extend_from_slice(&encode_many(&ct));
                r_all.extend_from_slice(&r);
            }
        }
        let mut pre = pre;
        let v = match path {
            Path::Baseline => pre
                .chunks
                .iter()
                .flat_map(|c| c.masks.iter().map(|&r| -r))
                .collect(),
            _ => pre
                .chunks
                .iter()
                .flat_map(|c| c.v.iter().copied())
                .collect(),
        };
        let lambda = pre
            .chunks
            .iter()
            .flat_map(|c| c.lambda.iter().copied())
            .collect();
        let beaver = match path {
            Path::Beaver => Some((
                s_prod.to_vec(),
                pre.triples.take().ok_or(Error::TriplesRequired)?,
            )),
            _ => None,
        };
        Ok((
            msg,
            ServerOnline {
                path,
                len: pre.len,
                v,
                lambda,
                r: r_all,
                beaver,
            },
        ))
    }
}

impl<M: Modulus> ServerOnline<M> {
    /// Bytes of the client's reply (`d`, and its Beaver opening on the Beaver path; nothing for
    /// the baseline).
    pub fn reply_len(&self) -> usize {
        reply_len(self.path, self.len)
    }

    /// Online step 3: the server's output shares from the client's reply, and the last message
    /// for the client (the server's Beaver opening; empty on the other paths).
    pub fn finish(mut self, reply: &[u8]) -> Result<(Vec<Fp<M>>, Vec<u8>), Error> {
        check_len("client reply", self.reply_len(), reply.len())?;
        let n = self.len;
        match self.path {
            Path::Baseline => Ok((core::mem::take(&mut self.v), Vec::new())),
            Path::LabelTable => {
                let d = Zeroizing::new(decode_many(reply)?);
                Ok((
                    server_label_table_shares(&self.v, &self.lambda, &d, &self.r)?,
                    Vec::new(),
                ))
            }
            Path::Beaver => {
                let (d_bytes, opening) = reply.split_at(n * FP_BYTES);
                let d = Zeroizing::new(decode_many(d_bytes)?);
                let b = server_sign_shares(&self.v, &self.lambda, &d)?;
                let (s, triples) = self.beaver.take().ok_or(Error::TriplesRequired)?;
                let x = Share::<Server, M>::from_vec(s);
                let y = Share::<Server, M>::from_vec(b);
                let (round, mine) = BeaverRound::start(&x, &y, triples)?;
                Ok((round.finish(opening)?.into_vec(), mine))
            }
        }
    }
}

/// The client's state between its reply and the server's last message (Beaver path), holding
/// its output shares.
pub struct ClientOnline<M: Modulus> {
    out: Vec<Fp<M>>,
    colours: Vec<bool>,
    beaver: Option<BeaverRound<Client, M>>,
}

impl<M: Modulus> Drop for ClientOnline<M> {
    fn drop(&mut self) {
        self.out.zeroize();
        self.colours.zeroize();
    }
}

impl<M: Modulus> core::fmt::Debug for ClientOnline<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ClientOnline(len = {}, redacted)", self.out.len())
    }
}

impl<M: Modulus> ClientOnline<M> {
    /// Bytes of the server's last message (its Beaver opening; 0 on the other paths).
    pub fn last_len(&self) -> usize {
        self.beaver.as_ref().map_or(0, BeaverRound::peer_len)
    }

    /// Online step 4: the client's output shares (in the order of the `c` given offline).
    pub fn finish(self, last: &[u8]) -> Result<Vec<Fp<M>>, Error> {
        let (out, mut colours) = self.finish_with_colours(last)?;
        colours.zeroize();
        Ok(out)
    }

    /// As [`ClientOnline::finish`], also returning the colour bits of the client's output labels
    /// (its view of the garbled sign; empty for the baseline), for tests of the client's view.
    pub fn finish_with_colours(mut self, last: &[u8]) -> Result<(Vec<Fp<M>>, Vec<bool>), Error> {
        let colours = core::mem::take(&mut self.colours);
        match self.beaver.take() {
            Some(round) => Ok((round.finish(last)?.into_vec(), colours)),
            None => {
                check_len("server's last message", 0, last.len())?;
                Ok((core::mem::take(&mut self.out), colours))
            }
        }
    }
}

/// Bytes of one chunk's part of flight 1 (its input labels, then its output tables on the
/// label-table path).
fn chunk_flight_len<M: Modulus>(params: &ReluParams<M>, count: usize) -> usize {
    flight_len(params, core::iter::once(count)) - 8
}

/// The client's online buffers, reused across chunks and batches (no allocation or zero-fill per
/// chunk). Everything secret in them (labels, pads) is wiped in place at the end of each batch
/// and on drop.
#[derive(Default)]
pub(crate) struct ClientBuffers {
    /// The evaluator's wire table.
    wires: WireTable,
    /// Baseline: the garbler's input labels in circuit order (online and offline merged).
    inputs: Vec<Label>,
    /// The chunk's output labels.
    outputs: Vec<Label>,
    /// Hashes of the output labels (the output tables' pads).
    pads: Vec<Block>,
    /// One chunk's part of flight 1 as received by [`ReluClient::online`] (the server's message:
    /// nothing the network did not see, not wiped).
    flight: Vec<u8>,
}

impl ClientBuffers {
    /// Zeroizes the secret buffers in place.
    fn wipe(&mut self) {
        self.wires.wipe();
        self.inputs.iter_mut().zeroize();
        self.outputs.iter_mut().zeroize();
        self.pads.iter_mut().zeroize();
    }
}

impl Drop for ClientBuffers {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// The client's online state within one batch: its accumulated results.
struct ClientBatch<M: Modulus> {
    path: Path,
    acc: ClientAcc<M>,
}

impl<M: Modulus> Drop for ClientBatch<M> {
    fn drop(&mut self) {
        self.acc.out.zeroize();
        self.acc.colours.zeroize();
    }
}

impl<M: Modulus> ReluClient<M> {
    /// Bytes of flight 1 for the batch `pre` (derived from its chunk sizes).
    pub fn flight_len(&self, pre: &ClientPreprocessed<M>) -> usize {
        flight_len(&pre.params, pre.chunks.iter().map(|c| c.count))
    }

    /// Online step 2: consumes the batch's material and the server's flight 1; returns the
    /// client's reply and the state holding its output shares.
    pub fn online_reply(
        &mut self,
        pre: ClientPreprocessed<M>,
        flight: &[u8],
    ) -> Result<(Vec<u8>, ClientOnline<M>), Error> {
        check_len("server flight", self.flight_len(&pre), flight.len())?;
        let (id, mut rest) = flight.split_at(8);
        let mut batch = self.online_start(&pre, id)?;
        let params = pre.params;
        let res = (|| -> Result<(), Error> {
            for chunk in &pre.chunks {
                let (part, after) = rest.split_at(chunk_flight_len(&params, chunk.count));
                rest = after;
                self.online_chunk(&params, chunk, part, &mut batch)?;
            }
            Ok(())
        })();
        self.bufs.wipe();
        res?;
        self.online_end(pre, batch)
    }

    /// Checks the batch id at the head of flight 1 and allocates the batch's results.
    fn online_start(
        &self,
        pre: &ClientPreprocessed<M>,
        id: &[u8],
    ) -> Result<ClientBatch<M>, Error> {
        let batch_id = u64::from_le_bytes(
            id.try_into()
                .map_err(|_| Error::MalformedMessage { what: "batch id" })?,
        );
        if batch_id != pre.batch_id {
            return Err(Error::BatchIdMismatch {
                expected: pre.batch_id,
                actual: batch_id,
            });
        }
        let path = path(&pre.params);
        let n = pre.len;
        // Everything secret of the client's is wiped on every path, errors included: the output
        // shares, the output labels and their colour bits (with the conversion material they
        // give the sign of every input), and every buffer holding them. Vectors that grow are
        // allocated whole first (a reallocation would leave an unwiped copy).
        let (colours, reply) = match path {
            Path::Baseline => (0, 0),
            Path::LabelTable => (n, 0),
            Path::Beaver => (n, 2 * n * FP_BYTES),
        };
        let mut acc = ClientAcc::with_capacity(n, reply);
        acc.colours = Vec::with_capacity(colours);
        Ok(ClientBatch { path, acc })
    }

    /// Evaluates one chunk from its part of flight 1 (`part`: the server's input labels, then
    /// the output tables on the label-table path) and appends its results to `batch`.
    fn online_chunk(
        &mut self,
        params: &ReluParams<M>,
        chunk: &ClientChunk<M>,
        part: &[u8],
        batch: &mut ClientBatch<M>,
    ) -> Result<(), Error> {
        check_len(
            "server flight (chunk)",
            chunk_flight_len(params, chunk.count),
            part.len(),
        )?;
        let circuit = self.circuits.get(params, chunk.count)?;
        let w = garbler_online_inputs_per_relu(params);
        let (label_bytes, ct_bytes) = part.split_at(chunk.count * w * LABEL_BYTES);
        // `Label` is a transparent, 1-aligned 16-byte value: a view, no copy.
        let online: &[Label] = bytemuck::cast_slice(label_bytes);
        let bufs = &mut self.bufs;
        reserve_wiped(&mut bufs.outputs, circuit.outputs().len());
        let mut es = EvaluatorSession::new(chunk_tweak(self.garble_tweak, chunk.chunk_id));
        if batch.path == Path::Baseline {
            reserve_wiped(&mut bufs.inputs, circuit.garbler_inputs());
            merge_garbler_inputs(params, online, &chunk.mask_labels, &mut bufs.inputs)?;
            es.evaluate_parts(
                &circuit,
                &[&bufs.inputs, &chunk.own_labels],
                &chunk.tables,
                &mut bufs.wires,
                &mut bufs.outputs,
            )?;
            let per = params.field_bits();
            check_len("output colours", bufs.outputs.len(), chunk.colours.len())?;
            for (word, colours) in bufs
                .outputs
                .chunks_exact(per)
                .zip(chunk.colours.chunks_exact(per))
            {
                let v = word
                    .iter()
                    .zip(colours)
                    .enumerate()
                    .fold(0u64, |acc, (i, (l, &c))| {
                        acc | (u64::from(l.lsb() ^ c) << i)
                    });
                batch.acc.out.push(Fp::from_u64(v)?);
            }
            return Ok(());
        }
        es.evaluate_parts(
            &circuit,
            &[online, &chunk.own_labels],
            &chunk.tables,
            &mut bufs.wires,
            &mut bufs.outputs,
        )?;
        if batch.path == Path::LabelTable {
            reserve_wiped(&mut bufs.pads, chunk.count);
            client_label_table_chunk(
                &self.conv_hash,
                &bufs.outputs,
                chunk.first_relu,
                ct_bytes,
                (&chunk.c, &chunk.m, &chunk.rho),
                &mut bufs.pads,
                &mut batch.acc,
            )
        } else {
            client_sign_chunk(&bufs.outputs, &chunk.m, &chunk.rho, &mut batch.acc)
        }
    }

    /// The reply from the batch's results (`d`, and the Beaver opening on the Beaver path).
    fn online_end(
        &mut self,
        pre: ClientPreprocessed<M>,
        mut batch: ClientBatch<M>,
    ) -> Result<(Vec<u8>, ClientOnline<M>), Error> {
        let n = pre.len;
        let path = batch.path;
        let mut reply = core::mem::take(&mut batch.acc.d);
        let beaver = if path == Path::Beaver {
            // Multiply c by the client's share of the sign bit.
            let mut pre = pre;
            let triples = pre.triples.take().ok_or(Error::TriplesRequired)?;
            let mut c = Vec::with_capacity(n);
            for chunk in &pre.chunks {
                c.extend_from_slice(&chunk.c);
            }
            let x = Share::<Client, M>::from_vec(c);
            let y = Share::<Client, M>::from_vec(core::mem::take(&mut batch.acc.out));
            let (round, opening) = BeaverRound::start(&x, &y, triples)?;
            reply.extend_from_slice(&opening);
            Some(round)
        } else {
            None
        };
        check_len("client reply", reply_len(path, n), reply.len())?;
        Ok((
            reply,
            ClientOnline {
                out: core::mem::take(&mut batch.acc.out),
                colours: core::mem::take(&mut batch.acc.colours),
                beaver,
            },
        ))
    }

    /// [`ReluClient::online`]'s receiving side: flight 1 read chunk by chunk into one reused
    /// buffer and evaluated as it arrives (same bytes and checks as [`ReluClient::online_reply`]).
    pub(super) fn online_recv<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ClientPreprocessed<M>,
    ) -> Result<(Vec<u8>, ClientOnline<M>), Error> {
        let mut id = [0u8; 8];
        ch.recv(&mut id)?;
        let mut batch = self.online_start(&pre, &id)?;
        let params = pre.params;
        let mut part = core::mem::take(&mut self.bufs.flight);
        let res = (|| -> Result<(), Error> {
            for chunk in &pre.chunks {
                part.resize(chunk_flight_len(&params, chunk.count), 0);
                ch.recv(&mut part)?;
                self.online_chunk(&params, chunk, &part, &mut batch)?;
            }
            Ok(())
        })();
        self.bufs.flight = part;
        self.bufs.wipe();
        res?;
        self.online_end(pre, batch)
    }
}
