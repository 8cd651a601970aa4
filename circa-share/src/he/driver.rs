//! Thin drivers over a `circa_ot::Channel` for tests and benchmarks (the
//! engine's own driver calls the pure steps directly). Every receive reads
//! exactly the size the public plan gives; nothing read decides an
//! allocation.

use circa_ot::Channel;
use rand_core::CryptoRng;

use super::client::HeLinearClient;
use super::msgs::{HeAnswer, HePublicKey, HeQuery};
use super::params::HeParams;
use super::plan::HePlan;
use super::server::{HeLayer, HeServer};
use crate::error::Error;
use crate::field::{Fp, Modulus};

/// Client: sends its public key (once per session and parameter set).
pub fn send_public_key<M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    client: &HeLinearClient<M>,
) -> Result<(), Error> {
    ch.send(&client.public_key().to_bytes(client.params()))?;
    ch.flush()?;
    Ok(())
}

/// Server: receives and validates the client's public key.
pub fn recv_public_key<M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    params: &HeParams<M>,
) -> Result<HeServer<M>, Error> {
    let mut buf = vec![0u8; HePublicKey::encoded_len(params)];
    ch.recv(&mut buf)?;
    HeServer::new(params, &HePublicKey::from_bytes(params, &buf)?)
}

/// Client side of one layer: sends the encrypted mask, receives and
/// decrypts the answer; returns `W r - s`.
pub fn client_layer<M: Modulus, C: Channel + ?Sized, R: CryptoRng + ?Sized>(
    ch: &mut C,
    client: &HeLinearClient<M>,
    plan: &HePlan<M>,
    r: &[Fp<M>],
    rng: &mut R,
) -> Result<Vec<Fp<M>>, Error> {
    let (query, pending) = client.encrypt(plan, r, rng)?;
    ch.send(&query.to_bytes(plan))?;
    ch.flush()?;
    let mut buf = vec![0u8; plan.answer_bytes()];
    ch.recv(&mut buf)?;
    pending.decrypt(&HeAnswer::from_bytes(plan, &buf)?)
}

/// Server side of one layer: receives the query, answers; returns `s`.
pub fn server_layer<M: Modulus, C: Channel + ?Sized, R: CryptoRng + ?Sized>(
    ch: &mut C,
    server: &HeServer<M>,
    layer: &HeLayer<M>,
    rng: &mut R,
) -> Result<Vec<Fp<M>>, Error> {
    let plan = layer.plan();
    let mut buf = vec![0u8; plan.query_bytes()];
    ch.recv(&mut buf)?;
    let query = HeQuery::from_bytes(plan, &buf)?;
    let (answer, s) = server.answer(layer, &query, rng)?;
    ch.send(&answer.to_bytes(plan))?;
    ch.flush()?;
    Ok(s)
}
