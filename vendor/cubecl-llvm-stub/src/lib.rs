//! Stub of `cubecl-llvm` 0.11.3: only the items `cubecl-cuda` 0.11.3 names, nothing that needs LLVM.
//!
//! odenet builds `cubecl-cuda` with its `cpp` feature, which makes the CUDA C++ / NVRTC compiler the
//! default (`cubecl_cuda::compiler::CudaBackend::default()`), and `cubecl-cuda` picks the backend
//! only from that compile-time feature (no environment variable). The real crate's build script
//! downloads LLVM, which the offline build machine cannot do. Every item here is a stub: the
//! types exist so that `cubecl-cuda` compiles, [`PlironCompiler`]'s `compile` fails with a clear
//! message, and [`shared::lowered_features::restrict_features`] (called only when the LLVM
//! backend is selected) leaves the properties unchanged.

use cubecl_core::Compiler;
use cubecl_core::ir::amd::GfxArch;
use cubecl_core::ir::nvidia::SmArch;
use cubecl_core::prelude::KernelDefinition;
use cubecl_core::CompilationError;
use cubecl_core::ir::attributes::BufferIOAttr;

/// Message of every error this stub returns.
pub const STUB_MESSAGE: &str = "cubecl-llvm is a stub in this odenet build (vendor/cubecl-llvm-stub): \
the LLVM/PTX backend is not available; kernels must go through CUDA C++ and NVRTC \
(cubecl-cuda feature `cpp`)";

/// Stub of `cubecl_llvm::LlvmTarget`: the LLVM targets (only the variants cubecl-cuda names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LlvmTarget {
    /// Stub: host CPU target (the real crate's default).
    #[default]
    Cpu,
    /// Stub: NVPTX target.
    Nvptx,
}

/// Stub of `cubecl_llvm::PlironCompiler`: compiling always fails with [`STUB_MESSAGE`].
#[derive(Clone, Debug, Default)]
pub struct PlironCompiler {
    /// Stub: the target it would compile for.
    pub target: LlvmTarget,
}

/// Stub of `cubecl_llvm::PlironOptions`: the fields cubecl-cuda sets, same types.
#[derive(Clone, Debug, Default)]
pub struct PlironOptions {
    /// Stub: AMDGPU architecture (unused).
    pub arch: Option<GfxArch>,
    /// Stub: NVPTX architecture (unused).
    pub sm_arch: Option<SmArch>,
    /// Stub: PTX version (unused).
    pub ptx_version: Option<nvptx::ptx_version::PtxVersion>,
    /// Stub: grid-constant parameter layout (unused).
    pub grid_constants: bool,
}

/// Stub of `cubecl_llvm::NvptxModule`: a compiled PTX module (never produced by this stub).
#[derive(Clone, Debug)]
pub struct NvptxModule {
    /// Stub: NUL-terminated PTX.
    pub ptx: Vec<core::ffi::c_char>,
    /// Stub: kernel entry point.
    pub entrypoint: String,
    /// Stub: IR for logging.
    pub ir: String,
    /// Stub: dynamic shared memory in bytes.
    pub shared_memory_size: usize,
    /// Stub: buffer access modes.
    pub io: Vec<BufferIOAttr>,
}

/// Stub of `cubecl_llvm::PlironArtifact` (the real one also has a CPU JIT variant; the
/// `Unavailable` variant stands in for it so cubecl-cuda's catch-all match arm stays reachable).
#[derive(Clone, Debug)]
pub enum PlironArtifact {
    /// Stub: a PTX module.
    NvptxCode(NvptxModule),
    /// Stub: stands in for the real crate's other artifacts; never produced.
    Unavailable,
}

/// Stub: prints the module's IR, as the real crate does.
impl core::fmt::Display for PlironArtifact {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlironArtifact::NvptxCode(module) => write!(f, "{}", module.ir),
            PlironArtifact::Unavailable => f.write_str(STUB_MESSAGE),
        }
    }
}

impl Compiler for PlironCompiler {
    type Representation = PlironArtifact;
    type CompilationOptions = PlironOptions;

    /// Stub: always an error; the LLVM backend is not built in.
    fn compile(
        &mut self,
        _kernel: KernelDefinition,
        _options: &Self::CompilationOptions,
    ) -> Result<Self::Representation, CompilationError> {
        Err(CompilationError::Generic {
            reason: STUB_MESSAGE.to_string(),
            backtrace: cubecl_core::environment::backtrace::BackTrace::capture(),
        })
    }

    /// Stub: the real crate's extension for NVPTX.
    fn extension(&self) -> &'static str {
        "ll"
    }

    /// Stub: the real crate's language tag for NVPTX.
    fn lang_tag(&self) -> &'static str {
        "llvm"
    }
}

/// Stub of `cubecl_llvm::nvptx`.
pub mod nvptx {
    /// Stub of `cubecl_llvm::nvptx::ptx_version` (same table as the real crate, so cache
    /// namespaces and logs read the same).
    pub mod ptx_version {
        use core::fmt;

        /// Stub of `PtxVersion`: a PTX ISA version, 8.7 is `87`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct PtxVersion(u32);

        impl PtxVersion {
            /// Stub: the newest PTX version a CUDA driver (`12080` = 12.8) loads, as in the real crate.
            pub fn for_driver(driver: i32) -> Option<Self> {
                DRIVER_PTX.iter().find(|(d, _)| driver >= *d).map(|(_, p)| Self(*p))
            }
        }

        impl fmt::Display for PtxVersion {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "ptx{}", self.0)
            }
        }

        const DRIVER_PTX: &[(i32, u32)] = &[
            (13030, 93), (13020, 92), (13010, 91), (13000, 90), (12090, 88), (12080, 87),
            (12050, 85), (12040, 84), (12030, 83), (12020, 82), (12010, 81), (12000, 80),
            (11080, 78), (11070, 77), (11060, 76), (11050, 75), (11040, 74), (11030, 73),
            (11020, 72), (11010, 71), (11000, 70), (10020, 65), (10010, 64), (10000, 63),
        ];
    }
}

/// Stub of `cubecl_llvm::shared`.
pub mod shared {
    /// Stub of `cubecl_llvm::shared::lowered_features`.
    pub mod lowered_features {
        use cubecl_core::ir::DeviceProperties;

        /// Stub of `GpuTarget`: the GPU target features are narrowed for.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum GpuTarget {
            /// Stub: NVPTX.
            Nvptx,
        }

        /// Stub: the real function narrows `props` to what the LLVM backend lowers. cubecl-cuda
        /// calls it only when the LLVM backend is selected, which never happens in this build
        /// (the compile would fail anyway), so it leaves `props` unchanged.
        pub fn restrict_features(_props: &mut DeviceProperties, _target: GpuTarget) {}
    }
}
