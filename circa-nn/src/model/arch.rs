//! Shapes, operators, layers and the validated [`Architecture`].

use circa_share::linalg::{Conv2dShape, Pool2dShape, Window2d};

use crate::error::{NnError, Result};

/// Largest number of elements in any tensor of a network.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;
/// Largest number of weights in one linear layer.
pub const MAX_LAYER_WEIGHTS: usize = 1 << 26;
/// Largest number of layers in a network.
pub const MAX_LAYERS: usize = 1 << 14;
/// Largest value of any layer parameter (channels, kernel size, stride, padding, groups,
/// features, reshape dimensions); what [`Architecture::to_bytes`] can always encode.
pub const MAX_DIM: usize = 1 << 24;
/// Most multiply-accumulates (or window additions) one convolution or average pooling may
/// take: `output positions x weights` and `output elements x window area`. A pooling window
/// or padding can otherwise make a tiny tensor cost `2^50` operations.
pub const MAX_LAYER_MACS: usize = 1 << 32;
/// Most window entries of one max pooling (`output elements x window area`): the size of its
/// index table and, less one per output, its ReLU count.
pub const MAX_POOL_WINDOW_ENTRIES: usize = MAX_TENSOR_ELEMENTS;
/// Most elements over all tensors of a network (the input and every layer output), which a
/// reference evaluation keeps in memory at once.
pub const MAX_TOTAL_ELEMENTS: usize = 1 << 26;

/// Index of a tensor: 0 is the network input, `i + 1` is the output of layer `i`.
pub type TensorId = usize;

/// Shape of a tensor with batch size 1: `channels x height x width`, row-major.
/// A flat vector of `n` features is `n x 1 x 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Channels (or features for a flat vector).
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
}

impl Shape {
    /// A `channels x height x width` shape.
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// A flat vector of `n` features (`n x 1 x 1`).
    pub const fn flat(n: usize) -> Self {
        Self::new(n, 1, 1)
    }

    /// Number of elements (saturating).
    pub fn len(&self) -> usize {
        self.channels
            .saturating_mul(self.height)
            .saturating_mul(self.width)
    }

    /// Whether the shape has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `height * width` (saturating).
    pub fn spatial(&self) -> usize {
        self.height.saturating_mul(self.width)
    }

    /// Flat index of element `(c, y, x)`.
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        (c * self.height + y) * self.width + x
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// Geometry of a 2-D convolution (the kernel's size, stride and padding are a
/// [`Window2d`], the type every crate uses for convolution and pooling windows). Weights are
/// laid out as ONNX does: `[out_channels][in_channels / groups][kernel_h][kernel_w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size, stride and zero padding.
    pub window: Window2d,
    /// Groups (1 = dense convolution; `in_channels` = depthwise).
    pub groups: usize,
}

impl Conv2d {
    /// The parameters in a fixed order: in, out, kernel h/w, stride h/w, pads top, left,
    /// bottom, right, groups (the order of the client encoding).
    pub(crate) fn to_array(self) -> [usize; 11] {
        let w = self.window.to_array();
        [
            self.in_channels,
            self.out_channels,
            w[0],
            w[1],
            w[2],
            w[3],
            w[4],
            w[5],
            w[6],
            w[7],
            self.groups,
        ]
    }

    /// Inverse of [`Conv2d::to_array`].
    pub(crate) fn from_array(v: [usize; 11]) -> Self {
        Self {
            in_channels: v[0],
            out_channels: v[1],
            window: Window2d::from_array([v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]]),
            groups: v[10],
        }
    }

    /// Number of weights: `out * (in / groups) * kh * kw` (saturating).
    pub fn weight_len(&self) -> usize {
        self.out_channels
            .saturating_mul(self.in_channels / self.groups.max(1))
            .saturating_mul(self.window.area())
    }

    /// The convolution on one input of shape `input`, as circa-share's kernels and
    /// correlations take it.
    pub fn shape(&self, input: Shape) -> Conv2dShape {
        Conv2dShape {
            batch: 1,
            in_channels: input.channels,
            in_height: input.height,
            in_width: input.width,
            out_channels: self.out_channels,
            window: self.window,
            groups: self.groups,
        }
    }
}

/// A pooling window over `input` (average or max), as circa-share's kernels take it.
pub fn pool_shape(window: Window2d, input: Shape) -> Pool2dShape {
    Pool2dShape {
        batch: 1,
        channels: input.channels,
        in_height: input.height,
        in_width: input.width,
        window,
    }
}

/// An element-wise activation and its public parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Activation {
    /// `max(x, 0)` on every element.
    Relu,
    /// ReLU on the channels whose mask entry is `true`, identity (free) on the others.
    /// One entry per channel (per feature for a flat vector).
    ChannelRelu {
        /// `true` = ReLU, `false` = identity.
        mask: Vec<bool>,
    },
    /// `c0 + c1 x + c2 x^2` on every element.
    Polynomial {
        /// `[c0, c1, c2]` (unused high coefficients are 0).
        coefficients: [f64; 3],
    },
    /// The identity (a fully pruned ReLU layer).
    Identity,
}

impl Activation {
    /// Degree of a polynomial activation (0 for the others).
    pub fn degree(&self) -> usize {
        match self {
            Activation::Polynomial { coefficients } => {
                if coefficients[2] != 0.0 {
                    2
                } else if coefficients[1] != 0.0 {
                    1
                } else {
                    0
                }
            }
            _ => 0,
        }
    }
}

/// A layer operation (weights, if any, live in [`Network`](crate::Network)).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution with bias (batch norm already folded in).
    Conv2d(Conv2d),
    /// Fully connected layer `y = W x + b`, `W` of shape `[out_features][in_features]`.
    Dense {
        /// Input length.
        in_features: usize,
        /// Output length.
        out_features: usize,
    },
    /// Average pooling (divides by the window area; zero padding counts, ONNX
    /// `count_include_pad = 1`).
    AvgPool(Window2d),
    /// Average over each channel's `height x width` (output `channels x 1 x 1`).
    GlobalAvgPool,
    /// Max pooling (no padding); evaluated privately through `area - 1` ReLUs per output.
    MaxPool(Window2d),
    /// Element-wise sum of two tensors of equal shape (residual connection).
    Add,
    /// Reinterpret the data with a new shape of the same length (flatten); moves no data.
    Reshape {
        /// The new shape.
        shape: Shape,
    },
    /// An element-wise activation.
    Activation(Activation),
}

impl Op {
    /// Number of input tensors the operation takes.
    pub fn arity(&self) -> usize {
        match self {
            Op::Add => 2,
            _ => 1,
        }
    }

    /// Whether the layer carries weights ([`Op::Conv2d`] and [`Op::Dense`]).
    pub fn has_weights(&self) -> bool {
        matches!(self, Op::Conv2d(_) | Op::Dense { .. })
    }

    /// Short name for summaries.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "Conv2d",
            Op::Dense { .. } => "Dense",
            Op::AvgPool(_) => "AvgPool",
            Op::GlobalAvgPool => "GlobalAvgPool",
            Op::MaxPool(_) => "MaxPool",
            Op::Add => "Add",
            Op::Reshape { .. } => "Reshape",
            Op::Activation(Activation::Relu) => "Relu",
            Op::Activation(Activation::ChannelRelu { .. }) => "ChannelRelu",
            Op::Activation(Activation::Polynomial { .. }) => "Polynomial",
            Op::Activation(Activation::Identity) => "Identity",
        }
    }

    /// Output shape for the given input shapes, or the reason the layer is invalid.
    pub(crate) fn output_shape(
        &self,
        inputs: &[Shape],
    ) -> std::result::Result<Shape, &'static str> {
        if inputs.len() != self.arity() {
            return Err("wrong number of inputs");
        }
        if self.parameters().iter().any(|&v| v > MAX_DIM) {
            return Err("a parameter exceeds MAX_DIM");
        }
        let x = inputs[0];
        let out = match self {
            Op::Conv2d(c) => {
                if c.groups == 0 || c.in_channels % c.groups != 0 || c.out_channels % c.groups != 0
                {
                    return Err("groups must divide input and output channels");
                }
                if c.out_channels == 0 {
                    return Err("zero output channels");
                }
                if x.channels != c.in_channels {
                    return Err("input channels differ from the convolution's");
                }
                if c.weight_len() > MAX_LAYER_WEIGHTS {
                    return Err("too many weights");
                }
                let (h, w) = window_output(x, &c.window)?;
                if h.saturating_mul(w).saturating_mul(c.weight_len()) > MAX_LAYER_MACS {
                    return Err("too many multiply-accumulates");
                }
                Shape::new(c.out_channels, h, w)
            }
            Op::Dense {
                in_features,
                out_features,
            } => {
                if x.len() != *in_features {
                    return Err("input length differs from in_features");
                }
                if *out_features == 0 {
                    return Err("zero output features");
                }
                if in_features.saturating_mul(*out_features) > MAX_LAYER_WEIGHTS {
                    return Err("too many weights");
                }
                Shape::flat(*out_features)
            }
            Op::AvgPool(p) | Op::MaxPool(p) => {
                if matches!(self, Op::MaxPool(_)) && p.has_padding() {
                    return Err("max pooling with padding is not supported");
                }
                if p.pad_top >= p.kernel_h
                    || p.pad_bottom >= p.kernel_h
                    || p.pad_left >= p.kernel_w
                    || p.pad_right >= p.kernel_w
                {
                    return Err("pooling padding must be smaller than the window");
                }
                let (h, w) = window_output(x, p)?;
                let entries = x
                    .channels
                    .saturating_mul(h)
                    .saturating_mul(w)
                    .saturating_mul(p.area());
                let limit = match self {
                    Op::MaxPool(_) => MAX_POOL_WINDOW_ENTRIES,
                    _ => MAX_LAYER_MACS,
                };
                if entries > limit {
                    return Err("pooling windows too large for the output size");
                }
                Shape::new(x.channels, h, w)
            }
            Op::GlobalAvgPool => Shape::flat(x.channels),
            Op::Add => {
                if inputs[1] != x {
                    return Err("operands of Add have different shapes");
                }
                x
            }
            Op::Reshape { shape } => {
                if shape.len() != x.len() {
                    return Err("reshape changes the number of elements");
                }
                *shape
            }
            Op::Activation(a) => {
                match a {
                    Activation::ChannelRelu { mask } if mask.len() != x.channels => {
                        return Err("ChannelRelu mask length differs from the channel count");
                    }
                    Activation::Polynomial { coefficients }
                        if coefficients.iter().any(|c| !c.is_finite()) =>
                    {
                        return Err("non-finite polynomial coefficient");
                    }
                    _ => {}
                }
                x
            }
        };
        if out.is_empty() || out.len() > MAX_TENSOR_ELEMENTS {
            return Err("output tensor empty or too large");
        }
        Ok(out)
    }
}

impl Op {
    /// Every integer parameter of the operation (checked against [`MAX_DIM`]).
    fn parameters(&self) -> Vec<usize> {
        match self {
            Op::Conv2d(c) => c.to_array().to_vec(),
            Op::Dense {
                in_features,
                out_features,
            } => vec![*in_features, *out_features],
            Op::AvgPool(p) | Op::MaxPool(p) => p.to_array().to_vec(),
            Op::Reshape { shape } => vec![shape.channels, shape.height, shape.width],
            Op::Activation(Activation::ChannelRelu { mask }) => vec![mask.len()],
            Op::GlobalAvgPool | Op::Add | Op::Activation(_) => Vec::new(),
        }
    }
}

/// Output height and width of a window (convolution or pooling) sliding over `x`, or why
/// the geometry is invalid (circa-share's one window arithmetic).
pub(crate) fn window_output(
    x: Shape,
    window: &Window2d,
) -> std::result::Result<(usize, usize), &'static str> {
    window.output_hw(x.height, x.width).map_err(|e| match e {
        circa_share::Error::ZeroDimension { .. } => "zero kernel size or stride",
        circa_share::Error::ShapeOverflow => "padding overflows",
        _ => "window larger than the padded input",
    })
}

/// One layer: an operation, its input tensor ids, and its (inferred) output shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Name (from the ONNX node), for summaries and errors.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// Input tensor ids (all smaller than this layer's own output id).
    pub inputs: Vec<TensorId>,
    output_shape: Shape,
}

impl Layer {
    /// Output shape (inferred when the architecture was built).
    pub fn output_shape(&self) -> Shape {
        self.output_shape
    }
}

/// The public architecture of a network: everything except the weights. This is all the
/// client ever receives. Built only through [`Architecture::new`] or
/// [`Architecture::from_bytes`], both of which validate it and infer every shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    input_shape: Shape,
    layers: Vec<Layer>,
    output: TensorId,
}

impl Architecture {
    /// Validates the layers (given as `(name, op, input tensor ids)` in topological order) and
    /// infers every tensor's shape. `output` is the tensor id of the network output.
    pub fn new(
        input_shape: Shape,
        layers: Vec<(String, Op, Vec<TensorId>)>,
        output: TensorId,
    ) -> Result<Self> {
        if layers.len() > MAX_LAYERS {
            return Err(NnError::LimitExceeded {
                what: "layers",
                value: layers.len() as u64,
                limit: MAX_LAYERS as u64,
            });
        }
        if input_shape.is_empty() || input_shape.len() > MAX_TENSOR_ELEMENTS {
            return Err(NnError::LimitExceeded {
                what: "input tensor elements",
                value: input_shape.len() as u64,
                limit: MAX_TENSOR_ELEMENTS as u64,
            });
        }
        let mut shapes = Vec::with_capacity(layers.len() + 1);
        shapes.push(input_shape);
        let mut total_elements = input_shape.len();
        let mut built = Vec::with_capacity(layers.len());
        for (i, (name, op, inputs)) in layers.into_iter().enumerate() {
            let mut in_shapes = Vec::with_capacity(inputs.len());
            for &t in &inputs {
                let s = shapes.get(t).ok_or(NnError::InvalidTensorId {
                    layer: i,
                    tensor: t,
                })?;
                in_shapes.push(*s);
            }
            let output_shape = op
                .output_shape(&in_shapes)
                .map_err(|reason| NnError::InvalidLayer { layer: i, reason })?;
            total_elements = total_elements.saturating_add(output_shape.len());
            if total_elements > MAX_TOTAL_ELEMENTS {
                return Err(NnError::LimitExceeded {
                    what: "elements over all tensors",
                    value: total_elements as u64,
                    limit: MAX_TOTAL_ELEMENTS as u64,
                });
            }
            shapes.push(output_shape);
            built.push(Layer {
                name,
                op,
                inputs,
                output_shape,
            });
        }
        if output >= shapes.len() {
            return Err(NnError::InvalidTensorId {
                layer: built.len(),
                tensor: output,
            });
        }
        Ok(Self {
            input_shape,
            layers: built,
            output,
        })
    }

    /// Shape of the network input.
    pub fn input_shape(&self) -> Shape {
        self.input_shape
    }

    /// The layers in topological order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Tensor id of the network output.
    pub fn output(&self) -> TensorId {
        self.output
    }

    /// Shape of tensor `id` (`None` if out of range).
    pub fn tensor_shape(&self, id: TensorId) -> Option<Shape> {
        if id == 0 {
            Some(self.input_shape)
        } else {
            self.layers.get(id - 1).map(Layer::output_shape)
        }
    }

    /// Shape of the network output.
    pub fn output_shape(&self) -> Shape {
        self.tensor_shape(self.output).unwrap_or(self.input_shape)
    }

    /// Number of ReLUs the layer evaluates privately: one per element for [`Activation::Relu`],
    /// one per masked-in element for [`Activation::ChannelRelu`] (identity channels are free),
    /// and `area - 1` per output element for [`Op::MaxPool`].
    pub fn layer_relu_count(&self, layer: &Layer) -> usize {
        let out = layer.output_shape;
        match &layer.op {
            Op::Activation(Activation::Relu) => out.len(),
            Op::Activation(Activation::ChannelRelu { mask }) => {
                mask.iter().filter(|&&m| m).count() * out.spatial()
            }
            Op::MaxPool(p) => out.len() * p.area().saturating_sub(1),
            _ => 0,
        }
    }

    /// Total ReLUs in the network (activations and max pooling).
    pub fn relu_count(&self) -> usize {
        self.layers.iter().map(|l| self.layer_relu_count(l)).sum()
    }

    /// Number of elements passed through polynomial activations.
    pub fn polynomial_count(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| matches!(l.op, Op::Activation(Activation::Polynomial { .. })))
            .map(|l| l.output_shape.len())
            .sum()
    }
}
