//! The server's engine (generic over the modulus): weights encoded once per session; offline
//! walk (linear correlations, ReLU preprocessing, square pairs) and online walk.

use std::collections::VecDeque;

use circa_ot::{Channel, Prg};
use circa_relu::ReluParams;
use circa_relu::protocol::{ReluServer, ServerPreprocessed as ReluPre};
use circa_share::ole::LinearCorrelationServer;
use circa_share::{Fp, Modulus, Server, Share, Triples, beaver};
use zeroize::{Zeroize, Zeroizing};

use super::correlations::{Pregenerated, server_linear, triples, weight_bits};
use super::error::{PrivateError, Result, missing, pop};
use super::local::{
    Party, fold_level, gather, lift, local_layer, pair_differences, scatter, select, truncate,
};
use super::msgs::{recv_field, send_field};
use super::params::PrivateParams;
use super::plan::{Plan, Remask, pool_widths, relu_mask};
use crate::fixed::{SignScale, encode};
use crate::kernels;
use crate::model::{Activation, Architecture, Network, Op};

/// The server's material for one inference. Every vector is wiped when dropped, also after it
/// has been taken out of its queue by the online phase.
pub(crate) struct ServerPre<M: Modulus> {
    adjust: VecDeque<Zeroizing<Vec<Fp<M>>>>,
    linear: VecDeque<Zeroizing<Vec<Fp<M>>>>,
    relus: VecDeque<ReluPre<M>>,
    poly: VecDeque<Triples<Server, M>>,
    pub(crate) relu_offline_bytes: u64,
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
    lin: LinearCorrelationServer<M>,
    prg: Prg,
    pub(crate) weight_bits: u32,
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
        let all: Vec<Fp<M>> = weights
            .iter()
            .flatten()
            .flat_map(|(w, _)| w.iter().copied())
            .collect();
        let weight_bits = weight_bits(&all);
        if weight_bits + 2 > M::BITS || weight_bits > circa_share::ole::MAX_WEIGHT_BITS {
            return Err(PrivateError::InvalidParams {
                reason: "weights too large for the field at this fixed-point scale",
            });
        }
        ch.send(&[weight_bits as u8])?;
        let relu_params = ReluParams::<M>::new(params.relu.0, params.relu.1, f)?;
        let relu = ReluServer::setup(ch, &relu_params, rng)?;
        let lin = LinearCorrelationServer::setup(ch, rng)?;
        ch.flush()?;
        let plan = Plan::new(&arch, params.sign_scale);
        Ok(Self {
            arch,
            plan,
            params,
            weights,
            poly,
            relu,
            lin,
            prg: Prg::from_crypto_rng(rng),
            weight_bits,
        })
    }

    fn relu_offline<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        n: usize,
        pre: &mut ServerPre<M>,
        pool: &mut Triples<Server, M>,
    ) -> Result<()> {
        let before = ch.stats();
        let beaver =
            self.params.relu.0.is_sign() && self.params.relu.1 == circa_relu::ProductPath::Beaver;
        let r = if beaver {
            let t = pool.take_front(n)?;
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
            poly: VecDeque::new(),
            relu_offline_bytes: 0,
        };
        let arch = self.arch.clone();
        let total = super::plan::triple_count(&arch, &self.params);
        let mut pool = triples::<Server, M, _, _>(ch, total, &mut self.prg)?;
        for (i, layer) in arch.layers().iter().enumerate() {
            let lp = self.plan.layers[i].clone();
            let t = layer.inputs[0];
            let xs = arch.tensor_shape(t).unwrap_or(arch.input_shape());
            if lp.remask == Remask::Offline {
                pre.adjust
                    .push_back(Zeroizing::new(recv_field(ch, xs.len())?));
            }
            match &layer.op {
                Op::Conv2d(_) | Op::Dense { .. } => {
                    let (w, _) = self.weights[i].as_ref().ok_or(missing("weights"))?;
                    let s = server_linear(ch, &mut self.lin, &layer.op, xs, self.weight_bits, w)?;
                    pre.linear.push_back(Zeroizing::new(s));
                }
                Op::Activation(Activation::Polynomial { .. }) => {
                    pre.poly.push_back(pool.take_front(xs.len())?);
                }
                Op::Activation(act @ (Activation::Relu | Activation::ChannelRelu { .. })) => {
                    let mask = relu_mask(act, xs.channels, xs.spatial()).unwrap_or_default();
                    let n = mask.iter().filter(|&&m| m).count();
                    if n > 0 {
                        self.relu_offline(ch, n, &mut pre, &mut pool)?;
                    }
                }
                Op::MaxPool(p) => {
                    let outputs = layer.output_shape().len();
                    let widths = pool_widths(p.area());
                    for &w in &widths[..widths.len() - 1] {
                        self.relu_offline(ch, outputs * (w / 2), &mut pre, &mut pool)?;
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
        // Every share of every tensor, wiped on return (also on an error).
        let mut sh: Zeroizing<Vec<Vec<Fp<M>>>> =
            Zeroizing::new(Vec::with_capacity(layers.len() + 1));
        sh.push(recv_field(ch, arch.input_shape().len())?);
        for (i, layer) in layers.iter().enumerate() {
            let lp = &self.plan.layers[i];
            let t = layer.inputs[0];
            let xs = arch.tensor_shape(t).unwrap_or(arch.input_shape());
            match lp.remask {
                Remask::No => {}
                Remask::Offline => {
                    let adj = pop(&mut pre.adjust, "offline re-masking")?;
                    sh[t].iter_mut().zip(adj.iter()).for_each(|(v, &a)| *v += a);
                }
                Remask::Online => {
                    let adj = Zeroizing::new(recv_field::<M, _>(ch, xs.len())?);
                    sh[t].iter_mut().zip(adj.iter()).for_each(|(v, &a)| *v += a);
                }
            }
            let out = match &layer.op {
                Op::Conv2d(c) => {
                    let (w, b) = self.weights[i].as_ref().ok_or(missing("weights"))?;
                    let mut y = kernels::conv2d(c, xs, &sh[t], w)?;
                    let s = pop(&mut pre.linear, "linear correlation")?;
                    y.iter_mut().zip(s.iter()).for_each(|(v, &s)| *v += s);
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
                    let mut y = kernels::dense(*in_features, *out_features, &sh[t], w)?;
                    let s = pop(&mut pre.linear, "linear correlation")?;
                    y.iter_mut().zip(s.iter()).for_each(|(v, &s)| *v += s);
                    kernels::add_channel_bias(&mut y, b, 1);
                    if !lp.deferred {
                        truncate(Party::Server, &mut y, f);
                    }
                    y
                }
                Op::Activation(Activation::Polynomial { .. }) => {
                    let [c0, c1, c2] = self.poly[i].ok_or(missing("coefficients"))?;
                    let t3 = pop(&mut pre.poly, "polynomial triples")?;
                    let xv = &sh[t];
                    let n = xv.len();
                    let x = Share::<Server, M>::from_vec(xv.clone());
                    let mine = beaver::blind(&x, &x, &t3)?;
                    ch.send(&mine.to_bytes())?;
                    let mut buf = vec![0u8; beaver::BeaverOpening::<M>::encoded_len(n)];
                    ch.recv(&mut buf)?;
                    let theirs = beaver::BeaverOpening::<M>::from_bytes(&buf, n)?;
                    let mut x2 = Zeroizing::new(
                        beaver::finish(t3, &beaver::open(&mine, &theirs)?)?.into_vec(),
                    );
                    truncate(Party::Server, &mut x2, f);
                    // The client re-masks its share of `c2 q + c1 x` in the same flight.
                    let adj = Zeroizing::new(recv_field::<M, _>(ch, n)?);
                    let mut y: Vec<Fp<M>> = (0..n)
                        .map(|k| c2 * x2[k] + c1 * xv[k] + c0 + adj[k])
                        .collect();
                    truncate(Party::Server, &mut y, f);
                    y
                }
                Op::Activation(act @ (Activation::Relu | Activation::ChannelRelu { .. })) => {
                    let mask = relu_mask(act, xs.channels, xs.spatial()).unwrap_or_default();
                    let mut y = sh[t].clone();
                    if mask.iter().any(|&m| m) {
                        let s = Zeroizing::new(select(&sh[t], &mask));
                        let r = Zeroizing::new(self.relu.online(
                            ch,
                            pop(&mut pre.relus, "ReLU")?,
                            &s,
                        )?);
                        scatter(&mut y, &mask, &r);
                    }
                    if lp.input_at_product {
                        truncate(Party::Server, &mut y, f);
                    }
                    y
                }
                Op::MaxPool(p) => {
                    let windows = kernels::pool_windows(p, xs)?;
                    let widths = pool_widths(p.area());
                    let mut cand = Zeroizing::new(gather(&sh[t], &windows));
                    for (l, &w) in widths[..widths.len() - 1].iter().enumerate() {
                        if l > 0 {
                            let adj = Zeroizing::new(recv_field::<M, _>(ch, cand.len())?);
                            cand.iter_mut().zip(adj.iter()).for_each(|(v, &a)| *v += a);
                        }
                        let diffs = Zeroizing::new(pair_differences(&cand, w, lift));
                        let mut r = Zeroizing::new(self.relu.online(
                            ch,
                            pop(&mut pre.relus, "ReLU")?,
                            &diffs,
                        )?);
                        if product_mode {
                            truncate(Party::Server, &mut r, f);
                        }
                        cand = Zeroizing::new(fold_level(&cand, w, &r));
                    }
                    core::mem::take(&mut *cand)
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
        Ok(())
    }
}
