//! The client's engine (generic over the modulus): offline walk (masks, linear correlations,
//! ReLU preprocessing, square pairs) and online walk (shares layer by layer).

use std::collections::VecDeque;

use circa_ot::{Channel, Prg};
use circa_relu::ReluParams;
use circa_relu::protocol::{ClientPreprocessed as ReluPre, ReluClient};
use circa_share::fixed_point::truncate_plain;
use circa_share::ole::LinearCorrelationClient;
use circa_share::{Client, FP_BYTES, Fp, Modulus, Share, Triples, beaver};
use zeroize::{Zeroize, Zeroizing};

use super::correlations::{Pregenerated, client_linear, triples};
use super::error::{PrivateError, Result, missing, pop};
use super::local::{
    Party, fold_level, gather, lift, local_layer, pair_differences, scatter, select, truncate,
};
use super::msgs::{recv_field, send_field};
use super::params::PrivateParams;
use super::plan::{Plan, Remask, pool_widths, relu_mask};
use crate::fixed::{SignScale, encode};
use crate::kernels;
use crate::model::{Activation, Architecture, Op};

/// The client's material for one inference (one modulus). Every vector is wiped when dropped,
/// also after the online phase has taken it out of its queue.
pub(crate) struct ClientPre<M: Modulus> {
    masks: VecDeque<Zeroizing<Vec<Fp<M>>>>,
    linear: VecDeque<Zeroizing<Vec<Fp<M>>>>,
    relus: VecDeque<ReluPre<M>>,
    poly: VecDeque<Triples<Client, M>>,
    pub(crate) relu_offline_bytes: u64,
    pub(crate) relus_total: u64,
}

impl<M: Modulus> ClientPre<M> {
    fn new() -> Self {
        Self {
            masks: VecDeque::new(),
            linear: VecDeque::new(),
            relus: VecDeque::new(),
            poly: VecDeque::new(),
            relu_offline_bytes: 0,
            relus_total: 0,
        }
    }

    /// Bytes the client stores between the phases.
    pub(crate) fn storage_bytes(&self) -> u64 {
        let fields: usize = self
            .masks
            .iter()
            .chain(&self.linear)
            .map(|v| v.len())
            .sum::<usize>()
            + self.poly.iter().map(|s| 3 * s.len()).sum::<usize>();
        (fields * FP_BYTES + self.relus.iter().map(ReluPre::storage_bytes).sum::<usize>()) as u64
    }
}

/// The client's per-session state for modulus `M`.
pub(crate) struct ClientEngine<M: Modulus> {
    pub(crate) arch: Architecture,
    plan: Plan,
    pub(crate) params: PrivateParams,
    relu: ReluClient<M>,
    lin: LinearCorrelationClient<M>,
    prg: Prg,
    weight_bits: u32,
}

impl<M: Modulus> ClientEngine<M> {
    pub(crate) fn setup<C: Channel + ?Sized, R: rand_core::CryptoRng + ?Sized>(
        ch: &mut C,
        arch: Architecture,
        params: PrivateParams,
        weight_bits: u32,
        rng: &mut R,
    ) -> Result<Self> {
        let relu_params = ReluParams::<M>::new(params.relu.0, params.relu.1, params.frac_bits)?;
        let relu = ReluClient::setup(ch, &relu_params, rng)?;
        let lin = LinearCorrelationClient::setup(ch, rng)?;
        ch.flush()?;
        let plan = Plan::new(&arch, params.sign_scale);
        Ok(Self {
            arch,
            plan,
            params,
            relu,
            lin,
            prg: Prg::from_crypto_rng(rng),
            weight_bits,
        })
    }

    fn random(&mut self, n: usize) -> Vec<Fp<M>> {
        (0..n).map(|_| Fp::random(&mut self.prg)).collect()
    }

    fn lift(&self) -> Fp<M> {
        match self.params.sign_scale {
            SignScale::Product => lift(self.params.frac_bits),
            SignScale::Rescaled => Fp::ONE,
        }
    }

    fn relu_offline<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        c: &[Fp<M>],
        pre: &mut ClientPre<M>,
        pool: &mut Triples<Client, M>,
    ) -> Result<()> {
        let before = ch.stats();
        let beaver =
            self.params.relu.0.is_sign() && self.params.relu.1 == circa_relu::ProductPath::Beaver;
        let r = if beaver {
            let t = pool.take_front(c.len())?;
            self.relu
                .offline_with_triples(ch, c, &mut Pregenerated(t))?
        } else {
            self.relu.offline(ch, c)?
        };
        let d = ch.stats().since(&before);
        pre.relu_offline_bytes += d.bytes_sent + d.bytes_received;
        pre.relus_total += c.len() as u64;
        pre.relus.push_back(r);
        Ok(())
    }

    /// The offline phase of one inference.
    pub(crate) fn offline<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ClientPre<M>> {
        let f = self.params.frac_bits;
        let lift = self.lift();
        let mut pre = ClientPre::new();
        let arch = self.arch.clone();
        let layers = arch.layers();
        // The client's share of every tensor whose share is known offline; wiped on return.
        let mut known: Zeroizing<Vec<Option<Vec<Fp<M>>>>> =
            Zeroizing::new(vec![None; layers.len() + 1]);
        let total = super::plan::triple_count(&arch, &self.params);
        let mut pool = triples::<Client, M, _, _>(ch, total, &mut self.prg)?;
        let m0 = self.random(arch.input_shape().len());
        known[0] = Some(m0.clone());
        pre.masks.push_back(Zeroizing::new(m0));
        for (i, layer) in layers.iter().enumerate() {
            let lp = self.plan.layers[i].clone();
            let t = layer.inputs[0];
            let xs = arch.tensor_shape(t).unwrap_or(arch.input_shape());
            let unsupported = || PrivateError::Unsupported {
                layer: i,
                reason: "client share not known offline",
            };
            if lp.remask != Remask::No {
                let m = self.random(xs.len());
                if lp.remask == Remask::Offline {
                    let v = known[t].as_ref().ok_or_else(unsupported)?;
                    let diff: Vec<Fp<M>> = v.iter().zip(&m).map(|(&a, &b)| a - b).collect();
                    send_field(ch, &diff)?;
                }
                drop(known[t].replace(m.clone()).map(Zeroizing::new));
                pre.masks.push_back(Zeroizing::new(m));
            }
            let out = match &layer.op {
                Op::Conv2d(_) | Op::Dense { .. } => {
                    let r = known[t].as_ref().ok_or(PrivateError::Unsupported {
                        layer: i,
                        reason: "linear input without a mask",
                    })?;
                    let mut wr =
                        client_linear(ch, &mut self.lin, &layer.op, xs, self.weight_bits, r)?;
                    pre.linear.push_back(Zeroizing::new(wr.clone()));
                    if !lp.deferred {
                        truncate(Party::Client, &mut wr, f);
                    }
                    Some(wr)
                }
                Op::Activation(Activation::Polynomial { .. }) => {
                    pre.poly.push_back(pool.take_front(xs.len())?);
                    // The mask that makes the client's share of `c2 q + c1 x` uniform before
                    // its truncation (see `online`).
                    pre.masks.push_back(Zeroizing::new(self.random(xs.len())));
                    None
                }
                Op::Activation(act @ (Activation::Relu | Activation::ChannelRelu { .. })) => {
                    let mask = relu_mask(act, xs.channels, xs.spatial()).unwrap_or_default();
                    if mask.iter().any(|&m| m) {
                        let x = known[t].as_ref().ok_or_else(unsupported)?;
                        let c = Zeroizing::new(select(x, &mask));
                        self.relu_offline(ch, &c, &mut pre, &mut pool)?;
                        None
                    } else {
                        known[t].clone().map(|mut v| {
                            if lp.input_at_product {
                                truncate(Party::Client, &mut v, f);
                            }
                            v
                        })
                    }
                }
                Op::MaxPool(p) => {
                    let windows = kernels::pool_windows(p, xs)?;
                    let widths = pool_widths(p.area());
                    let mut cand = Zeroizing::new(gather(
                        known[t].as_ref().ok_or_else(unsupported)?,
                        &windows,
                    ));
                    for (l, &w) in widths[..widths.len() - 1].iter().enumerate() {
                        if l > 0 {
                            let m = self.random(cand.len());
                            cand = Zeroizing::new(m.clone());
                            pre.masks.push_back(Zeroizing::new(m));
                        }
                        let c = Zeroizing::new(pair_differences(&cand, w, lift));
                        self.relu_offline(ch, &c, &mut pre, &mut pool)?;
                        cand = Zeroizing::new(vec![Fp::ZERO; cand.len() / w * widths[l + 1]]);
                    }
                    None
                }
                op => {
                    let second = layer.inputs.get(1).map(|&u| known[u].as_deref());
                    match (&known[t], second) {
                        (Some(x), None) | (Some(x), Some(Some(_))) => {
                            let s = second.flatten();
                            let mut y = local_layer(op, xs, x, s, f).ok_or(missing("local op"))?;
                            if matches!(op, Op::AvgPool(_) | Op::GlobalAvgPool) && !lp.deferred {
                                truncate(Party::Client, &mut y, f);
                            }
                            Some(y)
                        }
                        _ => None,
                    }
                }
            };
            known[i + 1] = out;
            progress(i + 1, layers.len());
        }
        ch.flush()?;
        Ok(pre)
    }

    /// The online phase: the client's input (`C x H x W`, reals) -> the logits.
    pub(crate) fn online<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        mut pre: ClientPre<M>,
        input: &[f64],
    ) -> Result<Vec<f64>> {
        let f = self.params.frac_bits;
        let arch = self.arch.clone();
        let in_len = arch.input_shape().len();
        if input.len() != in_len {
            return Err(PrivateError::LengthMismatch {
                what: "input length",
                expected: in_len,
                actual: input.len(),
            });
        }
        let mut x = Zeroizing::new(Vec::with_capacity(in_len));
        for &v in input {
            x.push(encode::<M>(v, f, "input")?);
        }
        let mut m0 = pop(&mut pre.masks, "input mask")?;
        let diff: Vec<Fp<M>> = x.iter().zip(m0.iter()).map(|(&a, &b)| a - b).collect();
        drop(x);
        send_field(ch, &diff)?;
        let layers = arch.layers();
        // The client's share of every tensor, wiped on return (also on an error).
        let mut sh: Zeroizing<Vec<Vec<Fp<M>>>> =
            Zeroizing::new(Vec::with_capacity(layers.len() + 1));
        sh.push(core::mem::take(&mut *m0));
        for (i, layer) in layers.iter().enumerate() {
            let lp = &self.plan.layers[i];
            let t = layer.inputs[0];
            let xs = arch.tensor_shape(t).unwrap_or(arch.input_shape());
            if lp.remask != Remask::No {
                let m = pop(&mut pre.masks, "re-masking mask")?;
                if lp.remask == Remask::Online {
                    let d: Vec<Fp<M>> = sh[t].iter().zip(m.iter()).map(|(&a, &b)| a - b).collect();
                    send_field(ch, &d)?;
                }
                sh[t].zeroize();
                sh[t].extend_from_slice(&m);
            }
            let out = match &layer.op {
                Op::Conv2d(_) | Op::Dense { .. } => {
                    let mut y = pop(&mut pre.linear, "linear correlation")?;
                    if !lp.deferred {
                        truncate(Party::Client, &mut y, f);
                    }
                    core::mem::take(&mut *y)
                }
                Op::Activation(Activation::Polynomial { coefficients }) => {
                    let t3 = pop(&mut pre.poly, "polynomial triples")?;
                    let xv = &sh[t];
                    let n = xv.len();
                    let x = Share::<Client, M>::from_vec(xv.clone());
                    let mine = beaver::blind(&x, &x, &t3)?;
                    let mut buf = vec![0u8; beaver::BeaverOpening::<M>::encoded_len(n)];
                    ch.recv(&mut buf)?;
                    let theirs = beaver::BeaverOpening::<M>::from_bytes(&buf, n)?;
                    ch.send(&mine.to_bytes())?;
                    let mut x2 = Zeroizing::new(
                        beaver::finish(t3, &beaver::open(&mine, &theirs)?)?.into_vec(),
                    );
                    truncate(Party::Client, &mut x2, f);
                    let c1 = encode::<M>(coefficients[1], f, "coefficient")?;
                    let c2 = encode::<M>(coefficients[2], f, "coefficient")?;
                    // `c2 q + c1 x` with truncated (hence small, non-uniform) client shares `q`
                    // and possibly `x`: its client share would make local truncation wrap more
                    // often than `|y| / p`. Re-masked to a fresh uniform mask in the same
                    // flight as the opening (no extra round).
                    let m = pop(&mut pre.masks, "polynomial mask")?;
                    let d: Vec<Fp<M>> = (0..n).map(|k| c2 * x2[k] + c1 * xv[k] - m[k]).collect();
                    send_field(ch, &d)?;
                    let mut y = m.to_vec();
                    truncate(Party::Client, &mut y, f);
                    y
                }
                Op::Activation(act @ (Activation::Relu | Activation::ChannelRelu { .. })) => {
                    let mask = relu_mask(act, xs.channels, xs.spatial()).unwrap_or_default();
                    let mut y = sh[t].clone();
                    if mask.iter().any(|&m| m) {
                        let r = Zeroizing::new(self.relu.online(ch, pop(&mut pre.relus, "ReLU")?)?);
                        scatter(&mut y, &mask, &r);
                    }
                    if lp.input_at_product {
                        truncate(Party::Client, &mut y, f);
                    }
                    y
                }
                Op::MaxPool(p) => {
                    let windows = kernels::pool_windows(p, xs)?;
                    let widths = pool_widths(p.area());
                    let mut cand = Zeroizing::new(gather(&sh[t], &windows));
                    for (l, &w) in widths[..widths.len() - 1].iter().enumerate() {
                        if l > 0 {
                            let m = pop(&mut pre.masks, "max-pool mask")?;
                            let d: Vec<Fp<M>> =
                                cand.iter().zip(m.iter()).map(|(&a, &b)| a - b).collect();
                            send_field(ch, &d)?;
                            cand = m;
                        }
                        let mut r =
                            Zeroizing::new(self.relu.online(ch, pop(&mut pre.relus, "ReLU")?)?);
                        if self.params.sign_scale == SignScale::Product {
                            truncate(Party::Client, &mut r, f);
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
                        truncate(Party::Client, &mut y, f);
                    }
                    y
                }
            };
            sh.push(out);
        }
        let out_id = arch.output();
        let mine = sh.get(out_id).ok_or(missing("output tensor"))?;
        let theirs = recv_field::<M, _>(ch, mine.len())?;
        let at_product = out_id > 0 && self.plan.layers[out_id - 1].deferred;
        let scale = (f as f64).exp2();
        let logits = mine
            .iter()
            .zip(&theirs)
            .map(|(&a, &b)| {
                let v = a + b;
                let v = if at_product { truncate_plain(v, f) } else { v };
                v.to_i64() as f64 / scale
            })
            .collect();
        Ok(logits)
    }
}
