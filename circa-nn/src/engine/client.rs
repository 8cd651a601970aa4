//! The client's phases of the walk: its per-session state ([`ClientSetup`]), the offline
//! phase (masks, the linear correlations' `W r - s`, ReLU preprocessing, triples) and the
//! online phase (its shares, layer by layer). What each layer kind does in them lives in the
//! kind's module (`engine::layers`).

use std::sync::Arc;

use circa_ot::{Channel, Prg};
use circa_relu::ProductPath;
use circa_relu::protocol::{ClientPreprocessed as ReluPre, ReluClient};
use circa_share::fixed_point::truncate_plain;
use circa_share::he::{HeLinearClient, HeParamSet, HePlan};
use circa_share::ole::LinearCorrelationClient;
use circa_share::{Client, FP_BYTES, Fp, Modulus, Triples};
use zeroize::Zeroizing;

use super::driver::Driver;
use super::encoded::PublicConstants;
use super::layers::{ClientItem, Kind};
use super::material::Material;
use super::plan::{Plan, Remask, Scale, SignSite};
use super::walk::{Phase, walk};
use super::{Known, Party, Shares, difference};
use crate::fixed::encode;
use crate::private::{PrivateError, PrivateParams, Result};

/// The client's state for one session and one field.
pub(crate) struct ClientSetup<M: Modulus> {
    pub(crate) plan: Arc<Plan>,
    pub(crate) constants: PublicConstants<M>,
    pub(crate) params: PrivateParams,
    pub(crate) relu: ReluClient<M>,
    pub(crate) lin: LinearCorrelationClient<M>,
    pub(crate) prg: Prg,
    pub(crate) weight_bits: u32,
    /// The client's BFV keys, one per parameter set the session's HE layers use.
    pub(crate) he: Vec<(HeParamSet, HeLinearClient<M>)>,
    /// Per layer: the HE plan of a layer served by HE (`None`: OT or not linear).
    pub(crate) he_plans: Vec<Option<HePlan<M>>>,
}

impl<M: Modulus> ClientSetup<M> {
    /// `n` fresh uniform masks.
    pub(crate) fn random(&mut self, n: usize) -> Shares<M> {
        Zeroizing::new((0..n).map(|_| Fp::random(&mut self.prg)).collect())
    }

    /// Whether ReLU products take Beaver triples.
    pub(crate) fn beaver_relus(&self) -> bool {
        self.params.relu.0.is_sign() && self.params.relu.1 == ProductPath::Beaver
    }

    /// Fractional bits `f`.
    pub(crate) fn frac_bits(&self) -> u32 {
        self.params.frac_bits
    }
}

/// The client's material for one inference.
pub(crate) struct ClientMaterial<M: Modulus> {
    pub(crate) material: Material<M, ClientItem<M>>,
    /// Offline bytes (both directions) of the ReLU preprocessing alone.
    pub(crate) relu_bytes: u64,
    /// ReLUs preprocessed.
    pub(crate) relus: u64,
    /// Offline bytes (both directions) of the linear-layer correlations alone.
    pub(crate) linear_bytes: u64,
}

impl<M: Modulus> ClientMaterial<M> {
    /// Bytes stored between the phases: masks, correlation outputs, ReLU material, triples.
    pub(crate) fn storage_bytes(&self) -> u64 {
        let (vectors, items) = self.material.parts();
        let fields: usize = vectors.map(|v| v.len()).sum();
        (fields * FP_BYTES + items.map(ClientItem::storage_bytes).sum::<usize>()) as u64
    }
}

/// The client's offline phase.
pub(crate) struct ClientOffline<'a, M: Modulus, C: Channel + ?Sized> {
    pub(crate) setup: &'a mut ClientSetup<M>,
    pub(crate) ch: &'a mut C,
    pub(crate) out: ClientMaterial<M>,
    pub(crate) triples: Triples<Client, M>,
    progress: &'a mut dyn FnMut(usize, usize),
}

impl<M: Modulus, C: Channel + ?Sized> ClientOffline<'_, M, C> {
    /// ReLU preprocessing of the sign tests `site` for the client's shares `c` (triples on the
    /// Beaver path), counting its bytes.
    pub(crate) fn relu_offline(&mut self, site: &SignSite, c: &[Fp<M>]) -> Result<ReluPre<M>> {
        let before = self.ch.stats();
        let params = site.relu_params(self.setup.relu.params())?;
        let triples = if self.setup.beaver_relus() {
            Some(self.triples.take_front(c.len())?)
        } else {
            None
        };
        let pre = self.setup.relu.offline_for(self.ch, c, &params, triples)?;
        let d = self.ch.stats().since(&before);
        self.out.relu_bytes += d.bytes_sent + d.bytes_received;
        self.out.relus += c.len() as u64;
        Ok(pre)
    }
}

impl<M: Modulus, C: Channel + ?Sized> Phase for ClientOffline<'_, M, C> {
    type Tensor = Known<M>;
    type Error = PrivateError;

    fn input(&mut self) -> Result<Known<M>> {
        let m0 = self.setup.random(self.setup.plan.input_len());
        self.out.material.put_input(m0.clone());
        Ok(Some(m0))
    }

    fn remask(&mut self, layer: usize, when: Remask, len: usize, t: &mut Known<M>) -> Result<()> {
        let m = self.setup.random(len);
        if when == Remask::Offline {
            let known = t.as_ref().ok_or(PrivateError::Unsupported {
                layer,
                reason: "client share not known offline",
            })?;
            let diff = Zeroizing::new(difference(known, &m));
            self.ch
                .send(&circa_share::field::batch::encode_many(&diff))?;
        }
        self.out.material.put_remask(layer, m.clone())?;
        *t = Some(m);
        Ok(())
    }

    fn layer(&mut self, layer: usize, kind: &Kind, inputs: &[&Known<M>]) -> Result<Known<M>> {
        kind.client_offline(self, layer, inputs)
    }

    fn done(&mut self, layer: usize) {
        (self.progress)(layer + 1, self.setup.plan.steps().len());
    }
}

/// The client's online phase.
pub(crate) struct ClientOnline<'a, 'c, M: Modulus, C: Channel + ?Sized> {
    pub(crate) setup: &'a mut ClientSetup<M>,
    pub(crate) driver: Driver<'c, C>,
    pub(crate) material: Material<M, ClientItem<M>>,
    input: Option<Shares<M>>,
}

impl<M: Modulus, C: Channel + ?Sized> ClientOnline<'_, '_, M, C> {
    /// The online ReLU protocol for one batch: flight 1 in, the reply out (queued in the
    /// client's next flight), and on the Beaver path the server's last message in.
    pub(crate) fn relu_online(&mut self, pre: ReluPre<M>) -> Result<Shares<M>> {
        let flight = self.driver.recv(self.setup.relu.flight_len(&pre))?;
        let (reply, state) = self.setup.relu.online_reply(pre, &flight)?;
        self.driver.send(&reply)?;
        let last = self.driver.recv(state.last_len())?;
        Ok(Zeroizing::new(state.finish(&last)?))
    }
}

impl<M: Modulus, C: Channel + ?Sized> Phase for ClientOnline<'_, '_, M, C> {
    type Tensor = Shares<M>;
    type Error = PrivateError;

    fn input(&mut self) -> Result<Shares<M>> {
        let x = self.input.take().ok_or(PrivateError::Preprocessing {
            what: "input consumed",
        })?;
        let m0 = self.material.take_input()?;
        self.driver.send_field(&difference(&x, &m0))?;
        Ok(m0)
    }

    fn remask(&mut self, layer: usize, when: Remask, _: usize, t: &mut Shares<M>) -> Result<()> {
        let m = self.material.take_remask(layer)?;
        if when == Remask::Online {
            self.driver.send_field(&difference(t, &m))?;
        }
        *t = m;
        Ok(())
    }

    fn layer(&mut self, layer: usize, kind: &Kind, inputs: &[&Shares<M>]) -> Result<Shares<M>> {
        kind.client_online(self, layer, inputs)
    }
}

/// The client's offline phase of one inference.
pub(crate) fn offline<M: Modulus, C: Channel + ?Sized>(
    setup: &mut ClientSetup<M>,
    ch: &mut C,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ClientMaterial<M>> {
    let plan = Arc::clone(&setup.plan);
    let triples_needed = super::layers::triple_count(&plan, setup.beaver_relus());
    let triples = super::layers::triples::<Client, M, C>(ch, triples_needed, &mut setup.prg)?;
    let layers = plan.steps().len();
    let mut phase = ClientOffline {
        setup,
        ch,
        out: ClientMaterial {
            material: Material::new(layers),
            relu_bytes: 0,
            relus: 0,
            linear_bytes: 0,
        },
        triples,
        progress,
    };
    walk(&plan, &mut phase)?;
    phase.ch.flush()?;
    Ok(phase.out)
}

/// The client's online phase: its input (`C x H x W`, reals) and the material of one offline
/// phase -> the logits, and the flights seen.
pub(crate) fn online<M: Modulus, C: Channel + ?Sized>(
    setup: &mut ClientSetup<M>,
    ch: &mut C,
    material: ClientMaterial<M>,
    input: &[f64],
) -> Result<(Vec<f64>, u64)> {
    let plan = Arc::clone(&setup.plan);
    if input.len() != plan.input_len() {
        return Err(PrivateError::LengthMismatch {
            what: "input length",
            expected: plan.input_len(),
            actual: input.len(),
        });
    }
    let f = setup.frac_bits();
    let mut x = Zeroizing::new(Vec::with_capacity(input.len()));
    for &v in input {
        x.push(encode::<M>(v, f, "input")?);
    }
    let mut phase = ClientOnline {
        setup,
        driver: Driver::new(ch),
        material: material.material,
        input: Some(x),
    };
    let mine = walk(&plan, &mut phase)?;
    let theirs = Zeroizing::new(phase.driver.recv_field::<M>(mine.len())?);
    let flights = phase.driver.finish()?;
    let at_product = plan.scale(plan.output()) == Scale::Product;
    let scale = (f as f64).exp2();
    let logits = mine
        .iter()
        .zip(theirs.iter())
        .map(|(&a, &b)| {
            let v = a + b;
            let v = if at_product { truncate_plain(v, f) } else { v };
            v.to_i64() as f64 / scale
        })
        .collect();
    Ok((logits, flights))
}

/// The client's truncation (for the layer modules).
pub(crate) const PARTY: Party = Party::Client;
