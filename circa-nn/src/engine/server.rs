//! The server's phases of the walk: its per-session state ([`ServerSetup`], holding the
//! network encoded once and shared by every session), the offline phase (linear
//! correlations' `s`, ReLU preprocessing, triples) and the online phase (its shares, layer by
//! layer). What each layer kind does in them lives in the kind's module (`engine::layers`).

use std::sync::Arc;

use circa_ot::{Channel, Prg};
use circa_relu::ProductPath;
use circa_relu::protocol::{ReluServer, ServerPreprocessed as ReluPre};
use circa_share::he::{HeParamSet, HeServer};
use circa_share::ole::LinearCorrelationServer;
use circa_share::{Fp, Modulus, Server, Triples};
use zeroize::Zeroizing;

use super::driver::Driver;
use super::encoded::EncodedNetwork;
use super::layers::{Kind, ServerItem};
use super::material::Material;
use super::plan::{Remask, SignSite};
use super::walk::{Phase, walk};
use super::{Party, Shares, add_assign};
use crate::private::{PrivateError, PrivateParams, Result};

/// The server's state for one session and one field.
pub(crate) struct ServerSetup<M: Modulus> {
    pub(crate) net: Arc<EncodedNetwork<M>>,
    pub(crate) params: PrivateParams,
    pub(crate) relu: ReluServer<M>,
    pub(crate) lin: LinearCorrelationServer<M>,
    pub(crate) prg: Prg,
    /// The client's validated BFV public keys, one per parameter set the HE layers use.
    pub(crate) he: Vec<(HeParamSet, HeServer<M>)>,
}

impl<M: Modulus> ServerSetup<M> {
    /// Whether ReLU products take Beaver triples.
    pub(crate) fn beaver_relus(&self) -> bool {
        self.params.relu.0.is_sign() && self.params.relu.1 == ProductPath::Beaver
    }

    /// Fractional bits `f`.
    pub(crate) fn frac_bits(&self) -> u32 {
        self.params.frac_bits
    }
}

/// The server's material for one inference.
pub(crate) struct ServerMaterial<M: Modulus> {
    pub(crate) material: Material<M, ServerItem<M>>,
    /// Offline bytes (both directions) of the ReLU preprocessing alone.
    pub(crate) relu_bytes: u64,
    /// Offline bytes (both directions) of the linear-layer correlations alone.
    pub(crate) linear_bytes: u64,
}

/// The server's offline phase.
pub(crate) struct ServerOffline<'a, M: Modulus, C: Channel + ?Sized> {
    pub(crate) setup: &'a mut ServerSetup<M>,
    pub(crate) ch: &'a mut C,
    pub(crate) out: ServerMaterial<M>,
    pub(crate) triples: Triples<Server, M>,
}

impl<M: Modulus, C: Channel + ?Sized> ServerOffline<'_, M, C> {
    /// ReLU preprocessing of the sign tests `site` for a batch of `n` (triples on the Beaver
    /// path), counting its bytes.
    pub(crate) fn relu_offline(&mut self, site: &SignSite, n: usize) -> Result<ReluPre<M>> {
        let before = self.ch.stats();
        let params = site.relu_params(self.setup.relu.params())?;
        let triples = if self.setup.beaver_relus() {
            Some(self.triples.take_front(n)?)
        } else {
            None
        };
        let pre = self.setup.relu.offline_for(self.ch, n, &params, triples)?;
        let d = self.ch.stats().since(&before);
        self.out.relu_bytes += d.bytes_sent + d.bytes_received;
        Ok(pre)
    }
}

impl<M: Modulus, C: Channel + ?Sized> Phase for ServerOffline<'_, M, C> {
    type Tensor = ();
    type Error = PrivateError;

    fn input(&mut self) -> Result<()> {
        Ok(())
    }

    fn remask(&mut self, layer: usize, when: Remask, len: usize, _: &mut ()) -> Result<()> {
        if when == Remask::Offline {
            let mut buf = Zeroizing::new(vec![0u8; len * circa_share::FP_BYTES]);
            self.ch.recv(&mut buf)?;
            let adj = Zeroizing::new(circa_share::field::batch::decode_many(&buf)?);
            self.out.material.put_remask(layer, adj)?;
        }
        Ok(())
    }

    fn layer(&mut self, layer: usize, kind: &Kind, _: &[&()]) -> Result<()> {
        kind.server_offline(self, layer)
    }
}

/// The server's online phase.
pub(crate) struct ServerOnline<'a, 'c, M: Modulus, C: Channel + ?Sized> {
    pub(crate) setup: &'a mut ServerSetup<M>,
    pub(crate) driver: Driver<'c, C>,
    pub(crate) material: Material<M, ServerItem<M>>,
}

impl<M: Modulus, C: Channel + ?Sized> ServerOnline<'_, '_, M, C> {
    /// The online ReLU protocol for one batch with the server's shares `s`: flight 1 out, the
    /// client's reply in, and on the Beaver path the server's last message out.
    pub(crate) fn relu_online(&mut self, pre: ReluPre<M>, s: &[Fp<M>]) -> Result<Shares<M>> {
        let (flight, state) = self.setup.relu.online_flight(pre, s)?;
        self.driver.send(&flight)?;
        let reply = self.driver.recv(state.reply_len())?;
        let (out, last) = state.finish(&reply)?;
        self.driver.send(&last)?;
        Ok(Zeroizing::new(out))
    }
}

impl<M: Modulus, C: Channel + ?Sized> Phase for ServerOnline<'_, '_, M, C> {
    type Tensor = Shares<M>;
    type Error = PrivateError;

    fn input(&mut self) -> Result<Shares<M>> {
        let n = self.setup.net.plan().input_len();
        Ok(Zeroizing::new(self.driver.recv_field(n)?))
    }

    fn remask(&mut self, layer: usize, when: Remask, len: usize, t: &mut Shares<M>) -> Result<()> {
        let adj = match when {
            Remask::No => return Ok(()),
            Remask::Offline => self.material.take_remask(layer)?,
            Remask::Online => Zeroizing::new(self.driver.recv_field(len)?),
        };
        add_assign(t, &adj);
        Ok(())
    }

    fn layer(&mut self, layer: usize, kind: &Kind, inputs: &[&Shares<M>]) -> Result<Shares<M>> {
        kind.server_online(self, layer, inputs)
    }
}

/// The server's offline phase of one inference.
pub(crate) fn offline<M: Modulus, C: Channel + ?Sized>(
    setup: &mut ServerSetup<M>,
    ch: &mut C,
) -> Result<ServerMaterial<M>> {
    let plan = Arc::clone(setup.net.plan());
    let triples_needed = super::layers::triple_count(&plan, setup.beaver_relus());
    let triples = super::layers::triples::<Server, M, C>(ch, triples_needed, &mut setup.prg)?;
    let mut phase = ServerOffline {
        setup,
        ch,
        out: ServerMaterial {
            material: Material::new(plan.steps().len()),
            relu_bytes: 0,
            linear_bytes: 0,
        },
        triples,
    };
    walk(&plan, &mut phase)?;
    phase.ch.flush()?;
    Ok(phase.out)
}

/// The server's online phase: consumes the material of one offline phase, sends its share of
/// the output; returns the flights seen.
pub(crate) fn online<M: Modulus, C: Channel + ?Sized>(
    setup: &mut ServerSetup<M>,
    ch: &mut C,
    material: ServerMaterial<M>,
) -> Result<u64> {
    let plan = Arc::clone(setup.net.plan());
    let mut phase = ServerOnline {
        setup,
        driver: Driver::new(ch),
        material: material.material,
    };
    let out = walk(&plan, &mut phase)?;
    phase.driver.send_field(&out)?;
    phase.driver.finish()
}

/// The server's truncation (for the layer modules).
pub(crate) const PARTY: Party = Party::Server;
