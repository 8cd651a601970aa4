//! The two-party ReLU protocol (semi-honest): server = garbler = garbling-COT sender, client =
//! evaluator. See the crate README for the message flow, the conversion of the garbled sign into
//! shares, and the correctness and security argument.
//!
//! Usage: both parties call `setup` once per session, `offline` once per batch (the client with
//! its shares `c`), and `online` once per batch (the server with its shares `s`). The online
//! phase consumes the preprocessed material by value, so it cannot be used twice:
//!
//! ```compile_fail
//! # use circa_relu::protocol::{ReluServer, ServerPreprocessed};
//! # use circa_share::{Fp, P2138816513 as P};
//! # fn twice(server: &mut ReluServer<P>, ch: &mut circa_ot::MemChannel,
//! #          pre: ServerPreprocessed<P>, s: &[Fp<P>]) {
//! let first = server.online(ch, pre, s);
//! let again = server.online(ch, pre, s); // error[E0382]: use of moved value: `pre`
//! # }
//! ```
//!
//! Preprocessed material is not `Clone` either:
//!
//! ```compile_fail
//! # use circa_relu::protocol::ClientPreprocessed;
//! # use circa_share::P2138816513 as P;
//! fn copy(pre: &ClientPreprocessed<P>) -> ClientPreprocessed<P> {
//!     pre.clone()
//! }
//! ```

pub mod bench;
mod block_rng;
mod client;
mod conversion;
mod msgs;
mod online;
mod preprocessed;
mod server;
mod session;

pub use client::ReluClient;
pub use online::{ClientOnline, ServerOnline};
pub use preprocessed::{ClientPreprocessed, ServerPreprocessed};
pub use server::ReluServer;
pub use session::{CHUNK_RELUS, MAX_BATCH, MAX_SESSION_RELUS};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::relu_value;
    use crate::{ProductPath, ReluParams, TieMode, Variant};
    use circa_ot::{Channel, ChannelStats, Error as OtError, TcpChannel};
    use circa_share::{Fp, Modulus, P2061584302081};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// A channel that records every byte it sends.
    struct Tap<C> {
        inner: C,
        sent: Vec<u8>,
    }

    impl<C: Channel> Channel for Tap<C> {
        fn send(&mut self, data: &[u8]) -> Result<(), OtError> {
            self.sent.extend_from_slice(data);
            self.inner.send(data)
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<(), OtError> {
            self.inner.recv(buf)
        }
        fn flush(&mut self) -> Result<(), OtError> {
            self.inner.flush()
        }
        fn stats(&self) -> ChannelStats {
            self.inner.stats()
        }
    }

    type Run<M> = (Vec<u8>, Vec<u8>, Vec<Vec<Fp<M>>>);

    /// Two batches (offline both, then online both) with the server garbling on `threads`
    /// threads: both parties' transcripts and the reconstructed outputs.
    fn session<M: Modulus>(params: &ReluParams<M>, sizes: &[usize], threads: usize) -> Run<M> {
        let (sch, cch) = TcpChannel::loopback_pair().unwrap();
        let (mut sch, mut cch) = (
            Tap {
                inner: sch,
                sent: Vec::new(),
            },
            Tap {
                inner: cch,
                sent: Vec::new(),
            },
        );
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        let cs: Vec<Vec<Fp<M>>> = sizes
            .iter()
            .map(|&n| (0..n).map(|_| Fp::random(&mut rng)).collect())
            .collect();
        let ss: Vec<Vec<Fp<M>>> = sizes
            .iter()
            .map(|&n| (0..n).map(|_| Fp::random(&mut rng)).collect())
            .collect();
        let (server, client) = std::thread::scope(|scope| {
            let client = scope.spawn(|| {
                let mut rng = ChaCha20Rng::seed_from_u64(2);
                let mut cl = ReluClient::setup(&mut cch, params, &mut rng).unwrap();
                let pres: Vec<_> = cs
                    .iter()
                    .map(|c| cl.offline(&mut cch, c).unwrap())
                    .collect();
                pres.into_iter()
                    .map(|p| cl.online(&mut cch, p).unwrap())
                    .collect::<Vec<_>>()
            });
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            let mut sv = ReluServer::setup(&mut sch, params, &mut rng).unwrap();
            sv.set_threads(threads);
            let pres: Vec<_> = sizes
                .iter()
                .map(|&n| sv.offline(&mut sch, n).unwrap())
                .collect();
            let server: Vec<_> = pres
                .into_iter()
                .zip(&ss)
                .map(|(p, s)| sv.online(&mut sch, p, s).unwrap())
                .collect();
            (server, client.join().unwrap())
        });
        let outs = (0..sizes.len())
            .map(|b| {
                (0..sizes[b])
                    .map(|i| {
                        let y = server[b][i] + client[b][i];
                        assert_eq!(y, relu_value(params, cs[b][i], ss[b][i]), "batch {b}");
                        y
                    })
                    .collect()
            })
            .collect();
        (sch.sent, cch.sent, outs)
    }

    /// The single-thread garbling path (garbled in place, labels drawn in bulk) sends exactly
    /// the bytes of the general path (taken with two garbling threads, which circa-gc checks
    /// against its sequential garbler), for the sign variants over chunk boundaries and a
    /// partial chunk, and the second batch still agrees (the PRG is left in the same state).
    #[test]
    fn in_place_garbling_sends_the_general_paths_bytes() {
        let sizes = [2 * CHUNK_RELUS + 37, 300];
        for (v, rescale) in [
            (
                Variant::TruncatedSign {
                    k: 16,
                    mode: TieMode::NegPass,
                },
                false,
            ),
            (Variant::ExactSign, false),
            (Variant::StochasticSign, true),
        ] {
            let params = ReluParams::<P2061584302081>::new(v, ProductPath::LabelTable, 12)
                .unwrap()
                .with_rescale(rescale)
                .unwrap();
            let one = session(&params, &sizes, 1);
            let two = session(&params, &sizes, 2);
            assert!(one.0 == two.0, "{v:?}: server transcript");
            assert!(one.1 == two.1, "{v:?}: client transcript");
            assert_eq!(one.2, two.2, "{v:?}: outputs");
        }
    }
}
