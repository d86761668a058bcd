//! The subset of Python's pickle that `torch.save(model.state_dict(), f)` writes (protocol 2,
//! and the few protocol-4 opcodes newer writers may add): a dict or `OrderedDict` of
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` whose storages are
//! persistent ids pointing at `data/<key>` entries of the zip archive.
//!
//! Nothing is executed: a `GLOBAL` is only a name, and calling anything but the few known
//! constructors gives an opaque value. Containers are shared as in Python (`Rc<RefCell<…>>`),
//! so memo references never copy; walks over values are depth-limited.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Element types of torch storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    /// Any other storage class (bytes, bools, complex, quantised …).
    Other,
}

impl Dtype {
    fn from_storage(class: &str) -> Dtype {
        match class {
            "DoubleStorage" => Dtype::F64,
            "FloatStorage" => Dtype::F32,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            _ => Dtype::Other,
        }
    }
}

/// A tensor as the pickle describes it: a view into a storage.
#[derive(Clone, Debug)]
pub struct TensorRef {
    pub dtype: Dtype,
    pub storage_class: String,
    /// Key of the storage: its data lives in the archive entry `data/<key>`.
    pub key: String,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

#[derive(Clone)]
enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(Rc<str>),
    Bytes,
    Tuple(Rc<Items>),
    List(Rc<RefCell<Items>>),
    /// Keys and values alternate.
    Dict(Rc<RefCell<Items>>),
    Global(Rc<(String, String)>),
    Storage(Rc<(Dtype, String, String)>),
    Tensor(Rc<TensorRef>),
    /// The result of calling something this reader does not model.
    Opaque(Rc<str>),
}

impl Value {
    fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Float => "a float".into(),
            Value::Str(_) => "a string".into(),
            Value::Bytes => "bytes".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::List(_) => "a list".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Global(g) => format!("{}.{}", g.0, g.1),
            Value::Storage(_) => "a storage".into(),
            Value::Tensor(_) => "a tensor".into(),
            Value::Opaque(name) => format!("a {name} object"),
        }
    }
}

/// The contents of a container. Dropped with a work list, not recursively: a pickle can nest a
/// million tuples in a million bytes.
#[derive(Default)]
struct Items(Vec<Value>);

impl Drop for Items {
    fn drop(&mut self) {
        let mut work = std::mem::take(&mut self.0);
        while let Some(v) = work.pop() {
            let inner = match v {
                Value::Tuple(rc) => Rc::try_unwrap(rc).ok(),
                Value::List(rc) | Value::Dict(rc) => Rc::try_unwrap(rc).ok().map(RefCell::into_inner),
                _ => None,
            };
            if let Some(mut items) = inner {
                work.append(&mut items.0);
            }
        }
    }
}

/// Most values kept on the stack or in the memo at once (a state dict needs a few per tensor).
const MAX_ITEMS: usize = 1 << 22;

/// Reads the pickled state dict `bytes`: (name, tensor) pairs in file order.
pub fn state_dict(bytes: &[u8]) -> Result<Vec<(String, TensorRef)>, String> {
    let top = run(bytes)?;
    let dict = match &top {
        Value::Dict(d) => d.clone(),
        other => {
            return Err(format!(
                "holds {} rather than a state dict (save `model.state_dict()`, not the model)",
                other.kind()
            ));
        }
    };
    let items = dict.borrow();
    let mut out: Vec<(String, TensorRef)> = Vec::with_capacity(items.0.len() / 2);
    let mut index = HashMap::new();
    for pair in items.0.chunks_exact(2) {
        let Value::Str(name) = &pair[0] else {
            return Err(format!("state dict key is {}, not a string", pair[0].kind()));
        };
        let tensor = match &pair[1] {
            Value::Tensor(t) => (**t).clone(),
            other => return Err(format!("state dict entry '{name}' is {}, not a tensor", other.kind())),
        };
        // A repeated key replaces the earlier value, as in Python.
        match index.get(name) {
            Some(&i) => out[i] = (name.to_string(), tensor),
            None => {
                index.insert(name.clone(), out.len());
                out.push((name.to_string(), tensor));
            }
        }
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("pickle is truncated")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or("pickle is truncated (GLOBAL)")?;
        let s = String::from_utf8(rest[..end].to_vec()).map_err(|_| "GLOBAL name is not UTF-8")?;
        self.at += end + 1;
        Ok(s)
    }
    fn text(&mut self, n: u64) -> Result<Value, String> {
        let n = usize::try_from(n).map_err(|_| "string length overflows")?;
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8")?;
        Ok(Value::Str(Rc::from(s)))
    }
}

/// Runs the pickle machine; returns the value at STOP.
fn run(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader { bytes, at: 0 };
    let mut stack: Vec<Value> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: HashMap<u64, Value> = HashMap::new();
    let pop = |stack: &mut Vec<Value>| stack.pop().ok_or_else(|| "pickle stack underflow".to_string());
    let pop_mark = |stack: &mut Vec<Value>, marks: &mut Vec<usize>| -> Result<Items, String> {
        let m = marks.pop().ok_or("pickle MARK missing")?;
        if m > stack.len() {
            return Err("pickle MARK past the stack".into());
        }
        Ok(Items(stack.split_off(m)))
    };
    loop {
        if stack.len() > MAX_ITEMS || memo.len() > MAX_ITEMS {
            return Err("pickle holds too many objects for a state dict".into());
        }
        let op = r.take(1)?[0];
        match op {
            0x80 => {
                r.take(1)?; // PROTO
            }
            0x95 => {
                r.take(8)?; // FRAME
            }
            b'.' => return pop(&mut stack), // STOP
            b'(' => marks.push(stack.len()),
            b')' => stack.push(Value::Tuple(Rc::default())),
            b'}' => stack.push(Value::Dict(Rc::default())),
            b']' => stack.push(Value::List(Rc::default())),
            b'N' => stack.push(Value::None),
            0x88 | 0x89 => stack.push(Value::Bool),
            b'K' => stack.push(Value::Int(r.uint(1)? as i64)),
            b'M' => stack.push(Value::Int(r.uint(2)? as i64)),
            b'J' => stack.push(Value::Int(r.uint(4)? as u32 as i32 as i64)),
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = r.uint(1)? as usize;
                let b = r.take(n)?;
                if n > 8 {
                    return Err("integer wider than 64 bits".into());
                }
                let mut v = b.iter().rev().fold(0i64, |acc, &x| (acc << 8) | x as i64);
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v));
            }
            b'G' => {
                r.take(8)?;
                stack.push(Value::Float);
            }
            b'X' => {
                let n = r.uint(4)?;
                stack.push(r.text(n)?)
            }
            0x8c => {
                let n = r.uint(1)?;
                stack.push(r.text(n)?)
            }
            0x8d => {
                let n = r.uint(8)?;
                stack.push(r.text(n)?)
            }
            b'U' | b'T' => {
                let n = if op == b'U' { r.uint(1)? } else { r.uint(4)? };
                stack.push(r.text(n)?)
            }
            b'C' | b'B' | 0x8e => {
                let n = match op {
                    b'C' => r.uint(1)?,
                    b'B' => r.uint(4)?,
                    _ => r.uint(8)?,
                };
                r.take(usize::try_from(n).map_err(|_| "bytes length overflows")?)?;
                stack.push(Value::Bytes);
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Value::Global(Rc::new((module, name))));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Value::Global(Rc::new((m.to_string(), n.to_string())))),
                    _ => return Err("STACK_GLOBAL of non-strings".into()),
                }
            }
            b'q' | b'r' | 0x94 => {
                let key = match op {
                    b'q' => r.uint(1)?,
                    b'r' => r.uint(4)?,
                    _ => memo.len() as u64,
                };
                let top = stack.last().ok_or("pickle stack underflow")?.clone();
                memo.insert(key, top);
            }
            b'h' | b'j' => {
                let key = if op == b'h' { r.uint(1)? } else { r.uint(4)? };
                stack.push(memo.get(&key).ok_or_else(|| format!("pickle memo {key} missing"))?.clone());
            }
            b'0' => {
                pop(&mut stack)?;
            }
            b'1' => {
                pop_mark(&mut stack, &mut marks)?;
            }
            b'2' => stack.push(stack.last().ok_or("pickle stack underflow")?.clone()),
            b't' => {
                let items = pop_mark(&mut stack, &mut marks)?;
                stack.push(Value::Tuple(Rc::new(items)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let items = stack.split_off(stack.len().checked_sub(n).ok_or("pickle stack underflow")?);
                stack.push(Value::Tuple(Rc::new(Items(items))));
            }
            b'a' => {
                let v = pop(&mut stack)?;
                match stack.last() {
                    Some(Value::List(l)) => l.borrow_mut().0.push(v),
                    _ => return Err("APPEND to a non-list".into()),
                }
            }
            b'e' => {
                let mut items = pop_mark(&mut stack, &mut marks)?;
                match stack.last() {
                    Some(Value::List(l)) => l.borrow_mut().0.append(&mut items.0),
                    _ => return Err("APPENDS to a non-list".into()),
                }
            }
            b's' | b'u' => {
                let mut items = if op == b's' {
                    let v = pop(&mut stack)?;
                    let k = pop(&mut stack)?;
                    Items(vec![k, v])
                } else {
                    pop_mark(&mut stack, &mut marks)?
                };
                if items.0.len() % 2 != 0 {
                    return Err("SETITEMS with an odd number of values".into());
                }
                let Some(Value::Dict(d)) = stack.last() else {
                    return Err("SETITEM on a non-dict".into());
                };
                d.borrow_mut().0.append(&mut items.0);
            }
            b'b' => {
                // BUILD: sets an object's state (e.g. a state dict's `_metadata`); not needed.
                pop(&mut stack)?;
                if stack.is_empty() {
                    return Err("BUILD without an object".into());
                }
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(storage(&pid)?);
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                stack.push(call(&callable, &args)?);
            }
            other => return Err(format!("pickle opcode 0x{other:02x} is not supported in a state dict")),
        }
    }
}

/// A persistent id `('storage', torch.XStorage, key, location, numel)`.
fn storage(pid: &Value) -> Result<Value, String> {
    let Value::Tuple(t) = pid else {
        return Err(format!("persistent id is {}, not a storage tuple", pid.kind()));
    };
    match t.0.as_slice() {
        [Value::Str(tag), Value::Global(class), Value::Str(key), ..] if &**tag == "storage" => {
            Ok(Value::Storage(Rc::new((Dtype::from_storage(&class.1), class.1.clone(), key.to_string()))))
        }
        _ => Err("persistent id is not ('storage', class, key, …)".into()),
    }
}

fn int_tuple(v: &Value, what: &str) -> Result<Vec<u64>, String> {
    match v {
        Value::Tuple(t) => t
            .0
            .iter()
            .map(|x| match x {
                Value::Int(i) if *i >= 0 => Ok(*i as u64),
                _ => Err(format!("tensor {what} holds {}, not a non-negative int", x.kind())),
            })
            .collect(),
        other => Err(format!("tensor {what} is {}, not a tuple", other.kind())),
    }
}

/// REDUCE/NEWOBJ: the few constructors a state dict uses; anything else is opaque.
fn call(callable: &Value, args: &Value) -> Result<Value, String> {
    let Value::Global(g) = callable else {
        return Ok(Value::Opaque(Rc::from(callable.kind())));
    };
    let args: &[Value] = match args {
        Value::Tuple(t) => &t.0,
        _ => &[],
    };
    match (g.0.as_str(), g.1.as_str()) {
        ("collections", "OrderedDict") | ("builtins", "dict") | ("__builtin__", "dict") => {
            Ok(Value::Dict(Rc::default()))
        }
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let [Value::Storage(s), Value::Int(offset), size, stride, ..] = args else {
                return Err("torch._utils._rebuild_tensor_v2 called with unexpected arguments".into());
            };
            let (shape, stride) = (int_tuple(size, "size")?, int_tuple(stride, "stride")?);
            if shape.len() != stride.len() || *offset < 0 {
                return Err("tensor size, stride and offset disagree".into());
            }
            Ok(Value::Tensor(Rc::new(TensorRef {
                dtype: s.0,
                storage_class: s.1.clone(),
                key: s.2.clone(),
                offset: *offset as u64,
                shape,
                stride,
            })))
        }
        ("torch._utils", "_rebuild_parameter") => match args.first() {
            Some(t @ Value::Tensor(_)) => Ok(t.clone()),
            _ => Err("torch._utils._rebuild_parameter without a tensor".into()),
        },
        (module, name) => Ok(Value::Opaque(Rc::from(format!("{module}.{name}")))),
    }
}

/// A tensor for [`write_state_dict`]: its name, shape and the key of its float32 storage.
pub struct FloatEntry<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub key: String,
}

/// The pickle (protocol 2) that `torch.save` writes for an `OrderedDict` of contiguous float32
/// tensors: `torch._utils._rebuild_tensor_v2(persistent_load(('storage', torch.FloatStorage,
/// key, 'cpu', numel)), 0, shape, stride, False, OrderedDict())` per entry, storages being the
/// archive entries `data/<key>`. Only the globals `torch.load(weights_only=True)` allows.
pub fn write_state_dict(entries: &[FloatEntry]) -> Result<Vec<u8>, String> {
    let mut p = vec![0x80, 2]; // PROTO 2
    global(&mut p, "collections", "OrderedDict");
    p.extend([b')', b'R', b'(']); // EMPTY_TUPLE, REDUCE, MARK
    for e in entries {
        string(&mut p, e.name);
        global(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.extend([b'(', b'(']); // MARK (arguments), MARK (persistent id)
        string(&mut p, "storage");
        global(&mut p, "torch", "FloatStorage");
        string(&mut p, &e.key);
        string(&mut p, "cpu");
        let numel = e.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        int(&mut p, numel.ok_or_else(|| format!("tensor '{}': too many elements", e.name))?, e.name)?;
        p.extend([b't', b'Q']); // TUPLE, BINPERSID
        int(&mut p, 0, e.name)?; // storage offset
        // Contiguous strides: the product of the later dimensions.
        let mut stride = vec![1usize; e.shape.len()];
        for i in (0..e.shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1].saturating_mul(e.shape[i + 1]);
        }
        for dims in [e.shape, &stride] {
            p.push(b'(');
            for &d in dims {
                int(&mut p, d, e.name)?;
            }
            p.push(b't');
        }
        p.push(0x89); // NEWFALSE: requires_grad
        global(&mut p, "collections", "OrderedDict");
        p.extend([b')', b'R', b't', b'R']); // backward hooks: OrderedDict(); TUPLE; REDUCE
    }
    p.extend([b'u', b'.']); // SETITEMS, STOP
    Ok(p)
}

fn global(p: &mut Vec<u8>, module: &str, name: &str) {
    p.push(b'c');
    for part in [module, name] {
        p.extend(part.as_bytes());
        p.push(b'\n');
    }
}

fn string(p: &mut Vec<u8>, s: &str) {
    p.push(b'X'); // BINUNICODE
    p.extend((s.len() as u32).to_le_bytes());
    p.extend(s.as_bytes());
}

/// BININT1, BININT2 or BININT; larger values are an error naming `tensor`.
fn int(p: &mut Vec<u8>, v: usize, tensor: &str) -> Result<(), String> {
    if let Ok(b) = u8::try_from(v) {
        p.extend([b'K', b]);
    } else if let Ok(w) = u16::try_from(v) {
        p.push(b'M');
        p.extend(w.to_le_bytes());
    } else if let Ok(i) = i32::try_from(v) {
        p.push(b'J');
        p.extend(i.to_le_bytes());
    } else {
        return Err(format!("tensor '{tensor}': dimension {v} does not fit a pickle int"));
    }
    Ok(())
}
