//! Shape ops: reshape, squeeze/unsqueeze, flatten, permute/transpose, broadcast_to, narrow,
//! cat and stack. Reshapes share data; the rest are one strided-copy kernel each.
//!
//! Derivatives: reshape → reshape back; permute → inverse permute; broadcast_to → sum_to;
//! narrow → g placed into zeros; cat → narrow of g per part.

use crate::tensor::resolve_axis;
use crate::{Error, Result, Storage, Tensor};
use graft_kernels::{broadcast_shape, contiguous_strides, layout::broadcast_strides};

impl Tensor {
    /// The same elements in a new shape with the same element count (no copy).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != self.numel() {
            return Err(Error::ElementCount { op: "reshape", shape: shape.to_vec(), expected: n, got: self.numel() });
        }
        let from = self.shape().to_vec();
        Ok(Tensor::from_op(self.storage(), shape.to_vec(), "reshape", &[self], move || {
            move |g: &Tensor, _: &[bool]| Ok(vec![Some(g.reshape(&from)?)])
        }))
    }

    /// Merges axes `start..=end` into one.
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(&[1]);
        }
        let (s, e) = (self.axis("flatten", start)?, self.axis("flatten", end)?);
        if s > e {
            return Err(Error::BadShape {
                op: "flatten",
                shape: self.shape().to_vec(),
                reason: format!("start axis {s} comes after end axis {e}"),
            });
        }
        let mut shape = self.shape()[..s].to_vec();
        shape.push(self.shape()[s..=e].iter().product());
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape(&shape)
    }

    /// Inserts a size-1 axis at `axis` (which may equal the rank).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let ax = resolve_axis("unsqueeze", axis, self.rank() + 1)?;
        let mut shape = self.shape().to_vec();
        shape.insert(ax, 1);
        self.reshape(&shape)
    }

    /// Removes `axis`, which must have size 1.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let ax = self.axis("squeeze", axis)?;
        if self.shape()[ax] != 1 {
            return Err(Error::BadShape {
                op: "squeeze",
                shape: self.shape().to_vec(),
                reason: format!("axis {ax} has size {}, not 1", self.shape()[ax]),
            });
        }
        let mut shape = self.shape().to_vec();
        shape.remove(ax);
        self.reshape(&shape)
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        if perm.len() != rank || perm.iter().any(|&p| p >= rank || std::mem::replace(&mut seen[p], true)) {
            return Err(Error::BadShape {
                op: "permute",
                shape: self.shape().to_vec(),
                reason: format!("{perm:?} is not a permutation of 0..{rank}"),
            });
        }
        let own = contiguous_strides(self.shape());
        let strides: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape()[p]).collect();
        let out = self.strided_copy("permute", 0, &strides, &shape)?;
        let mut inverse = vec![0; rank];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(Tensor::from_op(out, shape, "permute", &[self], move || {
            move |g: &Tensor, _: &[bool]| Ok(vec![Some(g.permute(&inverse)?)])
        }))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let (a, b) = (self.axis("transpose", a)?, self.axis("transpose", b)?);
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Transpose of a 2-D tensor.
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() != 2 {
            return Err(Error::BadShape {
                op: "t",
                shape: self.shape().to_vec(),
                reason: "t() needs a 2-D tensor".into(),
            });
        }
        self.transpose(0, 1)
    }

    /// Repeats size-1 (and missing leading) axes to reach `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        if broadcast_shape(self.shape(), shape).as_deref() != Some(shape) {
            return Err(Error::ShapeMismatch {
                op: "broadcast_to",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
                hint: "only size-1 or missing leading axes can be expanded".into(),
            });
        }
        let strides = broadcast_strides(self.shape(), shape);
        let out = self.strided_copy("broadcast_to", 0, &strides, shape)?;
        let from = self.shape().to_vec();
        Ok(Tensor::from_op(out, shape.to_vec(), "broadcast_to", &[self], move || {
            move |g: &Tensor, _: &[bool]| Ok(vec![Some(g.sum_to(&from)?)])
        }))
    }

    /// Elements `start..start + len` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let ax = self.axis("narrow", axis)?;
        let size = self.shape()[ax];
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::BadShape {
                op: "narrow",
                shape: self.shape().to_vec(),
                reason: format!("range {start}..{} exceeds axis {ax} of size {size}", start.saturating_add(len)),
            });
        }
        let strides = contiguous_strides(self.shape());
        let mut shape = self.shape().to_vec();
        shape[ax] = len;
        let offset = start * strides[ax];
        let out = self.strided_copy("narrow", offset, &strides, &shape)?;
        let from = self.shape().to_vec();
        Ok(Tensor::from_op(out, shape, "narrow", &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = Tensor::zeros_with_views("narrow", g, &from, &[(offset, &strides, g)])?;
                Ok(vec![Some(Tensor::from_storage(dx, &from)?)])
            }
        }))
    }

    /// Joins tensors along an existing `axis`; all other axes must agree.
    pub fn cat(parts: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = parts.first().ok_or_else(|| Error::BadShape {
            op: "cat",
            shape: vec![],
            reason: "cat needs at least one tensor".into(),
        })?;
        let ax = first.axis("cat", axis)?;
        let mut shape = first.shape().to_vec();
        shape[ax] = 0;
        for p in parts {
            let fits = p.rank() == first.rank() && (0..p.rank()).all(|d| d == ax || p.shape()[d] == first.shape()[d]);
            if !fits {
                return Err(Error::ShapeMismatch {
                    op: "cat",
                    lhs: first.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                    hint: format!("all axes but {ax} must be equal"),
                });
            }
            shape[ax] += p.shape()[ax];
        }
        let strides = contiguous_strides(&shape);
        let mut offsets = Vec::with_capacity(parts.len());
        let mut at = 0;
        for p in parts {
            offsets.push(at);
            at += p.shape()[ax];
        }
        let views: Vec<(usize, &[usize], &Tensor)> =
            parts.iter().zip(&offsets).map(|(p, &off)| (off * strides[ax], strides.as_slice(), p)).collect();
        let out = Tensor::zeros_with_views("cat", first, &shape, &views)?;
        let lens: Vec<usize> = parts.iter().map(|p| p.shape()[ax]).collect();
        let inputs: Vec<&Tensor> = parts.iter().collect();
        Ok(Tensor::from_op(out, shape, "cat", &inputs, move || {
            move |g: &Tensor, needs: &[bool]| {
                offsets
                    .iter()
                    .zip(&lens)
                    .zip(needs)
                    .map(|((&off, &len), &need)| need.then(|| g.narrow(ax as isize, off, len)).transpose())
                    .collect()
            }
        }))
    }

    /// Joins equally shaped tensors along a new `axis`.
    pub fn stack(parts: &[Tensor], axis: isize) -> Result<Tensor> {
        let rank = parts.first().map_or(0, Tensor::rank);
        let ax = resolve_axis("stack", axis, rank + 1)? as isize;
        let expanded = parts.iter().map(|p| p.unsqueeze(ax)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&expanded, ax)
    }

    /// A contiguous copy of a strided view of this tensor's data (one launch of `kind`).
    fn strided_copy(&self, kind: &'static str, offset: usize, strides: &[usize], shape: &[usize]) -> Result<Storage> {
        self.storage().strided_copy(kind, offset, strides, shape)
    }

    /// A zero buffer of `shape` on `like`'s device with each `src` added into its strided view
    /// (`offset`, `strides`, the source's shape): the adjoint of [`Tensor::strided_copy`], and
    /// how `cat` assembles its parts. One launch of `kind` per part.
    fn zeros_with_views(
        kind: &'static str,
        like: &Tensor,
        shape: &[usize],
        views: &[(usize, &[usize], &Tensor)],
    ) -> Result<Storage> {
        let mut out = like.storage().zeros_alike(shape.iter().product())?;
        for &(offset, strides, src) in views {
            out.strided_add_into(kind, offset, strides, src.shape(), &src.storage())?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    fn seq(shape: &[usize]) -> Tensor {
        Tensor::from_vec((0..shape.iter().product::<usize>()).map(|v| v as f32).collect(), shape).unwrap()
    }

    #[test]
    fn shape_ops_match_hand_computed_values() {
        let x = seq(&[2, 3]);
        assert_eq!(x.t().unwrap().to_vec().unwrap(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(x.narrow(1, 1, 2).unwrap().to_vec().unwrap(), vec![1.0, 2.0, 4.0, 5.0]);
        assert_eq!(x.narrow(0, 1, 1).unwrap().to_vec().unwrap(), vec![3.0, 4.0, 5.0]);
        let b = Tensor::from_vec(vec![1.0, 2.0], &[2, 1]).unwrap().broadcast_to(&[2, 3]).unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        let c = Tensor::cat(&[x.clone(), seq(&[1, 3])], 0).unwrap();
        assert_eq!(c.shape(), &[3, 3]);
        assert_eq!(c.to_vec().unwrap()[6..], [0.0, 1.0, 2.0]);
        let c1 = Tensor::cat(&[x.clone(), seq(&[2, 1])], 1).unwrap();
        assert_eq!(c1.to_vec().unwrap(), vec![0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 5.0, 1.0]);
        let s = Tensor::stack(&[seq(&[2]), seq(&[2])], 1).unwrap();
        assert_eq!(s.shape(), &[2, 2]);
        assert_eq!(s.to_vec().unwrap(), vec![0.0, 0.0, 1.0, 1.0]);
        let p = seq(&[2, 3, 4]).permute(&[2, 0, 1]).unwrap();
        assert_eq!(p.shape(), &[4, 2, 3]);
        assert_eq!(p.to_vec().unwrap()[..6], [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
        assert_eq!(seq(&[2, 3, 4]).flatten(1, 2).unwrap().shape(), &[2, 12]);
        assert_eq!(seq(&[3]).unsqueeze(0).unwrap().shape(), &[1, 3]);
        assert_eq!(seq(&[3, 1]).squeeze(-1).unwrap().shape(), &[3]);
    }

    #[test]
    fn bad_shape_requests_are_refused_with_the_op_named() {
        let x = seq(&[2, 3]);
        assert!(x.reshape(&[4]).unwrap_err().to_string().contains("reshape"));
        assert!(x.narrow(1, 2, 2).unwrap_err().to_string().contains("exceeds axis 1"));
        assert!(x.permute(&[0, 0]).unwrap_err().to_string().contains("not a permutation"));
        assert!(x.broadcast_to(&[3, 3]).unwrap_err().to_string().contains("broadcast_to"));
        assert!(Tensor::cat(&[x.clone(), seq(&[2, 2])], 0).unwrap_err().to_string().contains("cat"));
        assert!(x.squeeze(0).unwrap_err().to_string().contains("size 2, not 1"));
    }

    #[test]
    fn shape_ops_pass_the_gradient_check() {
        let mut rng = Rng::new(4);
        let x = Tensor::randn(&[2, 3, 4], 0.0, 1.0, &mut rng);
        let y = Tensor::randn(&[2, 1, 4], 0.0, 1.0, &mut rng);
        let opts = GradCheck::default();
        check_gradients(|t| t[0].reshape(&[6, 4]), std::slice::from_ref(&x), opts).unwrap();
        check_gradients(|t| t[0].permute(&[1, 2, 0]), std::slice::from_ref(&x), opts).unwrap();
        check_gradients(|t| t[0].transpose(0, 2), std::slice::from_ref(&x), opts).unwrap();
        check_gradients(|t| t[0].narrow(1, 1, 2), std::slice::from_ref(&x), opts).unwrap();
        check_gradients(|t| t[0].broadcast_to(&[3, 2, 3, 4]), std::slice::from_ref(&y), opts).unwrap();
        check_gradients(|t| Tensor::cat(&[t[0].clone(), t[1].clone()], 1), &[x.clone(), y.clone()], opts).unwrap();
        check_gradients(|t| Tensor::stack(&[t[0].clone(), t[0].mul_scalar(2.0)?], 0), std::slice::from_ref(&y), opts)
            .unwrap();
    }
}
