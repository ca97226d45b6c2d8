//! The only objects a state-dict pickle may build: the globals it may name, the storages its
//! persistent ids refer to, and the tensors `_rebuild_tensor_v2` makes of them.
//!
//! Nothing here runs code: a global is looked up in a fixed table and "calling" it builds a
//! plain description (a dict, or a tensor as storage + offset + shape + strides).

use super::dtype::StorageType;
use std::collections::HashMap;

/// Most dimensions a tensor may have (PyTorch's own limit is 64).
pub(super) const MAX_DIMS: usize = 64;

/// A value on the pickle machine's stack: small, copied freely; containers live in a [`Heap`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Value {
    None,
    Bool(bool),
    /// Pickle integers as wide as graft accepts (the legacy magic number needs 80 bits).
    Int(i128),
    Float(f64),
    /// An object of the heap, by index.
    Obj(usize),
}

/// The globals a state dict needs; every other name is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Global {
    /// `collections.OrderedDict`, the state dict itself and the tensors' empty hook dicts.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor(storage, offset, size, stride)` (files before PyTorch 0.4).
    RebuildTensor,
    /// `torch._utils._rebuild_parameter(tensor, requires_grad, hooks)`: an `nn.Parameter`.
    RebuildParameter,
    /// `torch._utils._rebuild_parameter_with_state(tensor, requires_grad, hooks, state)`.
    RebuildParameterWithState,
    /// `torch.FloatStorage` and the other typed storage classes, named in persistent ids.
    Storage(StorageType),
}

impl Global {
    /// The Python name, for messages.
    fn python_name(self) -> &'static str {
        match self {
            Global::OrderedDict => "collections.OrderedDict",
            Global::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2",
            Global::RebuildTensor => "torch._utils._rebuild_tensor",
            Global::RebuildParameter => "torch._utils._rebuild_parameter",
            Global::RebuildParameterWithState => "torch._utils._rebuild_parameter_with_state",
            Global::Storage(_) => "a torch.*Storage class",
        }
    }
}

/// What a state dict needs, for refusals.
pub(super) const NEEDED: &str = "collections.OrderedDict, torch._utils._rebuild_tensor_v2, \
     torch._utils._rebuild_parameter and torch.*Storage";

/// Why a global was not resolved.
pub(super) enum Refusal {
    /// Not one a state dict needs: loading it could run code.
    NotAllowed,
    /// A storage class of a dtype graft does not read.
    Dtype(&'static str),
}

/// The global `module.name`, if a state dict may use it.
pub(super) fn resolve(module: &str, name: &str) -> Result<Global, Refusal> {
    Ok(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        ("torch", class) => match StorageType::from_class(class) {
            Ok(Some(t)) => Global::Storage(t),
            Ok(None) => return Err(Refusal::NotAllowed),
            Err(dtype) => return Err(Refusal::Dtype(dtype)),
        },
        _ => return Err(Refusal::NotAllowed),
    })
}

/// A storage a persistent id declared: its key (the zip entry `data/<key>`, or the legacy
/// key), element type and number of elements.
#[derive(Clone, Debug)]
pub(super) struct StorageDecl {
    pub key: String,
    pub dtype: StorageType,
    pub numel: u64,
}

/// Every storage the pickles declared, in order of first use.
#[derive(Default)]
pub(super) struct Storages {
    pub decls: Vec<StorageDecl>,
    by_key: HashMap<String, usize>,
}

impl Storages {
    /// The index of the storage `key`, declaring it on first use.
    fn declare(&mut self, key: &str, dtype: StorageType, numel: u64) -> Result<usize, String> {
        if let Some(&i) = self.by_key.get(key) {
            let d = &self.decls[i];
            if d.dtype != dtype || d.numel != numel {
                return Err(format!(
                    "storage `{key}` is declared twice, as {} {} and as {numel} {}",
                    d.numel,
                    d.dtype.torch_name(),
                    dtype.torch_name()
                ));
            }
            return Ok(i);
        }
        self.decls.push(StorageDecl { key: key.to_string(), dtype, numel });
        self.by_key.insert(key.to_string(), self.decls.len() - 1);
        Ok(self.decls.len() - 1)
    }

    /// The index of the storage `key`, if declared.
    pub(super) fn index(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }
}

/// A window `offset..offset + numel` (in elements) of declared storage `index` (the whole
/// storage, except for the legacy format's storage views).
#[derive(Clone, Debug)]
pub(super) struct StorageRef {
    pub index: usize,
    pub offset: u64,
    pub numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: element `[i, j, …]` is element
/// `offset + i·stride[0] + j·stride[1] + …` of its storage window.
#[derive(Clone, Debug)]
pub(super) struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

/// Objects the pickle built.
pub(super) enum Obj {
    Str(String),
    /// Byte strings are read past (a state dict holds none that matter).
    Bytes,
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Key/value pairs in insertion order (a repeated key is resolved when read).
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

/// Every object of one load. Objects refer to each other by index, so shared and even cyclic
/// references cost nothing and the heap drops without recursion.
#[derive(Default)]
pub(super) struct Heap {
    objs: Vec<Obj>,
}

impl Heap {
    pub(super) fn alloc(&mut self, obj: Obj) -> Value {
        self.objs.push(obj);
        Value::Obj(self.objs.len() - 1)
    }

    pub(super) fn get(&self, v: Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(i),
            _ => None,
        }
    }

    pub(super) fn get_mut(&mut self, v: Value) -> Option<&mut Obj> {
        match v {
            Value::Obj(i) => self.objs.get_mut(i),
            _ => None,
        }
    }

    pub(super) fn str(&self, v: Value) -> Option<&str> {
        match self.get(v) {
            Some(Obj::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn tuple(&self, v: Value) -> Option<&[Value]> {
        match self.get(v) {
            Some(Obj::Tuple(t)) => Some(t),
            _ => None,
        }
    }

    /// What `v` is, for messages (`an int`, `a dict`, …).
    pub(super) fn describe(&self, v: Value) -> &'static str {
        match v {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Obj(_) => match self.get(v) {
                Some(Obj::Str(_)) => "a string",
                Some(Obj::Bytes) => "bytes",
                Some(Obj::Tuple(_)) => "a tuple",
                Some(Obj::List(_)) => "a list",
                Some(Obj::Dict(_)) => "a dict",
                Some(Obj::Global(_)) => "a class or function",
                Some(Obj::Storage(_)) => "a bare storage",
                Some(Obj::Tensor(_)) => "a tensor",
                None => "nothing",
            },
        }
    }

    /// A non-negative integer argument that fits in u64.
    fn count(&self, v: Value, what: &str) -> Result<u64, String> {
        match v {
            Value::Int(i) => u64::try_from(i).map_err(|_| format!("{what} is {i}, not a size")),
            other => Err(format!("{what} is {}, not an int", self.describe(other))),
        }
    }

    /// A tuple of sizes (a shape or strides).
    fn sizes(&self, v: Value, what: &str) -> Result<Vec<u64>, String> {
        let items = self.tuple(v).ok_or_else(|| format!("the tensor's {what} is {}, not a tuple", self.describe(v)))?;
        if items.len() > MAX_DIMS {
            return Err(format!("the tensor's {what} has {} dimensions, more than {MAX_DIMS}", items.len()));
        }
        items.iter().map(|&d| self.count(d, &format!("a {what} entry"))).collect()
    }

    /// Resolves a persistent id: `('storage', torch.FloatStorage, key, location, numel)` in
    /// the zip format, with a sixth item (`None`, or `(view_key, offset, numel)` for a view of
    /// the storage) in the legacy one.
    pub(super) fn persistent_load(&mut self, pid: Value, storages: &mut Storages) -> Result<Value, String> {
        let bad =
            || "a persistent id that is not a storage reference ('storage', type, key, location, size)".to_string();
        let items = self.tuple(pid).ok_or_else(bad)?;
        if !(items.len() == 5 || items.len() == 6) || self.str(items[0]) != Some("storage") {
            return Err(bad());
        }
        let dtype = match self.get(items[1]) {
            Some(Obj::Global(Global::Storage(t))) => *t,
            _ => {
                return Err(format!(
                    "a storage reference whose type is {}, not a torch.*Storage",
                    self.describe(items[1])
                ))
            }
        };
        let key = self.str(items[2]).ok_or_else(bad)?.to_string();
        if self.str(items[3]).is_none() {
            return Err(bad());
        }
        let numel = self.count(items[4], "a storage size")?;
        let view = items.get(5).copied().unwrap_or(Value::None);
        let index = storages.declare(&key, dtype, numel)?;
        let window = match view {
            Value::None => StorageRef { index, offset: 0, numel },
            v => {
                let view = self.tuple(v).filter(|t| t.len() == 3).ok_or_else(bad)?;
                let (offset, size) =
                    (self.count(view[1], "a storage view offset")?, self.count(view[2], "a storage view size")?);
                if offset.checked_add(size).is_none_or(|end| end > numel) {
                    return Err(format!(
                        "a view of elements {offset}..+{size} of storage `{key}`, which has {numel} elements"
                    ));
                }
                StorageRef { index, offset, numel: size }
            }
        };
        Ok(self.alloc(Obj::Storage(window)))
    }

    /// "Calls" an allowed global on a tuple of arguments (REDUCE). Arguments are checked by
    /// count before any is copied, so a huge tuple passed many times costs nothing.
    pub(super) fn call(&mut self, global: Global, args: Value) -> Result<Value, String> {
        let n = self
            .tuple(args)
            .ok_or_else(|| format!("a call whose arguments are {}, not a tuple", self.describe(args)))?
            .len();
        let arg = |heap: &Heap, i: usize| heap.tuple(args).and_then(|a| a.get(i).copied()).unwrap_or(Value::None);
        match (global, n) {
            (Global::OrderedDict, 0) => Ok(self.alloc(Obj::Dict(Vec::new()))),
            (Global::OrderedDict, _) => Err(format!("{} called with arguments", global.python_name())),
            (Global::RebuildTensorV2, 6..=7) | (Global::RebuildTensor, 4) => {
                let a = [arg(self, 0), arg(self, 1), arg(self, 2), arg(self, 3)];
                self.tensor(&a)
            }
            (Global::RebuildParameter, 3) | (Global::RebuildParameterWithState, 4) => {
                let data = arg(self, 0);
                self.parameter(data)
            }
            (Global::RebuildTensorV2 | Global::RebuildTensor | Global::RebuildParameter, _)
            | (Global::RebuildParameterWithState, _) => {
                Err(format!("{} called with {n} arguments", global.python_name()))
            }
            (Global::Storage(t), _) => Err(format!(
                "a call of the storage class of {} (a state dict refers to storages, it never builds them)",
                t.torch_name()
            )),
        }
    }

    fn tensor(&mut self, args: &[Value]) -> Result<Value, String> {
        let storage = match self.get(args[0]) {
            Some(Obj::Storage(s)) => s.clone(),
            _ => return Err(format!("a tensor whose storage is {}", self.describe(args[0]))),
        };
        let offset = self.count(args[1], "the tensor's storage offset")?;
        let shape = self.sizes(args[2], "shape")?;
        let stride = self.sizes(args[3], "stride")?;
        if shape.len() != stride.len() {
            return Err(format!("a tensor with {} sizes but {} strides", shape.len(), stride.len()));
        }
        Ok(self.alloc(Obj::Tensor(TensorRef { storage, offset, shape, stride })))
    }

    fn parameter(&mut self, data: Value) -> Result<Value, String> {
        match self.get(data) {
            Some(Obj::Tensor(_)) => Ok(data),
            _ => Err(format!("an nn.Parameter wrapping {}, not a tensor", self.describe(data))),
        }
    }
}
