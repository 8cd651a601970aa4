//! Fixed seeds give a fixed wire transcript. The SHA-256 of the bytes each
//! party sends is a test vector: any change of the wire format, the base
//! OT, the key derivation, the PRG or the extension changes it. If a change
//! is intended, update the vectors below (the failure message prints them).

use circa_ot::{
    Block, Channel, ChannelStats, CotReceiver, CotSender, Error, MemChannel, OtReceiver, OtSender,
    RotReceiver, RotSender,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

/// A channel wrapper hashing every byte this end sends.
struct Recording<C> {
    inner: C,
    sent: Sha256,
}

impl<C: Channel> Channel for Recording<C> {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.sent.update(data);
        self.inner.send(data)
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.recv(buf)
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.inner.flush()
    }
    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const SENDER_SHA256: &str = "67f52740bbf864a4f52f8bc77eed843d8cc4f549deda4ede7cc40498983b4dca";
const RECEIVER_SHA256: &str = "d2ef495bf94b2dd82674db3d86dd75fdb371ddf5ee32ae68c79457374861b960";

#[test]
fn fixed_seeds_give_the_recorded_transcript() {
    let (a, b) = MemChannel::pair();
    let mut cs = Recording {
        inner: a,
        sent: Sha256::new(),
    };
    let mut cr = Recording {
        inner: b,
        sent: Sha256::new(),
    };
    let choices: Vec<bool> = (0..3000).map(|i| (i * i + 3 * i) % 7 < 3).collect();
    let msgs: Vec<[Block; 2]> = (0..700u128)
        .map(|i| [Block::from_u128(i), Block::from_u128(!i)])
        .collect();
    let (sent_s, (sent_r, chosen)) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(0xaaaa);
            let delta = Block::from_u128(0x1357_9bdf_2468_ace0_1122_3344_5566_7788).with_lsb(true);
            let mut cot = CotSender::setup(&mut cs, delta, &mut rng).unwrap();
            cot.send_cot(&mut cs, &mut vec![Block::ZERO; 3000]).unwrap();
            cot.send_cot(&mut cs, &mut vec![Block::ZERO; 300]).unwrap();
            let mut rot = RotSender::setup(&mut cs, &mut rng).unwrap();
            rot.send_rot(&mut cs, &mut vec![[Block::ZERO; 2]; 500])
                .unwrap();
            let mut ot = OtSender::setup(&mut cs, &mut rng).unwrap();
            ot.send(&mut cs, &msgs).unwrap();
            cs.flush().unwrap();
            cs.sent.finalize()
        });
        let mut rng = ChaCha20Rng::seed_from_u64(0xbbbb);
        let mut cot = CotReceiver::setup(&mut cr, &mut rng).unwrap();
        cot.receive_cot(&mut cr, &choices, &mut vec![Block::ZERO; 3000])
            .unwrap();
        cot.receive_rcot(&mut cr, &mut [false; 300], &mut [Block::ZERO; 300])
            .unwrap();
        let mut rot = RotReceiver::setup(&mut cr, &mut rng).unwrap();
        rot.receive_rot(&mut cr, &choices[..500], &mut [Block::ZERO; 500])
            .unwrap();
        let mut ot = OtReceiver::setup(&mut cr, &mut rng).unwrap();
        let mut chosen = vec![Block::ZERO; 700];
        ot.receive(&mut cr, &choices[..700], &mut chosen).unwrap();
        cr.flush().unwrap();
        (h.join().unwrap(), (cr.sent.finalize(), chosen))
    });
    for i in 0..700 {
        assert_eq!(chosen[i], msgs[i][choices[i] as usize]);
    }
    let (hs, hr) = (hex(&sent_s), hex(&sent_r));
    assert_eq!(
        (hs.as_str(), hr.as_str()),
        (SENDER_SHA256, RECEIVER_SHA256),
        "transcript changed: sender {hs}, receiver {hr}"
    );
}
