//! `Tensor`: an f32, row-major, cheaply cloned handle to data on a device, plus — when it takes
//! part in a gradient computation — the record of the op that made it.

use crate::autograd::{grad_enabled, BackwardFn, Node};
use crate::{Device, Error, Result, Rng, Storage};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A multi-dimensional array of f32 on a [`Device`], with reverse-mode autodiff.
///
/// Cloning is cheap and shares the data and the gradient slot: a clone is the same tensor.
///
/// ```
/// use graft_engine::Tensor;
/// # fn main() -> graft_engine::Result<()> {
/// let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])?.requires_grad_(true)?;
/// let loss = w.mul(&w)?.sum_all()?; // Σ w²
/// loss.backward()?;
/// assert_eq!(w.grad().unwrap().to_vec()?, vec![2.0, 4.0, 6.0]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tensor(Arc<Inner>);

struct Inner {
    id: u64,
    shape: Vec<usize>,
    /// Behind a lock so optimisers can replace a parameter's values in place of every clone.
    storage: RwLock<Storage>,
    requires_grad: AtomicBool,
    grad: Mutex<Option<Tensor>>,
    node: Option<Node>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor(shape={:?}, device={}, requires_grad={}", self.shape(), self.device(), self.requires_grad())?;
        if let Some(node) = &self.0.node {
            write!(f, ", op={}", node.name)?;
        }
        write!(f, ")")
    }
}

impl Tensor {
    // ---- construction -------------------------------------------------------------------------

    pub(crate) fn from_parts(storage: Storage, shape: Vec<usize>, node: Option<Node>) -> Tensor {
        debug_assert_eq!(storage.len(), shape.iter().product::<usize>(), "storage holds exactly the shape's elements");
        let requires_grad = node.is_some();
        Tensor(Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shape,
            storage: RwLock::new(storage),
            requires_grad: AtomicBool::new(requires_grad),
            grad: Mutex::new(None),
            node,
        }))
    }

    /// A leaf (no history) wrapping `storage`.
    pub fn from_storage(storage: Storage, shape: &[usize]) -> Result<Tensor> {
        let expected: usize = shape.iter().product();
        if storage.len() != expected {
            return Err(Error::ElementCount {
                op: "from_storage",
                shape: shape.to_vec(),
                expected,
                got: storage.len(),
            });
        }
        Ok(Tensor::from_parts(storage, shape.to_vec(), None))
    }

    /// The result of an op: records a backward node only when gradients are enabled and some
    /// input requires grad, so frozen parameters and plain data cost nothing in backward.
    pub(crate) fn from_op<F>(
        storage: Storage,
        shape: Vec<usize>,
        name: &'static str,
        inputs: &[&Tensor],
        backward: impl FnOnce() -> F,
    ) -> Tensor
    where
        F: BackwardFn + 'static,
    {
        let node = if grad_enabled() && inputs.iter().any(|t| t.requires_grad()) {
            Some(Node {
                name,
                inputs: inputs.iter().map(|t| (*t).clone()).collect(),
                backward: Mutex::new(Some(Box::new(backward()))),
            })
        } else {
            None
        };
        Tensor::from_parts(storage, shape, node)
    }

    /// A CPU tensor from `data` laid out row-major in `shape`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(Error::ElementCount { op: "from_vec", shape: shape.to_vec(), expected, got: data.len() });
        }
        Ok(Tensor::from_parts(Storage::cpu(data), shape.to_vec(), None))
    }

    /// A CPU tensor copied from `data`.
    pub fn from_slice(data: &[f32], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// A 0-d tensor holding `value`.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::from_parts(Storage::cpu(vec![value]), vec![], None)
    }

    /// A tensor of `shape` filled with `value` on `device`.
    pub fn full_on(shape: &[usize], value: f32, device: &Device) -> Result<Tensor> {
        let storage = Storage::full(shape.iter().product(), value, device)?;
        Ok(Tensor::from_parts(storage, shape.to_vec(), None))
    }

    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor::from_parts(Storage::cpu(vec![value; shape.iter().product()]), shape.to_vec(), None)
    }

    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// Zeros with this tensor's shape and device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::full_on(self.shape(), 0.0, &self.device())
    }

    /// Ones with this tensor's shape and device.
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::full_on(self.shape(), 1.0, &self.device())
    }

    /// Samples uniform in `[lo, hi)` from `rng` (reproducible for a given seed).
    pub fn rand_uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut Rng) -> Tensor {
        let data = (0..shape.iter().product()).map(|_| rng.uniform(lo, hi)).collect();
        Tensor::from_parts(Storage::cpu(data), shape.to_vec(), None)
    }

    /// Samples a normal distribution `N(mean, std²)` from `rng`.
    pub fn randn(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Tensor {
        let data = (0..shape.iter().product()).map(|_| mean + std * rng.normal()).collect();
        Tensor::from_parts(Storage::cpu(data), shape.to_vec(), None)
    }

    // ---- accessors ----------------------------------------------------------------------------

    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }

    /// Size of `axis` (negative counts from the end).
    pub fn dim(&self, axis: isize) -> Result<usize> {
        Ok(self.0.shape[self.axis("dim", axis)?])
    }

    /// A unique id for the life of the process (used to key gradients).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    pub fn device(&self) -> Device {
        self.storage().device()
    }

    /// The current data buffer (shared, not copied).
    pub fn storage(&self) -> Storage {
        self.0.storage.read().expect("tensor storage lock is never poisoned: no code panics while holding it").clone()
    }

    /// The elements, copied to host memory in row-major order.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        self.storage().to_vec()
    }

    /// The single value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::BadShape {
                op: "to_scalar",
                shape: self.shape().to_vec(),
                reason: "only a tensor with exactly one element has a scalar value".into(),
            });
        }
        Ok(self.to_vec()?[0])
    }

    /// Copies this tensor to `device` (a no-op clone when it is already there). The copy is a
    /// leaf: gradients do not flow back across devices. Leaving a GPU reads the data back (and
    /// waits for pending work); reaching one uploads it.
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if &self.device() == device {
            return Ok(self.clone());
        }
        let storage = Storage::from_vec(self.to_vec()?, device)?;
        Ok(Tensor::from_parts(storage, self.shape().to_vec(), None))
    }

    /// Moves this tensor's data to `device` in place, so every clone (a layer's parameter and
    /// the optimiser's handle to it) sees the move. Any gradient is dropped. Use it to put a
    /// model's parameters on a device; ops use [`Tensor::to_device`], which copies.
    pub fn move_to(&self, device: &Device) -> Result<()> {
        if &self.device() == device {
            return Ok(());
        }
        let storage = Storage::from_vec(self.to_vec()?, device)?;
        *self.0.storage.write().expect("tensor storage lock is never poisoned: no code panics while holding it") =
            storage;
        self.zero_grad();
        Ok(())
    }

    /// Resolves a possibly negative axis against this tensor's rank.
    pub(crate) fn axis(&self, op: &'static str, axis: isize) -> Result<usize> {
        resolve_axis(op, axis, self.rank())
    }

    /// Checks that `other` is on the same device.
    pub(crate) fn same_device(&self, op: &'static str, other: &Tensor) -> Result<()> {
        let (a, b) = (self.device(), other.device());
        if a != b {
            return Err(Error::DeviceMismatch { op, lhs: a.to_string(), rhs: b.to_string() });
        }
        Ok(())
    }

    // ---- autodiff state -----------------------------------------------------------------------

    /// Whether gradients flow to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad.load(Ordering::Relaxed)
    }

    /// Whether this tensor was made by the user (no recorded op).
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// Turns gradient tracking of a leaf on or off. Freezing a parameter is exactly this.
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        if !self.is_leaf() {
            return Err(Error::NotALeaf);
        }
        self.0.requires_grad.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Builder form of [`Tensor::set_requires_grad`].
    pub fn requires_grad_(self, on: bool) -> Result<Tensor> {
        self.set_requires_grad(on)?;
        Ok(self)
    }

    /// The accumulated gradient of a leaf, if a backward pass has reached it.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().expect("grad lock is never poisoned: no code panics while holding it").clone()
    }

    /// Forgets the accumulated gradient.
    pub fn zero_grad(&self) {
        *self.0.grad.lock().expect("grad lock is never poisoned: no code panics while holding it") = None;
    }

    pub(crate) fn accumulate_grad(&self, g: Tensor) -> Result<()> {
        let mut slot = self.0.grad.lock().expect("grad lock is never poisoned: no code panics while holding it");
        *slot = Some(match slot.take() {
            Some(old) => old.add(&g)?,
            None => g,
        });
        Ok(())
    }

    /// A leaf sharing this tensor's data but none of its history: gradients stop here.
    pub fn detach(&self) -> Tensor {
        Tensor::from_parts(self.storage(), self.shape().to_vec(), None)
    }

    /// An independent leaf with a copy of this tensor's data (same device, same requires_grad).
    /// The copy is made on the device: nothing is read back.
    pub fn deep_clone(&self) -> Result<Tensor> {
        let storage = self.storage().deep_copy()?;
        let t = Tensor::from_parts(storage, self.shape().to_vec(), None);
        t.set_requires_grad(self.requires_grad())?;
        Ok(t)
    }

    /// Replaces the values of this tensor (and all its clones) with those of `src`, which must
    /// have the same shape and device. This is how optimisers update parameters; history
    /// recorded before the call keeps the values it captured.
    pub fn set_data(&self, src: &Tensor) -> Result<()> {
        if src.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "set_data",
                lhs: self.shape().to_vec(),
                rhs: src.shape().to_vec(),
                hint: "the new values must have the parameter's shape".into(),
            });
        }
        self.same_device("set_data", src)?;
        *self.0.storage.write().expect("tensor storage lock is never poisoned: no code panics while holding it") =
            src.storage();
        Ok(())
    }

    /// Runs `f` on this tensor's storage slot under the write lock: for in-place updates, which
    /// may change the buffer itself or swap in a new one.
    pub(crate) fn with_storage_mut<T>(&self, f: impl FnOnce(&mut Storage) -> T) -> T {
        f(&mut self.0.storage.write().expect("tensor storage lock is never poisoned: no code panics while holding it"))
    }

    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }
}

/// Resolves `axis` (negative counts from the end) for a tensor of `rank`.
pub(crate) fn resolve_axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::AxisOutOfRange { op, axis, rank });
    }
    Ok(a as usize)
}
