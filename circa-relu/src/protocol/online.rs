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

use circa_gc::{EvaluatorSession, Label};
use circa_ot::Block;
use circa_share::field::batch::{decode_many, encode_many};
use circa_share::{BeaverRound, Client, FP_BYTES, Fp, Modulus, Server, Share, Triples};
use zeroize::{Zeroize, Zeroizing};

use super::client::ReluClient;
use super::conversion::{
    client_label_table_shares, client_open_tables, client_sign_shares, server_label_table_shares,
    server_output_tables, server_sign_shares,
};
use super::preprocessed::{ClientPreprocessed, ServerPreprocessed};
use super::server::{ReluServer, encode_word};
use super::session::chunk_tweak;
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
        let s_prod: Zeroizing<Vec<Fp<M>>> = Zeroizing::new(
            s.iter()
                .map(|&si| product_server_share(&params, si))
                .collect(),
        );
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
        let params = pre.params;
        let path = path(&params);
        let (id, mut rest) = flight.split_at(8);
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
        let n = pre.len;
        // Everything secret of the client's is wiped on every path, errors included: the output
        // shares, the output labels and their colour bits (with the conversion material they
        // give the sign of every input), and every temporary holding them. Vectors that grow
        // are allocated whole first (a reallocation would leave an unwiped copy).
        let mut out = Zeroizing::new(Vec::with_capacity(n));
        let mut d_all = Zeroizing::new(Vec::with_capacity(if path == Path::Baseline {
            0
        } else {
            n
        }));
        let mut col_all = Zeroizing::new(Vec::with_capacity(if path == Path::Baseline {
            0
        } else {
            n
        }));
        let mut inputs = Zeroizing::new(Vec::new());
        let w = garbler_online_inputs_per_relu(&params);
        for chunk in &pre.chunks {
            let circuit = self.circuits.get(&params, chunk.count)?;
            let (label_bytes, after) = rest.split_at(chunk.count * w * LABEL_BYTES);
            rest = after;
            // `Label` is a transparent, 1-aligned 16-byte value: a view, no copy.
            let online: &[Label] = bytemuck::cast_slice(label_bytes);
            merge_garbler_inputs(&params, online, &chunk.mask_labels, &mut inputs)?;
            inputs.extend_from_slice(&chunk.own_labels);
            let mut es = EvaluatorSession::new(chunk_tweak(self.garble_tweak, chunk.chunk_id));
            let mut ev = es.evaluate_stream(&circuit, &inputs)?;
            inputs.zeroize();
            ev.consume(&chunk.tables)?;
            let labels = Zeroizing::new(ev.finish()?);
            if path == Path::Baseline {
                let per = params.field_bits();
                let bits: Zeroizing<Vec<bool>> = Zeroizing::new(
                    labels
                        .iter()
                        .zip(&chunk.colours)
                        .map(|(l, &c)| l.lsb() ^ c)
                        .collect(),
                );
                for word in bits.chunks_exact(per) {
                    let v = word
                        .iter()
                        .enumerate()
                        .fold(0u64, |acc, (i, &b)| acc | (u64::from(b) << i));
                    out.push(Fp::from_u64(v)?);
                }
                continue;
            }
            let col: Zeroizing<Vec<bool>> =
                Zeroizing::new(labels.iter().map(|l| l.lsb()).collect());
            if path == Path::LabelTable {
                let (ct_bytes, after) = rest.split_at(2 * chunk.count * FP_BYTES);
                rest = after;
                let ct = decode_many(ct_bytes)?;
                let blocks: Zeroizing<Vec<Block>> =
                    Zeroizing::new(labels.iter().map(|l| l.as_block()).collect());
                let e = Zeroizing::new(client_open_tables(
                    &self.conv_hash,
                    &blocks,
                    chunk.first_relu,
                    &ct,
                )?);
                let (u, d) = client_label_table_shares(&chunk.c, &col, &e, &chunk.m, &chunk.rho)?;
                let (u, d) = (Zeroizing::new(u), Zeroizing::new(d));
                out.extend_from_slice(&u);
                d_all.extend_from_slice(&d);
            } else {
                let (b, d) = client_sign_shares(&col, &chunk.m, &chunk.rho)?;
                let (b, d) = (Zeroizing::new(b), Zeroizing::new(d));
                out.extend_from_slice(&b);
                d_all.extend_from_slice(&d);
            }
            col_all.extend_from_slice(&col);
        }
        let mut reply = encode_many(&d_all);
        let beaver = if path == Path::Beaver {
            // Multiply c by the client's share of the sign bit.
            let mut pre = pre;
            let triples = pre.triples.take().ok_or(Error::TriplesRequired)?;
            let mut c = Vec::with_capacity(n);
            for chunk in &pre.chunks {
                c.extend_from_slice(&chunk.c);
            }
            let x = Share::<Client, M>::from_vec(c);
            let y = Share::<Client, M>::from_vec(core::mem::take(&mut *out));
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
                out: core::mem::take(&mut *out),
                colours: core::mem::take(&mut *col_all),
                beaver,
            },
        ))
    }
}
