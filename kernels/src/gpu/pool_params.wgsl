// The parameters of every pooling shader (included after common.wgsl), mirrored by `PoolParams`
// in pool2d.rs: the [planes, h, w] input, the window, stride and padding, the output size.
struct PoolParams {
    planes: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    oh: u32,
    ow: u32,
    pad0: u32,
}

@group(0) @binding(0) var<uniform> params: PoolParams;

