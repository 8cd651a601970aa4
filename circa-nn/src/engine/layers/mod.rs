//! One type per layer kind, each in its own module with its plaintext semantics and both
//! parties' halves of its protocol; here only the enum of kinds, the enums of their material
//! and one dispatch line per kind and phase.

mod add;
mod avgpool;
mod linear;
mod maxpool;
mod pass;
mod polynomial;
mod relu;

use circa_ot::Channel;
use circa_share::{Modulus, OtTripleSource, Role, TripleSource, Triples};

pub use add::Add;
pub use avgpool::AvgPool;
pub use linear::Linear;
pub use maxpool::MaxPool;
pub use pass::Pass;
pub use polynomial::Polynomial;
pub use relu::Relu;

use super::client::{ClientOffline, ClientOnline};
use super::plan::{Compile, Plan, Scale, Share, ShareRule};
use super::reference::Arith;
use super::server::{ServerOffline, ServerOnline};
use super::{Known, Shares};
use crate::error::NnError;
use crate::model::{Activation, Op};
use crate::private::Result;

/// A compiled layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Convolution or dense layer.
    Linear(Linear),
    /// Average pooling (windowed or global).
    AvgPool(AvgPool),
    /// ReLU (every element, or the channels of a mask).
    Relu(Relu),
    /// Max pooling.
    MaxPool(MaxPool),
    /// Polynomial activation.
    Polynomial(Polynomial),
    /// Residual add.
    Add(Add),
    /// Reshape or identity: the data passes unchanged.
    Pass(Pass),
}

/// The client's material of one layer.
pub(crate) enum ClientItem<M: Modulus> {
    Linear(linear::ClientMaterial<M>),
    Relu(relu::ClientMaterial<M>),
    MaxPool(maxpool::ClientMaterial<M>),
    Polynomial(polynomial::ClientMaterial<M>),
}

/// The server's material of one layer.
pub(crate) enum ServerItem<M: Modulus> {
    Linear(linear::ServerMaterial<M>),
    Relu(relu::ServerMaterial<M>),
    MaxPool(maxpool::ServerMaterial<M>),
    Polynomial(polynomial::ServerMaterial<M>),
}

impl<M: Modulus> ClientItem<M> {
    /// Bytes the client stores for this item between the phases.
    pub(crate) fn storage_bytes(&self) -> usize {
        match self {
            ClientItem::Linear(m) => linear::storage_bytes(m),
            ClientItem::Relu(m) => m.storage_bytes(),
            ClientItem::MaxPool(m) => maxpool::storage_bytes(m),
            ClientItem::Polynomial(m) => m.storage_bytes(),
        }
    }
}

impl Kind {
    /// Compiles one layer of the architecture.
    pub(crate) fn compile(c: &Compile<'_>) -> Self {
        match c.op {
            Op::Conv2d(_) | Op::Dense { .. } => Kind::Linear(Linear::compile(c)),
            Op::AvgPool(_) | Op::GlobalAvgPool => Kind::AvgPool(AvgPool::compile(c)),
            Op::MaxPool(_) => Kind::MaxPool(MaxPool::compile(c)),
            Op::Add => Kind::Add(Add::compile(c)),
            Op::Reshape { .. } | Op::Activation(Activation::Identity) => Kind::Pass(Pass),
            Op::Activation(Activation::Polynomial { .. }) => {
                Kind::Polynomial(Polynomial::compile(c))
            }
            Op::Activation(Activation::Relu | Activation::ChannelRelu { .. }) => {
                Kind::Relu(Relu::compile(c))
            }
        }
    }

    /// The re-masking this layer needs and the client's share of its output, given the
    /// client's shares of its inputs and the scale of the first input.
    pub(crate) fn share_rule(&self, inputs: &[Share], input_scale: Scale) -> ShareRule {
        match self {
            Kind::Linear(l) => l.share_rule(inputs),
            Kind::AvgPool(l) => l.share_rule(inputs),
            Kind::Relu(l) => l.share_rule(inputs, input_scale),
            Kind::MaxPool(l) => l.share_rule(inputs),
            Kind::Polynomial(l) => l.share_rule(inputs),
            Kind::Add(l) => l.share_rule(inputs),
            Kind::Pass(l) => l.share_rule(inputs),
        }
    }

    /// ReLUs the layer evaluates privately.
    pub fn relu_count(&self) -> usize {
        match self {
            Kind::Relu(l) => l.count(),
            Kind::MaxPool(l) => l.relu_count(),
            _ => 0,
        }
    }

    /// Plaintext evaluation in any [`Arith`].
    pub(crate) fn plain<A: Arith>(
        &self,
        a: &A,
        layer: usize,
        inputs: &[&[A::V]],
    ) -> std::result::Result<Vec<A::V>, NnError> {
        match self {
            Kind::Linear(l) => l.plain(a, layer, inputs[0]),
            Kind::AvgPool(l) => l.plain(a, layer, inputs[0]),
            Kind::Relu(l) => l.plain(a, inputs[0]),
            Kind::MaxPool(l) => l.plain(a, layer, inputs[0]),
            Kind::Polynomial(l) => l.plain(a, layer, inputs[0]),
            Kind::Add(l) => Ok(l.plain(a, inputs[0], inputs[1])),
            Kind::Pass(l) => Ok(l.plain(inputs[0])),
        }
    }

    /// The client's offline step: stores the layer's material, returns what the client knows
    /// offline of its share of the output.
    pub(crate) fn client_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOffline<'_, M, C>,
        layer: usize,
        inputs: &[&Known<M>],
    ) -> Result<Known<M>> {
        match self {
            Kind::Linear(l) => l.client_offline(p, layer, inputs[0]),
            Kind::AvgPool(l) => l.client_offline(p, inputs[0]),
            Kind::Relu(l) => l.client_offline(p, layer, inputs[0]),
            Kind::MaxPool(l) => l.client_offline(p, layer, inputs[0]),
            Kind::Polynomial(l) => l.client_offline(p, layer),
            Kind::Add(l) => Ok(l.client_offline(p.setup.constants.lift(), inputs[0], inputs[1])),
            Kind::Pass(l) => Ok(l.client_offline(inputs[0])),
        }
    }

    /// The server's offline step: stores the layer's material.
    pub(crate) fn server_offline<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOffline<'_, M, C>,
        layer: usize,
    ) -> Result<()> {
        match self {
            Kind::Linear(l) => l.server_offline(p, layer),
            Kind::Relu(l) => l.server_offline(p, layer),
            Kind::MaxPool(l) => l.server_offline(p, layer),
            Kind::Polynomial(l) => l.server_offline(p, layer),
            Kind::AvgPool(_) | Kind::Add(_) | Kind::Pass(_) => Ok(()),
        }
    }

    /// The client's online step: consumes the layer's material, returns its output share.
    pub(crate) fn client_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ClientOnline<'_, '_, M, C>,
        layer: usize,
        inputs: &[&Shares<M>],
    ) -> Result<Shares<M>> {
        match self {
            Kind::Linear(l) => l.client_online(p, layer),
            Kind::AvgPool(l) => l.online(p.setup.frac_bits(), super::client::PARTY, inputs[0]),
            Kind::Relu(l) => l.client_online(p, layer, inputs[0]),
            Kind::MaxPool(l) => l.client_online(p, layer, inputs[0]),
            Kind::Polynomial(l) => l.client_online(p, layer, inputs[0]),
            Kind::Add(l) => Ok(l.online(p.setup.constants.lift(), inputs[0], inputs[1])),
            Kind::Pass(l) => Ok(l.online(inputs[0])),
        }
    }

    /// The server's online step: consumes the layer's material, returns its output share.
    pub(crate) fn server_online<M: Modulus, C: Channel + ?Sized>(
        &self,
        p: &mut ServerOnline<'_, '_, M, C>,
        layer: usize,
        inputs: &[&Shares<M>],
    ) -> Result<Shares<M>> {
        match self {
            Kind::Linear(l) => l.server_online(p, layer, inputs[0]),
            Kind::AvgPool(l) => l.online(p.setup.frac_bits(), super::server::PARTY, inputs[0]),
            Kind::Relu(l) => l.server_online(p, layer, inputs[0]),
            Kind::MaxPool(l) => l.server_online(p, layer, inputs[0]),
            Kind::Polynomial(l) => l.server_online(p, layer, inputs[0]),
            Kind::Add(l) => Ok(l.online(p.setup.net.constants().lift(), inputs[0], inputs[1])),
            Kind::Pass(l) => Ok(l.online(inputs[0])),
        }
    }
}

/// Beaver triples one inference needs: one per polynomial unit, and one per ReLU on the
/// ReLU's Beaver product path.
pub(crate) fn triple_count(plan: &Plan, beaver_relus: bool) -> usize {
    plan.polynomial_count() + if beaver_relus { plan.relu_count() } else { 0 }
}

/// `n` Beaver triples from a fresh `OtTripleSource` over `ch` (one base-OT setup per
/// inference; both parties call this at the same point with the same `n`).
pub(crate) fn triples<R: Role, M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    n: usize,
    rng: &mut circa_ot::Prg,
) -> Result<Triples<R, M>> {
    if n == 0 {
        return Ok(Triples::empty());
    }
    let mut src = OtTripleSource::<R, M, &mut C>::setup(ch, rng)?;
    Ok(src.triples(n)?)
}
