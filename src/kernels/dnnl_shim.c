/* A small C shim over oneDNN 2.x (Debian's libdnnl-dev 2.6): 2-D convolution forward, gradient
 * w.r.t. the input and gradient w.r.t. the weights, on plain NCHW / OIHW f32 buffers.
 *
 * Why C: oneDNN's 2.x C API passes memory descriptors as by-value structs, which are simpler to
 * use here than to mirror in Rust. Why dlopen: libdnnl uses OpenMP (libgomp), which reads
 * OMP_WAIT_POLICY and OMP_NUM_THREADS once, when it is loaded; the Rust side sets them first and
 * then calls odk_init, and a machine without libdnnl still runs (odk_init fails, odenet falls back
 * to Burn's flex convolution). Only the header is needed at build time.
 *
 * Each operation lets oneDNN choose its blocked layouts (format_tag_any: the AVX-512/AVX2 direct
 * kernels) and converts between the plain buffers and those layouts with reorders; a plain buffer
 * already in the chosen layout (channels-last, which the AVX-512 brgconv kernels pick) needs none. The primitive,
 * the reorders and the blocked buffers are built once per shape and cached; calls are serialised
 * by one mutex (a training step runs its convolutions one after the other anyway). */
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shape of one convolution: input [n, c, h, w], weight [k, c / g, r, s], output [n, k, oh, ow];
 * src_nhwc / dst_nhwc: the caller's input-side / output-side activations (x and dx / y and dy)
 * are stored channels-last instead of NCHW. */
typedef struct {
    long n, c, h, w, k, r, s, oh, ow, stride_h, stride_w, pad_h, pad_w, groups, src_nhwc, dst_nhwc;
} odk_conv;

enum { ODK_FWD = 0, ODK_BWD_DATA = 1, ODK_BWD_WEIGHTS = 2 };

#define FN(name) static __typeof__(&name) p_##name
FN(dnnl_engine_create);
FN(dnnl_stream_create);
FN(dnnl_stream_wait);
FN(dnnl_memory_desc_init_by_tag);
FN(dnnl_memory_desc_equal);
FN(dnnl_memory_desc_get_size);
FN(dnnl_memory_create);
FN(dnnl_memory_set_data_handle);
FN(dnnl_convolution_forward_desc_init);
FN(dnnl_convolution_backward_data_desc_init);
FN(dnnl_convolution_backward_weights_desc_init);
FN(dnnl_primitive_desc_create);
FN(dnnl_primitive_desc_destroy);
FN(dnnl_primitive_desc_query);
FN(dnnl_primitive_desc_query_md);
FN(dnnl_reorder_primitive_desc_create);
FN(dnnl_primitive_create);
FN(dnnl_primitive_execute);

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char error[256];

/* The last error, for the Rust side's message. */
const char *odk_error(void) { return error; }

/* Loads oneDNN from `path` (e.g. "libdnnl.so.2") and creates the CPU engine and stream. 0 on
 * success. */
int odk_init(const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(error, sizeof error, "%s", dlerror());
        return -1;
    }
#define LOAD(name)                                                                 \
    if (!(p_##name = (__typeof__(&name))dlsym(lib, #name))) {                      \
        snprintf(error, sizeof error, "%s has no symbol %s", path, #name);         \
        return -1;                                                                 \
    }
    LOAD(dnnl_engine_create);
    LOAD(dnnl_stream_create);
    LOAD(dnnl_stream_wait);
    LOAD(dnnl_memory_desc_init_by_tag);
    LOAD(dnnl_memory_desc_equal);
    LOAD(dnnl_memory_desc_get_size);
    LOAD(dnnl_memory_create);
    LOAD(dnnl_memory_set_data_handle);
    LOAD(dnnl_convolution_forward_desc_init);
    LOAD(dnnl_convolution_backward_data_desc_init);
    LOAD(dnnl_convolution_backward_weights_desc_init);
    LOAD(dnnl_primitive_desc_create);
    LOAD(dnnl_primitive_desc_destroy);
    LOAD(dnnl_primitive_desc_query);
    LOAD(dnnl_primitive_desc_query_md);
    LOAD(dnnl_reorder_primitive_desc_create);
    LOAD(dnnl_primitive_create);
    LOAD(dnnl_primitive_execute);
    if (p_dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
        p_dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        snprintf(error, sizeof error, "oneDNN could not create its CPU engine");
        return -1;
    }
    return 0;
}

/* One operand of a cached operation: the caller's plain buffer and, when oneDNN wants another
 * layout, its own blocked buffer plus the reorder between the two. */
typedef struct {
    int arg;                 /* DNNL_ARG_* of the convolution */
    int is_output;
    dnnl_memory_t user;      /* plain layout, handle set per call */
    dnnl_memory_t inner;     /* layout the primitive wants (== user when no reorder) */
    dnnl_primitive_t reorder; /* NULL when the layouts agree */
} operand;

typedef struct entry {
    int kind;
    odk_conv shape;
    dnnl_primitive_t conv;
    operand ops[3];
    char impl[64];
    struct entry *next;
} entry;

static entry *cache;

#define CHECK(call)                                                                \
    do {                                                                           \
        dnnl_status_t st_ = (call);                                                \
        if (st_ != dnnl_success) {                                                 \
            snprintf(error, sizeof error, "oneDNN: %.200s failed with status %d", #call, \
                     (int)st_);                                                    \
            return -1;                                                             \
        }                                                                          \
    } while (0)

static int make_operand(operand *op, int arg, int is_output, const dnnl_memory_desc_t *user_md,
                        const dnnl_memory_desc_t *inner_md) {
    op->arg = arg;
    op->is_output = is_output;
    op->reorder = NULL;
    CHECK(p_dnnl_memory_create(&op->user, user_md, engine, NULL));
    if (p_dnnl_memory_desc_equal(user_md, inner_md)) {
        op->inner = op->user;
        return 0;
    }
    CHECK(p_dnnl_memory_create(&op->inner, inner_md, engine, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    const dnnl_memory_desc_t *from = is_output ? inner_md : user_md;
    const dnnl_memory_desc_t *to = is_output ? user_md : inner_md;
    CHECK(p_dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL));
    dnnl_status_t st = p_dnnl_primitive_create(&op->reorder, rpd);
    p_dnnl_primitive_desc_destroy(rpd);
    CHECK(st);
    return 0;
}

/* Whether oneDNN chose its reference implementation ("ref:any"): plain loops, no JIT. */
static int is_reference(const_dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    return impl && strncmp(impl, "ref", 3) == 0;
}

static int build(entry *e) {
    const odk_conv *s = &e->shape;
    int grouped = s->groups > 1;
    dnnl_dims_t src_dims = {s->n, s->c, s->h, s->w};
    dnnl_dims_t dst_dims = {s->n, s->k, s->oh, s->ow};
    dnnl_dims_t wei_dims = {s->k, s->c, s->r, s->s};
    dnnl_dims_t gwei_dims = {s->groups, s->k / s->groups, s->c / s->groups, s->r, s->s};
    dnnl_dims_t strides = {s->stride_h, s->stride_w};
    dnnl_dims_t pad_l = {s->pad_h, s->pad_w};
    /* The bottom/right padding that gives exactly oh x ow outputs (it may be smaller than the
     * top/left one, or negative, when a strided window does not reach the last rows). */
    dnnl_dims_t pad_r = {(s->oh - 1) * s->stride_h + s->r - s->h - s->pad_h,
                         (s->ow - 1) * s->stride_w + s->s - s->w - s->pad_w};
    int wei_nd = grouped ? 5 : 4;
    dnnl_format_tag_t wei_tag = grouped ? dnnl_goihw : dnnl_oihw;
    dnnl_data_type_t f32 = dnnl_f32;

    dnnl_memory_desc_t src_plain, dst_plain, wei_plain, src_any, dst_any, wei_any;
    CHECK(p_dnnl_memory_desc_init_by_tag(&src_plain, 4, src_dims, f32,
                                         s->src_nhwc ? dnnl_nhwc : dnnl_nchw));
    CHECK(p_dnnl_memory_desc_init_by_tag(&dst_plain, 4, dst_dims, f32,
                                         s->dst_nhwc ? dnnl_nhwc : dnnl_nchw));
    CHECK(p_dnnl_memory_desc_init_by_tag(&wei_plain, wei_nd, grouped ? gwei_dims : wei_dims, f32,
                                         wei_tag));
    CHECK(p_dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, f32, dnnl_format_tag_any));
    CHECK(p_dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, f32, dnnl_format_tag_any));
    CHECK(p_dnnl_memory_desc_init_by_tag(&wei_any, wei_nd, grouped ? gwei_dims : wei_dims, f32,
                                         dnnl_format_tag_any));

    /* The forward descriptor: the operation itself, or the hint the backward ones need. A
     * channels-last forward pass (inference) computes in the caller's layout: oneDNN then picks
     * its kernels for that layout (brgconv on AVX-512) instead of a blocked one that would need
     * reorders on both sides. */
    dnnl_convolution_desc_t fwd_d, d;
    int channels_last = e->kind == ODK_FWD && s->dst_nhwc;
    CHECK(p_dnnl_convolution_forward_desc_init(
        &fwd_d, channels_last ? dnnl_forward_inference : dnnl_forward_training,
        dnnl_convolution_direct, channels_last && s->src_nhwc ? &src_plain : &src_any, &wei_any,
        NULL, channels_last ? &dst_plain : &dst_any, strides, pad_l, pad_r));
    dnnl_primitive_desc_t fwd_pd, pd;
    CHECK(p_dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, engine, NULL));
    if (channels_last && is_reference(fwd_pd)) {
        /* No optimised kernel for this shape in the caller's layout (on AVX2 the 3-channel stem:
         * oneDNN's reference loop, ~100x slower). Let oneDNN choose blocked layouts instead and
         * reorder on both sides, as in training. */
        p_dnnl_primitive_desc_destroy(fwd_pd);
        CHECK(p_dnnl_convolution_forward_desc_init(&fwd_d, dnnl_forward_inference,
                                                   dnnl_convolution_direct, &src_any, &wei_any,
                                                   NULL, &dst_any, strides, pad_l, pad_r));
        CHECK(p_dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, engine, NULL));
    }
    if (e->kind == ODK_FWD) {
        pd = fwd_pd;
        fwd_pd = NULL;
    } else {
        if (e->kind == ODK_BWD_DATA)
            CHECK(p_dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &src_any,
                                                             &wei_any, &dst_any, strides, pad_l,
                                                             pad_r));
        else
            CHECK(p_dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct,
                                                                &src_any, &wei_any, NULL,
                                                                &dst_any, strides, pad_l, pad_r));
        dnnl_status_t st = p_dnnl_primitive_desc_create(&pd, &d, NULL, engine, fwd_pd);
        p_dnnl_primitive_desc_destroy(fwd_pd);
        CHECK(st);
    }
    const char *impl = NULL;
    p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(e->impl, sizeof e->impl, "%s", impl ? impl : "?");

#define MD(q) p_dnnl_primitive_desc_query_md(pd, q, 0)
    int rc = 0;
    if (e->kind == ODK_FWD) {
        rc |= make_operand(&e->ops[0], DNNL_ARG_SRC, 0, &src_plain, MD(dnnl_query_src_md));
        rc |= make_operand(&e->ops[1], DNNL_ARG_WEIGHTS, 0, &wei_plain, MD(dnnl_query_weights_md));
        rc |= make_operand(&e->ops[2], DNNL_ARG_DST, 1, &dst_plain, MD(dnnl_query_dst_md));
    } else if (e->kind == ODK_BWD_DATA) {
        rc |= make_operand(&e->ops[0], DNNL_ARG_DIFF_DST, 0, &dst_plain,
                           MD(dnnl_query_diff_dst_md));
        rc |= make_operand(&e->ops[1], DNNL_ARG_WEIGHTS, 0, &wei_plain, MD(dnnl_query_weights_md));
        rc |= make_operand(&e->ops[2], DNNL_ARG_DIFF_SRC, 1, &src_plain,
                           MD(dnnl_query_diff_src_md));
    } else {
        rc |= make_operand(&e->ops[0], DNNL_ARG_SRC, 0, &src_plain, MD(dnnl_query_src_md));
        rc |= make_operand(&e->ops[1], DNNL_ARG_DIFF_DST, 0, &dst_plain,
                           MD(dnnl_query_diff_dst_md));
        rc |= make_operand(&e->ops[2], DNNL_ARG_DIFF_WEIGHTS, 1, &wei_plain,
                           MD(dnnl_query_diff_weights_md));
    }
#undef MD
    if (rc == 0) {
        dnnl_status_t st = p_dnnl_primitive_create(&e->conv, pd);
        if (st != dnnl_success) {
            snprintf(error, sizeof error, "oneDNN: primitive_create failed with status %d",
                     (int)st);
            rc = -1;
        }
    }
    p_dnnl_primitive_desc_destroy(pd);
    return rc;
}

static entry *lookup(int kind, const odk_conv *shape) {
    for (entry *e = cache; e; e = e->next)
        if (e->kind == kind && memcmp(&e->shape, shape, sizeof *shape) == 0) return e;
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(error, sizeof error, "out of memory");
        return NULL;
    }
    e->kind = kind;
    e->shape = *shape;
    if (build(e) != 0) {
        free(e); /* leaks the half-built oneDNN objects of a failed shape: rare and small */
        return NULL;
    }
    e->next = cache;
    cache = e;
    return e;
}

static int run(entry *e, void *a, void *b, void *out) {
    void *ptrs[3] = {a, b, out};
    for (int i = 0; i < 3; i++) CHECK(p_dnnl_memory_set_data_handle(e->ops[i].user, ptrs[i]));
    for (int i = 0; i < 3; i++) {
        operand *op = &e->ops[i];
        if (op->reorder && !op->is_output) {
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, op->user}, {DNNL_ARG_TO, op->inner}};
            CHECK(p_dnnl_primitive_execute(op->reorder, stream, 2, args));
        }
    }
    dnnl_exec_arg_t args[3];
    for (int i = 0; i < 3; i++) {
        args[i].arg = e->ops[i].arg;
        args[i].memory = e->ops[i].inner;
    }
    CHECK(p_dnnl_primitive_execute(e->conv, stream, 3, args));
    operand *op = &e->ops[2];
    if (op->reorder) {
        dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, op->inner}, {DNNL_ARG_TO, op->user}};
        CHECK(p_dnnl_primitive_execute(op->reorder, stream, 2, rargs));
    }
    CHECK(p_dnnl_stream_wait(stream));
    return 0;
}

/* kind ODK_FWD: a = x, b = w, out = y. ODK_BWD_DATA: a = dy, b = w, out = dx.
 * ODK_BWD_WEIGHTS: a = x, b = dy, out = dw. All dense: weights OIHW, activations NCHW or NHWC
 * as the shape says. 0 on success. */
int odk_conv_run(int kind, const odk_conv *shape, const float *a, const float *b, float *out) {
    pthread_mutex_lock(&lock);
    entry *e = lookup(kind, shape);
    int rc = e ? run(e, (void *)a, (void *)b, out) : -1;
    pthread_mutex_unlock(&lock);
    return rc;
}

/* The oneDNN implementation chosen for an operation (e.g. "jit:avx512_core"), for reports. */
int odk_conv_impl(int kind, const odk_conv *shape, char *buf, size_t len) {
    pthread_mutex_lock(&lock);
    entry *e = lookup(kind, shape);
    if (e) snprintf(buf, len, "%s", e->impl);
    pthread_mutex_unlock(&lock);
    return e ? 0 : -1;
}
