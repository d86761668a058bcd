//! The Rust side of `dnnl_shim.c`: loading oneDNN and running one convolution on plain buffers.

use std::ffi::{CStr, c_char, c_int, c_long};
use std::mem::MaybeUninit;

/// Shape of one 2-D convolution: input `[n, c, h, w]`, weight `[k, c / groups, r, s]`, output
/// `[n, k, oh, ow]`; `pad_h`/`pad_w` are the top/left paddings (the shim derives the bottom/right
/// ones from the output size); `src_nhwc` / `dst_nhwc` (0 or 1): the input-side (x, dx) / output-side
/// (y, dy) activations are stored channels-last instead of NCHW. Mirrors `odk_conv` in the shim.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub n: c_long,
    pub c: c_long,
    pub h: c_long,
    pub w: c_long,
    pub k: c_long,
    pub r: c_long,
    pub s: c_long,
    pub oh: c_long,
    pub ow: c_long,
    pub stride_h: c_long,
    pub stride_w: c_long,
    pub pad_h: c_long,
    pub pad_w: c_long,
    pub groups: c_long,
    pub src_nhwc: c_long,
    pub dst_nhwc: c_long,
}

/// Which of the three convolution passes to run (the shim's `ODK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub enum Pass {
    /// `a` = x, `b` = w, `out` = y.
    Forward = 0,
    /// `a` = dy, `b` = w, `out` = dx.
    GradInput = 1,
    /// `a` = x, `b` = dy, `out` = dw.
    GradWeight = 2,
}

unsafe extern "C" {
    fn odk_init(path: *const c_char) -> c_int;
    fn odk_error() -> *const c_char;
    fn odk_conv_run(
        kind: c_int,
        shape: *const ConvShape,
        a: *const f32,
        b: *const f32,
        out: *mut f32,
    ) -> c_int;
}

fn last_error() -> String {
    // SAFETY: odk_error returns a pointer to the shim's static, NUL-terminated buffer.
    unsafe { CStr::from_ptr(odk_error()) }.to_string_lossy().into_owned()
}

/// Loads libdnnl (and with it OpenMP): `libdnnl.so.2`, or the file `ODENET_DNNL_LIB` names (the
/// tests point it at a missing file to exercise the fallback). Call once.
pub fn init() -> Result<(), String> {
    let path = std::env::var("ODENET_DNNL_LIB").unwrap_or_else(|_| "libdnnl.so.2".into());
    let path = std::ffi::CString::new(path).map_err(|_| "ODENET_DNNL_LIB contains a NUL byte")?;
    // OpenMP reads these once, when libdnnl loads libgomp. Passive waiting lets its threads sleep
    // between convolutions instead of spinning against rayon's threads on the same cores: one
    // 128×16×32×32 3×3 convolution forward + backward took 116 ms spinning and 33 ms passive on
    // the 2-core benchmark machine (BENCHMARKS.md). The thread count follows rayon's setting.
    set_default_env("OMP_WAIT_POLICY", "passive");
    if let Some(n) = std::env::var_os("RAYON_NUM_THREADS") {
        set_default_env("OMP_NUM_THREADS", &n.to_string_lossy());
    }
    // SAFETY: odk_init only loads the library and creates the engine; it is called once, with a
    // NUL-terminated path.
    match unsafe { odk_init(path.as_ptr()) } {
        0 => Ok(()),
        _ => Err(last_error()),
    }
}

fn set_default_env(key: &str, value: &str) {
    if std::env::var_os(key).is_none() {
        // SAFETY: the binary calls this first thing in main, before other threads exist; in the
        // test harness no other code of this process reads or writes these variables.
        unsafe { std::env::set_var(key, value) };
    }
}

/// Runs one pass; the slices are dense NCHW or NHWC (activations, see [`ConvShape`]) / OIHW
/// (weights) buffers whose lengths
/// match `shape` (checked). On success every element of `out` is written.
pub fn run(
    pass: Pass,
    shape: &ConvShape,
    a: &[f32],
    b: &[f32],
    out: &mut [MaybeUninit<f32>],
) -> Result<(), String> {
    let x = (shape.n * shape.c * shape.h * shape.w) as usize;
    let y = (shape.n * shape.k * shape.oh * shape.ow) as usize;
    let w = (shape.k * (shape.c / shape.groups) * shape.r * shape.s) as usize;
    let expected = match pass {
        Pass::Forward => [x, w, y],
        Pass::GradInput => [y, w, x],
        Pass::GradWeight => [x, y, w],
    };
    if [a.len(), b.len(), out.len()] != expected {
        return Err(format!("buffer sizes {:?} do not match {shape:?}", [a.len(), b.len(), out.len()]));
    }
    // SAFETY: the buffers have the sizes the shape implies (checked above); the shim reads `a` and
    // `b` and writes all of `out`, and serialises calls internally.
    let rc = unsafe {
        odk_conv_run(pass as c_int, shape, a.as_ptr(), b.as_ptr(), out.as_mut_ptr().cast())
    };
    match rc {
        0 => Ok(()),
        _ => Err(last_error()),
    }
}
