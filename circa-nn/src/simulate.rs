//! Plaintext simulation of the Circa ReLU inside the fixed-point reference.
//!
//! Each ReLU's sign comes from `circa_relu::reference::sign_bit(params, c, s)` on a fresh
//! uniformly random sharing of the reconstructed pre-activation `y` (`c` uniform, `s = y - c`),
//! drawn from an injected (seeded) rng. In the private protocol the client's share of a
//! ReLU input is uniform and independent of `y` (a fresh mask from the linear-layer
//! correlation), so this reproduces the output distribution of the protocol's ReLU, given that
//! its plaintext reference has the circuit's fault behaviour (tested in `circa-relu`). By default
//! rescaling stays exact, as in [`crate::fixed`]; [`CircaSign::with_local_truncation`] also
//! simulates the private run's rescale: local truncation of a fresh random sharing
//! (`circa_share::fixed_point::{truncate_client_share, truncate_server_share}`), off by at most
//! one unit and failing (wrapping) with probability `|x| / p`; and a ReLU with a fused rescale
//! as the protocol computes it on the same sharing as its sign test
//! (`circa_relu::reference::relu_value`: within a unit, never a wrap).

use core::cell::{Cell, RefCell};
use core::fmt;
use std::collections::BTreeMap;

use circa_relu::reference::{sign_bit, true_sign};
use circa_relu::{ProductPath, ReluParams, Variant};
use circa_share::fixed_point::{truncate_client_share, truncate_plain, truncate_server_share};
use circa_share::{Fp, Modulus};
use rand_core::CryptoRng;

use crate::engine::{EncodedNetwork, PlanParams, SignScale, SignSite, SiteChoice};
use crate::error::{NnError, Result};
use crate::fixed::{Fixed, SignOracle};
use crate::model::Network;

/// A [`SignOracle`] that shares `y` at random and asks the variant's reference function,
/// counting the sign tests and the wrong signs.
pub struct CircaSign<M: Modulus, R> {
    params: ReluParams<M>,
    rng: RefCell<R>,
    tests: Cell<u64>,
    faults: Cell<u64>,
    local_truncation: bool,
    truncations: Cell<u64>,
    truncation_failures: Cell<u64>,
    /// Per layer: sign tests and faults.
    per_site: RefCell<BTreeMap<usize, (u64, u64)>>,
}

impl<M: Modulus, R> fmt::Debug for CircaSign<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircaSign")
            .field("params", &self.params)
            .field("tests", &self.tests.get())
            .field("faults", &self.faults.get())
            .field("local_truncation", &self.local_truncation)
            .field("truncation_failures", &self.truncation_failures.get())
            .finish_non_exhaustive()
    }
}

impl<M: Modulus, R: CryptoRng> CircaSign<M, R> {
    /// The oracle for `params`, drawing client shares from `rng`.
    pub fn new(params: ReluParams<M>, rng: R) -> Self {
        Self {
            params,
            rng: RefCell::new(rng),
            tests: Cell::new(0),
            faults: Cell::new(0),
            local_truncation: false,
            truncations: Cell::new(0),
            truncation_failures: Cell::new(0),
            per_site: RefCell::new(BTreeMap::new()),
        }
    }

    /// Per layer with sign tests: `(tests, faults)` so far (faults as in [`CircaSign::faults`]).
    pub fn site_counts(&self) -> BTreeMap<usize, (u64, u64)> {
        self.per_site.borrow().clone()
    }

    /// Forgets every count (tests, faults, truncations), keeping the rng's state.
    pub fn reset_counts(&self) {
        self.tests.set(0);
        self.faults.set(0);
        self.truncations.set(0);
        self.truncation_failures.set(0);
        self.per_site.borrow_mut().clear();
    }

    /// The parameters of `site`'s batch: its variant (its `k` and tie rule) and fused rescale,
    /// with the session's product path and fixed point.
    fn site_params(&self, site: &SignSite) -> ReluParams<M> {
        if !self.params.variant().is_sign() {
            return self.params;
        }
        let params = site.relu_params(&self.params);
        // The plan only marks fusable sites (and validated their k), so the batch's
        // parameters exist; the private run would refuse the batch otherwise.
        debug_assert!(params.is_ok(), "site {site:?} has no circa-relu parameters");
        params.unwrap_or(self.params)
    }

    /// The sign test of `site` on the sharing `(c, y - c)`, counted per layer.
    fn site_test(&self, site: &SignSite, c: Fp<M>, y: Fp<M>) -> bool {
        let (bit, fault) = self.test_shares(&self.site_params(site), c, y);
        let mut per = self.per_site.borrow_mut();
        let e = per.entry(site.layer).or_insert((0, 0));
        e.0 += 1;
        e.1 += u64::from(fault);
        bit
    }

    fn test(&self, params: &ReluParams<M>, y: Fp<M>) -> (bool, bool) {
        let c = Fp::random(&mut *self.rng.borrow_mut());
        self.test_shares(params, c, y)
    }

    fn test_shares(&self, params: &ReluParams<M>, c: Fp<M>, y: Fp<M>) -> (bool, bool) {
        let bit = sign_bit(params, c, y - c);
        self.tests.set(self.tests.get() + 1);
        // A wrong bit on y = 0 is harmless (0 * b = 0): not counted.
        let fault = bit != true_sign(y) && y != Fp::ZERO;
        if fault {
            self.faults.set(self.faults.get() + 1);
        }
        (bit, fault)
    }

    /// Also simulate each rescale as local truncation of a fresh random sharing.
    pub fn with_local_truncation(mut self, on: bool) -> Self {
        self.local_truncation = on;
        self
    }

    /// Rescales so far (counted only with local truncation on).
    pub fn truncations(&self) -> u64 {
        self.truncations.get()
    }

    /// Local truncations so far whose result is more than one unit from the exact `floor`
    /// (a wrap).
    pub fn truncation_failures(&self) -> u64 {
        self.truncation_failures.get()
    }

    /// The ReLU parameters.
    pub fn params(&self) -> &ReluParams<M> {
        &self.params
    }

    /// Sign tests run so far.
    pub fn tests(&self) -> u64 {
        self.tests.get()
    }

    /// Sign tests so far whose bit differed from the exact sign on a nonzero `y` (a wrong bit
    /// on `y = 0` changes nothing and is not counted).
    pub fn faults(&self) -> u64 {
        self.faults.get()
    }
}

impl<M: Modulus, R: CryptoRng> SignOracle<M> for CircaSign<M, R> {
    fn sign(&self, y: Fp<M>) -> bool {
        self.test(&self.params, y).0
    }

    fn variant(&self) -> Variant {
        self.params.variant()
    }

    /// The site's own variant (its `k` and tie rule; the session's product path and fixed
    /// point), counted per layer.
    fn sign_at(&self, site: &SignSite, y: Fp<M>) -> bool {
        let c = Fp::random(&mut *self.rng.borrow_mut());
        self.site_test(site, c, y)
    }

    /// With local truncation on: the protocol's fused ReLU on a fresh random sharing (the
    /// sign with its range check times the locally truncated shares: within a unit of the
    /// floor, never a wrap). Off: the site's sign test and the exact floor.
    fn fused_relu_at(&self, site: &SignSite, y: Fp<M>, bits: u32) -> Fp<M> {
        let c = Fp::random(&mut *self.rng.borrow_mut());
        if !self.site_test(site, c, y) {
            return Fp::ZERO;
        }
        if self.local_truncation {
            circa_relu::reference::relu_value(&self.site_params(site), c, y - c)
        } else {
            truncate_plain(y, bits)
        }
    }

    fn truncate(&self, x: Fp<M>, bits: u32) -> Fp<M> {
        let exact = truncate_plain(x, bits);
        if !self.local_truncation {
            return exact;
        }
        let c = Fp::random(&mut *self.rng.borrow_mut());
        let out = truncate_client_share(c, bits) + truncate_server_share(x - c, bits);
        self.truncations.set(self.truncations.get() + 1);
        if (out - exact).to_i64().unsigned_abs() > 1 {
            self.truncation_failures
                .set(self.truncation_failures.get() + 1);
        }
        out
    }
}

/// The fixed-point reference with simulated Circa ReLUs.
pub type Simulated<M, R> = Fixed<M, CircaSign<M, R>>;

/// Builds the simulation of `variant` (every sign variant of `circa-relu`; the baseline's sign
/// is exact) with `f = frac_bits` fractional bits, sign tests at `sign_scale`, client shares
/// from `rng`.
pub fn simulated<M: Modulus, R: CryptoRng>(
    network: &Network,
    frac_bits: u32,
    sign_scale: SignScale,
    variant: Variant,
    rng: R,
) -> Result<Simulated<M, R>> {
    let plan = PlanParams {
        frac_bits,
        sign_scale,
        variant,
        field_bits: M::BITS,
    };
    simulated_with_sites(network, plan, &[], rng)
}

/// The simulation of the plan `params` with the sign tests of `choices` at their own `k` and
/// tie rule (what a calibrated model runs), client shares from `rng`.
pub fn simulated_with_sites<M: Modulus, R: CryptoRng>(
    network: &Network,
    params: PlanParams,
    choices: &[SiteChoice],
    rng: R,
) -> Result<Simulated<M, R>> {
    let relu = ReluParams::new(params.variant, ProductPath::LabelTable, params.frac_bits).map_err(
        |e| NnError::InvalidReluParams {
            reason: match e {
                circa_relu::Error::InvalidParams { reason } => reason,
                _ => "rejected by circa-relu",
            },
        },
    )?;
    let net = EncodedNetwork::with_sites(network, params, choices)?;
    Ok(Fixed::from_encoded(
        std::sync::Arc::new(net),
        CircaSign::new(relu, rng),
    ))
}
