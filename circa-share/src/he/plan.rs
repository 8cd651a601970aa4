//! Coefficient packing of a convolution (Cheetah-style, no rotations), as a
//! public plan both parties derive from the layer shape, the weight width
//! and the parameter set.
//!
//! # Geometry
//!
//! * **Stride** is removed by the polyphase (space-to-depth) identity: a
//!   stride-`(sh, sw)` convolution with a `kh x kw` kernel equals a stride-1
//!   convolution over the phase channels `x'[(c ph + a) pw + b][Y][X] =
//!   x_pad[c][sh Y + a][sw X + b]`, `a < ph = min(sh, kh)`, `b < pw =
//!   min(sw, kw)` (other phases meet no weight), with a
//!   `ceil(kh/sh) x ceil(kw/sw)` kernel (taps past the original kernel are
//!   zero). Zero padding (any
//!   side) is materialised in `x_pad`: padded positions are zero
//!   coefficients of the client's polynomial.
//! * **Groups** are a dense convolution whose cross-group weights are zero;
//!   `(channel block, output block)` pairs with no weight are skipped.
//! * **Tiling**: the output plane is cut into `ho x wo` tiles; a tile reads an
//!   `hb x wb = (ho + kh' - 1) x (wo + kw' - 1)` input window (slot `S = hb
//!   wb`).
//!
//! # Packing
//!
//! An input polynomial holds `C_n` channels of one tile window: coefficient
//! `j S + y wb + x` is `x'[cb C_n + j][tile + (y, x)]`. The kernel polynomial
//! of a channel block `cb` and an output block `mb` of `M_n` output channels
//! puts weight `w'[mb M_n + i][cb C_n + j][ky][kx]` at
//! `i L + O - j S - ky wb - kx` with `L = C_n S` and
//! `O = (C_n - 1) S + (kh' - 1) wb + kw' - 1`. With `M_n L <= N` the
//! negacyclic product has, at `i L + O + oy wb + ox`, exactly the output
//! `(mb M_n + i, tile + (oy, ox))` summed over the block's channels (the
//! digits `(j, y, x)` of a product index are unique, other output blocks
//! land at least `L` away, and wrapped terms stay below `O`); summing the
//! products over the channel blocks gives the full output. Only those
//! `M_n ho wo` coefficients of `c0` are returned.

use super::noise::{self, NoiseBudget, STAT_BITS};
use super::params::{HeParams, packed_len};
use crate::error::Error;
use crate::field::Modulus;
use crate::linalg::Conv2dShape;
use crate::ole::MAX_MACS_PER_CALL;

/// Widest weight the HE correlation accepts (the noise budget decides
/// below that).
pub const MAX_WEIGHT_BITS: u32 = 32;

/// Bytes of every message header: kind, parameter set, the plan's 16-bit
/// tag (u16 LE, zero for a public key), `t` (u64 LE), ciphertext count (u32
/// LE).
pub const HEADER_BYTES: usize = 16;

/// The public plan of one linear layer under one parameter set.
#[derive(Clone, Debug)]
pub struct HePlan<M: Modulus> {
    pub(crate) params: HeParams<M>,
    pub(crate) shape: Conv2dShape,
    pub(crate) weight_bits: u32,
    // Polyphase geometry.
    pub(crate) sh: usize,
    pub(crate) sw: usize,
    pub(crate) kh2: usize,
    pub(crate) kw2: usize,
    pub(crate) c2: usize,
    pub(crate) out_h: usize,
    pub(crate) out_w: usize,
    // Tiling and packing.
    pub(crate) tile_h: usize,
    pub(crate) tile_w: usize,
    pub(crate) hb: usize,
    pub(crate) wb: usize,
    pub(crate) tiles_y: usize,
    pub(crate) tiles_x: usize,
    pub(crate) cn: usize,
    pub(crate) mn: usize,
    pub(crate) n_cb: usize,
    pub(crate) n_mb: usize,
    pub(crate) budget: NoiseBudget,
}

/// Distinct values of `ceil(total / k)` for `k = 1..=total`, descending.
fn ceil_divisions(total: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (1..=total).map(|k| total.div_ceil(k)).collect();
    v.dedup();
    v
}

impl<M: Modulus> HePlan<M> {
    /// The cheapest plan (fewest bytes) for a convolution under `params`.
    ///
    /// # Errors
    ///
    /// Shape errors from [`Conv2dShape::validate`];
    /// [`Error::LimitExceeded`] for a weight width outside
    /// `1..=MAX_WEIGHT_BITS` or more than [`MAX_MACS_PER_CALL`]
    /// multiply-accumulates (the bound on every message size); [`Error::HeLayerTooLarge`] when no packing
    /// keeps both decryption correct and the weights hidden with
    /// [`STAT_BITS`] bits of statistical slack.
    pub fn conv(
        params: &HeParams<M>,
        shape: &Conv2dShape,
        weight_bits: u32,
    ) -> Result<Self, Error> {
        shape.validate()?;
        if weight_bits == 0 || weight_bits > MAX_WEIGHT_BITS || weight_bits + 1 >= M::BITS {
            return Err(Error::LimitExceeded {
                what: "weight bits",
                requested: weight_bits as u64,
                limit: MAX_WEIGHT_BITS.min(M::BITS - 2) as u64,
            });
        }
        if shape.macs() > MAX_MACS_PER_CALL {
            return Err(Error::LimitExceeded {
                what: "multiply-accumulates",
                requested: shape.macs(),
                limit: MAX_MACS_PER_CALL,
            });
        }
        let win = shape.window;
        let (sh, sw) = (win.stride_h, win.stride_w);
        let (kh2, kw2) = (win.kernel_h.div_ceil(sh), win.kernel_w.div_ceil(sw));
        let c2 = shape
            .in_channels
            .checked_mul(sh.min(win.kernel_h))
            .and_then(|v| v.checked_mul(sw.min(win.kernel_w)))
            .ok_or(Error::ShapeOverflow)?;
        let (out_h, out_w) = (shape.out_height(), shape.out_width());
        let n = params.degree();
        let m = shape.out_channels;
        let cg = shape.in_channels / shape.groups;
        let returned = shape.output_len() as u64;
        let taps_per_output = (cg * win.kernel_h * win.kernel_w) as u64;
        let qct = params.query_ct_bytes() as f64;
        let c1_bytes = packed_len(n, params.final_bits()) as f64;
        let c0_bits = params.c0_bits() as f64;
        let mut best: Option<(f64, (usize, usize, usize, usize))> = None;
        let mut best_slack = f64::NEG_INFINITY;
        for &tile_h in &ceil_divisions(out_h) {
            let hb = tile_h + kh2 - 1;
            for &tile_w in &ceil_divisions(out_w) {
                let wb = tile_w + kw2 - 1;
                let slot = hb * wb;
                if slot > n {
                    continue;
                }
                let tiles = (out_h.div_ceil(tile_h) * out_w.div_ceil(tile_w)) as f64;
                for &cn in &ceil_divisions(c2) {
                    if cn * slot > n {
                        continue;
                    }
                    let mn_max = (n / (cn * slot)).min(m);
                    let n_in = tiles * c2.div_ceil(cn) as f64;
                    for &mn in ceil_divisions(m).iter().filter(|&&v| v <= mn_max) {
                        let taps = mn as u64 * taps_per_output;
                        let Some(b) = noise::budget(params, weight_bits, taps, returned) else {
                            continue;
                        };
                        best_slack = best_slack.max(b.stat_bits);
                        if !b.meets(STAT_BITS) {
                            continue;
                        }
                        let n_out = tiles * m.div_ceil(mn) as f64;
                        let bytes = shape.batch as f64 * (n_in * qct + n_out * c1_bytes)
                            + returned as f64 * c0_bits / 8.0;
                        if best.is_none_or(|(c, _)| bytes < c) {
                            best = Some((bytes, (tile_h, tile_w, cn, mn)));
                        }
                    }
                }
            }
        }
        let Some((_, (tile_h, tile_w, cn, mn))) = best else {
            return Err(Error::HeLayerTooLarge {
                stat_bits: best_slack.max(0.0).floor() as u32,
                required: STAT_BITS,
            });
        };
        let taps = mn as u64 * taps_per_output;
        let budget =
            noise::budget(params, weight_bits, taps, returned).ok_or(Error::ShapeOverflow)?;
        Ok(Self {
            params: params.clone(),
            shape: *shape,
            weight_bits,
            sh,
            sw,
            kh2,
            kw2,
            c2,
            out_h,
            out_w,
            tile_h,
            tile_w,
            hb: tile_h + kh2 - 1,
            wb: tile_w + kw2 - 1,
            tiles_y: out_h.div_ceil(tile_h),
            tiles_x: out_w.div_ceil(tile_w),
            cn,
            mn,
            n_cb: c2.div_ceil(cn),
            n_mb: m.div_ceil(mn),
            budget,
        })
    }

    /// A dense layer `W r` (`rows x cols`) as a `1 x 1` convolution.
    pub fn dense(
        params: &HeParams<M>,
        rows: usize,
        cols: usize,
        weight_bits: u32,
    ) -> Result<Self, Error> {
        Self::conv(params, &Conv2dShape::new(cols, 1, 1, rows, 1), weight_bits)
    }

    /// The layer shape.
    pub fn shape(&self) -> &Conv2dShape {
        &self.shape
    }

    /// The parameters.
    pub fn params(&self) -> &HeParams<M> {
        &self.params
    }

    /// The weight width.
    pub fn weight_bits(&self) -> u32 {
        self.weight_bits
    }

    /// The noise budget (flood bound and statistical slack).
    pub fn budget(&self) -> &NoiseBudget {
        &self.budget
    }

    /// `(tile_h, tile_w, channels per input ct, output channels per answer ct)`.
    pub fn packing(&self) -> (usize, usize, usize, usize) {
        (self.tile_h, self.tile_w, self.cn, self.mn)
    }

    /// A 16-bit tag of the public plan (FNV-1a over the shape, the weight
    /// width and the packing), carried in message headers so that a message
    /// for another layer of the same size is refused.
    pub fn tag(&self) -> u16 {
        let s = &self.shape;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let fields = [
            s.batch,
            s.in_channels,
            s.in_height,
            s.in_width,
            s.out_channels,
            s.groups,
            self.weight_bits as usize,
            self.tile_h,
            self.tile_w,
            self.cn,
            self.mn,
        ]
        .into_iter()
        .chain(s.window.to_array());
        for v in fields {
            for b in (v as u64).to_le_bytes() {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        }
        (h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) as u16
    }

    pub(crate) fn tiles(&self) -> usize {
        self.tiles_y * self.tiles_x
    }

    /// Query ciphertexts per call.
    pub fn n_in(&self) -> usize {
        self.shape.batch * self.tiles() * self.n_cb
    }

    /// Answer ciphertexts per call.
    pub fn n_out(&self) -> usize {
        self.shape.batch * self.tiles() * self.n_mb
    }

    /// Phase channels per input channel: only phases `a < kh`, `b < kw` meet
    /// a weight (a `1 x 1` stride-2 kernel reads one phase of four).
    pub(crate) fn phases(&self) -> usize {
        self.sh.min(self.shape.window.kernel_h) * self.phase_w()
    }

    pub(crate) fn phase_w(&self) -> usize {
        self.sw.min(self.shape.window.kernel_w)
    }

    pub(crate) fn slot(&self) -> usize {
        self.hb * self.wb
    }

    pub(crate) fn block(&self) -> usize {
        self.cn * self.slot()
    }

    pub(crate) fn offset(&self) -> usize {
        (self.cn - 1) * self.slot() + (self.kh2 - 1) * self.wb + self.kw2 - 1
    }

    /// Exact bytes of the client's query message.
    pub fn query_bytes(&self) -> usize {
        HEADER_BYTES + self.n_in() * self.params.query_ct_bytes()
    }

    /// Exact bytes of the server's answer message.
    pub fn answer_bytes(&self) -> usize {
        HEADER_BYTES
            + (0..self.n_out())
                .map(|o| self.params.answer_ct_bytes(self.useful_count(o)))
                .sum::<usize>()
    }

    /// `(tile index, block index)` of query ct or answer ct `k` within its
    /// image, and the image.
    fn split(&self, k: usize, blocks: usize) -> (usize, usize, usize) {
        let per_image = self.tiles() * blocks;
        (k / per_image, (k % per_image) / blocks, k % blocks)
    }

    /// Valid `(i, oy, ox)` extents of answer ct `o`: output channels, rows
    /// and columns present (edge tiles and the last block are partial).
    fn useful_extent(&self, o: usize) -> (usize, usize, usize) {
        let (_, tile, mb) = self.split(o, self.n_mb);
        let (ty, tx) = (tile / self.tiles_x, tile % self.tiles_x);
        let mi = self.mn.min(self.shape.out_channels - mb * self.mn);
        let oy = self.tile_h.min(self.out_h - ty * self.tile_h);
        let ox = self.tile_w.min(self.out_w - tx * self.tile_w);
        (mi, oy, ox)
    }

    /// Returned coefficients of answer ct `o`.
    pub(crate) fn useful_count(&self, o: usize) -> usize {
        let (a, b, c) = self.useful_extent(o);
        a * b * c
    }

    /// Calls `f(poly position, output index)` for every returned
    /// coefficient of answer ct `o`, in wire order.
    pub(crate) fn for_each_useful(&self, o: usize, mut f: impl FnMut(usize, usize)) {
        let (img, tile, mb) = self.split(o, self.n_mb);
        let (ty, tx) = (tile / self.tiles_x, tile % self.tiles_x);
        let (mi, oyn, oxn) = self.useful_extent(o);
        let (l, off) = (self.block(), self.offset());
        let plane = self.out_h * self.out_w;
        let img_base = img * self.shape.out_channels * plane;
        for i in 0..mi {
            let m = mb * self.mn + i;
            for oy in 0..oyn {
                let gy = ty * self.tile_h + oy;
                for ox in 0..oxn {
                    let gx = tx * self.tile_w + ox;
                    f(
                        i * l + off + oy * self.wb + ox,
                        img_base + m * plane + gy * self.out_w + gx,
                    );
                }
            }
        }
    }

    /// Fills `out` (length `N`, zeroed) with the input coefficients of query
    /// ct `k`: `get(image, c, y, x)` reads the original (unpadded) input.
    pub(crate) fn fill_input<T: Copy + Default>(&self, k: usize, input: &[T], out: &mut [T]) {
        let (img, tile, cb) = self.split(k, self.n_cb);
        let (ty, tx) = (tile / self.tiles_x, tile % self.tiles_x);
        let s = &self.shape;
        let (h, w) = (s.in_height, s.in_width);
        let img_base = img * s.in_channels * h * w;
        let win = s.window;
        let slot = self.slot();
        for j in 0..self.cn {
            let c2 = cb * self.cn + j;
            if c2 >= self.c2 {
                break;
            }
            let (c, ab) = (c2 / self.phases(), c2 % self.phases());
            let (a, b) = (ab / self.phase_w(), ab % self.phase_w());
            for y in 0..self.hb {
                let yy = (self.sh * (ty * self.tile_h + y) + a) as isize - win.pad_top as isize;
                if yy < 0 || yy >= h as isize {
                    continue;
                }
                for x in 0..self.wb {
                    let xx =
                        (self.sw * (tx * self.tile_w + x) + b) as isize - win.pad_left as isize;
                    if xx < 0 || xx >= w as isize {
                        continue;
                    }
                    out[j * slot + y * self.wb + x] =
                        input[img_base + (c * h + yy as usize) * w + xx as usize];
                }
            }
        }
    }

    /// `(channel block, output block)` pairs with a kernel polynomial (one
    /// NTT per pair and prime per answer; the size of
    /// `HeLayer::with_ntt_cache` is this times `8 N` bytes per prime).
    pub fn kernel_pairs(&self) -> usize {
        (0..self.n_mb)
            .map(|mb| {
                (0..self.n_cb)
                    .filter(|&cb| self.pair_active(cb, mb))
                    .count()
            })
            .sum()
    }

    /// Whether channel block `cb` and output block `mb` share a group.
    pub(crate) fn pair_active(&self, cb: usize, mb: usize) -> bool {
        let s = &self.shape;
        let (cg, mg) = (s.in_channels / s.groups, s.out_channels / s.groups);
        let phases = self.phases();
        let c_lo = cb * self.cn / phases;
        let c_hi = ((cb + 1) * self.cn).min(self.c2).div_ceil(phases); // exclusive
        let m_lo = mb * self.mn;
        let m_hi = ((mb + 1) * self.mn).min(s.out_channels);
        let (g_c_lo, g_c_hi) = (c_lo / cg, (c_hi - 1) / cg);
        let (g_m_lo, g_m_hi) = (m_lo / mg, (m_hi - 1) / mg);
        g_c_lo <= g_m_hi && g_m_lo <= g_c_hi
    }

    /// Calls `f(position, weight)` for every (possibly zero) weight tap of
    /// the kernel polynomial of channel block `cb` and output block `mb`;
    /// `weights` is OIHW as in [`crate::linalg::conv2d`].
    pub(crate) fn for_each_tap<T: Copy>(
        &self,
        weights: &[T],
        cb: usize,
        mb: usize,
        mut f: impl FnMut(usize, T),
    ) {
        let s = &self.shape;
        let win = s.window;
        let (cg, mg) = (s.in_channels / s.groups, s.out_channels / s.groups);
        let (kh, kw) = (win.kernel_h, win.kernel_w);
        let (l, off, slot) = (self.block(), self.offset(), self.slot());
        for i in 0..self.mn {
            let m = mb * self.mn + i;
            if m >= s.out_channels {
                break;
            }
            let g = m / mg;
            for j in 0..self.cn {
                let c2 = cb * self.cn + j;
                if c2 >= self.c2 {
                    break;
                }
                let (c, ab) = (c2 / self.phases(), c2 % self.phases());
                if c / cg != g {
                    continue;
                }
                let (a, b) = (ab / self.phase_w(), ab % self.phase_w());
                let wbase = (m * cg + (c - g * cg)) * kh * kw;
                for ky in 0..self.kh2 {
                    let oky = self.sh * ky + a;
                    if oky >= kh {
                        break;
                    }
                    for kx in 0..self.kw2 {
                        let okx = self.sw * kx + b;
                        if okx >= kw {
                            break;
                        }
                        f(
                            i * l + off - j * slot - ky * self.wb - kx,
                            weights[wbase + oky * kw + okx],
                        );
                    }
                }
            }
        }
    }
}
