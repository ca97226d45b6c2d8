//! Image preprocessing for reusing ImageNet models: bilinear resizing as PyTorch's
//! `F.interpolate(mode="bilinear", align_corners=False)` computes it, and grey images turned
//! into ImageNet-normalised RGB.

use graft_engine::{Error, Result, Tensor};

/// The per-channel mean and standard deviation ImageNet models were trained with (RGB).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `[n, c, h, w]` images resized to `[n, c, out_h, out_w]` by bilinear interpolation with
/// half-pixel centres and edge clamping (PyTorch's `F.interpolate(..., mode="bilinear",
/// align_corners=False)`, no antialiasing). Runs on the host; for preprocessing, not differentiable.
///
/// ```
/// use graft_engine::Tensor;
/// use graft_nn::data::image::resize_bilinear;
/// let x = Tensor::from_vec(vec![0.0, 1.0], &[1, 1, 1, 2])?;
/// assert_eq!(resize_bilinear(&x, 1, 4)?.to_vec()?, vec![0.0, 0.25, 0.75, 1.0]);
/// # Ok::<(), graft_engine::Error>(())
/// ```
pub fn resize_bilinear(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let [n, c, h, w] = *x.shape() else {
        return Err(Error::BadShape {
            op: "resize_bilinear",
            shape: x.shape().to_vec(),
            reason: "images are [n, c, h, w]".into(),
        });
    };
    if h == 0 || w == 0 || out_h == 0 || out_w == 0 {
        return Err(Error::BadShape {
            op: "resize_bilinear",
            shape: x.shape().to_vec(),
            reason: format!("cannot resize {h}×{w} images to {out_h}×{out_w}: every size must be at least 1"),
        });
    }
    let src = x.to_vec()?;
    let (rows, cols) = (taps(h, out_h), taps(w, out_w));
    let mut out = Vec::with_capacity(n * c * out_h * out_w);
    for plane in src.chunks_exact(h * w) {
        for &(y0, y1, fy) in &rows {
            for &(x0, x1, fx) in &cols {
                let at = |y: usize, x: usize| plane[y * w + x];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out.push(top * (1.0 - fy) + bottom * fy);
            }
        }
    }
    Tensor::from_vec(out, &[n, c, out_h, out_w])
}

/// For each output position along an axis of `len` resized to `out`: the two source
/// positions and the weight of the second, as PyTorch computes them (`src = (i + 0.5)·scale
/// − 0.5`, clamped at 0).
fn taps(len: usize, out: usize) -> Vec<(usize, usize, f32)> {
    let scale = len as f32 / out as f32;
    (0..out)
        .map(|i| {
            let src = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(len - 1);
            let i1 = (i0 + 1).min(len - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

/// Grey images `[n, 1, h, w]` with values in [0, 1] as ImageNet-normalised RGB `[n, 3, h, w]`:
/// the grey plane copied to the three channels, then `(v − mean_c) / std_c`.
pub fn grey_to_imagenet_rgb(x: &Tensor) -> Result<Tensor> {
    let [n, 1, h, w] = *x.shape() else {
        return Err(Error::BadShape {
            op: "grey_to_imagenet_rgb",
            shape: x.shape().to_vec(),
            reason: "grey images are [n, 1, h, w]".into(),
        });
    };
    let grey = x.to_vec()?;
    let mut out = Vec::with_capacity(n * 3 * h * w);
    for plane in grey.chunks_exact(h * w) {
        for (mean, std) in IMAGENET_MEAN.iter().zip(IMAGENET_STD) {
            out.extend(plane.iter().map(|v| (v - mean) / std));
        }
    }
    Tensor::from_vec(out, &[n, 3, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_equals_pytorchs_bilinear() {
        // torch.arange(24).reshape(2, 1, 3, 4) / 7, F.interpolate(bilinear, align_corners=False).
        let x = Tensor::from_vec((0..24).map(|v| v as f32 / 7.0).collect(), &[2, 1, 3, 4]).unwrap();
        let up = resize_bilinear(&x, 5, 7).unwrap();
        assert_eq!(up.shape(), &[2, 1, 5, 7]);
        let want = [0.0, 0.05102, 0.132653, 0.214286, 0.295918, 0.377551, 0.428571, 0.228571, 0.279592, 0.361225];
        for (g, w) in up.to_vec().unwrap().iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
        let down = resize_bilinear(&x, 2, 3).unwrap().to_vec().unwrap();
        for (g, w) in down.iter().zip([0.166667, 0.357143, 0.547619, 1.02381, 1.214286, 1.404762]) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
        assert!(resize_bilinear(&x, 0, 3).unwrap_err().to_string().contains("at least 1"));
        assert!(resize_bilinear(&Tensor::zeros(&[3, 4]), 2, 2).is_err());
    }

    #[test]
    fn grey_becomes_normalised_rgb() {
        let x = Tensor::from_vec(vec![0.485, 1.0], &[1, 1, 1, 2]).unwrap();
        let y = grey_to_imagenet_rgb(&x).unwrap();
        assert_eq!(y.shape(), &[1, 3, 1, 2]);
        let v = y.to_vec().unwrap();
        assert!(v[0].abs() < 1e-6 && (v[1] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!(grey_to_imagenet_rgb(&Tensor::zeros(&[1, 3, 2, 2])).is_err());
    }
}
