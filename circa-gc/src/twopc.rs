//! The two-party driver: garbler and evaluator over a [`Channel`], semi-honest.
//!
//! Setup (once per pair): the garbler draws its free-XOR [`Delta`] and a random session tweak and
//! sends the tweak; both run the correlated-OT setup of circa-ot with the garbler as COT sender
//! under `Delta`. Per circuit:
//!
//! 1. the garbler announces the circuit's shape (input, AND and output counts, who learns the
//!    output); the evaluator checks it against its own circuit;
//! 2. correlated OT, one per evaluator input bit: the garbler's `q_i` is the zero-label of
//!    evaluator input `i`, the evaluator's `t_i = q_i ^ x_i * Delta` is its label (no extra
//!    chosen-message OT);
//! 3. the garbler sends the labels of its own input bits, then streams the garbled tables in chunks
//!    of [`CHUNK_ANDS`] gates while garbling; the evaluator evaluates each chunk as it arrives;
//! 4. outputs: for the evaluator, the garbler sends the output colour bits; for the garbler, the
//!    evaluator returns its output labels and the garbler checks each is a valid label.

use circa_ot::{Block, Channel, CotReceiver, CotSender};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::circuit::{Circuit, check_len};
use crate::error::Error;
use crate::evaluate::EvaluatorSession;
use crate::garble::{BLOCKS_PER_AND, CHUNK_ANDS, GarblerSession, OutputDecoder};
use crate::label::{Delta, Label};

/// Who learns the circuit's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reveal {
    /// Only the evaluator.
    Evaluator,
    /// Only the garbler.
    Garbler,
    /// Both parties.
    Both,
}

impl Reveal {
    fn code(self) -> u64 {
        match self {
            Reveal::Evaluator => 1,
            Reveal::Garbler => 2,
            Reveal::Both => 3,
        }
    }
    fn to_evaluator(self) -> bool {
        self != Reveal::Garbler
    }
    fn to_garbler(self) -> bool {
        self != Reveal::Evaluator
    }
}

fn shape(circuit: &Circuit, reveal: Reveal) -> [(&'static str, u64); 5] {
    [
        ("garbler inputs", circuit.garbler_inputs() as u64),
        ("evaluator inputs", circuit.evaluator_inputs() as u64),
        ("AND gates", circuit.and_count() as u64),
        ("outputs", circuit.outputs().len() as u64),
        ("reveal", reveal.code()),
    ]
}

fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut v = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        v[i / 8] |= u8::from(b) << (i % 8);
    }
    v
}

fn unpack_bits(bytes: &[u8], n: usize) -> Vec<bool> {
    (0..n).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect()
}

/// The garbler of a two-party session.
#[derive(Debug)]
pub struct Garbler2pc {
    cot: CotSender,
    session: GarblerSession,
}

impl Garbler2pc {
    /// Draws Delta and the session tweak, sends the tweak and runs the correlated-OT setup.
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let delta = Delta::random(rng);
        let tweak = Block::random(rng);
        ch.send_blocks(&[tweak])?;
        ch.flush()?;
        let cot = CotSender::setup(ch, delta.as_block(), rng)?;
        Ok(Garbler2pc {
            cot,
            session: GarblerSession::new(delta, tweak),
        })
    }

    /// Runs one circuit with the garbler's `input`; returns the output if `reveal` includes the
    /// garbler.
    pub fn run<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        &mut self,
        ch: &mut C,
        circuit: &Circuit,
        input: &[bool],
        reveal: Reveal,
        rng: &mut R,
    ) -> Result<Option<Vec<bool>>, Error> {
        check_len("garbler input", circuit.garbler_inputs(), input.len())?;
        for (_, v) in shape(circuit, reveal) {
            ch.send_u64(v)?;
        }
        let mut q = Zeroizing::new(vec![Block::ZERO; circuit.evaluator_inputs()]);
        self.cot.send_cot(ch, &mut q)?;
        let mut garbler = self
            .session
            .garble_stream_with_evaluator_labels(circuit, rng, &q)?;
        let labels = Zeroizing::new(garbler.encoder().encode_garbler(input)?);
        ch.send(bytemuck::cast_slice(labels.as_slice()))?;
        let mut chunk = Vec::with_capacity(CHUNK_ANDS * BLOCKS_PER_AND);
        loop {
            chunk.clear();
            if garbler.next_chunk(&mut chunk) == 0 {
                break;
            }
            ch.send_blocks(&chunk)?;
        }
        let outputs = garbler.finish()?;
        if reveal.to_evaluator() {
            ch.send(&pack_bits(outputs.decoder().colours()))?;
        }
        ch.flush()?;
        if !reveal.to_garbler() {
            return Ok(None);
        }
        let mut labels = vec![Label::default(); circuit.outputs().len()];
        ch.recv(bytemuck::cast_slice_mut(&mut labels))?;
        outputs.decode_verified(&labels).map(Some)
    }

    /// Bytes and rounds so far are counted by the channel; this is the COT count so far.
    pub fn ots_done(&self) -> u64 {
        self.cot.ots_done()
    }
}

/// The evaluator of a two-party session.
#[derive(Debug)]
pub struct Evaluator2pc {
    cot: CotReceiver,
    session: EvaluatorSession,
}

impl Evaluator2pc {
    /// Receives the session tweak and runs the correlated-OT setup.
    pub fn setup<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let mut tweak = [Block::ZERO];
        ch.recv_blocks(&mut tweak)?;
        let cot = CotReceiver::setup(ch, rng)?;
        Ok(Evaluator2pc {
            cot,
            session: EvaluatorSession::new(tweak[0]),
        })
    }

    /// Runs one circuit with the evaluator's `input`; returns the output if `reveal` includes the
    /// evaluator.
    pub fn run<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        circuit: &Circuit,
        input: &[bool],
        reveal: Reveal,
    ) -> Result<Option<Vec<bool>>, Error> {
        check_len("evaluator input", circuit.evaluator_inputs(), input.len())?;
        for (field, ours) in shape(circuit, reveal) {
            let peer = ch.recv_u64()?;
            if peer != ours {
                return Err(Error::CircuitMismatch { field, ours, peer });
            }
        }
        let g = circuit.garbler_inputs();
        let mut labels = Zeroizing::new(vec![Label::default(); g + input.len()]);
        {
            let t: &mut [Block] = bytemuck::cast_slice_mut(&mut labels[g..]);
            self.cot.receive_cot(ch, input, t)?;
        }
        ch.recv(bytemuck::cast_slice_mut(&mut labels[..g]))?;
        let mut ev = self.session.evaluate_stream(circuit, &labels)?;
        let mut chunk = vec![Block::ZERO; CHUNK_ANDS * BLOCKS_PER_AND];
        while ev.tables_remaining() > 0 {
            let n = (ev.tables_remaining() as usize).min(CHUNK_ANDS) * BLOCKS_PER_AND;
            ch.recv_blocks(&mut chunk[..n])?;
            ev.consume(&chunk[..n])?;
        }
        let out_labels = Zeroizing::new(ev.finish()?);
        let mut result = None;
        if reveal.to_evaluator() {
            let mut colours = vec![0u8; out_labels.len().div_ceil(8)];
            ch.recv(&mut colours)?;
            let decoder = OutputDecoder::from_colours(unpack_bits(&colours, out_labels.len()));
            result = Some(decoder.decode(&out_labels)?);
        }
        if reveal.to_garbler() {
            ch.send(bytemuck::cast_slice(out_labels.as_slice()))?;
            ch.flush()?;
        }
        Ok(result)
    }
}
