/* Compiled kernels of globalhs.science.arfill (optional; arfill.py keeps the numpy reference).
 *
 * burg(x, good, starts, stops, order, kappas): multi-segment Burg reflection coefficients of a batch
 * of complex64 series sharing one window, the same recursion as arfill._burg_series. Each order stage
 * is one pass over the series in L1-sized blocks: update f and b of the block, zero the errors made
 * at segment heads and ends, and accumulate the next stage's three sums (num, |f|^2, |b|^2) while the
 * block is still in cache. Error sequences are split real/imaginary float32 arrays (vectorisable);
 * the sums are single-precision products summed in runs of SUBSUM samples, the run totals in double.
 *
 * No numpy headers: arrays arrive through the buffer protocol, the caller (arfill.py) checks dtypes,
 * shapes and contiguity.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* one clone for AVX2+FMA machines, one portable; the loader picks at run time */
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#define ISA_NOTE "x86-64-v3 (AVX2/FMA) and baseline clones"
#else
#define MULTIVERSION
#define ISA_NOTE "compiler default ISA"
#endif

#define BLOCK 2048 /* samples per block: 6 float arrays x 8 KiB stay in L1/L2 between update and sums */

typedef struct {
    double nr, ni, sf, sb;
} sums_t;

/* sums over j in [lo, hi) of conj(b[j]) f[j+1], |f[j+1]|^2, |b[j]|^2: single-precision products summed
 * in short runs (SUBSUM samples, a few terms per vector lane) whose totals are accumulated in double */
#define SUBSUM 512
static inline __attribute__((always_inline)) void
accumulate(const float *restrict fr, const float *restrict fi, const float *restrict br,
           const float *restrict bi, ptrdiff_t lo, ptrdiff_t hi, sums_t *s)
{
    for (ptrdiff_t j0 = lo; j0 < hi; j0 += SUBSUM) {
        ptrdiff_t j1 = j0 + SUBSUM < hi ? j0 + SUBSUM : hi;
        /* two accumulators per sum: one FMA per accumulator and sample keeps the FMA latency off
         * the critical path */
        float nr1 = 0, nr2 = 0, ni1 = 0, ni2 = 0, sf1 = 0, sf2 = 0, sb1 = 0, sb2 = 0;
#pragma omp simd reduction(+ : nr1, nr2, ni1, ni2, sf1, sf2, sb1, sb2)
        for (ptrdiff_t j = j0; j < j1; j++) {
            float a = fr[j + 1], b = fi[j + 1], c = br[j], d = bi[j];
            nr1 += c * a;
            nr2 += d * b;
            ni1 += c * b;
            ni2 -= d * a;
            sf1 += a * a;
            sf2 += b * b;
            sb1 += c * c;
            sb2 += d * d;
        }
        s->nr += (double)nr1 + (double)nr2;
        s->ni += (double)ni1 + (double)ni2;
        s->sf += (double)sf1 + (double)sf2;
        s->sb += (double)sb1 + (double)sb2;
    }
}

/* f_k(t) = f_{k-1}(t) + kappa b_{k-1}(t-1) into gr/gi; b_k(t) = b_{k-1}(t-1) + conj(kappa) f_{k-1}(t) in place */
static inline __attribute__((always_inline)) void
update(float *restrict gr, float *restrict gi, const float *restrict fr, const float *restrict fi,
       float *restrict br, float *restrict bi, ptrdiff_t lo, ptrdiff_t hi, float kr, float ki)
{
#pragma omp simd
    for (ptrdiff_t i = lo; i < hi; i++) {
        float a = fr[i + 1], b = fi[i + 1], c = br[i], d = bi[i];
        gr[i] = a + kr * c - ki * d; /* two FMAs each */
        gi[i] = b + kr * d + ki * c;
        br[i] = c + kr * a + ki * b;
        bi[i] = d + kr * b - ki * a;
    }
}

/* One series. x: n interleaved complex64; good: n bytes; segments [starts, stops) of the good runs,
 * sorted; kappa: 2*order doubles (re, im); work: 6n floats. */
MULTIVERSION static void
burg_one(const float *x, const uint8_t *good, ptrdiff_t n, const int64_t *starts, const int64_t *stops,
         ptrdiff_t nseg, int order, double *kappa, float *work)
{
    float *fr = work, *fi = work + n, *br = work + 2 * n, *bi = work + 3 * n;
    float *gr = work + 4 * n, *gi = work + 5 * n;
    for (ptrdiff_t t = 0; t < n; t++) {
        float re = good[t] ? x[2 * t] : 0.0f, im = good[t] ? x[2 * t + 1] : 0.0f;
        fr[t] = br[t] = re;
        fi[t] = bi[t] = im;
    }
    sums_t s = {0, 0, 0, 0};
    accumulate(fr, fi, br, bi, 0, n - 1, &s); /* stage 1: m = n - 1 pairs */
    for (int k = 1; k <= order; k++) {
        ptrdiff_t m = n - k;
        /* the pairs that are not inside one segment: segment heads and the sample after each end */
        double den = s.sf + s.sb;
        for (ptrdiff_t g = 0; g < nseg; g++) {
            if (stops[g] - starts[g] < k)
                continue;
            if (starts[g] > 0) {
                double a = fr[starts[g]], b = fi[starts[g]];
                den -= a * a + b * b;
            }
            if (stops[g] < n) {
                double c = br[stops[g] - k], d = bi[stops[g] - k];
                den -= c * c + d * d;
            }
        }
        double kr = 0.0, ki = 0.0;
        if (den > 0) {
            kr = -2.0 * s.nr / den;
            ki = -2.0 * s.ni / den;
        }
        kappa[2 * (k - 1)] = kr;
        kappa[2 * (k - 1) + 1] = ki;
        if (k == order)
            break;
        s.nr = s.ni = s.sf = s.sb = 0;
        ptrdiff_t p1 = 0, p2 = 0; /* next segment whose head / end error may fall in this block */
        for (ptrdiff_t c0 = 0; c0 < m; c0 += BLOCK) {
            ptrdiff_t c1 = c0 + BLOCK < m ? c0 + BLOCK : m;
            update(gr, gi, fr, fi, br, bi, c0, c1, (float)kr, (float)ki);
            for (; p1 < nseg && starts[p1] - 1 < c1; p1++) /* f_k, b_k at a head: partner outside */
                if (stops[p1] - starts[p1] >= k && starts[p1] >= 1)
                    gr[starts[p1] - 1] = gi[starts[p1] - 1] = br[starts[p1] - 1] = bi[starts[p1] - 1] = 0.0f;
            for (; p2 < nseg && stops[p2] - k < c1; p2++) /* and just after an end */
                if (stops[p2] - starts[p2] >= k && stops[p2] < n)
                    gr[stops[p2] - k] = gi[stops[p2] - k] = br[stops[p2] - k] = bi[stops[p2] - k] = 0.0f;
            accumulate(gr, gi, br, bi, c0 > 0 ? c0 - 1 : 0, c1 - 1, &s);
        }
        float *t;
        t = fr, fr = gr, gr = t;
        t = fi, fi = gi, gi = t;
    }
}

static int
get(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize, Py_ssize_t count, const char *name)
{
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len != itemsize * count) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", name, view->len, itemsize * count);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *
py_burg(PyObject *self, PyObject *args)
{
    PyObject *ox, *og, *os, *oe, *ok;
    Py_ssize_t nser, n, nseg;
    int order;
    if (!PyArg_ParseTuple(args, "OOOOOnnni", &ox, &og, &os, &oe, &ok, &nser, &n, &nseg, &order))
        return NULL;
    if (nser < 0 || n < 2 || nseg < 0 || order < 1 || order >= n) {
        PyErr_SetString(PyExc_ValueError, "burg: bad sizes");
        return NULL;
    }
    Py_buffer x, g, st, sp, kap;
    if (get(ox, &x, 0, 8, nser * n, "x (complex64)") < 0)
        return NULL;
    if (get(og, &g, 0, 1, n, "good (bool)") < 0)
        goto fail_x;
    if (get(os, &st, 0, 8, nseg, "starts (int64)") < 0)
        goto fail_g;
    if (get(oe, &sp, 0, 8, nseg, "stops (int64)") < 0)
        goto fail_st;
    if (get(ok, &kap, 1, 16, nser * order, "kappas (complex128)") < 0)
        goto fail_sp;
    float *work = malloc(sizeof(float) * 6 * (size_t)n);
    if (!work) {
        PyErr_NoMemory();
        goto fail_kap;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nser; i++)
        burg_one((const float *)x.buf + 2 * i * n, g.buf, n, st.buf, sp.buf, nseg, order,
                 (double *)kap.buf + 2 * i * order, work);
    Py_END_ALLOW_THREADS
    free(work);
    PyBuffer_Release(&kap);
    PyBuffer_Release(&sp);
    PyBuffer_Release(&st);
    PyBuffer_Release(&g);
    PyBuffer_Release(&x);
    Py_RETURN_NONE;
fail_kap:
    PyBuffer_Release(&kap);
fail_sp:
    PyBuffer_Release(&sp);
fail_st:
    PyBuffer_Release(&st);
fail_g:
    PyBuffer_Release(&g);
fail_x:
    PyBuffer_Release(&x);
    return NULL;
}

static PyMethodDef methods[] = {
    {"burg", py_burg, METH_VARARGS,
     "burg(x, good, starts, stops, kappas, nseries, n, nsegments, order): multi-segment Burg reflection "
     "coefficients of complex64 series x (nseries, n) into kappas (nseries, order) complex128."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arfill_c",
                                    "Compiled kernels of globalhs.science.arfill.", -1, methods};

PyMODINIT_FUNC
PyInit__arfill_c(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "ISA", ISA_NOTE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
