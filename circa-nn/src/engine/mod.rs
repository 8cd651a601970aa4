//! The network engine: one plan, one walk over the layers, one module per layer kind.
//!
//! * [`plan`]: the fixed-point plan every backend agrees on, from the public architecture and
//!   parameters (where each rescale happens, the scale of every tensor and sign test, which
//!   inputs are re-masked, when a tensor is last read).
//! * [`EncodedNetwork`]: the server's network encoded once when the model is loaded (weights
//!   and biases in the field, their bit width, the plan, the public constants), shared
//!   read-only by every session and by the references.
//! * `walk`: the one traversal of the layer DAG, run by every backend (a *phase*): the `f64`
//!   reference, the fixed-point reference and the Circa fault simulation ([`reference`]), and
//!   the private client and server, each in its offline and online phase.
//! * `layers`: one type per layer kind (linear, average pooling, ReLU, max pooling,
//!   polynomial, residual add, pass-through), each holding the kind's plaintext semantics and
//!   both parties' halves of its protocol: the offline step returns that layer's typed
//!   material, the online step consumes it by value. An inference's material is a sequence
//!   indexed by layer (`material`), never queues whose push order must match their pop order.
//! * `driver`: the online flights. Steps send and receive through it; it holds back the
//!   sending side until the party next waits for the peer (so consecutive messages in one
//!   direction, e.g. a ReLU's answer and the next layer's re-masking, leave as one flight) and
//!   counts the flights.
//!
//! Adding a layer kind: its `Op` and shape rule in `model/arch.rs`, its module in
//! `engine/layers/` (compile rule, share rule, plaintext semantics, the four protocol halves
//! and their material types), and one variant plus one line per dispatch in
//! `engine/layers/mod.rs` (and, for the wire and the importer, its tag in `model/codec.rs` and
//! its ONNX pattern in `onnx/`).

pub(crate) mod client;
pub(crate) mod driver;
mod encoded;
pub(crate) mod layers;
pub mod linear_choice;
pub(crate) mod material;
pub mod plan;
pub mod reference;
pub(crate) mod server;
pub(crate) mod walk;

use circa_share::fixed_point::{truncate_client_share, truncate_server_share};
use circa_share::{Fp, Modulus};
use zeroize::Zeroizing;

pub(crate) use encoded::signed_bits;
pub use encoded::{EncodedNetwork, PublicConstants};
pub use layers::Kind;
pub use linear_choice::{DEFAULT_LINK_BYTES_PER_SEC, LinearChoice, LinearMethod, LinearMode};
pub use plan::{
    MAX_BAND_BITS, Plan, PlanParams, Remask, Scale, SignScale, SignSite, SiteChoice, Step,
};

/// One party's shares of a tensor, wiped when dropped.
pub(crate) type Shares<M> = Zeroizing<Vec<Fp<M>>>;

/// What the client knows offline of its share of a tensor (`None`: known only online).
pub(crate) type Known<M> = Option<Shares<M>>;

/// Which party holds a share (the rules that differ between them: truncation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Party {
    Client,
    Server,
}

impl Party {
    /// Local share truncation by `bits` (SecureML-style with the prime-field wrap correction,
    /// see `circa_share::fixed_point`): off by at most one unit, fails with probability
    /// `|x| / p` for the shared value `x`.
    pub(crate) fn truncate<M: Modulus>(self, data: &mut [Fp<M>], bits: u32) {
        match self {
            Party::Client => data
                .iter_mut()
                .for_each(|v| *v = truncate_client_share(*v, bits)),
            Party::Server => data
                .iter_mut()
                .for_each(|v| *v = truncate_server_share(*v, bits)),
        }
    }
}

/// `round(2^f / divisor)` in units of `2^-f`: the public fixed-point reciprocal average
/// pooling multiplies by.
pub(crate) fn reciprocal_units(frac_bits: u32, divisor: usize) -> i64 {
    ((frac_bits as f64).exp2() / divisor.max(1) as f64).round() as i64
}

/// `a - b` element-wise.
pub(crate) fn difference<M: Modulus>(a: &[Fp<M>], b: &[Fp<M>]) -> Vec<Fp<M>> {
    a.iter().zip(b).map(|(&x, &y)| x - y).collect()
}

/// `a += b` element-wise.
pub(crate) fn add_assign<M: Modulus>(a: &mut [Fp<M>], b: &[Fp<M>]) {
    a.iter_mut().zip(b).for_each(|(x, &y)| *x += y);
}
