//! Private inference (semi-honest, two parties): the Delphi hybrid protocol (Mishra et al.,
//! USENIX Security 2020) with the Circa ReLU (Ghodsi et al., NeurIPS 2021, arXiv 2106.08475),
//! pruned (identity) channels as in DeepReDuce (Jha et al., ICML 2021) and degree-2 polynomial
//! activations as in Diaa et al. (arXiv 2306.08538). Library only, over any
//! [`circa_ot::Channel`]; the TCP server and client live in `crate::net`.
//!
//! # Usage
//!
//! ```text
//! model:  let model = ServerModel::new(&network, params)?;  // encoded once, shared by sessions
//! server: let mut s = ServerSession::handshake(&mut ch, &model, &mut rng)?;
//!         while s.serve_one(&mut ch)?.is_some() {}
//! client: let mut c = ClientSession::handshake(&mut ch, &mut rng)?;
//!         let pre = c.offline(&mut ch)?;            // input-independent
//!         let logits = c.online(&mut ch, pre, &x)?; // consumes `pre`
//!         c.close(&mut ch)?;
//! ```
//!
//! The handshake sends the public [`PrivateParams`] (prime, fractional bits `f`, ReLU variant
//! and product path, [`SignScale`](crate::SignScale)), the architecture (never the weights)
//! and the weights' bit width; then the ReLU session (`circa_relu::protocol`: fingerprints,
//! free-XOR Delta, base OTs) and the linear-correlation OT sessions are set up once.
//!
//! The protocol is the walk of [`crate::engine`] run by each party in each phase; every layer
//! kind's protocol (its offline material and online messages) is written once, in its own
//! module of `engine::layers`, beside its plaintext semantics. The summary below follows the
//! kinds.
//!
//! # The protocol
//!
//! Every tensor is additively shared, `x = x_C + x_S mod p`, at fixed-point scale `2^f`
//! (products at `2^(2f)`), exactly as the fixed-point reference [`crate::fixed`] computes it.
//!
//! * **Linear layers** (convolution, dense): the client's share of the input is a random
//!   `r_i` chosen offline. Offline, a linear correlation leaves the client with `W r_i - s_i`
//!   and the server with `s_i`, made per layer by one of two methods (`engine::linear_choice`,
//!   [`LinearMode`], default [`LinearMode::Auto`]: the faster by `circa_share::he::cost` over a
//!   1 Gbit/s link): `circa_share::ole`'s vector OLE from correlated OT (for a convolution one
//!   matrix product per group on the client's im2col of `r_i`; about 50-80 B per
//!   multiply-accumulate), or `circa_share::he`'s BFV correlation (the client encrypts `r_i`
//!   under its own key, the server multiplies by its kernel polynomials, adds `-s_i` and a
//!   noise flood, switches modulus and returns; 0.5-5 B per multiply-accumulate on the
//!   Fashion-MNIST ResNet-8, one round trip per layer).
//!   Online the server computes `W (x - r_i) + s_i + b` (bias at `2^(2f)`), no communication.
//!   The weights' signed bit width is a public session parameter (sent in the handshake).
//! * **Re-masking**: when a linear layer's input share is not the fresh `r_i`, or a sign test's
//!   client share is not uniform and known offline, the client sends (its share - a fresh mask)
//!   and the server adds it. If the client's share is known offline (linear -> local ops ->
//!   linear, or a truncated / pooled linear output feeding a ReLU) this goes offline (8 B per
//!   element); otherwise it goes in the same flight as the client's previous message (the
//!   ReLU's `d`, the polynomial opening), so it costs no round. Uniform client shares matter
//!   for the stochastic sign: its fault model (and `crate::simulate`) assume `c` uniform and
//!   independent of `y`, while a truncated share lies in `[0, p / 2^f)`, which would make a
//!   positive `y` fault `2^f` times as often.
//! * **Local ops**: reshape, residual add, identity (pruned channels cost nothing), average
//!   pooling (sum times the public `round(2^f / area)`, then rescale).
//! * **Rescale** `2^(2f) -> 2^f`: local share truncation (`circa_share::fixed_point`): each
//!   party shifts its own share with the prime-field wrap correction. With a uniform client
//!   share `c` the result is `floor(x / 2^f)` plus one with probability `(x mod 2^f) / 2^f`
//!   (unbiased stochastic rounding: the reference's `floor` is matched or exceeded by one unit;
//!   measured in `tests/private.rs` `truncation_convention`: on the 360 test images the
//!   predictions of the floor and round-to-nearest references are identical, and simulated
//!   stochastic rounding changes 0.1 / 360 predictions of the digits CNN, none of the other
//!   two, so neither convention matches better); it
//!   fails (an error of about `p / 2^f`) with probability `|x| / p` for the value `x` at scale
//!   `2^(2f)`. The `|x| / p` model needs a uniform client share: every truncated tensor's
//!   client share is a linear layer's `W r - s`, a ReLU output or a fresh mask (the
//!   polynomial's combination is re-masked, below). The expected number of failures per inference is `sum |x| / p` over the
//!   truncated elements (measured on the bundled models in `tests/private.rs`).
//!   With `SignScale::Product` a linear output consumed only by ReLUs is not truncated before
//!   the ReLU: the sign test runs at `2^(2f)` and the ReLU output is truncated; with
//!   `SignScale::Rescaled` the truncation comes first. The network output is never truncated by
//!   the parties: the client reconstructs it at `2^(2f)` and rescales exactly.
//! * **ReLU**: `circa_relu` with the client's share `c` known offline (it is `W r - s` after
//!   local ops, or a fresh mask), so the garbled circuit, the client's input labels and the
//!   conversion material are all produced offline. Online: server flight (its input labels and
//!   the output tables), client flight (`d`). `ChannelRelu`: only the ReLU channels run it.
//! * **Max pool**: `max(a, b) = a + ReLU(b - a)`, as a balanced tree over each window (pairs
//!   in `kernels::pool_windows` order, an odd candidate passed up): `ceil(log2(area))` ReLU
//!   levels, `area - 1` ReLUs per output. The level-0 differences have offline-known client
//!   shares when the pool's input does (else the input is re-masked); every later level's
//!   candidates are re-masked to fresh offline masks in the flight carrying the previous
//!   level's `d`. So a 2x2 pool costs 2 ReLU rounds (the sequential fold would cost 3); with
//!   the exact sign the result is exactly the reference's maximum (max is associative), and
//!   with `SignScale::Product` the sign of `2^f (b - a)` is tested and the selected value is
//!   divided back exactly (a multiple of `2^f`: truncation is exact unless it wraps).
//! * **Polynomial** `c0 + c1 x + c2 x^2`: one Beaver multiplication `x * x` per unit with a
//!   triple from `circa_share::OtTripleSource` (OT-based, made offline). Online one round: the
//!   server sends its shares of `(x - a, x - b)`, the client answers with its own (plus any
//!   re-masking). Then `q = trunc(x^2)`, `trunc(c2 q + c1 x + c0)` (coefficients public: `c1,
//!   c2` at `2^f`, `c0` at `2^(2f)`), as in the reference. The client's share of
//!   `c2 q + c1 x` is built from truncated shares (small, in `[0, p / 2^f)`), which made its
//!   truncation wrap far more often than `|x| / p` (twice the modelled wraps in
//!   `tests/private.rs`, 2 of 360 digits_poly predictions); the client re-masks it to a fresh
//!   offline mask in the same flight as its opening (8 B per unit, no round).
//! * **Output**: the server sends its share of the logits; the client reconstructs.
//!
//! Preprocessed material cannot be used twice:
//!
//! ```compile_fail
//! # use circa_nn::private::{ClientPreprocessed, ClientSession};
//! # fn twice(c: &mut ClientSession, ch: &mut circa_ot::MemChannel, pre: ClientPreprocessed) {
//! let first = c.online(ch, pre, &[0.0; 64]);
//! let again = c.online(ch, pre, &[0.0; 64]); // error[E0382]: use of moved value: `pre`
//! # }
//! ```
//!
//! Everything preprocessed (masks, correlations, ReLU material, triples) belongs
//! to ONE inference and is consumed by value by its online phase ([`ClientPreprocessed`] is not
//! `Clone`; the server's material never leaves its session). Rounds of the digits CNN: 12
//! one-way flights (input; 3 ReLU layers and 2 max-pool levels at 2 flights each; logits).
//!
//! # Measured (bundled digits models, loopback TCP, per inference)
//!
//! `cargo test -p circa-nn --release --test private -- --ignored --nocapture report_costs`
//! (2-core machine shared with other builds, load ~15: times are noisy upper bounds; bytes,
//! flights and storage are exact). `p41 f=10` unless stated; "circa" = truncated sign `k = 12`,
//! PosZero, label-table product, sign test at the product scale.
//!
//! | model | ReLU | ReLUs | offline s | online s | offline B c->s / s->c | of which ReLU | online B c->s / s->c | flights | client storage |
//! |---|---|---|---|---|---|---|---|---|---|
//! | digits_cnn | exact | 1184 | 0.30 | 0.113 | 2,643,424 / 7,061,592 | 5,923 B/ReLU | 17,920 / 795,768 | 12 | 7,024,208 |
//! | digits_cnn | Delphi baseline circuit | 1184 | 0.51 | 0.259 | 2,643,424 / 14,075,364 | 11,846 B/ReLU | 8,448 / 776,824 | 12 | 14,039,556 |
//! | digits_cnn | circa | 1184 | 0.12 | 0.024 | 2,416,096 / 1,946,712 | 1,411 B/ReLU | 17,920 / 568,440 | 12 | 1,682,000 |
//! | digits_cnn | circa, p31 f=8 k=8 | 1184 | 0.08 | 0.010 | 1,499,232 / 1,402,704 | 1,122 B/ReLU | 17,920 / 454,776 | 12 | 1,341,008 |
//! | digits_cnn_pruned | circa | 896 | 0.09 | 0.009 | 2,281,168 / 1,673,296 | 1,408 B/ReLU | 15,360 / 430,192 | 10 | 1,276,496 |
//! | digits_poly | polynomial | 0 | 0.16 | 0.001 | 2,915,792 / 1,225,136 | - | 15,104 / 12,880 | 8 | 27,984 |
//!
//! The Circa ReLU's offline bytes are 1,411 B per ReLU, 7.7 % of Delphi's 18,248 B per ReLU
//! (12.9x less; 8.4x less than this crate's own Delphi-style baseline circuit); they are 38 % of
//! the digits CNN's offline bytes, the linear correlations the rest. Online bytes are dominated
//! by the garbler's input labels for the server's shares (16 B per comparator bit).
//! On all 360 test images the private run with the Circa ReLU (k = 12) agrees with the
//! fixed-point reference on 360/360 predictions (accuracy 355/360 = 98.61 %, the plaintext
//! accuracy).
//!
//! Expected local-truncation wraps per inference (`sum |x| / p` over the rescales, mean over the
//! 360 test images; `tests/private.rs`), sign test at the product / rescaled scale:
//!
//! | model | truncations | p41 f=10 | p41 f=12 | p31 f=8 |
//! |---|---|---|---|---|
//! | digits_cnn | 874 | 2.7e-4 / 4.6e-4 | 4.4e-3 / 7.4e-3 | 1.6e-2 / 2.8e-2 |
//! | digits_cnn_pruned | 874 | 3.4e-4 / 4.8e-4 | 5.5e-3 / 7.7e-3 | 2.1e-2 / 2.9e-2 |
//! | digits_poly | 2602 | 1.7e-3 | 2.7e-2 | 1.0e-1 |
//!
//! A wrap adds about `p / 2^f` to one element (followed by a ReLU it is zeroed half the time);
//! with the 31-bit prime about 1.6 % of digits-CNN inferences (10 % for the polynomial network)
//! would contain one, which is why `p41, f = 10` is the tested default.
//!
//! # Security (semi-honest)
//!
//! The client learns the architecture, the parameters and the output, and (stochastic ReLUs)
//! the faults' effect on the output; the server learns nothing about the input. The server's
//! view: `x - r`, re-masking messages `v - m` (fresh masks: uniform), the correlations' and
//! triples' OT transcripts (see `circa_share::ole`), the ReLU protocol's view (`d`, uniform),
//! the Beaver openings (uniform `a`, `b`). The client's view: the OT transcripts, the ReLU
//! protocol's view, the server's openings and its output share (given the output, determined
//! by it). Public besides the architecture: the parameters and the weights' bit width.
//!
//! What the handshake reveals, exactly: the protocol version; the 12-byte parameters (prime,
//! `f`, ReLU variant with `k` and tie rule, product path, sign scale); the architecture
//! (`Architecture::to_bytes`: input shape, every layer's operator, geometry and inputs, layer
//! names (at most 1024 bytes each, from the model file: rename them if they are sensitive),
//! ChannelRelu masks, polynomial coefficients, the output tensor); one byte `w`, the smallest
//! signed bit width of the encoded weights, i.e. `2^(w-2) <= max |round(2^f W)| < 2^(w-1)`
//! (biases are not bounded by it); the per-layer sign-test choices and input bound of a
//! calibrated model; one byte per layer naming its linear correlation (OT, or HE with its
//! parameter set: a function of the public shapes, `w` and the server's mode); then the OT
//! setup messages (independent of the model) and, from the client, one BFV public key per HE
//! parameter set in use.
//! A network output consumed by no truncation is sent at `2^(2f)`, so the client learns the
//! logits with `2f` fractional bits rather than `f` (a function of the output, not more).

mod error;
pub mod msgs;
mod params;

use std::sync::Arc;
use std::time::Instant;

use circa_ot::{Channel, Prg};
use circa_relu::ReluParams;
use circa_relu::protocol::{ReluClient, ReluServer};
use circa_share::Modulus;
use circa_share::ole::{LinearCorrelationClient, LinearCorrelationServer, MAX_WEIGHT_BITS};
use rand_core::CryptoRng;

pub use error::{PrivateError, Result};
pub(crate) use params::{ByPrime, by_prime, by_prime_new};
pub use params::{MIN_RANGE_BITS, Prime, PrivateParams};

use crate::engine::client::{self as client_phase, ClientMaterial, ClientSetup};
use crate::engine::linear_choice::{self, LinearChoice};
pub use crate::engine::linear_choice::{DEFAULT_LINK_BYTES_PER_SEC, LinearMode};
use crate::engine::server::{self as server_phase, ServerSetup};
use crate::engine::{EncodedNetwork, Plan, PublicConstants, SiteChoice};
use crate::model::{Architecture, Network};
use circa_share::he::{self, HeLinearClient};
use msgs::{TAG_DONE, TAG_INFER, recv_tag, send_tag};

/// Costs of one inference, as seen by one party (`c2s` = client to server).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionStats {
    /// Wall-clock seconds of the offline phase.
    pub offline_seconds: f64,
    /// Wall-clock seconds of the online phase.
    pub online_seconds: f64,
    /// Offline bytes, client to server.
    pub offline_bytes_c2s: u64,
    /// Offline bytes, server to client.
    pub offline_bytes_s2c: u64,
    /// Online bytes, client to server.
    pub online_bytes_c2s: u64,
    /// Online bytes, server to client.
    pub online_bytes_s2c: u64,
    /// Online one-way flights, both directions (a round trip is two).
    pub online_rounds: u64,
    /// Bytes the client stores between the phases (0 on the server's side).
    pub client_storage_bytes: u64,
    /// Offline bytes (both directions) of the ReLU preprocessing alone.
    pub offline_relu_bytes: u64,
    /// ReLUs evaluated (activations and max pooling).
    pub relus: u64,
    /// Offline bytes (both directions) of the linear-layer correlations alone (OT or HE).
    pub offline_linear_bytes: u64,
    /// Multiply-accumulates of the linear layers (padding included; divides
    /// `offline_linear_bytes` into bytes per MAC).
    pub linear_macs: u64,
}

/// Most threads a session garbles on ([`ServerModel::set_garble_threads`]).
pub const MAX_GARBLE_THREADS: usize = 64;

/// The server's model, encoded once for one set of parameters and shared (read-only) by every
/// session: the weights in the field, their bit width, the plan and the architecture's bytes.
/// Building it checks every weight, bias and coefficient against the field at its scale.
pub struct ServerModel {
    params: PrivateParams,
    sites: Vec<SiteChoice>,
    input_bound: Option<f64>,
    architecture_bytes: Vec<u8>,
    /// Threads each session garbles its ReLU chunks on (see [`ServerModel::set_garble_threads`]).
    garble_threads: usize,
    /// The mode of the linear layers' choices.
    linear_mode: LinearMode,
    encoded: ByPrime<
        Arc<EncodedNetwork<circa_share::P2061584302081>>,
        Arc<EncodedNetwork<circa_share::P2138816513>>,
    >,
}

impl core::fmt::Debug for ServerModel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ServerModel({:?}, weights redacted)", self.params)
    }
}

impl ServerModel {
    /// Encodes `network` under `params` (validated here). A calibrated network
    /// ([`Network::calibration`]) runs its calibrated sign tests (with a truncated-sign
    /// variant) and has its ranges checked against the field: `params` must be the ones it was
    /// calibrated for. Otherwise every sign test runs at its default.
    pub fn new(network: &Network, params: PrivateParams) -> Result<Self> {
        let Some(c) = network.calibration() else {
            return Self::with_sites(network, params, &[]);
        };
        if c.prime != params.prime
            || c.frac_bits != params.frac_bits
            || c.sign_scale != params.sign_scale
        {
            return Err(PrivateError::InvalidParams {
                reason: "the model was calibrated for another prime, f or sign scale: serve it with those or calibrate again",
            });
        }
        let sites = match params.relu.0 {
            circa_relu::Variant::TruncatedSign { .. } => c.sites.clone(),
            _ => Vec::new(),
        };
        let mut model = Self::with_sites(network, params, &sites)?;
        check_ranges(model.plan(), c, params)?;
        model.input_bound = Some(c.input_bound);
        Ok(model)
    }

    /// As [`ServerModel::new`], with the sign tests of `sites` at their own `k` and tie rule
    /// (a calibrated model); the choices are sent to the client in the handshake.
    pub fn with_sites(
        network: &Network,
        params: PrivateParams,
        sites: &[SiteChoice],
    ) -> Result<Self> {
        params.validate()?;
        let encoded = by_prime_new!(params.prime, M => {
            Arc::new(EncodedNetwork::<M>::with_sites(network, params.plan(), sites)?)
        });
        let weight_bits = by_prime!(&encoded, e => e.weight_bits());
        let max_bits = (params.prime.bits() - 2).min(MAX_WEIGHT_BITS);
        if weight_bits > max_bits {
            let (layer, value) = by_prime!(&encoded, e => e.widest_weight()).unwrap_or_default();
            let name = network.architecture().layers()[layer].name.clone();
            return Err(PrivateError::WeightsTooWide {
                layer,
                name,
                value,
                bits: weight_bits,
                max_bits,
            });
        }
        Self {
            params,
            sites: sites.to_vec(),
            input_bound: None,
            architecture_bytes: network.architecture().to_bytes(),
            garble_threads: 1,
            linear_mode: LinearMode::Ot,
            encoded,
        }
        .with_linear(LinearMode::default())
    }

    /// Chooses every linear layer's correlation under `mode` ([`LinearMode::Auto`] is what
    /// [`ServerModel::new`] does): OT, HE, or per layer the cheaper by the cost model. The
    /// choice is sent to the client in the handshake.
    pub fn with_linear(self, mode: LinearMode) -> Result<Self> {
        self.with_linear_options(mode, false)
    }

    /// [`ServerModel::with_linear`], with the HE layers' kernel NTT forms precomputed when
    /// `ntt_cache` (faster offline answers, for [`ServerModel::he_cache_bytes`] of memory held
    /// once per model).
    pub fn with_linear_options(mut self, mode: LinearMode, ntt_cache: bool) -> Result<Self> {
        let busy = PrivateError::InvalidParams {
            reason: "the model is shared: choose the linear mode before serving",
        };
        match &mut self.encoded {
            ByPrime::P41(e) => Arc::get_mut(e).ok_or(busy)?.set_linear(mode, ntt_cache)?,
            ByPrime::P31(e) => Arc::get_mut(e).ok_or(busy)?.set_linear(mode, ntt_cache)?,
        }
        self.linear_mode = mode;
        Ok(self)
    }

    /// The linear mode the choices were made under.
    pub fn linear_mode(&self) -> LinearMode {
        self.linear_mode
    }

    /// Every linear layer's correlation (OT or HE) and both methods' estimated costs.
    pub fn linear_choices(&self) -> &[LinearChoice] {
        by_prime!(&self.encoded, e => e.linear_choices())
    }

    /// Bytes of the HE layers' kernel NTT caches (0 without).
    pub fn he_cache_bytes(&self) -> usize {
        by_prime!(&self.encoded, e => e.he_cache_bytes())
    }

    /// Garbles every session's ReLU chunks on `threads` threads (clamped to
    /// `1..=`[`MAX_GARBLE_THREADS`]; default 1). The garbled tables, labels and tweaks do not
    /// depend on it (nothing on the wire changes), so clients need no matching setting.
    pub fn set_garble_threads(&mut self, threads: usize) {
        self.garble_threads = threads.clamp(1, MAX_GARBLE_THREADS);
    }

    /// Threads each session garbles on ([`ServerModel::set_garble_threads`]).
    pub fn garble_threads(&self) -> usize {
        self.garble_threads
    }

    /// The per-layer sign-test choices every session runs (empty: the defaults).
    pub fn sites(&self) -> &[SiteChoice] {
        &self.sites
    }

    /// The largest `|x|` a client's input may have (from calibration; sent to the client).
    pub fn input_bound(&self) -> Option<f64> {
        self.input_bound
    }

    /// The plan every session runs.
    pub fn plan(&self) -> &Arc<Plan> {
        by_prime!(&self.encoded, e => e.plan())
    }

    /// The session parameters.
    pub fn params(&self) -> &PrivateParams {
        &self.params
    }

    /// The weights' signed bit width (public: sent in the handshake).
    pub fn weight_bits(&self) -> u32 {
        by_prime!(&self.encoded, e => e.weight_bits())
    }

    /// The public architecture.
    pub fn architecture(&self) -> &Architecture {
        by_prime!(&self.encoded, e => e.architecture())
    }
}

/// The server's side of a private-inference session (one client, many inferences).
pub struct ServerSession {
    inner: ByPrime<
        Box<ServerSetup<circa_share::P2061584302081>>,
        Box<ServerSetup<circa_share::P2138816513>>,
    >,
    stats: SessionStats,
}

impl core::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ServerSession(secrets redacted)")
    }
}

fn server_setup<M: Modulus, C: Channel + ?Sized, R: CryptoRng + ?Sized>(
    ch: &mut C,
    net: &Arc<EncodedNetwork<M>>,
    params: PrivateParams,
    garble_threads: usize,
    rng: &mut R,
) -> Result<Box<ServerSetup<M>>> {
    let relu_params = ReluParams::<M>::new(params.relu.0, params.relu.1, params.frac_bits)?;
    let mut relu = ReluServer::setup(ch, &relu_params, rng)?;
    relu.set_threads(garble_threads);
    let lin = LinearCorrelationServer::setup(ch, rng)?;
    ch.flush()?;
    let mut keys = Vec::new();
    for params in linear_choice::params_used(net.he_plans()) {
        keys.push((params.set(), he::driver::recv_public_key(ch, &params)?));
    }
    Ok(Box::new(ServerSetup {
        net: Arc::clone(net),
        params,
        relu,
        lin,
        prg: Prg::from_crypto_rng(rng),
        he: keys,
    }))
}

/// Every calibrated tensor bound, at its scale and with a factor 2 of headroom (4 for max-pool
/// inputs, whose differences are tested), must fit the field's centred range, and for a
/// tensor whose sign tests fuse their rescale, the range within which the fused rescale
/// cannot wrap (`circa_relu::params::fused_range`, a little below `p / 2`).
fn check_ranges(
    plan: &Plan,
    c: &crate::calibration::Calibration,
    params: PrivateParams,
) -> Result<()> {
    let p = params.prime.value();
    let half = (p / 2) as f64;
    let f = params.frac_bits;
    for (t, bound) in &c.tensor_bounds {
        let bits = match plan.scale(*t) {
            crate::engine::Scale::Single => f,
            crate::engine::Scale::Product => 2 * f,
        };
        let readers = plan.steps().iter().filter(|s| s.inputs.first() == Some(t));
        let mut pooled = false;
        let mut limit = half;
        // The largest scale the value reaches: its own, or (a max pool's differences tested at
        // the product scale) its own times the public 2^f.
        let mut test_bits = bits;
        for s in readers {
            let site = match &s.kind {
                crate::engine::Kind::MaxPool(m) => {
                    pooled = true;
                    let lifted = m.site().scale_bits(f);
                    test_bits = test_bits.max(bits.max(lifted));
                    m.site()
                }
                crate::engine::Kind::Relu(r) => r.site(),
                _ => continue,
            };
            if site.fused {
                let k = site.variant.truncation_bits();
                limit = limit.min(circa_relu::params::fused_range(p, k) as f64);
            }
        }
        let headroom = if pooled { 4.0 } else { 2.0 };
        if bound * f64::from(test_bits).exp2() * headroom >= limit {
            return Err(PrivateError::Network(crate::NnError::RangeOverflow {
                tensor: *t,
                bound: *bound,
                scale_bits: test_bits,
            }));
        }
    }
    Ok(())
}

/// One inference on the server's side (offline, then online), its costs in `stats`.
fn serve_inference<M: Modulus, C: Channel + ?Sized>(
    setup: &mut ServerSetup<M>,
    ch: &mut C,
    stats: &mut SessionStats,
) -> Result<()> {
    let s0 = ch.stats();
    let t0 = Instant::now();
    let pre = server_phase::offline(setup, ch)?;
    stats.offline_relu_bytes = pre.relu_bytes;
    stats.offline_linear_bytes = pre.linear_bytes;
    stats.linear_macs = setup.net.plan().linear_macs();
    stats.offline_seconds = t0.elapsed().as_secs_f64();
    let s1 = ch.stats();
    let t1 = Instant::now();
    let flights = server_phase::online(setup, ch, pre)?;
    stats.online_seconds = t1.elapsed().as_secs_f64();
    let (off, on) = (s1.since(&s0), ch.stats().since(&s1));
    stats.offline_bytes_s2c = off.bytes_sent;
    stats.offline_bytes_c2s = off.bytes_received;
    stats.online_bytes_s2c = on.bytes_sent;
    stats.online_bytes_c2s = on.bytes_received;
    stats.online_rounds = flights;
    stats.relus = setup.net.plan().relu_count() as u64;
    Ok(())
}

impl ServerSession {
    /// Sends the parameters, the architecture and the weights' bit width to the client and
    /// sets up the ReLU and OT sessions. Nothing about the weights is computed here: the model
    /// was encoded once, in [`ServerModel::new`].
    pub fn handshake<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        model: &ServerModel,
        rng: &mut R,
    ) -> Result<Self> {
        let (params, threads) = (model.params, model.garble_threads);
        ch.send(&params.to_bytes())?;
        ch.send_frame(&model.architecture_bytes)?;
        ch.send(&[model.weight_bits() as u8])?;
        ch.send(&msgs::encode_sites(&model.sites))?;
        ch.send(&msgs::encode_input_bound(model.input_bound))?;
        ch.send(&by_prime!(&model.encoded, e => {
            linear_choice::encode_methods(e.plan(), e.linear_choices())
        }))?;
        ch.flush()?;
        let inner = match &model.encoded {
            ByPrime::P41(net) => ByPrime::P41(server_setup(ch, net, params, threads, rng)?),
            ByPrime::P31(net) => ByPrime::P31(server_setup(ch, net, params, threads, rng)?),
        };
        Ok(Self {
            inner,
            stats: SessionStats::default(),
        })
    }

    /// Serves one inference (offline, then online); `None` when the client ends the session.
    pub fn serve_one<C: Channel + ?Sized>(&mut self, ch: &mut C) -> Result<Option<()>> {
        match recv_tag(ch)? {
            TAG_INFER => {}
            TAG_DONE => return Ok(None),
            actual => {
                return Err(PrivateError::UnexpectedTag {
                    expected: TAG_INFER,
                    actual,
                });
            }
        }
        by_prime!(&mut self.inner, s => serve_inference(s, ch, &mut self.stats))?;
        Ok(Some(()))
    }

    /// Costs of the last inference served (server's view; no client storage).
    pub fn last_stats(&self) -> SessionStats {
        self.stats
    }
}

/// The client's preprocessed material for ONE inference: consumed by [`ClientSession::online`].
/// Not `Clone`; zeroized on drop; `Debug` redacted.
pub struct ClientPreprocessed {
    inner: ByPrime<
        ClientMaterial<circa_share::P2061584302081>,
        ClientMaterial<circa_share::P2138816513>,
    >,
    offline_seconds: f64,
    offline_bytes: circa_ot::ChannelStats,
}

impl core::fmt::Debug for ClientPreprocessed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ClientPreprocessed({} bytes stored, redacted)",
            self.storage_bytes()
        )
    }
}

impl ClientPreprocessed {
    /// Bytes stored between the phases: masks, correlation outputs `W r - s`, ReLU material
    /// (garbled tables, labels, conversion pads), square pairs.
    pub fn storage_bytes(&self) -> u64 {
        by_prime!(&self.inner, p => p.storage_bytes())
    }
}

/// The client's side of a private-inference session.
pub struct ClientSession {
    input_bound: Option<f64>,
    inner: ByPrime<
        Box<ClientSetup<circa_share::P2061584302081>>,
        Box<ClientSetup<circa_share::P2138816513>>,
    >,
    arch: Architecture,
    params: PrivateParams,
    stats: SessionStats,
}

impl core::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ClientSession({:?}, secrets redacted)", self.params)
    }
}

fn client_setup<M: Modulus, C: Channel + ?Sized, R: CryptoRng + ?Sized>(
    ch: &mut C,
    arch: &Architecture,
    plan: &Arc<Plan>,
    params: PrivateParams,
    weight_bits: u32,
    methods: &[u8],
    rng: &mut R,
) -> Result<Box<ClientSetup<M>>> {
    let constants = PublicConstants::<M>::new(plan, arch)?;
    let he_plans = linear_choice::he_plans::<M>(plan, methods, weight_bits)?;
    let relu_params = ReluParams::<M>::new(params.relu.0, params.relu.1, params.frac_bits)?;
    let relu = ReluClient::setup(ch, &relu_params, rng)?;
    let lin = LinearCorrelationClient::setup(ch, rng)?;
    let mut he = Vec::new();
    for params in linear_choice::params_used(he_plans.iter().flatten()) {
        let key = HeLinearClient::new(&params, rng);
        he::driver::send_public_key(ch, &key)?;
        he.push((params.set(), key));
    }
    ch.flush()?;
    Ok(Box::new(ClientSetup {
        plan: Arc::clone(plan),
        constants,
        params,
        relu,
        lin,
        prg: Prg::from_crypto_rng(rng),
        weight_bits,
        he,
        he_plans,
    }))
}

impl ClientSession {
    /// Receives the parameters, the architecture (bounded decoding, validated) and the
    /// weights' bit width, and sets up the ReLU and OT sessions.
    pub fn handshake<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self> {
        let mut pb = [0u8; params::PARAMS_BYTES];
        ch.recv(&mut pb)?;
        let params = PrivateParams::from_bytes(&pb)?;
        let bytes = ch.recv_frame(msgs::MAX_ARCHITECTURE_BYTES)?;
        let arch = Architecture::from_bytes(&bytes)?;
        let weight_bits = u32::from(recv_tag(ch)?);
        if !(2..=MAX_WEIGHT_BITS).contains(&weight_bits) || weight_bits + 2 > params.prime.bits() {
            return Err(PrivateError::InvalidParams {
                reason: "weight bit width out of range",
            });
        }
        let sites = msgs::recv_sites(ch, arch.layers().len())?;
        let input_bound = msgs::recv_input_bound(ch)?;
        let plan = Arc::new(Plan::with_sites(&arch, params.plan(), &sites)?);
        let mut methods = vec![0u8; plan.steps().len()];
        ch.recv(&mut methods)?;
        let (w, m) = (weight_bits, methods.as_slice());
        let inner = match params.prime {
            Prime::P41 => ByPrime::P41(client_setup(ch, &arch, &plan, params, w, m, rng)?),
            Prime::P31 => ByPrime::P31(client_setup(ch, &arch, &plan, params, w, m, rng)?),
        };
        Ok(Self {
            inner,
            arch,
            params,
            input_bound,
            stats: SessionStats::default(),
        })
    }

    /// The architecture received from the server.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// The session's public parameters.
    pub fn params(&self) -> &PrivateParams {
        &self.params
    }

    /// The largest `|x|` the server accepts in an input (from its calibration), if any.
    pub fn input_bound(&self) -> Option<f64> {
        self.input_bound
    }

    /// Checks `input` against the architecture's length and the server's input bound, before
    /// any protocol work.
    pub fn check_input(&self, input: &[f64]) -> crate::Result<()> {
        let expected = self.arch.input_shape().len();
        if input.len() != expected {
            return Err(crate::NnError::InputLengthMismatch {
                expected,
                actual: input.len(),
            });
        }
        if let Some(bound) = self.input_bound
            && let Some((index, &value)) = input
                .iter()
                .enumerate()
                .find(|(_, v)| v.is_nan() || v.abs() > bound)
        {
            return Err(crate::NnError::InputOutOfRange {
                index,
                value,
                bound,
            });
        }
        Ok(())
    }

    /// The offline phase of one inference (input-independent).
    pub fn offline<C: Channel + ?Sized>(&mut self, ch: &mut C) -> Result<ClientPreprocessed> {
        self.offline_with_progress(ch, &mut |_, _| {})
    }

    /// [`ClientSession::offline`], calling `progress(layers_done, layers_total)` after each
    /// layer's preprocessing (for a progress bar).
    pub fn offline_with_progress<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ClientPreprocessed> {
        send_tag(ch, TAG_INFER)?;
        let s0 = ch.stats();
        let t0 = Instant::now();
        let inner = match &mut self.inner {
            ByPrime::P41(s) => ByPrime::P41(client_phase::offline(s, ch, progress)?),
            ByPrime::P31(s) => ByPrime::P31(client_phase::offline(s, ch, progress)?),
        };
        Ok(ClientPreprocessed {
            inner,
            offline_seconds: t0.elapsed().as_secs_f64(),
            offline_bytes: ch.stats().since(&s0),
        })
    }

    /// The online phase: shares `input` (`C x H x W` reals), runs the network, returns the
    /// logits. Consumes the material of one [`ClientSession::offline`] call.
    pub fn online<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        pre: ClientPreprocessed,
        input: &[f64],
    ) -> Result<Vec<f64>> {
        let storage = pre.storage_bytes();
        let ClientPreprocessed {
            inner,
            offline_seconds,
            offline_bytes,
        } = pre;
        let (relu_bytes, relus, linear_bytes) =
            by_prime!(&inner, p => (p.relu_bytes, p.relus, p.linear_bytes));
        let linear_macs = by_prime!(&self.inner, s => s.plan.linear_macs());
        let s1 = ch.stats();
        let t1 = Instant::now();
        let (logits, flights) = match (&mut self.inner, inner) {
            (ByPrime::P41(s), ByPrime::P41(p)) => client_phase::online(s, ch, p, input)?,
            (ByPrime::P31(s), ByPrime::P31(p)) => client_phase::online(s, ch, p, input)?,
            _ => {
                return Err(PrivateError::Preprocessing {
                    what: "material for another prime",
                });
            }
        };
        let on = ch.stats().since(&s1);
        self.stats = SessionStats {
            offline_seconds,
            online_seconds: t1.elapsed().as_secs_f64(),
            offline_bytes_c2s: offline_bytes.bytes_sent,
            offline_bytes_s2c: offline_bytes.bytes_received,
            online_bytes_c2s: on.bytes_sent,
            online_bytes_s2c: on.bytes_received,
            online_rounds: flights,
            client_storage_bytes: storage,
            offline_relu_bytes: relu_bytes,
            relus,
            offline_linear_bytes: linear_bytes,
            linear_macs,
        };
        Ok(logits)
    }

    /// Costs of the last inference (client's view).
    pub fn last_stats(&self) -> SessionStats {
        self.stats
    }

    /// Ends the session (the server's `serve_one` returns `None`).
    pub fn close<C: Channel + ?Sized>(self, ch: &mut C) -> Result<()> {
        send_tag(ch, TAG_DONE)?;
        ch.flush()?;
        Ok(())
    }
}
