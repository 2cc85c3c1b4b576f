/* Compiled kernel of globalhs.science.peakbag (optional; peakbag.py keeps the numpy reference, and
 * tests/test_peakbag_blocked_model.py checks this kernel against it).
 *
 * fejer(nu, centre, k2, pnu_re, pnu_im, pc_re, pc_im, alpha, t, scale, nrow, nsrc, nbin, derivatives,
 *       fixed_width, peaks, source, d2c, d2c_lng, d2lng, d_lng):
 * the finite-span (Fejer-convolved Lorentzian) profile of peakbag._Problem._model_finite and its
 * derivatives, one pass per element (row m, source s, bin j), in the closed form
 *
 *     a = alpha + 2 pi i (nu[m,j] - centre[m,s]),  e = exp(-aT) = pc[m,s] pnu[m,j],
 *     q = (1 - e)/(a T),  g = (1 - q)/a,  g' = (2q - 1 - e)/a^2,  g'' = (T e + (2 + 4e - 6q)/a)/a^2,
 *
 * (pc = exp(-alpha T) exp(2 pi i c T) and pnu = exp(-2 pi i nu T) are given), accumulating
 *     peaks[m,j]  = scale sum_s k2 Re g,
 * and with derivatives
 *     source[m,s,j]  = 2 pi scale k2 Im g'                     (dM/dcentre)
 *     d2c[m,s,j]     = -4 pi^2 scale Re g''                     (d2F/dcentre2)
 *     d2c_lng[m,s,j] = 2 pi scale Im(g' + alpha g'')            (d2F/dcentre dlnG)
 *     d2lng[m,s,j]   = scale Re(g + 3 alpha g' + alpha^2 g'')   (d2F/dlnG2)
 *     d_lng[m,j]     = scale sum_s k2 Re(g + alpha g')          (dM/dlnG)
 * (the last four are left untouched when fixed_width).  Only the closed form: the caller keeps the
 * power series of |aT| < 0.5 in numpy (widths below 0.16 bins).
 *
 * reduce_rows(...): the sums over the bins that peakbag._Problem.score_and_fisher forms from the model,
 * the data and the mask (gradient, the blocks of the information matrix, the second-derivative terms of
 * the observed Hessian), one row m at a time.
 *
 * lorentz(...): the neighbouring multiplets' leaked Lorentzians (peakbag._leaked_lorentzians).
 *
 * No numpy headers: arrays arrive through the buffer protocol as C-contiguous float64.
 */
#include "_kernels.h"
#include <math.h>
#include <stddef.h>


MULTIVERSION static void
fejer_rows(const double *restrict nu, const double *restrict centre, const double *restrict k2,
           const double *restrict pnu_re, const double *restrict pnu_im, const double *restrict pc_re,
           const double *restrict pc_im, double alpha, double t, double scale, ptrdiff_t nrow, ptrdiff_t nsrc,
           ptrdiff_t nbin, int derivatives, int fixed_width, double *restrict peaks, double *restrict source,
           double *restrict d2c, double *restrict d2c_lng, double *restrict d2lng, double *restrict d_lng)
{
    const double twopi = 2.0 * M_PI, tinv = 1.0 / t;
    for (ptrdiff_t m = 0; m < nrow; m++) {
        const double *nur = nu + m * nbin, *pr = pnu_re + m * nbin, *pi = pnu_im + m * nbin;
        double *pk = peaks + m * nbin;
        double *dl = d_lng ? d_lng + m * nbin : NULL;
        for (ptrdiff_t j = 0; j < nbin; j++)
            pk[j] = 0.0;
        if (derivatives && !fixed_width)
            for (ptrdiff_t j = 0; j < nbin; j++)
                dl[j] = 0.0;
        for (ptrdiff_t s = 0; s < nsrc; s++) {
            const ptrdiff_t ms = m * nsrc + s;
            const double c = centre[ms], w2 = k2[ms], cr = pc_re[ms], ci = pc_im[ms];
            const ptrdiff_t row = ms * nbin;
            if (!derivatives) {
                for (ptrdiff_t j = 0; j < nbin; j++) {
                    const double w = twopi * (nur[j] - c);
                    const double den = 1.0 / (alpha * alpha + w * w);
                    const double ir = alpha * den, ii = -w * den; /* 1/a */
                    const double er = cr * pr[j] - ci * pi[j], ei = cr * pi[j] + ci * pr[j];
                    const double ur = (1.0 - er) * tinv, ui = -ei * tinv; /* (1 - e)/T */
                    const double qr = ur * ir - ui * ii, qi = ur * ii + ui * ir;
                    const double gr = (1.0 - qr) * ir + qi * ii; /* Re[(1 - q)/a] */
                    pk[j] += w2 * gr;
                }
                continue;
            }
            double *so = source + row, *dc = d2c + row;
            double *dcl = fixed_width ? NULL : d2c_lng + row, *dll = fixed_width ? NULL : d2lng + row;
            for (ptrdiff_t j = 0; j < nbin; j++) {
                const double w = twopi * (nur[j] - c);
                const double den = 1.0 / (alpha * alpha + w * w);
                const double ir = alpha * den, ii = -w * den;
                const double er = cr * pr[j] - ci * pi[j], ei = cr * pi[j] + ci * pr[j];
                const double ur = (1.0 - er) * tinv, ui = -ei * tinv;
                const double qr = ur * ir - ui * ii, qi = ur * ii + ui * ir;
                const double gr = (1.0 - qr) * ir + qi * ii;
                const double i2r = ir * ir - ii * ii, i2i = 2.0 * ir * ii; /* 1/a^2 */
                const double hr = 2.0 * qr - 1.0 - er, hi = 2.0 * qi - ei;
                const double g1r = hr * i2r - hi * i2i, g1i = hr * i2i + hi * i2r;
                const double vr = 2.0 + 4.0 * er - 6.0 * qr, vi = 4.0 * ei - 6.0 * qi;
                const double xr = t * er + vr * ir - vi * ii, xi = t * ei + vr * ii + vi * ir;
                const double g2r = xr * i2r - xi * i2i, g2i = xr * i2i + xi * i2r;
                pk[j] += w2 * gr;
                so[j] = twopi * scale * w2 * g1i;
                dc[j] = -twopi * twopi * scale * g2r;
                if (!fixed_width) {
                    dl[j] += w2 * (gr + alpha * g1r);
                    dcl[j] = twopi * scale * (g1i + alpha * g2i);
                    dll[j] = scale * (gr + 3.0 * alpha * g1r + alpha * alpha * g2r);
                }
            }
        }
        for (ptrdiff_t j = 0; j < nbin; j++)
            pk[j] *= scale;
        if (derivatives && !fixed_width)
            for (ptrdiff_t j = 0; j < nbin; j++)
                dl[j] *= scale;
    }
}


/* sum_j x[j] y[j] */
INLINE double
dot(const double *restrict x, const double *restrict y, ptrdiff_t n)
{
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (ptrdiff_t j = 0; j < n; j++)
        acc += x[j] * y[j];
    return acc;
}

/* out[k] = sum_j x[j] y_k[j] for k < 4 (callers with fewer than four products repeat a pointer and
 * ignore its sums): four independent accumulators, so that the loop is bound by the loads, not by the
 * latency of one chain of additions (one dot product at a time ran at a quarter of the rate). */
INLINE void
dot4(const double *restrict x, const double *restrict y0, const double *restrict y1, const double *restrict y2,
     const double *restrict y3, ptrdiff_t n, double *restrict out)
{
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (ptrdiff_t j = 0; j < n; j++) {
        a0 += x[j] * y0[j];
        a1 += x[j] * y1[j];
        a2 += x[j] * y2[j];
        a3 += x[j] * y3[j];
    }
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
}

/* Per-row and per-source reductions of the score and the information matrix
 * (peakbag._Problem.score_and_fisher), for every row m, over its bins j, from the model M, the data P and
 * the valid mask v (1 or 0) of the row:
 *     w = v/M,  resid = w (1 - P w),  w2 = w^2 (2 P w - 1) (observed) or w^2 (expected)
 *     grad_src[m,s] = sum_j D[m,s,j] resid[m,j]
 *     t[m,s,s']     = sum_j D[m,s,j] w2[m,j] D[m,s',j]
 *     u[q,m,s]      = sum_j D[m,s,j] w2[m,j] rows[q,m,j]
 *     sec[k,m,s]    = sum_j second_k[m,s,j] resid[m,j]     (k = d2c, d2c_lng, d2lng; unused ones NULL)
 * and over all rows
 *     grad_rows[q]      = sum_mj rows[q,m,j] resid[m,j]
 *     rows_info[q,q']   = sum_mj rows[q,m,j] w2[m,j] rows[q',m,j]
 *     sum_w2            = sum_mj w^2                       (the expected information of ln B over B^2)
 * One row's sources (S x J doubles) stay in cache while all of its products are formed, four at a time
 * (dot4).  work holds S x J + 2 J doubles. */
MULTIVERSION static void
reduce_rows(const double *restrict src, const double *restrict model, const double *restrict data,
            const double *restrict valid, const double *restrict rows, ptrdiff_t nq, const double *restrict sec0,
            const double *restrict sec1, const double *restrict sec2, ptrdiff_t nrow, ptrdiff_t nsrc, ptrdiff_t nbin,
            int observed, double *restrict grad_src, double *restrict t, double *restrict u, double *restrict sec_out,
            double *restrict grad_rows, double *restrict rows_info, double *restrict sum_w2, double *restrict work)
{
    const double *secs[3] = {sec0, sec1, sec2};
    double sums[4];
    double *wr = work + nsrc * nbin, *rr = wr + nbin;
    double expected = 0.0;
    for (ptrdiff_t q = 0; q < nq; q++) {
        grad_rows[q] = 0.0;
        for (ptrdiff_t q2 = 0; q2 < nq; q2++)
            rows_info[q * nq + q2] = 0.0;
    }
    for (ptrdiff_t m = 0; m < nrow; m++) {
        const double *mr = model + m * nbin, *pr = data + m * nbin, *vr = valid + m * nbin;
#pragma omp simd reduction(+ : expected)
        for (ptrdiff_t j = 0; j < nbin; j++) {
            const double w = vr[j] != 0.0 ? 1.0 / mr[j] : 0.0, pw = pr[j] * w;
            rr[j] = w * (1.0 - pw);
            wr[j] = observed ? w * w * (2.0 * pw - 1.0) : w * w;
            expected += w * w;
        }
        for (ptrdiff_t q = 0; q < nq; q++) {
            const double *rq = rows + (q * nrow + m) * nbin;
            double *sw = work; /* rows[q] w2, for the products with rows[q' <= q] */
#pragma omp simd
            for (ptrdiff_t j = 0; j < nbin; j++)
                sw[j] = rq[j] * wr[j];
            for (ptrdiff_t q2 = 0; q2 <= q; q2++) {
                const double acc = dot(sw, rows + (q2 * nrow + m) * nbin, nbin);
                rows_info[q * nq + q2] += acc;
                if (q2 != q)
                    rows_info[q2 * nq + q] += acc;
            }
            grad_rows[q] += dot(rq, rr, nbin);
        }
        const double *dm = src + m * nsrc * nbin;
        for (ptrdiff_t s = 0; s < nsrc; s++) {
            const double *ds = dm + s * nbin;
            double *sw = work + s * nbin;
#pragma omp simd
            for (ptrdiff_t j = 0; j < nbin; j++)
                sw[j] = ds[j] * wr[j];
            /* resid against D and the second derivatives (absent ones stand in as D, sums dropped) */
            const ptrdiff_t o = (m * nsrc + s) * nbin;
            dot4(rr, ds, secs[0] ? secs[0] + o : ds, secs[1] ? secs[1] + o : ds, secs[2] ? secs[2] + o : ds, nbin,
                 sums);
            grad_src[m * nsrc + s] = sums[0];
            for (ptrdiff_t k = 0; k < 3; k++)
                if (secs[k])
                    sec_out[(k * nrow + m) * nsrc + s] = sums[k + 1];
            for (ptrdiff_t q = 0; q < nq; q += 4) {
                const double *r0 = rows + (q * nrow + m) * nbin;
                const double *r[4];
                for (ptrdiff_t k = 0; k < 4; k++)
                    r[k] = q + k < nq ? r0 + k * nrow * nbin : r0;
                dot4(sw, r[0], r[1], r[2], r[3], nbin, sums);
                for (ptrdiff_t k = 0; k < 4 && q + k < nq; k++)
                    u[((q + k) * nrow + m) * nsrc + s] = sums[k];
            }
            for (ptrdiff_t s2 = 0; s2 <= s; s2 += 4) {
                const double *d[4];
                for (ptrdiff_t k = 0; k < 4; k++)
                    d[k] = dm + (s2 + k <= s ? s2 + k : s2) * nbin;
                dot4(sw, d[0], d[1], d[2], d[3], nbin, sums);
                for (ptrdiff_t k = 0; k < 4 && s2 + k <= s; k++) {
                    t[(m * nsrc + s) * nsrc + s2 + k] = sums[k];
                    t[(m * nsrc + s2 + k) * nsrc + s] = sums[k];
                }
            }
        }
    }
    *sum_w2 = expected;
}

/* lorentz(nu, centre, weight, width, height, nrow, nsrc, nbin, out): the neighbouring multiplets' leaked
 * Lorentzians of peakbag._leaked_lorentzians,
 *     out[m,j] = sum_s weight[m,s] height / (1 + x^2),  x = (nu[m,j] - centre[m,s]) 2 / width. */
MULTIVERSION static void
lorentz_rows(const double *restrict nu, const double *restrict centre, const double *restrict weight, double width,
             double height, ptrdiff_t nrow, ptrdiff_t nsrc, ptrdiff_t nbin, double *restrict out)
{
    const double k = 2.0 / width;
    for (ptrdiff_t m = 0; m < nrow; m++) {
        const double *nur = nu + m * nbin;
        double *o = out + m * nbin;
        for (ptrdiff_t j = 0; j < nbin; j++)
            o[j] = 0.0;
        for (ptrdiff_t s = 0; s < nsrc; s++) {
            const double w = weight[m * nsrc + s], c = centre[m * nsrc + s];
            if (w == 0.0)
                continue;
#pragma omp simd
            for (ptrdiff_t j = 0; j < nbin; j++) {
                const double x = (nur[j] - c) * k;
                o[j] += w * (height / (1.0 + x * x));
            }
        }
    }
}

static PyObject *
py_lorentz(PyObject *self, PyObject *args)
{
    PyObject *obj[4];
    double width, height;
    Py_ssize_t nrow, nsrc, nbin;
    if (!PyArg_ParseTuple(args, "OOOddnnnO", &obj[0], &obj[1], &obj[2], &width, &height, &nrow, &nsrc, &nbin,
                          &obj[3]))
        return NULL;
    if (nrow < 0 || nsrc < 0 || nbin < 0 || !(width > 0.0)) {
        PyErr_SetString(PyExc_ValueError, "lorentz: sizes must not be negative and the width must be positive");
        return NULL;
    }
    const ArraySpec spec[4] = {{"nu", 8, nrow * nbin, 0, 1}, {"centre", 8, nrow * nsrc, 0, 1},
                               {"weight", 8, nrow * nsrc, 0, 1}, {"out", 8, nrow * nbin, 1, 1}};
    Py_buffer buf[4];
    if (get_all(obj, buf, spec, 4) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    lorentz_rows(buf[0].buf, buf[1].buf, buf[2].buf, width, height, nrow, nsrc, nbin, buf[3].buf);
    Py_END_ALLOW_THREADS
    release_all(buf, 4);
    Py_RETURN_NONE;
}

static PyObject *
py_fejer(PyObject *self, PyObject *args)
{
    PyObject *obj[13];
    double alpha, t, scale;
    Py_ssize_t nrow, nsrc, nbin;
    int derivatives, fixed_width;
    if (!PyArg_ParseTuple(args, "OOOOOOOdddnnnppOOOOOO", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5],
                          &obj[6], &alpha, &t, &scale, &nrow, &nsrc, &nbin, &derivatives, &fixed_width, &obj[7],
                          &obj[8], &obj[9], &obj[10], &obj[11], &obj[12]))
        return NULL;
    if (nrow < 0 || nsrc < 0 || nbin < 0 || !(alpha > 0.0 && t > 0.0)) {
        PyErr_SetString(PyExc_ValueError, "fejer: sizes must not be negative, alpha and t must be positive");
        return NULL;
    }
    const Py_ssize_t mj = nrow * nbin, ms = nrow * nsrc, msj = ms * nbin;
    /* outputs source.. are used only with derivatives, d2c_lng.. only with a free width: None otherwise */
    const int width = derivatives && !fixed_width;
    const ArraySpec spec[13] = {
        {"nu", 8, mj, 0, 1},          {"centre", 8, ms, 0, 1},          {"k2", 8, ms, 0, 1},
        {"pnu_re", 8, mj, 0, 1},      {"pnu_im", 8, mj, 0, 1},          {"pc_re", 8, ms, 0, 1},
        {"pc_im", 8, ms, 0, 1},       {"peaks", 8, mj, 1, 1},           {"source", 8, msj, 1, derivatives},
        {"d2c", 8, msj, 1, derivatives}, {"d2c_lng", 8, msj, 1, width}, {"d2lng", 8, msj, 1, width},
        {"d_lng", 8, mj, 1, width}};
    Py_buffer buf[13];
    if (get_all(obj, buf, spec, 13) < 0)
        return NULL;
    double *p[13];
    for (int k = 0; k < 13; k++)
        p[k] = buf[k].buf;
    Py_BEGIN_ALLOW_THREADS
    fejer_rows(p[0], p[1], p[2], p[3], p[4], p[5], p[6], alpha, t, scale, nrow, nsrc, nbin, derivatives,
               fixed_width, p[7], p[8], p[9], p[10], p[11], p[12]);
    Py_END_ALLOW_THREADS
    release_all(buf, 13);
    Py_RETURN_NONE;
}

static PyObject *
py_reduce_rows(PyObject *self, PyObject *args)
{
    PyObject *obj[15];
    Py_ssize_t nrow, nsrc, nbin, nq;
    int observed;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnnnpOOOOOOO", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5],
                          &obj[6], &obj[7], &nrow, &nsrc, &nbin, &nq, &observed, &obj[8], &obj[9], &obj[10],
                          &obj[11], &obj[12], &obj[13], &obj[14]))
        return NULL;
    if (nrow < 0 || nsrc < 0 || nbin < 0 || nq < 0) {
        PyErr_SetString(PyExc_ValueError, "reduce_rows: negative size");
        return NULL;
    }
    const Py_ssize_t ms = nrow * nsrc, msj = ms * nbin, mj = nrow * nbin;
    /* the second-derivative inputs d2c, d2c_lng, d2lng are optional (None) */
    const ArraySpec spec[15] = {
        {"source", 8, msj, 0, 1},   {"model", 8, mj, 0, 1},    {"data", 8, mj, 0, 1},
        {"valid", 8, mj, 0, 1},     {"rows", 8, nq * mj, 0, 1}, {"d2c", 8, msj, 0, obj[5] != Py_None},
        {"d2c_lng", 8, msj, 0, obj[6] != Py_None}, {"d2lng", 8, msj, 0, obj[7] != Py_None},
        {"grad_src", 8, ms, 1, 1},  {"t", 8, ms * nsrc, 1, 1}, {"u", 8, nq * ms, 1, 1}, {"sec", 8, 3 * ms, 1, 1},
        {"grad_rows", 8, nq, 1, 1}, {"rows_info", 8, nq * nq, 1, 1}, {"sum_w2", 8, 1, 1, 1}};
    Py_buffer buf[15];
    if (get_all(obj, buf, spec, 15) < 0)
        return NULL;
    double *work = PyMem_Malloc(sizeof(double) * (size_t)((nsrc > 1 ? nsrc : 1) * nbin + 2 * nbin + 1));
    if (!work) {
        release_all(buf, 15);
        return PyErr_NoMemory();
    }
    double *p[15];
    for (int k = 0; k < 15; k++)
        p[k] = buf[k].buf;
    Py_BEGIN_ALLOW_THREADS
    reduce_rows(p[0], p[1], p[2], p[3], p[4], nq, p[5], p[6], p[7], nrow, nsrc, nbin, observed, p[8], p[9], p[10],
                p[11], p[12], p[13], p[14], work);
    Py_END_ALLOW_THREADS
    PyMem_Free(work);
    release_all(buf, 15);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fejer", py_fejer, METH_VARARGS,
     "fejer(nu, centre, k2, pnu_re, pnu_im, pc_re, pc_im, alpha, t, scale, nrow, nsrc, nbin, derivatives, "
     "fixed_width, peaks, source, d2c, d2c_lng, d2lng, d_lng): the finite-span profile summed over the "
     "sources into peaks (nrow, nbin), and with derivatives its derivative arrays (see the file's header); "
     "float64 C-contiguous arrays, unused outputs None."},
    {"reduce_rows", py_reduce_rows, METH_VARARGS,
     "reduce_rows(source, model, data, valid, rows, d2c, d2c_lng, d2lng, nrow, nsrc, nbin, nq, observed, "
     "grad_src, t, u, sec, grad_rows, rows_info, sum_w2): the per-row and per-source sums of score_and_fisher "
     "(see reduce_rows in the source); valid is 1.0 or 0.0 per bin, second-derivative inputs may be None."},
    {"lorentz", py_lorentz, METH_VARARGS,
     "lorentz(nu, centre, weight, width, height, nrow, nsrc, nbin, out): out (nrow, nbin) = sum over the sources "
     "of weight * height / (1 + x^2), x = 2 (nu - centre) / width (see lorentz_rows in the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_peakbag_c",
                                    "Compiled kernel of globalhs.science.peakbag.", -1, methods};

PyMODINIT_FUNC
PyInit__peakbag_c(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "ISA", ISA_NOTE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
