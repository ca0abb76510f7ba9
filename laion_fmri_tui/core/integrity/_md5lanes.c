/* MD5 of up to 16 independent messages at once, one SIMD lane each.
 *
 * MD5 is serial within a message, so one stream cannot go faster than a
 * scalar core (about 1.4 CPU s/GB here). A download has many independent
 * streams at once, though: the parts of a multipart upload (each has its own
 * MD5 inside the ETag) and the files in flight. Stepping 16 of them together
 * in 512-bit (or 2 x 256-bit) registers costs about a fifth of the CPU.
 *
 * GCC's vector extensions keep this one portable source; target_clones picks
 * AVX-512, AVX2 or plain code for the CPU at load time. Sixteen lanes on an
 * AVX-512 CPU also load their words through a transpose (md5_x16_avx512).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LANES 16

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define F1(b, c, d) ((((c) ^ (d)) & (b)) ^ (d))
#define F2(b, c, d) ((((b) ^ (c)) & (d)) ^ (c))
#define F3(b, c, d) ((b) ^ (c) ^ (d))
#define F4(b, c, d) ((c) ^ ((b) | ~(d)))
#define STEP(f, a, b, c, d, m, k, s) a = b + ROTL(a + f(b, c, d) + (m) + (uint32_t)(k), s)

/* A step is bound by the latency of MD5's dependency chain, so it costs about
 * the same at any width: the more lanes in use the better. Up to two streams
 * run one after the other on plain scalar code (the least CPU per byte then),
 * more on the narrowest vector that holds them. */
typedef uint32_t vec16 __attribute__((vector_size(64)));
typedef uint32_t vec8 __attribute__((vector_size(32)));
typedef uint32_t vec4 __attribute__((vector_size(16)));
typedef uint32_t vec1 __attribute__((vector_size(4)));
#define W 16
#define VEC vec16
#define NAME md5_x16
#include "_md5lanes_body.h"
#undef W
#undef VEC
#undef NAME
#define W 8
#define VEC vec8
#define NAME md5_x8
#include "_md5lanes_body.h"
#undef W
#undef VEC
#undef NAME
#define W 4
#define VEC vec4
#define NAME md5_x4
#include "_md5lanes_body.h"
#undef W
#undef VEC
#undef NAME
#define W 1
#define VEC vec1
#define NAME md5_x1
#include "_md5lanes_body.h"
#undef W
#undef VEC
#undef NAME

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#include <immintrin.h>
#define HAVE_X16_AVX512 1
/* Sixteen lanes on AVX-512: each lane's 64-byte block is one load, and a
 * 16 x 16 transpose of 32-bit words (64 shuffles) turns the rows into the 16
 * message vectors. Gathering the 256 words one by one, as the portable code
 * does, then reading them back as vectors cost about a third of the step. */
__attribute__((target("avx512f")))
static inline void transpose16(vec16 *M, const unsigned char *const *ptrs, size_t blk)
{
    __m512i r[16], t[16], u[16];
#pragma GCC unroll 16
    for (int l = 0; l < 16; l++) r[l] = _mm512_loadu_si512((const void *)(ptrs[l] + 64 * blk));
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) { /* rows i, i+1: words (0,1), (2,3) of each 128-bit quarter */
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int g = 0; g < 16; g += 4) { /* rows g..g+3: word j, j+4, j+8, j+12 in u[g+j]'s quarters */
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) { /* word j + 4k: quarter k of u[j], u[4+j], u[8+j], u[12+j] */
        __m512i a0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x88), a1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xdd);
        __m512i b0 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x88);
        __m512i b1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xdd);
        M[j] = (vec16)_mm512_shuffle_i32x4(a0, b0, 0x88);
        M[j + 8] = (vec16)_mm512_shuffle_i32x4(a0, b0, 0xdd);
        M[j + 4] = (vec16)_mm512_shuffle_i32x4(a1, b1, 0x88);
        M[j + 12] = (vec16)_mm512_shuffle_i32x4(a1, b1, 0xdd);
    }
}
static int avx512; /* set once at import: the CPU has AVX-512F */
#define W 16
#define VEC vec16
#define NAME md5_x16_avx512
#define TARGET "avx512f"
#define LOAD_M(M, ptrs, blk) transpose16(M, ptrs, blk)
#include "_md5lanes_body.h"
#undef W
#undef VEC
#undef NAME
#undef TARGET
#undef LOAD_M
#endif

static void md5_lanes(int used, uint32_t *state, const unsigned char *const *ptrs, size_t nblocks)
{
    if (used <= 2) {
        for (int l = 0; l < used; l++) md5_x1(state + 4 * l, ptrs + l, nblocks);
    } else if (used <= 4) md5_x4(state, ptrs, nblocks);
#ifdef HAVE_X16_AVX512
    else if (avx512 && used >= 7) md5_x16_avx512(state, ptrs, nblocks); /* costs less than 8 lanes from 7 up */
#endif
    else if (used <= 8) md5_x8(state, ptrs, nblocks);
    else md5_x16(state, ptrs, nblocks);
}

static int little_endian(void)
{
    const uint32_t one = 1;
    return *(const unsigned char *)&one == 1;
}

PyDoc_STRVAR(update_doc,
"update(states, views, nbytes)\n\n"
"Advance each 16-byte MD5 state in ``states`` (writable buffers) by the first\n"
"``nbytes`` of the matching buffer in ``views``; ``nbytes`` is a multiple of 64.\n"
"At most 16 pairs; the GIL is released while hashing.");

static PyObject *update(PyObject *self, PyObject *args)
{
    PyObject *states_obj, *views_obj;
    Py_ssize_t nbytes;
    if (!PyArg_ParseTuple(args, "OOn", &states_obj, &views_obj, &nbytes)) return NULL;
    PyObject *states = PySequence_Fast(states_obj, "states must be a sequence");
    if (!states) return NULL;
    PyObject *views = PySequence_Fast(views_obj, "views must be a sequence");
    if (!views) { Py_DECREF(states); return NULL; }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(states);
    Py_buffer sbuf[LANES], vbuf[LANES];
    Py_ssize_t held_s = 0, held_v = 0;
    PyObject *result = NULL;
    if (n < 1 || n > LANES || n != PySequence_Fast_GET_SIZE(views)) {
        PyErr_SetString(PyExc_ValueError, "between 1 and 16 states, one view each");
        goto done;
    }
    if (nbytes < 0 || nbytes % 64) {
        PyErr_SetString(PyExc_ValueError, "nbytes must be a non-negative multiple of 64");
        goto done;
    }
    uint32_t packed[4 * LANES];
    const unsigned char *ptrs[LANES];
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(states, i), &sbuf[i], PyBUF_WRITABLE) < 0) goto done;
        held_s++;
        if (sbuf[i].len != 16) { PyErr_SetString(PyExc_ValueError, "a state is 16 bytes"); goto done; }
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(views, i), &vbuf[i], PyBUF_SIMPLE) < 0) goto done;
        held_v++;
        if (vbuf[i].len < nbytes) { PyErr_SetString(PyExc_ValueError, "a view is shorter than nbytes"); goto done; }
        memcpy(&packed[4 * i], sbuf[i].buf, 16);
        ptrs[i] = vbuf[i].buf;
    }
    for (Py_ssize_t i = n; i < LANES; i++) { /* idle lanes repeat lane 0; their results are dropped */
        memcpy(&packed[4 * i], &packed[0], 16);
        ptrs[i] = ptrs[0];
    }
    Py_BEGIN_ALLOW_THREADS
    md5_lanes((int)n, packed, ptrs, (size_t)(nbytes / 64));
    Py_END_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) memcpy(sbuf[i].buf, &packed[4 * i], 16);
    result = Py_None;
    Py_INCREF(result);
done:
    for (Py_ssize_t i = 0; i < held_s; i++) PyBuffer_Release(&sbuf[i]);
    for (Py_ssize_t i = 0; i < held_v; i++) PyBuffer_Release(&vbuf[i]);
    Py_DECREF(states);
    Py_DECREF(views);
    return result;
}

static PyMethodDef methods[] = {
    {"update", update, METH_VARARGS, update_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_md5lanes", "MD5 of up to 16 messages at once (SIMD lanes).", -1, methods,
};

PyMODINIT_FUNC PyInit__md5lanes(void)
{
    if (!little_endian()) {
        PyErr_SetString(PyExc_ImportError, "_md5lanes assumes a little-endian CPU");
        return NULL;
    }
#ifdef HAVE_X16_AVX512
    __builtin_cpu_init();
    avx512 = __builtin_cpu_supports("avx512f");
#endif
    PyObject *mod = PyModule_Create(&module);
    if (mod && PyModule_AddIntConstant(mod, "LANES", LANES) < 0) { Py_DECREF(mod); return NULL; }
    return mod;
}
