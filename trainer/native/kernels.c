// The native backend's non-BLAS kernels (trainer/compute/nativeBackend.ts): elementwise and broadcast
// arithmetic, unary maths, last-axis reductions and softmax, strided transposes, the cross-entropy
// gradient and the fused AdamW update. Every entry point works in place on Float32Array views of the
// tensors' own memory (nothing is copied in or out) and splits its outer loop over the machine's cores
// with OpenMP; below PARALLEL_MIN elements one thread is faster than waking the others.
// Shapes arrive already collapsed by the TypeScript side (adjacent dimensions merged where both
// operands allow), so the loops here stay rank-generic but short.
#include <math.h>
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PARALLEL_MIN 32768
#define MAX_RANK 8
// Elements per work item when one row is long enough to split.
#define CHUNK 16384

#define CHECK(call)                                                  \
  if ((call) != napi_ok) {                                           \
    napi_throw_error(env, NULL, "native kernels: bad arguments");    \
    return NULL;                                                     \
  }

static bool view(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  void *ptr;
  napi_value buf;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buf, &offset) != napi_ok) return false;
  if (type != want) return false;
  *data = ptr;
  return true;
}

#define F32(i, name, len)                                                                    \
  float *name;                                                                               \
  size_t len;                                                                                \
  if (!view(env, argv[i], napi_float32_array, (void **)&name, &len)) {                       \
    napi_throw_type_error(env, NULL, "native kernels: argument " #i " must be a Float32Array"); \
    return NULL;                                                                             \
  }

#define I32(i, name, len)                                                                  \
  int32_t *name;                                                                           \
  size_t len;                                                                              \
  if (!view(env, argv[i], napi_int32_array, (void **)&name, &len)) {                       \
    napi_throw_type_error(env, NULL, "native kernels: argument " #i " must be an Int32Array"); \
    return NULL;                                                                           \
  }

#define ARGS(n)                                                     \
  size_t argc = n;                                                  \
  napi_value argv[n];                                               \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));      \
  if (argc != n) {                                                  \
    napi_throw_error(env, NULL, "native kernels: wrong argument count"); \
    return NULL;                                                    \
  }

static int64_t int_arg(napi_env env, napi_value v, bool *ok) {
  int64_t x = 0;
  if (napi_get_value_int64(env, v, &x) != napi_ok) *ok = false;
  return x;
}

static double num_arg(napi_env env, napi_value v, bool *ok) {
  double x = 0;
  if (napi_get_value_double(env, v, &x) != napi_ok) *ok = false;
  return x;
}

static napi_value range_error(napi_env env, const char *what) {
  napi_throw_range_error(env, NULL, what);
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// binary(op, a, b, out, meta): out = a op b with broadcasting. meta (Int32Array) = [rank, shape[rank],
// strideA[rank], strideB[rank]] in elements, a stride of 0 repeating that operand along the dimension.

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_SQDIFF };

#define BINARY_INNER(EXPR)                                                                \
  if (sa == 1 && sb == 1) {                                                               \
    for (int64_t j = 0; j < inner; j++) { float x = pa[j], y = pb[j]; po[j] = (EXPR); }   \
  } else if (sa == 1 && sb == 0) {                                                        \
    const float y = pb[0];                                                                \
    for (int64_t j = 0; j < inner; j++) { float x = pa[j]; po[j] = (EXPR); }              \
  } else if (sa == 0 && sb == 1) {                                                        \
    const float x = pa[0];                                                                \
    for (int64_t j = 0; j < inner; j++) { float y = pb[j]; po[j] = (EXPR); }              \
  } else {                                                                                \
    for (int64_t j = 0; j < inner; j++) { float x = pa[j * sa], y = pb[j * sb]; po[j] = (EXPR); } \
  }

static void binary_row(int op, const float *pa, const float *pb, float *po, int64_t inner, int64_t sa, int64_t sb) {
  switch (op) {
    case B_ADD: BINARY_INNER(x + y) break;
    case B_SUB: BINARY_INNER(x - y) break;
    case B_MUL: BINARY_INNER(x * y) break;
    case B_DIV: BINARY_INNER(x / y) break;
    // NaN propagates as in tfjs's cpu kernels (Math.max/min).
    case B_MAX: BINARY_INNER((isnan(x) || isnan(y)) ? NAN : (x > y ? x : y)) break;
    case B_MIN: BINARY_INNER((isnan(x) || isnan(y)) ? NAN : (x < y ? x : y)) break;
    case B_SQDIFF: BINARY_INNER((x - y) * (x - y)) break;
  }
}

static napi_value binary(napi_env env, napi_callback_info info) {
  ARGS(5);
  bool ok = true;
  int op = (int)int_arg(env, argv[0], &ok);
  F32(1, a, la);
  F32(2, b, lb);
  F32(3, out, lo);
  I32(4, meta, lm);
  if (!ok || lm < 1) return range_error(env, "binary: bad meta");
  const int rank = meta[0];
  if (rank < 1 || rank > MAX_RANK || lm != (size_t)(1 + 3 * rank)) return range_error(env, "binary: bad rank");
  const int32_t *shape = meta + 1, *stA = meta + 1 + rank, *stB = meta + 1 + 2 * rank;
  int64_t total = 1, maxA = 0, maxB = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] < 0 || stA[d] < 0 || stB[d] < 0) return range_error(env, "binary: negative extent");
    total *= shape[d];
    if (shape[d] > 0) {
      maxA += (int64_t)(shape[d] - 1) * stA[d];
      maxB += (int64_t)(shape[d] - 1) * stB[d];
    }
  }
  if (total == 0) return NULL;
  if ((size_t)total > lo || (size_t)maxA >= la || (size_t)maxB >= lb) return range_error(env, "binary: shapes do not fit the arrays");
  const int64_t inner = shape[rank - 1];
  const int64_t rows = total / inner;
  const int64_t sa = stA[rank - 1], sb = stB[rank - 1];
  // Long rows (a fully contiguous operation is one row) are cut into chunks so that every thread gets work.
  const int64_t chunk = inner > CHUNK ? CHUNK : inner;
  const int64_t chunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
  for (int64_t w = 0; w < rows * chunks; w++) {
    const int64_t r = w / chunks, lo = (w % chunks) * chunk, len = lo + chunk > inner ? inner - lo : chunk;
    // Offsets of row r in a and b from its multi-index over the outer dimensions.
    int64_t rem = r, offA = 0, offB = 0;
    for (int d = rank - 2; d >= 0; d--) {
      const int64_t i = rem % shape[d];
      rem /= shape[d];
      offA += i * stA[d];
      offB += i * stB[d];
    }
    binary_row(op, a + offA + lo * sa, b + offB + lo * sb, out + r * inner + lo, len, sa, sb);
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// exp in float32 that the compiler vectorises (libm's expf is a call per element): Cephes' expf,
// exp(x) = 2^k · exp(r) with r = x − k·ln 2 in two parts and a degree-6 polynomial for exp(r); within
// 2 ulp of the correctly rounded result on its range. Below −87.3 (where exp underflows float32's
// normals) it is 0, above 88.7 +∞, and NaN stays NaN.

static inline float exp_f32(float x) {
  const float hi = 88.7228f, lo = -87.3365f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  // Round to nearest by adding and removing 1.5·2^23 (the default rounding mode does the rest).
  const float kf = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = xc - kf * 0.693359375f + kf * 2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500E-4f;
  y = y * r + 1.3981999507E-3f;
  y = y * r + 8.3334519073E-3f;
  y = y * r + 4.1665795894E-2f;
  y = y * r + 1.6666665459E-1f;
  y = y * r + 5.0000001201E-1f;
  y = y * z + r + 1.0f;
  // 2^k in two halves, so that k = 128 (only at the top of the range) needs no special case.
  const int32_t k = (int32_t)kf, k1 = k >> 1;
  const int32_t b1 = (k1 + 127) << 23, b2 = (k - k1 + 127) << 23;
  float s1, s2;
  memcpy(&s1, &b1, 4);
  memcpy(&s2, &b2, 4);
  float e = y * s1 * s2;
  e = x > hi ? INFINITY : e;
  e = x < lo ? 0.0f : e;
  return x != x ? x : e;
}

// ---------------------------------------------------------------------------------------------------
// unary(op, x, out): out[i] = f(x[i]).

enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_SQUARE, U_SIGMOID, U_TANH, U_RELU, U_ABS, U_RECIPROCAL };

#define UNARY_LOOP(EXPR)                                                                 \
  _Pragma("omp parallel for schedule(static) if (n >= PARALLEL_MIN)")                   \
  for (int64_t i = 0; i < n; i++) { const float v = x[i]; out[i] = (EXPR); }

static napi_value unary(napi_env env, napi_callback_info info) {
  ARGS(3);
  bool ok = true;
  int op = (int)int_arg(env, argv[0], &ok);
  F32(1, x, lx);
  F32(2, out, lo);
  if (!ok) return range_error(env, "unary: bad op");
  if (lo < lx) return range_error(env, "unary: output too small");
  const int64_t n = (int64_t)lx;
  switch (op) {
    case U_NEG: UNARY_LOOP(-v) break;
    case U_EXP: UNARY_LOOP(exp_f32(v)) break;
    case U_LOG: UNARY_LOOP(logf(v)) break;
    case U_SQRT: UNARY_LOOP(sqrtf(v)) break;
    case U_RSQRT: UNARY_LOOP(1.0f / sqrtf(v)) break;
    case U_SQUARE: UNARY_LOOP(v * v) break;
    case U_SIGMOID: UNARY_LOOP(1.0f / (1.0f + exp_f32(-v))) break;
    case U_TANH: UNARY_LOOP(tanhf(v)) break;
    case U_RELU: UNARY_LOOP(v > 0 ? v : (isnan(v) ? v : 0.0f)) break;
    case U_ABS: UNARY_LOOP(fabsf(v)) break;
    case U_RECIPROCAL: UNARY_LOOP(1.0f / v) break;
    default: return range_error(env, "unary: unknown op");
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// reduce(op, x, out, rows, inner): out[r] = reduction of x[r·inner .. (r+1)·inner). Sums accumulate in
// double (as tfjs's cpu kernels do in JavaScript numbers), so results do not depend on the thread count.

enum { R_SUM, R_MEAN, R_MAX, R_MIN };

static napi_value reduce(napi_env env, napi_callback_info info) {
  ARGS(5);
  bool ok = true;
  int op = (int)int_arg(env, argv[0], &ok);
  F32(1, x, lx);
  F32(2, out, lo);
  const int64_t rows = int_arg(env, argv[3], &ok), inner = int_arg(env, argv[4], &ok);
  if (!ok || rows < 0 || inner < 1 || (size_t)(rows * inner) > lx || (size_t)rows > lo) return range_error(env, "reduce: shapes do not fit the arrays");
#pragma omp parallel for schedule(static) if (rows * inner >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *p = x + r * inner;
    if (op == R_SUM || op == R_MEAN) {
      // Four partial sums in double: the adds no longer wait on each other, and the result is as exact.
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t j = 0;
      for (; j + 4 <= inner; j += 4) {
        s0 += p[j];
        s1 += p[j + 1];
        s2 += p[j + 2];
        s3 += p[j + 3];
      }
      for (; j < inner; j++) s0 += p[j];
      const double s = (s0 + s1) + (s2 + s3);
      out[r] = (float)(op == R_MEAN ? s / (double)inner : s);
    } else {
      float m = p[0];
      bool nan = isnan(m);
      for (int64_t j = 1; j < inner; j++) {
        const float v = p[j];
        if (isnan(v)) nan = true;
        if (op == R_MAX ? v > m : v < m) m = v;
      }
      out[r] = nan ? NAN : m;
    }
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// softmax(x, out, rows, cols): each row's exp(x − max) / Σ, the sum in double.

static napi_value softmax(napi_env env, napi_callback_info info) {
  ARGS(4);
  bool ok = true;
  F32(0, x, lx);
  F32(1, out, lo);
  const int64_t rows = int_arg(env, argv[2], &ok), cols = int_arg(env, argv[3], &ok);
  if (!ok || rows < 0 || cols < 1 || (size_t)(rows * cols) > lx || (size_t)(rows * cols) > lo) return range_error(env, "softmax: shapes do not fit the arrays");
#pragma omp parallel for schedule(static) if (rows * cols >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *p = x + r * cols;
    float *q = out + r * cols;
    float m = p[0];
    for (int64_t j = 1; j < cols; j++) m = p[j] > m ? p[j] : m;
    for (int64_t j = 0; j < cols; j++) q[j] = exp_f32(p[j] - m);
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += q[j];
    const float inv = (float)(1.0 / s);
    for (int64_t j = 0; j < cols; j++) q[j] *= inv;
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// Fused layers (trainer/compute/ops.ts and trainer/models/llama/ops.ts take them where the backend has
// them): each is one or two passes over its rows instead of the eight to twelve tensors the same
// arithmetic makes op by op. The arithmetic follows those ops' float32 formulas step by step; sums over
// a row are in double.

static double row_sum(const float *p, int64_t n) {
  double s0 = 0, s1 = 0;
  int64_t j = 0;
  for (; j + 2 <= n; j += 2) {
    s0 += p[j];
    s1 += p[j + 1];
  }
  if (j < n) s0 += p[j];
  return s0 + s1;
}

// norm(x, g, b, y, xhat, rstd, rows, cols, eps, rms): LayerNorm (rms 0: x̂ = (x − mean)·rstd,
// y = x̂·g + b) or RMSNorm (rms 1: x̂ = x·rsqrt(mean(x²) + eps), y = x̂·g; b unused). xhat may be empty
// (inference keeps nothing).
static napi_value norm(napi_env env, napi_callback_info info) {
  ARGS(10);
  bool ok = true;
  F32(0, x, lx);
  F32(1, g, lg);
  F32(2, b, lb);
  F32(3, y, ly);
  F32(4, xhat, lxh);
  F32(5, rstd, lr);
  const int64_t rows = int_arg(env, argv[6], &ok), cols = int_arg(env, argv[7], &ok);
  const float eps = (float)num_arg(env, argv[8], &ok);
  const bool rms = int_arg(env, argv[9], &ok) != 0;
  const size_t n = (size_t)(rows * cols);
  if (!ok || rows < 0 || cols < 1 || lx < n || ly < n || lg < (size_t)cols || (!rms && lb < (size_t)cols) || (lxh != 0 && lxh < n) || lr < (size_t)rows)
    return range_error(env, "norm: shapes do not fit the arrays");
  float *tmp = xhat;
#pragma omp parallel for schedule(static) if ((int64_t)n >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *p = x + r * cols;
    float *q = y + r * cols;
    // Without xhat the normalised row is built in y and scaled in place.
    float *h = tmp && lxh ? tmp + r * cols : q;
    float rs;
    if (rms) {
      double ss = 0;
      for (int64_t j = 0; j < cols; j++) ss += (double)(p[j] * p[j]);
      rs = 1.0f / sqrtf((float)(ss / (double)cols) + eps);
      for (int64_t j = 0; j < cols; j++) h[j] = p[j] * rs;
      for (int64_t j = 0; j < cols; j++) q[j] = h[j] * g[j];
    } else {
      const float mean = (float)(row_sum(p, cols) / (double)cols);
      double ss = 0;
      for (int64_t j = 0; j < cols; j++) {
        const float c = p[j] - mean;
        h[j] = c;
        ss += (double)(c * c);
      }
      rs = 1.0f / sqrtf((float)(ss / (double)cols) + eps);
      for (int64_t j = 0; j < cols; j++) h[j] *= rs;
      for (int64_t j = 0; j < cols; j++) q[j] = h[j] * g[j] + b[j];
    }
    rstd[r] = rs;
  }
  return NULL;
}

// normGrad(dy, xhat, rstd, g, dx, rows, cols, rms): the input gradient of norm(). With d = dy·g:
// LayerNorm dx = rstd·(d − mean(d) − x̂·mean(d·x̂)); RMSNorm dx = rstd·(d − x̂·mean(d·x̂)).
static napi_value norm_grad(napi_env env, napi_callback_info info) {
  ARGS(8);
  bool ok = true;
  F32(0, dy, ldy);
  F32(1, xhat, lxh);
  F32(2, rstd, lr);
  F32(3, g, lg);
  F32(4, dx, ldx);
  const int64_t rows = int_arg(env, argv[5], &ok), cols = int_arg(env, argv[6], &ok);
  const bool rms = int_arg(env, argv[7], &ok) != 0;
  const size_t n = (size_t)(rows * cols);
  if (!ok || rows < 0 || cols < 1 || ldy < n || lxh < n || ldx < n || lg < (size_t)cols || lr < (size_t)rows) return range_error(env, "normGrad: shapes do not fit the arrays");
#pragma omp parallel for schedule(static) if ((int64_t)n >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *d0 = dy + r * cols, *h = xhat + r * cols;
    float *o = dx + r * cols;
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < cols; j++) {
      const float d = d0[j] * g[j];
      o[j] = d;
      s1 += d;
      s2 += (double)(d * h[j]);
    }
    const float m1 = rms ? 0.0f : (float)(s1 / (double)cols), m2 = (float)(s2 / (double)cols), rs = rstd[r];
    for (int64_t j = 0; j < cols; j++) o[j] = ((o[j] - m1) - h[j] * m2) * rs;
  }
  return NULL;
}

#define GELU_C 0.7978845608028654f /* √(2/π) */

// gelu(x, y): GPT-2's gelu_new as x·σ(2z), z = √(2/π)·(x + 0.044715·x³), in compute/ops.ts's order.
static napi_value gelu(napi_env env, napi_callback_info info) {
  ARGS(2);
  F32(0, x, lx);
  F32(1, y, ly);
  if (ly < lx) return range_error(env, "gelu: output too small");
  const int64_t n = (int64_t)lx;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float z2 = (v * (v * v * 0.044715f + 1.0f)) * (2.0f * GELU_C);
    y[i] = v * (1.0f / (1.0f + exp_f32(-z2)));
  }
  return NULL;
}

// geluGrad(x, dy, dx): dx = dy·(σ + x·σ(1−σ)·(2√(2/π)·(1 + 3·0.044715·x²))).
static napi_value gelu_grad(napi_env env, napi_callback_info info) {
  ARGS(3);
  F32(0, x, lx);
  F32(1, dy, ldy);
  F32(2, dx, ldx);
  if (ldy < lx || ldx < lx) return range_error(env, "geluGrad: arrays differ in size");
  const int64_t n = (int64_t)lx;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float z2 = (v * (v * v * 0.044715f + 1.0f)) * (2.0f * GELU_C);
    const float s = 1.0f / (1.0f + exp_f32(-z2));
    const float dz = v * v * (3.0f * 0.044715f * 2.0f * GELU_C) + 2.0f * GELU_C;
    dx[i] = dy[i] * (s + (v * (s * (1.0f - s))) * dz);
  }
  return NULL;
}

// softmaxGrad(p, dp, out, rows, cols, scale): the gradient of scores through softmax rows,
// (p·dp − p·Σ(p·dp))·scale.
static napi_value softmax_grad(napi_env env, napi_callback_info info) {
  ARGS(6);
  bool ok = true;
  F32(0, p, lp);
  F32(1, dp, ldp);
  F32(2, out, lo);
  const int64_t rows = int_arg(env, argv[3], &ok), cols = int_arg(env, argv[4], &ok);
  const float scale = (float)num_arg(env, argv[5], &ok);
  const size_t n = (size_t)(rows * cols);
  if (!ok || rows < 0 || cols < 1 || lp < n || ldp < n || lo < n) return range_error(env, "softmaxGrad: shapes do not fit the arrays");
#pragma omp parallel for schedule(static) if ((int64_t)n >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *pr = p + r * cols, *dr = dp + r * cols;
    float *o = out + r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; j++) {
      const float pd = pr[j] * dr[j];
      o[j] = pd;
      s += pd;
    }
    const float sf = (float)s;
    for (int64_t j = 0; j < cols; j++) o[j] = (o[j] - pr[j] * sf) * scale;
  }
  return NULL;
}

// swiglu(g, u, y): silu(g)·u. swigluGrad(g, u, dy, dg, du): with s = σ(g), dg = dy·u·s·(1 + g·(1 − s)),
// du = dy·g·s.
static napi_value swiglu(napi_env env, napi_callback_info info) {
  ARGS(3);
  F32(0, g, lg);
  F32(1, u, lu);
  F32(2, y, ly);
  if (lu < lg || ly < lg) return range_error(env, "swiglu: arrays differ in size");
  const int64_t n = (int64_t)lg;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = g[i];
    y[i] = (v * (1.0f / (1.0f + exp_f32(-v)))) * u[i];
  }
  return NULL;
}

static napi_value swiglu_grad(napi_env env, napi_callback_info info) {
  ARGS(5);
  F32(0, g, lg);
  F32(1, u, lu);
  F32(2, dy, ldy);
  F32(3, dg, ldg);
  F32(4, du, ldu);
  if (lu < lg || ldy < lg || ldg < lg || ldu < lg) return range_error(env, "swigluGrad: arrays differ in size");
  const int64_t n = (int64_t)lg;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = g[i], s = 1.0f / (1.0f + exp_f32(-v));
    dg[i] = (dy[i] * u[i]) * (s * (1.0f + v * (1.0f - s)));
    du[i] = dy[i] * (v * s);
  }
  return NULL;
}

// sumSquares(x, out): out[0] = Σ x², in double (the gradient-norm clip reads it without a squared copy).
static napi_value sum_squares(napi_env env, napi_callback_info info) {
  ARGS(2);
  F32(0, x, lx);
  F32(1, out, lo);
  if (lo < 1) return range_error(env, "sumSquares: output too small");
  const int64_t n = (int64_t)lx;
  double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
  out[0] = (float)s;
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// transpose(x, out, meta): out in row-major order of outShape, reading x at Σ i_d·inStride[d].
// meta = [rank, outShape[rank], inStride[rank]].

static napi_value transpose(napi_env env, napi_callback_info info) {
  ARGS(3);
  F32(0, x, lx);
  F32(1, out, lo);
  I32(2, meta, lm);
  if (lm < 1) return range_error(env, "transpose: bad meta");
  const int rank = meta[0];
  if (rank < 1 || rank > MAX_RANK || lm != (size_t)(1 + 2 * rank)) return range_error(env, "transpose: bad rank");
  const int32_t *shape = meta + 1, *st = meta + 1 + rank;
  int64_t total = 1, maxIn = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] < 0 || st[d] < 0) return range_error(env, "transpose: negative extent");
    total *= shape[d];
    if (shape[d] > 0) maxIn += (int64_t)(shape[d] - 1) * st[d];
  }
  if (total == 0) return NULL;
  if ((size_t)total > lo || (size_t)maxIn >= lx) return range_error(env, "transpose: shapes do not fit the arrays");
  const int64_t inner = shape[rank - 1], rows = total / inner, s = st[rank - 1];
  if (rank >= 2 && s != 1 && st[rank - 2] == 1) {
    // A matrix transpose per outer index (out[o, i, j] = x[o + i + j·s]): 32×32 tiles, so that both the
    // reads and the writes stay within a few cache lines.
    const int64_t m = shape[rank - 2], outer = rows / m, tiles = (m + 31) / 32;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
    for (int64_t w = 0; w < outer * tiles; w++) {
      const int64_t o = w / tiles, i0 = (w % tiles) * 32, i1 = i0 + 32 > m ? m : i0 + 32;
      int64_t rem = o, off = 0;
      for (int d = rank - 3; d >= 0; d--) {
        off += (rem % shape[d]) * st[d];
        rem /= shape[d];
      }
      float *q = out + o * m * inner;
      for (int64_t j0 = 0; j0 < inner; j0 += 32) {
        const int64_t j1 = j0 + 32 > inner ? inner : j0 + 32;
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = j0; j < j1; j++) q[i * inner + j] = x[off + i + j * s];
      }
    }
    return NULL;
  }
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t rem = r, off = 0;
    for (int d = rank - 2; d >= 0; d--) {
      off += (rem % shape[d]) * st[d];
      rem /= shape[d];
    }
    const float *p = x + off;
    float *q = out + r * inner;
    if (s == 1) memcpy(q, p, (size_t)inner * sizeof(float));
    else for (int64_t j = 0; j < inner; j++) q[j] = p[j * s];
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// crossEntropyGrad(probs, labels, weights, out, n, v): out = P·w per row, with w subtracted at the
// row's label (labels < 0 are ignored). The same arithmetic as the JavaScript kernel it replaces.

static napi_value cross_entropy_grad(napi_env env, napi_callback_info info) {
  ARGS(6);
  bool ok = true;
  F32(0, p, lp);
  I32(1, labels, ll);
  F32(2, w, lw);
  F32(3, out, lo);
  const int64_t n = int_arg(env, argv[4], &ok), v = int_arg(env, argv[5], &ok);
  if (!ok || n < 0 || v < 1 || (size_t)(n * v) > lp || (size_t)(n * v) > lo || (size_t)n > ll || (size_t)n > lw) return range_error(env, "crossEntropyGrad: shapes do not fit the arrays");
#pragma omp parallel for schedule(static) if (n * v >= PARALLEL_MIN)
  for (int64_t r = 0; r < n; r++) {
    const float wr = w[r];
    float *q = out + r * v;
    const float *pr = p + r * v;
    if (wr == 0) {
      memset(q, 0, (size_t)v * sizeof(float));
      continue;
    }
    for (int64_t j = 0; j < v; j++) q[j] = pr[j] * wr;
    if (labels[r] >= 0 && labels[r] < v) q[labels[r]] -= wr;
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------
// adamw(w, g, m, v, wOut, mOut, vOut, beta1, beta2, stepSize, sqrtBias2, epsilon, decayFactor): one
// AdamW step in one pass, in double as trainer/compute/kernels.ts's JavaScript kernel computes it (the
// build turns off FMA contraction), so both give the same bits.

static napi_value adamw(napi_env env, napi_callback_info info) {
  ARGS(13);
  bool ok = true;
  F32(0, w, lw);
  F32(1, g, lg);
  F32(2, m, lm);
  F32(3, v, lv);
  F32(4, wo, lwo);
  F32(5, mo, lmo);
  F32(6, vo, lvo);
  const double beta1 = num_arg(env, argv[7], &ok), beta2 = num_arg(env, argv[8], &ok), stepSize = num_arg(env, argv[9], &ok),
               sqrtBias2 = num_arg(env, argv[10], &ok), eps = num_arg(env, argv[11], &ok), decay = num_arg(env, argv[12], &ok);
  const int64_t n = (int64_t)lw;
  if (!ok || lg < lw || lm < lw || lv < lw || lwo < lw || lmo < lw || lvo < lw) return range_error(env, "adamw: arrays differ in size");
  const double c1 = 1 - beta1, c2 = 1 - beta2, inv = 1 / sqrtBias2;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    const double gi = g[i];
    const float m1 = (float)(beta1 * (double)m[i] + c1 * gi);
    const float v1 = (float)(beta2 * (double)v[i] + c2 * gi * gi);
    mo[i] = m1;
    vo[i] = v1;
    wo[i] = (float)(decay * (double)w[i] - (stepSize * (double)m1) / (sqrt((double)v1) * inv + eps));
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------------

static napi_value threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#ifdef _OPENMP
  const int n = omp_get_max_threads();
#else
  const int n = 1;
#endif
  if (napi_create_int32(env, n, &out) != napi_ok) return NULL;
  return out;
}

bool register_kernels(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"binary", binary},     {"unary", unary},     {"reduce", reduce}, {"softmax", softmax},
             {"transpose", transpose}, {"crossEntropyGrad", cross_entropy_grad}, {"adamw", adamw},
             {"threads", threads}, {"norm", norm}, {"normGrad", norm_grad},
             {"gelu", gelu}, {"geluGrad", gelu_grad}, {"softmaxGrad", softmax_grad}, {"swiglu", swiglu},
             {"swigluGrad", swiglu_grad}, {"sumSquares", sum_squares}};
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn) != napi_ok) return false;
    if (napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) return false;
  }
  return true;
}
