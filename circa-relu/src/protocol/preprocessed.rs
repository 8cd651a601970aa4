//! Preprocessed material of one batch, consumed by value by the online phase.

use circa_gc::Label;
use circa_ot::Block;
use circa_share::{Client, FP_BYTES, Fp, Modulus, Server, Triples};

use crate::params::ReluParams;
use zeroize::Zeroize;

/// The server's material for one chunk (one garbled circuit).
pub(crate) struct ServerChunk<M: Modulus> {
    /// Global index of the chunk's first ReLU.
    pub first_relu: u64,
    /// ReLUs in the chunk.
    pub count: usize,
    /// Zero-labels of the garbler's online inputs (`w` per ReLU, ReLU-major), encoded online
    /// with the session's Delta.
    pub online_zero: Vec<Label>,
    /// Output zero-labels (sign variants, label-table path).
    pub out_zero: Vec<Block>,
    /// Permute bits of the outputs (sign variants).
    pub lambda: Vec<bool>,
    /// Lambda-OT outputs `v = m + lambda rho` (sign variants).
    pub v: Vec<Fp<M>>,
    /// The output masks `r'` (baseline).
    pub masks: Vec<Fp<M>>,
}

impl<M: Modulus> ServerChunk<M> {
    /// A chunk with its garbler online zero-labels; the rest is filled by its variant's path.
    pub(crate) fn new(first_relu: u64, count: usize, online_zero: Vec<Label>) -> Self {
        Self {
            first_relu,
            count,
            online_zero,
            out_zero: Vec::new(),
            lambda: Vec::new(),
            v: Vec::new(),
            masks: Vec::new(),
        }
    }
}

impl<M: Modulus> Drop for ServerChunk<M> {
    fn drop(&mut self) {
        self.online_zero.zeroize();
        self.out_zero.zeroize();
        self.lambda.zeroize();
        self.v.zeroize();
        self.masks.zeroize();
    }
}

/// The server's preprocessed material for one batch. Not `Clone`; consumed by
/// [`ReluServer::online`](super::ReluServer::online); zeroized on drop; `Debug` is redacted.
pub struct ServerPreprocessed<M: Modulus> {
    pub(crate) params: ReluParams<M>,
    pub(crate) batch_id: u64,
    pub(crate) len: usize,
    pub(crate) chunks: Vec<ServerChunk<M>>,
    pub(crate) triples: Option<Triples<Server, M>>,
}

impl<M: Modulus> ServerPreprocessed<M> {
    /// ReLUs in the batch.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<M: Modulus> core::fmt::Debug for ServerPreprocessed<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ServerPreprocessed(len = {}, redacted)", self.len)
    }
}

/// The client's material for one chunk.
pub(crate) struct ClientChunk<M: Modulus> {
    /// Chunk number within the session.
    pub chunk_id: u64,
    /// Global index of the chunk's first ReLU.
    pub first_relu: u64,
    /// ReLUs in the chunk.
    pub count: usize,
    /// Garbled tables (2 blocks per AND gate). Not zeroized on drop: they are ciphertexts the
    /// server sent in the clear, so wiping them protects nothing (the labels that decrypt them,
    /// `own_labels`, are wiped), and wiping them cost about a tenth of the client's online CPU.
    pub tables: Vec<Block>,
    /// The client's input labels (from the garbling COT).
    pub own_labels: Vec<Label>,
    /// The client's shares `c`.
    pub c: Vec<Fp<M>>,
    /// Lambda-OT pads `m` (sign variants).
    pub m: Vec<Fp<M>>,
    /// Lambda-OT differences `rho` (sign variants).
    pub rho: Vec<Fp<M>>,
    /// Labels of the server's mask `r'` (baseline).
    pub mask_labels: Vec<Label>,
    /// Output decoding colours (baseline).
    pub colours: Vec<bool>,
}

impl<M: Modulus> Drop for ClientChunk<M> {
    fn drop(&mut self) {
        self.own_labels.zeroize();
        self.c.zeroize();
        self.m.zeroize();
        self.rho.zeroize();
        self.mask_labels.zeroize();
        self.colours.zeroize();
    }
}

impl<M: Modulus> ClientChunk<M> {
    fn storage_bytes(&self) -> usize {
        16 * (self.tables.len() + self.own_labels.len() + self.mask_labels.len())
            + FP_BYTES * (self.m.len() + self.rho.len())
            + self.colours.len().div_ceil(8)
    }
}

/// The client's preprocessed material for one batch. Not `Clone`; consumed by
/// [`ReluClient::online`](super::ReluClient::online); zeroized on drop; `Debug` is redacted.
pub struct ClientPreprocessed<M: Modulus> {
    pub(crate) params: ReluParams<M>,
    pub(crate) batch_id: u64,
    pub(crate) len: usize,
    pub(crate) chunks: Vec<ClientChunk<M>>,
    pub(crate) triples: Option<Triples<Client, M>>,
}

impl<M: Modulus> ClientPreprocessed<M> {
    /// ReLUs in the batch.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Bytes the client stores between the phases: garbled tables, its own input labels, the
    /// lambda-OT pads `m, rho`, (baseline) the mask labels and output colours, (Beaver) the
    /// triple shares. Its own shares `c` are not counted: it holds them anyway.
    pub fn storage_bytes(&self) -> usize {
        let triples = self.triples.as_ref().map_or(0, |t| 3 * FP_BYTES * t.len());
        self.chunks
            .iter()
            .map(ClientChunk::storage_bytes)
            .sum::<usize>()
            + triples
    }
}

impl<M: Modulus> core::fmt::Debug for ClientPreprocessed<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ClientPreprocessed(len = {}, redacted)", self.len)
    }
}
