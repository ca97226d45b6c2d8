//! A restricted pickle machine: it reads the opcodes a `state_dict` pickle uses and builds
//! plain data on a [`Heap`], resolving globals only from the table in [`super::objects`], so
//! no pickle can make it import or call anything.
//!
//! Every opcode adds at most one object, and nothing is traversed recursively, so a pickle of
//! `n` bytes costs O(n) time and memory whatever it holds (cycles and deep nesting included).

use super::objects::{resolve, Heap, Obj, Refusal, Storages, Value, NEEDED};
use crate::formats::error::{FormatError, Result};
use std::collections::HashMap;

/// Longest module or name a GLOBAL opcode may spell.
const MAX_NAME: usize = 256;

/// Runs pickles, sharing one heap and the storages their persistent ids declare.
#[derive(Default)]
pub(super) struct Unpickler {
    pub heap: Heap,
    pub storages: Storages,
}

/// Cursor over one pickle, with errors that name the file and the byte.
struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
    label: &'b str,
    what: &'b str,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            FormatError::truncated(
                self.label,
                format!("{} ends inside an opcode at byte {} (needs {n} more bytes)", self.what, self.pos),
            )
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-prefixed run of bytes, checked against what is left before anything is copied.
    fn counted(&mut self, n: u64) -> Result<&'b [u8]> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.take(n)
    }

    /// A GLOBAL opcode's newline-terminated module or name.
    fn line(&mut self) -> Result<String> {
        let rest = &self.bytes[self.pos..];
        let end = rest.iter().take(MAX_NAME + 1).position(|&b| b == b'\n');
        let Some(end) = end else {
            return Err(self.bad(format!("a GLOBAL name longer than {MAX_NAME} bytes or cut off")));
        };
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| self.bad("a GLOBAL name that is not UTF-8".into()))?;
        self.pos += end + 1;
        Ok(text.to_string())
    }

    fn bad(&self, problem: String) -> FormatError {
        FormatError::corrupt(
            self.label,
            format!("{}, byte {}: {problem}", self.what, self.pos),
            "the file is damaged or not a PyTorch state dict; save it again with torch.save(model.state_dict(), path)",
        )
    }
}

fn utf8(bytes: &[u8]) -> std::result::Result<String, ()> {
    std::str::from_utf8(bytes).map(str::to_string).map_err(|_| ())
}

/// Two's-complement little-endian integer of at most 16 bytes (LONG1/LONG4).
fn long(bytes: &[u8]) -> Option<i128> {
    if bytes.len() > 16 {
        return None;
    }
    if bytes.is_empty() {
        return Some(0);
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut a = [if negative { 0xff } else { 0 }; 16];
    a[..bytes.len()].copy_from_slice(bytes);
    Some(i128::from_le_bytes(a))
}

/// Name of an opcode graft does not run, for the refusal.
fn opcode_name(op: u8) -> &'static str {
    match op {
        b'I' => "INT",
        b'L' => "LONG",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'P' => "PERSID",
        b'g' => "GET",
        b'p' => "PUT",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82..=0x84 => "EXT",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

impl Unpickler {
    /// Runs the pickle starting at `start` of `bytes` to its STOP; returns the value it
    /// produced and the offset just past the STOP. `what` names the pickle in messages
    /// (`archive/data.pkl`, `the state-dict pickle`).
    pub(super) fn load(&mut self, bytes: &[u8], start: usize, label: &str, what: &str) -> Result<(Value, usize)> {
        let mut r = Reader { bytes, pos: start, label, what };
        let mut stack: Vec<Value> = Vec::new();
        let mut marks: Vec<usize> = Vec::new();
        let mut memo: HashMap<u32, Value> = HashMap::new();
        // Pops respect the last MARK, as Python's unpickler does, so marks never point past
        // the stack.
        macro_rules! pop {
            () => {{
                let fence = marks.last().copied().unwrap_or(0);
                if stack.len() <= fence {
                    return Err(r.bad("an opcode takes more values than the stack holds".into()));
                }
                stack.pop().unwrap_or(Value::None)
            }};
        }
        macro_rules! top {
            () => {{
                let fence = marks.last().copied().unwrap_or(0);
                if stack.len() <= fence {
                    return Err(r.bad("an opcode needs a value on an empty stack".into()));
                }
                stack[stack.len() - 1]
            }};
        }
        macro_rules! since_mark {
            () => {{
                let Some(m) = marks.pop() else {
                    return Err(r.bad("an opcode needs a MARK that is not there".into()));
                };
                stack.split_off(m.min(stack.len()))
            }};
        }
        macro_rules! push_obj {
            ($obj:expr) => {{
                let v = self.heap.alloc($obj);
                stack.push(v);
            }};
        }
        macro_rules! text {
            ($bytes:expr) => {{
                match utf8($bytes) {
                    Ok(s) => push_obj!(Obj::Str(s)),
                    Err(()) => return Err(r.bad("a string that is not UTF-8".into())),
                }
            }};
        }
        loop {
            let at = r.pos;
            let op = r.u8().map_err(|_| {
                FormatError::truncated(label, format!("{what} ends at byte {at} without its STOP opcode"))
            })?;
            match op {
                0x80 => {
                    let protocol = r.u8()?;
                    if protocol > 5 {
                        return Err(r.bad(format!("pickle protocol {protocol} (graft reads protocols 2 to 5)")));
                    }
                }
                0x95 => {
                    r.u64()?; // FRAME: a length hint only
                }
                b'.' => {
                    let v = pop!();
                    return Ok((v, r.pos));
                }
                b'(' => marks.push(stack.len()),
                b'0' => {
                    let fence = marks.last().copied().unwrap_or(0);
                    if stack.len() > fence {
                        stack.pop();
                    } else if marks.pop().is_none() {
                        return Err(r.bad("POP on an empty stack".into()));
                    }
                }
                b'1' => {
                    let _ = since_mark!();
                }
                b'2' => {
                    let v = top!();
                    stack.push(v);
                }
                b'N' => stack.push(Value::None),
                0x88 => stack.push(Value::Bool(true)),
                0x89 => stack.push(Value::Bool(false)),
                b'J' => {
                    let v = r.u32()? as i32;
                    stack.push(Value::Int(i128::from(v)));
                }
                b'K' => {
                    let v = r.u8()?;
                    stack.push(Value::Int(i128::from(v)));
                }
                b'M' => {
                    let v = r.u16()?;
                    stack.push(Value::Int(i128::from(v)));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { u64::from(r.u8()?) } else { u64::from(r.u32()?) };
                    let digits = r.counted(n)?;
                    let v = long(digits).ok_or_else(|| r.bad(format!("an integer of {n} bytes, too large")))?;
                    stack.push(Value::Int(v));
                }
                b'G' => {
                    let b = r.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    stack.push(Value::Float(f64::from_be_bytes(a)));
                }
                b'X' => {
                    let n = r.u32()?;
                    text!(r.counted(u64::from(n))?)
                }
                0x8c => {
                    let n = r.u8()?;
                    text!(r.counted(u64::from(n))?)
                }
                0x8d => {
                    let n = r.u64()?;
                    text!(r.counted(n)?)
                }
                // Python 2 byte strings (BINSTRING, SHORT_BINSTRING): names in old files.
                b'T' => {
                    let n = r.u32()?;
                    text!(r.counted(u64::from(n))?)
                }
                b'U' => {
                    let n = r.u8()?;
                    text!(r.counted(u64::from(n))?)
                }
                b'B' => {
                    let n = r.u32()?;
                    {
                        r.counted(u64::from(n))?;
                        push_obj!(Obj::Bytes)
                    }
                }
                b'C' => {
                    let n = r.u8()?;
                    {
                        r.counted(u64::from(n))?;
                        push_obj!(Obj::Bytes)
                    }
                }
                0x8e => {
                    let n = r.u64()?;
                    {
                        r.counted(n)?;
                        push_obj!(Obj::Bytes)
                    }
                }
                b'}' => push_obj!(Obj::Dict(Vec::new())),
                b']' => push_obj!(Obj::List(Vec::new())),
                b')' => push_obj!(Obj::Tuple(Vec::new())),
                b't' => {
                    let items = since_mark!();
                    push_obj!(Obj::Tuple(items))
                }
                b'l' => {
                    let items = since_mark!();
                    push_obj!(Obj::List(items))
                }
                b'd' => {
                    let items = since_mark!();
                    let pairs = pairs(items).ok_or_else(|| r.bad("DICT with an odd number of items".into()))?;
                    push_obj!(Obj::Dict(pairs))
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = vec![Value::None; n];
                    for slot in items.iter_mut().rev() {
                        *slot = pop!();
                    }
                    push_obj!(Obj::Tuple(items))
                }
                b'a' => {
                    let v = pop!();
                    let list = top!();
                    match self.heap.get_mut(list) {
                        Some(Obj::List(items)) => items.push(v),
                        _ => return Err(r.bad("APPEND to something that is not a list".into())),
                    }
                }
                b'e' => {
                    let items = since_mark!();
                    let list = top!();
                    match self.heap.get_mut(list) {
                        Some(Obj::List(l)) => l.extend(items),
                        _ => return Err(r.bad("APPENDS to something that is not a list".into())),
                    }
                }
                b's' => {
                    let v = pop!();
                    let k = pop!();
                    let dict = top!();
                    match self.heap.get_mut(dict) {
                        Some(Obj::Dict(d)) => d.push((k, v)),
                        _ => return Err(r.bad("SETITEM on something that is not a dict".into())),
                    }
                }
                b'u' => {
                    let items = since_mark!();
                    let dict = top!();
                    let new = pairs(items).ok_or_else(|| r.bad("SETITEMS with an odd number of items".into()))?;
                    match self.heap.get_mut(dict) {
                        Some(Obj::Dict(d)) => d.extend(new),
                        _ => return Err(r.bad("SETITEMS on something that is not a dict".into())),
                    }
                }
                b'q' | b'r' | 0x94 => {
                    let index = match op {
                        b'q' => u32::from(r.u8()?),
                        b'r' => r.u32()?,
                        _ => u32::try_from(memo.len()).unwrap_or(u32::MAX),
                    };
                    let v = top!();
                    memo.insert(index, v);
                }
                b'h' | b'j' => {
                    let index = if op == b'h' { u32::from(r.u8()?) } else { r.u32()? };
                    let v = *memo
                        .get(&index)
                        .ok_or_else(|| r.bad(format!("memo entry {index} is read before it is written")))?;
                    stack.push(v);
                }
                b'c' | 0x93 => {
                    let (module, name) = if op == b'c' {
                        (r.line()?, r.line()?)
                    } else {
                        let name = pop!();
                        let module = pop!();
                        match (self.heap.str(module), self.heap.str(name)) {
                            (Some(m), Some(n)) => (m.to_string(), n.to_string()),
                            _ => return Err(r.bad("STACK_GLOBAL of values that are not strings".into())),
                        }
                    };
                    match resolve(&module, &name) {
                        Ok(g) => push_obj!(Obj::Global(g)),
                        Err(Refusal::NotAllowed) => {
                            return Err(FormatError::unsupported(
                                label,
                                format!(
                                    "refusing to load `{module}.{name}` ({what}, byte {at}): a state dict only needs \
                                     {NEEDED}, and loading anything else could run code"
                                ),
                                "if it is a whole model, a training checkpoint or another object and you trust the \
                                 file, load it in Python and save only the tensors: \
                                 torch.save(model.state_dict(), path)",
                            ))
                        }
                        Err(Refusal::Dtype(dtype)) => {
                            return Err(FormatError::unsupported(
                                label,
                                format!(
                                    "`{module}.{name}` holds {dtype} values, which graft does not read (it reads \
                                     float64/32/16, bfloat16, int64/32/16/8, uint8 and bool tensors)"
                                ),
                                "convert those tensors in Python (e.g. `.float()`) and save the state dict again",
                            ))
                        }
                    }
                }
                b'R' => {
                    let args = pop!();
                    let func = pop!();
                    let global = match self.heap.get(func) {
                        Some(Obj::Global(g)) => *g,
                        _ => {
                            return Err(
                                r.bad(format!("REDUCE calls {}, not an allowed global", self.heap.describe(func)))
                            )
                        }
                    };
                    let v = self.heap.call(global, args).map_err(|e| r.bad(e))?;
                    stack.push(v);
                }
                b'b' => {
                    // BUILD sets an object's state: `_metadata` on the OrderedDict, Python
                    // attributes on a tensor. None of it is a tensor, so it is ignored.
                    pop!();
                    top!();
                }
                b'Q' => {
                    let pid = pop!();
                    let v = self.heap.persistent_load(pid, &mut self.storages).map_err(|e| r.bad(e))?;
                    stack.push(v);
                }
                other => {
                    r.pos = at;
                    return Err(r.bad(format!(
                        "pickle opcode {:#04x} ({}) is not one a state dict uses",
                        other,
                        opcode_name(other)
                    )));
                }
            }
        }
    }
}

/// `[k0, v0, k1, v1, …]` as pairs; `None` for an odd count.
fn pairs(items: Vec<Value>) -> Option<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    Some(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Result<(Unpickler, Value)> {
        let mut u = Unpickler::default();
        let (v, end) = u.load(bytes, 0, "t.pkl", "the pickle")?;
        assert_eq!(end, bytes.len());
        Ok((u, v))
    }

    #[test]
    fn integers_of_every_width() {
        for (bytes, want) in [
            (&b"\x80\x02K\x07."[..], 7i128),
            (b"M\xe9\x03.", 1001),
            (b"J\xff\xff\xff\xff.", -1),
            (b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 0x1950a86a20f9469cfc6c),
            (b"\x8a\x01\xff.", -1),
            (b"\x8a\x00.", 0),
        ] {
            assert_eq!(run(bytes).unwrap().1, Value::Int(want));
        }
        assert!(run(b"\x8a\x11AAAAAAAAAAAAAAAAA.").is_err());
    }

    #[test]
    fn refused_globals_are_named() {
        let e = run(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("t.pkl: refusing to load `os.system`"), "{e}");
        let e = run(b"\x8c\x08builtins\x8c\x04eval\x93.").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("refusing to load `builtins.eval`"), "{e}");
    }

    #[test]
    fn stack_underflow_and_marks_are_errors_not_panics() {
        for bytes in
            [&b"."[..], b"t.", b"(0000.", b"K\x01(\x85.", b"a.", b"]K\x01(a.", b"h\x00.", b"(u.", b"0", b"\x81."]
        {
            assert!(run(bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn shared_and_cyclic_containers_cost_nothing() {
        // l = []; l.append(l); [l, l]
        let (u, v) = run(b"]q\x00h\x00a(h\x00h\x00l.").unwrap();
        assert!(matches!(u.heap.get(v), Some(Obj::List(items)) if items.len() == 2));
    }
}
