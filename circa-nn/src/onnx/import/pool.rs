//! Pooling: AveragePool, MaxPool, GlobalAveragePool, and ReduceMean over height and width
//! (what `nn.AdaptiveAvgPool2d(1)` and `x.mean((2, 3))` export to under dynamo).

use super::attrs::Attrs;
use super::values::{Rank, axis};
use super::{Builder, expect_inputs, expect_inputs_between, pattern};
use crate::error::Result;
use crate::model::Op;
use crate::onnx::proto::NodeProto;

impl<'m> Builder<'m> {
    pub(super) fn pool(&mut self, node: &'m NodeProto, max: bool) -> Result<()> {
        let allowed: &[&str] = if max {
            &[
                "auto_pad",
                "ceil_mode",
                "dilations",
                "kernel_shape",
                "pads",
                "storage_order",
                "strides",
            ]
        } else {
            &[
                "auto_pad",
                "ceil_mode",
                "count_include_pad",
                "dilations",
                "kernel_shape",
                "pads",
                "strides",
            ]
        };
        let attrs = Attrs::check(node, allowed)?;
        expect_inputs(node, 1)?;
        let x = self.spatial_act(node, 0)?;
        attrs.no_auto_pad()?;
        attrs.all_ones("dilations")?;
        let ceil = attrs.int("ceil_mode", 0)?;
        if ceil != 0 {
            return Err(attrs.unsupported_value("ceil_mode", ceil));
        }
        let ks = attrs
            .ints("kernel_shape")?
            .ok_or_else(|| attrs.missing("kernel_shape"))?;
        if ks.len() != 2 || ks.iter().any(|&k| !(1..=1 << 24).contains(&k)) {
            return Err(attrs.unsupported_value("kernel_shape", format!("{ks:?}")));
        }
        let pool = attrs.window(ks[0] as usize, ks[1] as usize)?;
        let op = if max {
            if pool.has_padding() {
                let pads = [pool.pad_top, pool.pad_left, pool.pad_bottom, pool.pad_right];
                return Err(attrs.unsupported_value("pads", format!("{pads:?}")));
            }
            Op::MaxPool(pool)
        } else {
            let include_pad = attrs.flag("count_include_pad", false)?;
            if !include_pad && pool.has_padding() {
                // The divisor would vary near the border; only the constant divisor is supported.
                return Err(attrs.unsupported_value("count_include_pad", "0 with non-zero pads"));
            }
            Op::AvgPool(pool)
        };
        self.push_output(node, op, vec![x.id], None, Rank::Spatial)
    }

    pub(super) fn global_average_pool(&mut self, node: &'m NodeProto) -> Result<()> {
        Attrs::check(node, &[])?;
        expect_inputs(node, 1)?;
        let x = self.spatial_act(node, 0)?;
        self.push_output(node, Op::GlobalAvgPool, vec![x.id], None, Rank::Spatial)
    }

    /// `ReduceMean` over axes {2, 3} of a `[1, C, H, W]` activation: a global average pool,
    /// `[1, C, 1, 1]` with `keepdims = 1` (the default), `[1, C]` without. Axes are an
    /// attribute up to opset 17 and an input from opset 18.
    pub(super) fn reduce_mean(&mut self, node: &'m NodeProto) -> Result<()> {
        let attrs = Attrs::check(node, &["axes", "keepdims", "noop_with_empty_axes"])?;
        expect_inputs_between(node, 1, 2, "1 or 2")?;
        let keep = attrs.flag("keepdims", true)?;
        attrs.flag("noop_with_empty_axes", false)?;
        let axes = match (attrs.ints("axes")?, self.input_name(node, 1)) {
            (Some(a), None) => a.to_vec(),
            (None, Some(_)) => self.int_list(node, 1)?,
            _ => {
                return Err(pattern(
                    node,
                    "ReduceMean needs its axes (2 and 3), as an attribute or as an input",
                    HINT,
                ));
            }
        };
        let x = self.spatial_act(node, 0)?;
        let mut normalised: Vec<Option<usize>> = axes.iter().map(|&a| axis(a, 4)).collect();
        normalised.sort_unstable();
        if normalised != [Some(2), Some(3)] {
            return Err(attrs.unsupported_value("axes", format!("{axes:?}")));
        }
        let rank = if keep { Rank::Spatial } else { Rank::Flat };
        self.push_output(node, Op::GlobalAvgPool, vec![x.id], None, rank)
    }
}

const HINT: &str = "use nn.AdaptiveAvgPool2d(1) or x.mean((2, 3)) for a global average pool";
