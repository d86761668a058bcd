//! Compiles the oneDNN shim (`src/kernels/dnnl_shim.c`) when the oneDNN 2.x header is installed
//! (`apt-get install libdnnl-dev`), and sets `cfg(odenet_dnnl)`. Without the header odenet still
//! builds and trains with Burn's own (flex) convolution. The library itself is loaded at run time
//! (dlopen), so nothing links against it here.
use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(odenet_dnnl)");
    println!("cargo::rerun-if-changed=src/kernels/dnnl_shim.c");
    println!("cargo::rerun-if-env-changed=DNNL_INCLUDE_DIR");
    let include = std::env::var_os("DNNL_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let header = include.join("oneapi/dnnl/dnnl.h");
    println!("cargo::rerun-if-changed={}", header.display());
    if header.exists() {
        cc::Build::new()
            .file("src/kernels/dnnl_shim.c")
            .include(&include)
            .opt_level(2)
            .warnings(true)
            .compile("odenet_dnnl_shim");
        println!("cargo::rustc-link-lib=dl");
        println!("cargo::rustc-cfg=odenet_dnnl");
    } else {
        println!(
            "cargo::warning=oneDNN header {} not found: building without the fast CPU \
             convolutions (install them with `apt-get install libdnnl-dev`)",
            header.display()
        );
    }
}
