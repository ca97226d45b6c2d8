//! PyTorch state dicts (`.pth`, `.pt`, `.bin` from `torch.save(model.state_dict(), path)`),
//! read without running any of the pickle's code.
//!
//! A `torch.save` file is a pickle, and unpickling can call any Python function the file
//! names. graft's reader is a small pickle machine that knows only what a state dict needs —
//! `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` (and `_rebuild_parameter`
//! around it), the `torch.*Storage` classes and persistent ids naming the storages — and
//! refuses any other global by name (`refusing to load `posix.system`: …`) before anything
//! could run. `_metadata` set on the dict is ignored.
//!
//! Both layouts are read: the zip archive of PyTorch ≥ 1.6 (`<name>/data.pkl` and one entry
//! per storage; stored entries are borrowed from the bytes in place, deflated ones inflated)
//! and the legacy one (`_use_new_zipfile_serialization=False`, and every file before 1.6).
//! Tensors that are views — transposed, sliced at an offset, strided, `expand`ed — are read
//! through their storage offset, shape and strides, in row-major order.
//!
//! Hostile files fail with an error, never a panic or a hang: every size is checked against
//! the bytes present and every view against its storage before anything is allocated, and the
//! tensors together may hold at most [`MAX_REUSE`] times the elements of their storages (plus
//! 2²⁴), so views repeating one storage cannot multiply a small file into a huge allocation.
//!
//! ```
//! use graft_nn::formats::{is_pth, parse_pth};
//! // A legacy-format file's first bytes, cut short: recognised, then refused as truncated.
//! let head = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
//! assert!(is_pth(head));
//! let e = parse_pth(head, "model.pth").unwrap_err().to_string();
//! assert!(e.starts_with("model.pth: ") && e.contains("truncated"), "{e}");
//! ```

mod container;
mod dtype;
mod objects;
mod pickle;
mod view;

pub(crate) use container::Layout;
pub(crate) use dtype::StorageType;

use super::array::RawArray;
use super::error::{FormatError, Result};
use super::fileio;
use objects::{Obj, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// How many times the elements of their storages the tensors of one file may hold together
/// (tied weights and views share a storage; more than this is refused as hostile).
pub const MAX_REUSE: u64 = 8;

/// One tensor of a state dict: its name, element type, shape and little-endian bytes in
/// row-major order (borrowed from the file when the tensor is contiguous and stored).
pub(crate) struct PthTensor<'a> {
    pub name: String,
    pub dtype: StorageType,
    pub shape: Vec<usize>,
    pub data: Cow<'a, [u8]>,
}

/// A parsed `.pth` file.
pub(crate) struct PthFile<'a> {
    pub layout: Layout,
    /// Size of the state-dict pickle.
    pub pickle_bytes: usize,
    /// In the state dict's order.
    pub tensors: Vec<PthTensor<'a>>,
}

/// Whether `bytes` start like a `torch.save` file: a zip archive (`PK\x03\x04`, which an
/// `.npz` also is) or the legacy format's pickled magic number. Says nothing of the rest.
pub fn is_pth(bytes: &[u8]) -> bool {
    container::sniff(bytes).is_some()
}

/// Reads a PyTorch state-dict file (`.pth`, `.pt`, `.bin`) into its tensors, in the state
/// dict's order (see the [module](self) for what is accepted). Float16 tensors come as
/// [`RawData::F16`](super::RawData::F16), bfloat16 ones widened exactly to
/// [`RawData::F32`](super::RawData::F32), every other dtype as stored.
///
/// ```no_run
/// let tensors = graft_nn::formats::read_pth("resnet18.pth")?;
/// for (name, t) in &tensors {
///     println!("{name}: {} {:?}", t.dtype(), t.shape);
/// }
/// # Ok::<(), graft_nn::formats::FormatError>(())
/// ```
pub fn read_pth(path: impl AsRef<Path>) -> Result<Vec<(String, RawArray)>> {
    let path = path.as_ref();
    let bytes = fileio::read(path)?;
    parse_pth(&bytes, &path.display().to_string())
}

/// [`read_pth`] on bytes in memory; `label` names them in errors.
pub fn parse_pth(bytes: &[u8], label: &str) -> Result<Vec<(String, RawArray)>> {
    parse_tensors(bytes, label)?
        .tensors
        .into_iter()
        .map(|t| {
            let array = RawArray::new(t.shape, t.dtype.decode(&t.data)).map_err(|e| e.within(label))?;
            Ok((t.name, array))
        })
        .collect()
}

const RESAVE: &str = "save the state dict again with torch.save(model.state_dict(), path)";

/// The tensors of a `.pth` file, their bytes borrowed where possible.
pub(crate) fn parse_tensors<'a>(bytes: &'a [u8], label: &str) -> Result<PthFile<'a>> {
    let opened = container::open(bytes, label)?;
    let heap = &opened.unpickler.heap;
    let decls = &opened.unpickler.storages.decls;
    let entries = state_dict_entries(heap, opened.root)
        .map_err(|(problem, fix)| FormatError::unsupported(label, problem, fix))?;
    // Every view inside its storage, and not too many elements in all, before any copy.
    let mut sizes = Vec::with_capacity(entries.len());
    let mut total: u128 = 0;
    for (name, t) in &entries {
        let decl = &decls[t.storage.index];
        let n = view::check(t, decl.dtype)
            .map_err(|e| FormatError::corrupt(label, format!("tensor `{name}`: {e}"), RESAVE))?;
        total += n as u128;
        sizes.push(n);
    }
    let stored: u128 = decls.iter().map(|d| u128::from(d.numel)).sum();
    let allowed = stored * u128::from(MAX_REUSE) + (1 << 24);
    if total > allowed {
        return Err(FormatError::corrupt(
            label,
            format!(
                "the tensors claim {total} elements in all, more than {MAX_REUSE} times the {stored} their storages \
                 hold (views repeating one storage)"
            ),
            "save contiguous copies of the tensors (t.contiguous().clone()) or check where the file came from",
        ));
    }
    let mut tensors = Vec::with_capacity(entries.len());
    for ((name, t), n) in entries.into_iter().zip(sizes) {
        let decl = &decls[t.storage.index];
        let data = view::bytes(&t, decl.dtype, &opened.data[t.storage.index], n).ok_or_else(|| {
            FormatError::corrupt(label, format!("tensor `{name}` reaches outside its storage `{}`", decl.key), RESAVE)
        })?;
        let shape = t.shape.iter().map(|&d| d as usize).collect(); // fits: checked by view::check
        tensors.push(PthTensor { name, dtype: decl.dtype, shape, data });
    }
    Ok(PthFile { layout: opened.layout, pickle_bytes: opened.pickle_bytes, tensors })
}

/// The `(name, tensor)` entries of the pickled dict, a repeated name keeping its first place
/// and last value (as a Python dict does); a refusal is `(problem, fix)`.
fn state_dict_entries(
    heap: &objects::Heap,
    root: Value,
) -> std::result::Result<Vec<(String, objects::TensorRef)>, (String, &'static str)> {
    const FIX: &str = "save only the state dict: torch.save(model.state_dict(), path) (for a training checkpoint, \
                       its model entry, e.g. torch.save(checkpoint[\"state_dict\"], path))";
    let Some(Obj::Dict(items)) = heap.get(root) else {
        return Err((format!("the file holds {}, not a state dict (a dict of tensors)", heap.describe(root)), FIX));
    };
    let mut out: Vec<(String, objects::TensorRef)> = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for &(k, v) in items {
        let Some(name) = heap.str(k) else {
            return Err((format!("the dict has a key that is {}, not a tensor name", heap.describe(k)), FIX));
        };
        let Some(Obj::Tensor(t)) = heap.get(v) else {
            return Err((
                format!("entry `{name}` is {}, not a tensor, so this is not a plain state dict", heap.describe(v)),
                FIX,
            ));
        };
        match seen.get(name) {
            Some(&i) => out[i].1 = t.clone(),
            None => {
                seen.insert(name.to_string(), out.len());
                out.push((name.to_string(), t.clone()));
            }
        }
    }
    Ok(out)
}
