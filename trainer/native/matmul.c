// Float32 matrix products for the native backend's kernels (trainer/compute/kernels.ts), through the
// system's CBLAS (OpenBLAS on Linux, Accelerate on macOS). One synchronous entry point that works
// on views of whatever memory holds the tensors (the wasm heap included), so nothing is copied.
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __APPLE__
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

#ifdef _OPENMP
#include <omp.h>
static int max_threads(void) { return omp_get_max_threads(); }
#else
static int max_threads(void) { return 1; }
#endif

#define CHECK(call)                                                         \
  if ((call) != napi_ok) {                                                  \
    napi_throw_error(env, NULL, "native matmul: bad arguments");            \
    return NULL;                                                            \
  }

static bool f32_view(napi_env env, napi_value v, float **data, size_t *length) {
  napi_typedarray_type type;
  void *ptr;
  napi_value buf;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buf, &offset) != napi_ok) return false;
  if (type != napi_float32_array) return false;
  *data = (float *)ptr;
  return true;
}

// sgemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB)
// c[i] = op(a[i]) · op(b[i]) for i < batch, with a[i] at i·strideA (0 broadcasts one matrix),
// b[i] at i·strideB, c[i] at i·m·n; op transposes when the flag is set (row-major storage).
static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) {
    napi_throw_error(env, NULL, "native matmul: sgemm takes 11 arguments");
    return NULL;
  }
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!f32_view(env, argv[0], &a, &la) || !f32_view(env, argv[1], &b, &lb) || !f32_view(env, argv[2], &c, &lc)) {
    napi_throw_type_error(env, NULL, "native matmul: a, b and c must be Float32Arrays");
    return NULL;
  }
  int64_t dims[5];
  for (int i = 0; i < 4; i++) CHECK(napi_get_value_int64(env, argv[3 + i], &dims[i]));
  bool ta, tb;
  CHECK(napi_get_value_bool(env, argv[7], &ta));
  CHECK(napi_get_value_bool(env, argv[8], &tb));
  int64_t sa, sb;
  CHECK(napi_get_value_int64(env, argv[9], &sa));
  CHECK(napi_get_value_int64(env, argv[10], &sb));
  int64_t batch = dims[0], m = dims[1], n = dims[2], k = dims[3];
  if (batch < 0 || m < 0 || n < 0 || k < 0 || sa < 0 || sb < 0 ||
      (batch > 0 && ((uint64_t)((batch - 1) * sa + m * k) > la || (uint64_t)((batch - 1) * sb + k * n) > lb ||
                     (uint64_t)(batch * m * n) > lc))) {
    napi_throw_range_error(env, NULL, "native matmul: shapes do not fit the arrays");
    return NULL;
  }
  if (k == 0) {
    for (int64_t i = 0; i < batch * m * n; i++) c[i] = 0;
    return NULL;
  }
  const int lda = ta ? (int)m : (int)k;
  const int ldb = tb ? (int)k : (int)n;
  // One thread pool for every kernel (OpenMP's): OpenBLAS runs single-threaded (see init) and the
  // products are split here, over the batch when it has enough items, else over the rows (or, for a
  // short, wide product, the columns) of c. Two pools on the same cores would spin against each other.
  const int threads = max_threads();
  const bool big = (double)m * (double)n * (double)k * (double)batch >= 262144.0;
  if (!big || threads == 1) {
    for (int64_t i = 0; i < batch; i++)
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f,
                  a + i * sa, lda, b + i * sb, ldb, 0.0f, c + i * m * n, (int)n);
    return NULL;
  }
  if (batch >= threads) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; i++)
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f,
                  a + i * sa, lda, b + i * sb, ldb, 0.0f, c + i * m * n, (int)n);
    return NULL;
  }
  const bool byRows = m >= n;
  const int64_t extent = byRows ? m : n;
  // Blocks of whole SIMD widths, so that no thread's share ends in a ragged edge it could have avoided.
  const int64_t block = ((extent + threads - 1) / threads + 15) / 16 * 16;
  const int64_t blocks = (extent + block - 1) / block;
  for (int64_t i = 0; i < batch; i++) {
    const float *ai = a + i * sa, *bi = b + i * sb;
    float *ci = c + i * m * n;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < blocks; t++) {
      const int64_t lo = t * block, len = lo + block > extent ? extent - lo : block;
      if (byRows)
        // Rows lo… of op(a): row offsets of a, or column offsets when a is transposed.
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)len, (int)n, (int)k, 1.0f,
                    ai + (ta ? lo : lo * lda), lda, bi, ldb, 0.0f, ci + lo * n, (int)n);
      else
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)len, (int)k, 1.0f,
                    ai, lda, bi + (tb ? lo * ldb : lo), ldb, 0.0f, ci + lo, (int)n);
    }
  }
  return NULL;
}

#ifndef __APPLE__
// The kernel set OpenBLAS chose at load time (OPENBLAS_CORETYPE, or its CPU detection): it ignores a
// core type it does not know, so only the library itself can say which kernels run.
static napi_value core_name(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  const char *name = openblas_get_corename();
  if (napi_create_string_utf8(env, name ? name : "", NAPI_AUTO_LENGTH, &out) != napi_ok) return NULL;
  return out;
}
#endif

bool register_kernels(napi_env env, napi_value exports);  // kernels.c

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (!register_kernels(env, exports)) return NULL;
#if defined(_OPENMP) && !defined(__APPLE__)
  // The products are threaded by OpenMP in sgemm above; OpenBLAS's own threads would compete with it.
  openblas_set_num_threads(1);
#endif
  if (napi_create_function(env, "sgemm", NAPI_AUTO_LENGTH, sgemm, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sgemm", fn) != napi_ok) return NULL;
#ifndef __APPLE__
  if (napi_create_function(env, "coreName", NAPI_AUTO_LENGTH, core_name, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "coreName", fn) != napi_ok) return NULL;
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
