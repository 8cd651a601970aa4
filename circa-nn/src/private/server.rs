//! The server's engine (generic over the modulus): weights encoded once per session; offline
//! walk (linear correlations, ReLU preprocessing, square pairs) and online walk.

use std::collections::VecDeque;

use circa_ot::{Channel, Prg, RotSender};
use circa_relu::ReluParams;
use circa_relu::protocol::{ReluServer, ServerPreprocessed as ReluPre};
use circa_share::{Fp, Modulus, Server};
use zeroize::Zeroize;

use super::error::{PrivateError, Result};
use super::local::{
    Party, fold_level, gather, lift, local_layer, pair_differences, scatter, select, truncate,
};
use super::msgs::{recv_field, send_field};
use super::ole::{Pregenerated, SquarePairs, Support, server_ole, server_squares, server_triples};
use super::params::PrivateParams;
use super::plan::{Plan, Remask, pool_widths, relu_mask};
use crate::fixed::{SignScale, encode};
use crate::kernels;
use crate::model::{Activation, Architecture, Network, Op};

/// The server's material for one inference.
pub(crate) struct ServerPre<M: Modulus> {
    adjust: VecDeque<Vec<Fp<M>>>,
    linear: VecDeque<Vec<Fp<M>>>,
    relus: VecDeque<ReluPre<M>>,
    squares: VecDeque<SquarePairs<Server, M>>,
    pub(crate) relu_offline_bytes: u64,
}

impl<M: Modulus> Drop for ServerPre<M> {
    fn drop(&mut self) {
        self.adjust.iter_mut().for_each(|v| v.zeroize());
        self.linear.iter_mut().for_each(|v| v.zeroize());
    }
}

fn missing(what: &'static str) -> PrivateError {
    PrivateError::Preprocessing { what }
}

fn pop<T>(q: &mut VecDeque<T>, what: &'static str) -> Result<T> {
    q.pop_front().ok_or(missing(what))
}

type Encoded<M> = Option<(Vec<Fp<M>>, Vec<Fp<M>>)>;

/// The server's per-session state for modulus `M`.
pub(crate) struct ServerEngine<M: Modulus> {
    arch: Architecture,
    plan: Plan,
    params: PrivateParams,
    weights: Vec<Encoded<M>>,
    poly: Vec<Option<[Fp<M>; 3]>>,
    relu: ReluServer<M>,
    rot: RotSender,
    prg: Prg,
    supports: Vec<Option<Support>>,
}

impl<M: Modulus> Drop for ServerEngine<M> {
    fn drop(&mut self) {
        for (w, b) in self.weights.iter_mut().flatten() {
            w.zeroize();
            b.zeroize();
        }
    }
}

impl<M: Modulus> ServerEngine<M> {
    pub(crate) fn setup<C: Channel + ?Sized, R: rand_core::CryptoRng + ?Sized>(
        ch: &mut C,
        network: &Network,
        params: PrivateParams,
        rng: &mut R,
    ) -> Result<Self> {
        let f = params.frac_bits;
        let weights = network
            .weights()
            .iter()
            .map(|w| {
                w.as_ref()
                    .map(|w| {
                        let weight = w
                            .weight()
                            .iter()
                            .map(|&v| encode::<M>(v, f, "weight"))
                            .collect::<crate::Result<Vec<_>>>()?;
                        let bias = w
                            .bias()
                            .iter()
                            .map(|&v| encode::<M>(v, 2 * f, "bias"))
                            .collect::<crate::Result<Vec<_>>>()?;
                        Ok::<_, crate::NnError>((weight, bias))
                    })
                    .transpose()
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let arch = network.architecture().clone();
        let poly = arch
            .layers()
            .iter()
            .map(|l| match &l.op {
                Op::Activation(Activation::Polynomial {
                    coefficients: [c0, c1, c2],
                }) => Ok(Some([
                    encode::<M>(*c0, 2 * f, "coefficient")?,
                    encode::<M>(*c1, f, "coefficient")?,
                    encode::<M>(*c2, f, "coefficient")?,
                ])),
                _ => Ok(None),
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let relu_params = ReluParams::<M>::new(params.relu.0, params.relu.1, f)?;
        let relu = ReluServer::setup(ch, &relu_params, rng)?;
        let rot = RotSender::setup(ch, rng)?;
        ch.flush()?;
        let plan = Plan::new(&arch, params.sign_scale);
        let supports = super::linear_supports(&arch);
        Ok(Self {
            arch,
            plan,
            params,
            weights,
            poly,
            relu,
            rot,
            prg: Prg::from_crypto_rng(rng),
            supports,
        })
    }

    fn relu_offline<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
        pre: &mut ServerPre<M>,
    ) -> Result<()> {
        let before = ch.stats();
        let beaver =
            self.params.relu.0.is_sign() && self.params.relu.1 == circa_relu::ProductPath::Beaver;
        let r = if beaver {
            let t = server_triples::<M, _, _>(ch, &mut self.rot, n, &mut self.prg)?;
            self.relu
                .offline_with_triples(ch, n, &mut Pregenerated(t))?
        } else {
            self.relu.offline(ch, n)?
        };
        let d = ch.stats().since(&before);
        pre.relu_offline_bytes += d.bytes_sent + d.bytes_received;
        pre.relus.push_back(r);
        Ok(())
    }

    /// The offline phase of one inference.
    pub(crate) fn offline<C: Channel + ?Sized>(&mut self, ch: &mut C) -> Result<ServerPre<M>> {
        let mut pre = ServerPre {
            adjust: VecDeque::new(),
            linear: VecDeque::new(),
            relus: VecDeque::new(),
            squares: VecDeque::new(),
            relu_offline_bytes: 0,
        };
        let arch = self.arch.clone();
        for (i, layer) in arch.layers().iter().enumerate() {
            let lp = self.plan.layers[i].clone();
            let t = layer.inputs[0];
            let xs = arch.tensor_shape(t).unwrap_or(arch.input_shape());
            if lp.remask == Remask::Offline {
                pre.adjust.push_back(recv_field(ch, xs.len())?);
            }
            match &layer.op {
                Op::Conv2d(_) | Op::Dense { .. } => {
                    let support = self.supports[i].as_ref().ok_or(missing("support"))?;
                    let (w, _) = self.weights[i].as_ref().ok_or(missing("weights"))?;
                    let s = server_ole(ch, &mut self.rot, support, w)?;
                    pre.linear.push_back(s);
                }
                Op::Activation(Activation::Polynomial { .. }) => {
                    let sq = server_squares(ch, &mut self.rot, xs.len(), &mut self.prg)?;
                    pre.squares.push_back(sq);
                }
                Op::Activation(act @ (Activation::Relu | Activation::ChannelRelu { .. })) => {
                    let mask = relu_mask(act, xs.channels, xs.spatial()).unwrap_or_default();
                    let n = mask.iter().filter(|&&m| m).count();
                    if n > 0 {
                        self.relu_offline(ch, n, &mut pre)?;
                    }
                }
                Op::MaxPool(p) => {
                    let outputs = layer.output_shape().len();
                    let widths = pool_widths(p.area());
                    for &w in &widths[..widths.len() - 1] {
                        self.relu_offline(ch, outputs * (w / 2), &mut pre)?;
                    }
                }
                _ => {}
            }
        }
        ch.flush()?;
        Ok(pre)
    }

    /// The online phase: the server's shares layer by layer; sends its share of the output.
    pub(crate) fn online<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        mut pre: ServerPre<M>,
    ) -> Result<()> {
        let f = self.params.frac_bits;
        let product_mode = self.params.sign_scale == SignScale::Product;
        let lift = if product_mode { lift(f) } else { Fp::ONE };
        let arch = self.arch.clone();
        let layers = arch.layers();
        let mut sh: Vec<Vec<Fp<M>>> = Vec::with_capacity(layers.len() + 1);
        sh.push(recv_field(ch, arch.input_shape().len())?);
        for (i, layer) in layers.iter().enumerate() {
            let lp = &self.plan.layers[i];
            let t = layer.inputs[0];
            let xs = arch.tensor_shape(t).unwrap_or(arch.input_shape());
            match lp.remask {
                Remask::No => {}
                Remask::Offline => {
                    let adj = pop(&mut pre.adjust, "offline re-masking")?;
                    sh[t].iter_mut().zip(&adj).for_each(|(v, &a)| *v += a);
                }
                Remask::Online => {
                    let adj = recv_field::<M, _>(ch, xs.len())?;
                    sh[t].iter_mut().zip(&adj).for_each(|(v, &a)| *v += a);
                }
            }
            let out = match &layer.op {
                Op::Conv2d(c) => {
                    let (w, b) = self.weights[i].as_ref().ok_or(missing("weights"))?;
                    let mut y = kernels::conv2d(c, xs, &sh[t], w);
                    let s = pop(&mut pre.linear, "linear correlation")?;
                    y.iter_mut().zip(&s).for_each(|(v, &s)| *v += s);
                    kernels::add_channel_bias(&mut y, b, layer.output_shape().spatial());
                    if !lp.deferred {
                        truncate(Party::Server, &mut y, f);
                    }
                    y
                }
                Op::Dense {
                    in_features,
                    out_features,
                } => {
                    let (w, b) = self.weights[i].as_ref().ok_or(missing("weights"))?;
                    let mut y = kernels::dense(*in_features, *out_features, &sh[t], w);
                    let s = pop(&mut pre.linear, "linear correlation")?;
                    y.iter_mut().zip(&s).for_each(|(v, &s)| *v += s);
                    kernels::add_channel_bias(&mut y, b, 1);
                    if !lp.deferred {
                        truncate(Party::Server, &mut y, f);
                    }
                    y
                }
                Op::Activation(Activation::Polynomial { .. }) => {
                    let [c0, c1, c2] = self.poly[i].ok_or(missing("coefficients"))?;
                    let sq = pop(&mut pre.squares, "square pairs")?;
                    let xv = &sh[t];
                    let d_s: Vec<Fp<M>> = xv.iter().zip(&sq.a).map(|(&x, &a)| x - a).collect();
                    send_field(ch, &d_s)?;
                    let d_c = recv_field::<M, _>(ch, xv.len())?;
                    let two = Fp::<M>::from_u64_reduced(2);
                    let mut x2: Vec<Fp<M>> = (0..xv.len())
                        .map(|k| {
                            let d = d_c[k] + d_s[k];
                            sq.sq[k] + two * d * sq.a[k] + d * d
                        })
                        .collect();
                    truncate(Party::Server, &mut x2, f);
                    let mut y: Vec<Fp<M>> = (0..xv.len())
                        .map(|k| c2 * x2[k] + c1 * xv[k] + c0)
                        .collect();
                    truncate(Party::Server, &mut y, f);
                    y
                }
                Op::Activation(act @ (Activation::Relu | Activation::ChannelRelu { .. })) => {
                    let mask = relu_mask(act, xs.channels, xs.spatial()).unwrap_or_default();
                    let mut y = sh[t].clone();
                    if mask.iter().any(|&m| m) {
                        let s = select(&sh[t], &mask);
                        let r = self.relu.online(ch, pop(&mut pre.relus, "ReLU")?, &s)?;
                        scatter(&mut y, &mask, &r);
                    }
                    if lp.input_at_product {
                        truncate(Party::Server, &mut y, f);
                    }
                    y
                }
                Op::MaxPool(p) => {
                    let windows = kernels::pool_windows(p, xs);
                    let widths = pool_widths(p.area());
                    let mut cand = gather(&sh[t], &windows);
                    for (l, &w) in widths[..widths.len() - 1].iter().enumerate() {
                        if l > 0 {
                            let adj = recv_field::<M, _>(ch, cand.len())?;
                            cand.iter_mut().zip(&adj).for_each(|(v, &a)| *v += a);
                        }
                        let diffs = pair_differences(&cand, w, lift);
                        let mut r = self.relu.online(ch, pop(&mut pre.relus, "ReLU")?, &diffs)?;
                        if product_mode {
                            truncate(Party::Server, &mut r, f);
                        }
                        cand = fold_level(&cand, w, &r);
                    }
                    cand
                }
                op => {
                    let second = layer.inputs.get(1).map(|&u| sh[u].as_slice());
                    let mut y =
                        local_layer(op, xs, &sh[t], second, f).ok_or(missing("local op"))?;
                    if matches!(op, Op::AvgPool(_) | Op::GlobalAvgPool) && !lp.deferred {
                        truncate(Party::Server, &mut y, f);
                    }
                    y
                }
            };
            sh.push(out);
        }
        let out = sh.get(arch.output()).ok_or(missing("output tensor"))?;
        send_field(ch, out)?;
        sh.iter_mut().for_each(|v| v.zeroize());
        Ok(())
    }
}
