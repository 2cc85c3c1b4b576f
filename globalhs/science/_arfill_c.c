/* Compiled kernels of globalhs.science.arfill (optional; arfill.py keeps the numpy reference, and
 * tests/test_arfill_kernels.py checks every kernel against it).
 *
 * burg(x, good, starts, stops, kappas, energy, ...): multi-segment Burg reflection coefficients of a
 * batch of complex64 series sharing one window, the recursion of arfill._burg_series. Each order is
 * one pass over the series: update f and b in place (explicit vector code that reads a step's samples
 * before writing them) and accumulate the next order's three sums (num, |f|^2, |b|^2) from the new
 * values in registers; the few errors zeroed at segment heads and ends are then taken out of the sums.
 * Errors are split real/imaginary float32 arrays; the sums are single-precision products summed in
 * runs of SUBSUM samples, the run totals in double.
 *
 * rhs(d, a, tu, valid, out, ...): the right-hand side -(F^H F + B^H B) d of the gap-filling normal
 * equations at the unknowns tu (arfill._right_hand_side), in double precision: a cluster of unknowns
 * away from long gaps and the series ends through the Toeplitz first row of the normal matrix, any
 * other from the prediction errors of its rows.
 *
 * solve_clusters(a, tu, block_start, block_stop, first, size, rhs, out, ...): the dense Hermitian
 * system of each cluster, its entries from the pair-sum table of a (arfill._normal_matrix_pairs,
 * _pair_values), Cholesky-factorised and solved, per series (arfill._solve_clusters); reports failure
 * (not positive definite, or an unknown no prediction error sees) so the caller takes the careful path.
 *
 * No numpy headers: arrays arrive through the buffer protocol; the Python callers pass C-contiguous
 * arrays of the right dtypes, and the wrappers below check sizes and index ranges.
 */
#include "_kernels.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

typedef struct {
    double nr, ni, sf, sb;
} sums_t;

/* sums over j in [lo, hi) of conj(b[j]) f[j+1], |f[j+1]|^2, |b[j]|^2: single-precision products summed
 * in short runs (SUBSUM samples, a few terms per vector lane) whose totals are accumulated in double */
#define SUBSUM 512
INLINE void
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

/* f_k(t) = f_{k-1}(t) + kappa b_{k-1}(t-1) and b_k(t) = b_{k-1}(t-1) + conj(kappa) f_{k-1}(t), both in
 * place: f_k(t) goes to index t-k, where f_{k-1}(t-1) was; reading ahead (f[i+1] before f[i+1] is
 * overwritten by the next i) keeps this a forward loop that vectorises in order */
INLINE void
update(float *fr, float *fi, float *br, float *bi, ptrdiff_t lo, ptrdiff_t hi, float kr, float ki)
{
    for (ptrdiff_t i = lo; i < hi; i++) { /* in order: reads f[i+1] before the next i overwrites it */
        float a = fr[i + 1], b = fi[i + 1], c = br[i], d = bi[i];
        fr[i] = a + kr * c - ki * d;
        fi[i] = b + kr * d + ki * c;
        br[i] = c + kr * a + ki * b;
        bi[i] = d + kr * b - ki * a;
    }
}

#if defined(__GNUC__)
typedef float v8sf __attribute__((vector_size(32))); /* GNU C vector: AVX2 in one register, SSE in two */
/* unaligned loads and stores through memcpy (one vmovups each); macros, so no vector crosses a call */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8sf))
#define STORE8(p, v) memcpy((p), &(v), sizeof(v8sf))
#endif

/* update() over [lo, hi) in place, fused with the next stage's sums of conj(b_k[i]) f_k[i+1],
 * |f_k[i+1]|^2, |b_k[i]|^2: f_k[i+1] is computed twice (here and as the next i's output) so every pair
 * is in registers and the series is read once per stage. Needs f[hi+1], b[hi] of the previous stage
 * (hi <= m - 1). The errors zeroed afterwards at segment heads and ends are taken out of the sums by
 * the caller. In place is safe because each step reads (f[i+1..i+9], b[i..i+8]) before it writes
 * (f[i..i+7], b[i..i+7]) and earlier steps wrote only below i: the explicit vector code states that
 * order, so no compiler has to prove or assume it. */
INLINE void
update_sums(float *fr, float *fi, float *br, float *bi, ptrdiff_t lo, ptrdiff_t hi, float kr, float ki, sums_t *s)
{
    for (ptrdiff_t j0 = lo; j0 < hi; j0 += SUBSUM) {
        ptrdiff_t j1 = j0 + SUBSUM < hi ? j0 + SUBSUM : hi, i = j0;
        float nr = 0, ni = 0, sf = 0, sb = 0;
#if defined(__GNUC__)
        v8sf nr1 = {0}, nr2 = {0}, ni1 = {0}, ni2 = {0}, sf1 = {0}, sf2 = {0}, sb1 = {0}, sb2 = {0};
        for (; i + 8 <= j1; i += 8) {
            v8sf a, b, c, d, a2, b2, c2, d2;
            LOAD8(a, fr + i + 1);
            LOAD8(b, fi + i + 1);
            LOAD8(c, br + i);
            LOAD8(d, bi + i);
            LOAD8(a2, fr + i + 2);
            LOAD8(b2, fi + i + 2);
            LOAD8(c2, br + i + 1);
            LOAD8(d2, bi + i + 1);
            v8sf f1r = a + kr * c - ki * d, f1i = b + kr * d + ki * c;        /* f_k at i */
            v8sf hr = c + kr * a + ki * b, hm = d + kr * b - ki * a;          /* b_k at i */
            v8sf g2r = a2 + kr * c2 - ki * d2, g2i = b2 + kr * d2 + ki * c2; /* f_k at i + 1 */
            STORE8(fr + i, f1r);
            STORE8(fi + i, f1i);
            STORE8(br + i, hr);
            STORE8(bi + i, hm);
            nr1 += hr * g2r; /* two accumulators per sum: one FMA per accumulator and step */
            nr2 += hm * g2i;
            ni1 += hr * g2i;
            ni2 -= hm * g2r;
            sf1 += g2r * g2r;
            sf2 += g2i * g2i;
            sb1 += hr * hr;
            sb2 += hm * hm;
        }
        for (int l = 0; l < 8; l++) {
            nr += nr1[l] + nr2[l];
            ni += ni1[l] + ni2[l];
            sf += sf1[l] + sf2[l];
            sb += sb1[l] + sb2[l];
        }
#endif
        for (; i < j1; i++) { /* the rest of the run (all of it without GNU C vectors), in order */
            float a = fr[i + 1], b = fi[i + 1], c = br[i], d = bi[i];
            float a2 = fr[i + 2], b2 = fi[i + 2], c2 = br[i + 1], d2 = bi[i + 1];
            float hr = c + kr * a + ki * b, hm = d + kr * b - ki * a;
            float g2r = a2 + kr * c2 - ki * d2, g2i = b2 + kr * d2 + ki * c2;
            fr[i] = a + kr * c - ki * d;
            fi[i] = b + kr * d + ki * c;
            br[i] = hr;
            bi[i] = hm;
            nr += hr * g2r + hm * g2i;
            ni += hr * g2i - hm * g2r;
            sf += g2r * g2r + g2i * g2i;
            sb += hr * hr + hm * hm;
        }
        s->nr += nr;
        s->ni += ni;
        s->sf += sf;
        s->sb += sb;
    }
}

/* One series. x: n interleaved complex64; good: n bytes; segments [starts, stops) of the good runs,
 * sorted; kappa: 2*order doubles (re, im); energy: sum |x|^2 over good samples; work: 4n floats;
 * zbuf: 2 nseg indices. */
MULTIVERSION static void
burg_one(const float *x, const uint8_t *good, ptrdiff_t n, const int64_t *starts, const int64_t *stops,
         ptrdiff_t nseg, int order, double *kappa, double *energy, float *work, ptrdiff_t *zbuf)
{
    float *fr = work, *fi = work + n, *br = work + 2 * n, *bi = work + 3 * n; /* errors, updated in place */
    double e = 0;
    for (ptrdiff_t t = 0; t < n; t++) {
        float re = good[t] ? x[2 * t] : 0.0f, im = good[t] ? x[2 * t + 1] : 0.0f;
        fr[t] = br[t] = re;
        fi[t] = bi[t] = im;
        e += (double)re * re + (double)im * im;
    }
    *energy = e;
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
        /* one pass: update and the sums of pairs j = 0..m-2, then the last sample's update */
        update_sums(fr, fi, br, bi, 0, m - 1, (float)kr, (float)ki, &s);
        update(fr, fi, br, bi, m - 1, m, (float)kr, (float)ki);
        /* errors at segment heads (partner outside) and just after segment ends become zero: take the
         * pairs they were in out of the sums (with the values summed), then zero them */
        ptrdiff_t nz = 0;
        for (ptrdiff_t g = 0, h = 0; g < nseg || h < nseg;) {
            ptrdiff_t zh = g < nseg ? starts[g] - 1 : PTRDIFF_MAX, ze = h < nseg ? stops[h] - k : PTRDIFF_MAX;
            if (zh <= ze) {
                if (stops[g] - starts[g] >= k && starts[g] >= 1 && (nz == 0 || zbuf[nz - 1] != zh))
                    zbuf[nz++] = zh;
                g++;
            } else {
                if (stops[h] - starts[h] >= k && stops[h] < n && (nz == 0 || zbuf[nz - 1] != ze))
                    zbuf[nz++] = ze;
                h++;
            }
        }
        ptrdiff_t last = -1; /* pairs j = z - 1 and j = z of each zeroed z, each once */
        for (ptrdiff_t q = 0; q < nz; q++) {
            ptrdiff_t z = zbuf[q];
            for (ptrdiff_t j = z - 1; j <= z; j++) {
                if (j < 0 || j > m - 2 || j <= last)
                    continue;
                last = j;
                double a = fr[j + 1], b = fi[j + 1], c = br[j], d = bi[j];
                s.nr -= c * a + d * b;
                s.ni -= c * b - d * a;
            }
            if (z >= 1 && z <= m - 1)
                s.sf -= (double)fr[z] * fr[z] + (double)fi[z] * fi[z];
            if (z <= m - 2)
                s.sb -= (double)br[z] * br[z] + (double)bi[z] * bi[z];
        }
        for (ptrdiff_t q = 0; q < nz; q++)
            fr[zbuf[q]] = fi[zbuf[q]] = br[zbuf[q]] = bi[zbuf[q]] = 0.0f;
    }
}

/* One series of rhs. d: n interleaved complex128 (or complex64 with single, read as double); a: p+1
 * interleaved complex128; valid: n bytes (rows whose prediction errors count); tu: nu sorted unknown
 * times; out: nu interleaved complex128.
 * work: 6 (n + 2p + 2) + 8 (p + 1) doubles.
 * A cluster whose unknowns t all have every row r in [t, t+p] valid (no barrier or series end within p)
 * sees the full, Toeplitz normal matrix: there -(M d)_t = -sum_s G_s d[t+s] with G_s = gamma_s =
 * 2 sum_k a_k conj(a_{k+s}) (s >= 0) and conj(gamma_-s) (s < 0), 2p+1 products per unknown. Other
 * clusters (next to a long gap or an end) go through their rows' prediction errors. */
MULTIVERSION static void
rhs_one(const void *data, int single, const double *a, ptrdiff_t n, int p, const int64_t *tu, ptrdiff_t nu,
        const uint8_t *valid, double *out, double *work)
{
    ptrdiff_t cap = n + 2 * (ptrdiff_t)p + 2;
    double *wr = work, *wi = work + cap;                       /* data window d[t0-p .. t1+p] */
    double *efr = work + 2 * cap, *efi = work + 3 * cap;       /* forward errors of rows t0..t1+p */
    double *ebr = work + 4 * cap, *ebi = work + 5 * cap;       /* backward errors */
    double *arr = work + 6 * cap, *ari = arr + (p + 1);        /* a_{p-j} */
    double *acr = ari + (p + 1), *aci = acr + (p + 1);         /* a_j */
    double *gr = aci + (p + 1), *gi = gr + (2 * p + 1);        /* G_{j-p}, j = 0..2p */
    for (int j = 0; j <= p; j++) {
        arr[j] = a[2 * (p - j)];
        ari[j] = a[2 * (p - j) + 1];
        acr[j] = a[2 * j];
        aci[j] = a[2 * j + 1];
    }
    for (int sft = 0; sft <= p; sft++) { /* gamma_s = 2 sum_k a_k conj(a_{k+s}) */
        double sr = 0, si = 0;
        for (int k = 0; k + sft <= p; k++) {
            sr += acr[k] * acr[k + sft] + aci[k] * aci[k + sft];
            si += aci[k] * acr[k + sft] - acr[k] * aci[k + sft];
        }
        gr[p + sft] = 2 * sr;
        gi[p + sft] = 2 * si;
        gr[p - sft] = 2 * sr;
        gi[p - sft] = -2 * si;
    }
    ptrdiff_t c = 0;
    while (c < nu) {
        ptrdiff_t e = c + 1;
        while (e < nu && tu[e] - tu[e - 1] <= p)
            e++;
        ptrdiff_t t0 = tu[c], t1 = tu[e - 1];
        ptrdiff_t lo = t0 - p, len = t1 + p - lo + 1; /* window index w <-> time lo + w */
        for (ptrdiff_t w = 0; w < len; w++) {
            ptrdiff_t t = lo + w;
            if (t < 0 || t >= n)
                wr[w] = wi[w] = 0.0;
            else if (single) {
                wr[w] = ((const float *)data)[2 * t];
                wi[w] = ((const float *)data)[2 * t + 1];
            } else {
                wr[w] = ((const double *)data)[2 * t];
                wi[w] = ((const double *)data)[2 * t + 1];
            }
        }
        int toeplitz = 1;
        for (ptrdiff_t u = c; u < e && toeplitz; u++) {
            ptrdiff_t t = tu[u];
            if (t + p >= n)
                toeplitz = 0;
            for (ptrdiff_t r = t; r <= t + p && toeplitz; r++)
                toeplitz = valid[r] != 0;
        }
        if (toeplitz) {
            for (ptrdiff_t u = c; u < e; u++) { /* -(M d)_t = -sum_j G_{j-p} d[t-p+j] */
                const double *xr = wr + (tu[u] - t0), *xi = wi + (tu[u] - t0);
                double sr1 = 0, sr2 = 0, si1 = 0, si2 = 0;
#pragma omp simd reduction(+ : sr1, sr2, si1, si2)
                for (int j = 0; j <= 2 * p; j++) {
                    sr1 += gr[j] * xr[j];
                    sr2 -= gi[j] * xi[j];
                    si1 += gr[j] * xi[j];
                    si2 += gi[j] * xr[j];
                }
                out[2 * u] = -(sr1 + sr2);
                out[2 * u + 1] = -(si1 + si2);
            }
            c = e;
            continue;
        }
        ptrdiff_t nrows = t1 + p - t0 + 1; /* row r = t0 + q uses window samples q .. q + p */
        for (ptrdiff_t q = 0; q < nrows; q++) {
            ptrdiff_t r = t0 + q;
            if (r >= n || !valid[r]) {
                efr[q] = efi[q] = ebr[q] = ebi[q] = 0.0;
                continue;
            }
            const double *xr = wr + q, *xi = wi + q;
            double fr1 = 0, fr2 = 0, fi1 = 0, fi2 = 0, br1 = 0, br2 = 0, bi1 = 0, bi2 = 0;
#pragma omp simd reduction(+ : fr1, fr2, fi1, fi2, br1, br2, bi1, bi2)
            for (int j = 0; j <= p; j++) {
                fr1 += arr[j] * xr[j]; /* f_r = sum_j a_{p-j} d[r-p+j] */
                fr2 -= ari[j] * xi[j];
                fi1 += arr[j] * xi[j];
                fi2 += ari[j] * xr[j];
                br1 += acr[j] * xr[j]; /* b_r = sum_j conj(a_j) d[r-p+j] */
                br2 += aci[j] * xi[j];
                bi1 += acr[j] * xi[j];
                bi2 -= aci[j] * xr[j];
            }
            efr[q] = fr1 + fr2;
            efi[q] = fi1 + fi2;
            ebr[q] = br1 + br2;
            ebi[q] = bi1 + bi2;
        }
        for (ptrdiff_t u = c; u < e; u++) { /* gradient: sum_k conj(a_k) f[t+k] + a_{p-k} b[t+k] */
            ptrdiff_t q = tu[u] - t0;
            const double *fr = efr + q, *fi = efi + q, *br = ebr + q, *bi = ebi + q;
            double gr1 = 0, gr2 = 0, gr3 = 0, gr4 = 0, gi1 = 0, gi2 = 0, gi3 = 0, gi4 = 0;
#pragma omp simd reduction(+ : gr1, gr2, gr3, gr4, gi1, gi2, gi3, gi4)
            for (int k = 0; k <= p; k++) {
                gr1 += acr[k] * fr[k];
                gr2 += aci[k] * fi[k];
                gi1 += acr[k] * fi[k];
                gi2 -= aci[k] * fr[k];
                gr3 += arr[k] * br[k];
                gr4 -= ari[k] * bi[k];
                gi3 += arr[k] * bi[k];
                gi4 += ari[k] * br[k];
            }
            out[2 * u] = -((gr1 + gr2) + (gr3 + gr4));
            out[2 * u + 1] = -((gi1 + gi2) + (gi3 + gi4));
        }
        c = e;
    }
}

/* Entry M_ij (i <= j, same cluster) of the normal matrix from the pair-sum table, or 0 with *ok = 0 when
 * no prediction-error row sees both unknowns (arfill._normal_matrix_pairs, _pair_values: the rows
 * r in [max(t_j, start + p), min(t_i + p, stop - 1)] of the block [start, stop)). */
INLINE int
entry(const double *table, int p, int64_t ti, int64_t tj, int64_t start, int64_t stop, double *vr, double *vi)
{
    int64_t s = tj - ti;
    if (s > p)
        return 0;
    int64_t rlo = tj > start + p ? tj : start + p, rhi = ti + p < stop - 1 ? ti + p : stop - 1;
    if (rlo > rhi)
        return 0;
    int64_t f1 = rhi - tj + 1, f0 = rlo - tj, b1 = ti + p - rlo + 1, b0 = ti + p - rhi;
    const double *row = table + 2 * s * (p + 2);
    *vr = (row[2 * f1] - row[2 * f0]) + (row[2 * b1] - row[2 * b0]);
    *vi = (row[2 * f1 + 1] - row[2 * f0 + 1]) + (row[2 * b1 + 1] - row[2 * b0 + 1]);
    return 1;
}

/* The pair-sum table T[s, m] = sum_{k<m} a_k conj(a_{k+s}) (a_k = 0 beyond p) of one filter a (p+1
 * interleaved complex128) into table ((p+1) x (p+2) interleaved), as arfill._pair_sum_table. */
static void
pair_sum_table(const double *a, int p, double *table)
{
    for (int sft = 0; sft <= p; sft++) {
        double *row = table + 2 * sft * (p + 2);
        double cr = 0, ci = 0;
        row[0] = row[1] = 0.0;
        for (int k = 0; k <= p; k++) {
            if (k + sft <= p) {
                double ar = a[2 * k], ai = a[2 * k + 1], br = a[2 * (k + sft)], bi = a[2 * (k + sft) + 1];
                cr += ar * br + ai * bi;
                ci += ai * br - ar * bi;
            }
            row[2 * (k + 1)] = cr;
            row[2 * (k + 1) + 1] = ci;
        }
    }
}

/* One series of solve_clusters. table: (p+1) x (p+2) interleaved complex128 pair sums T[s, m]; tu,
 * bstart, bstop: time and block of each unknown; clusters [first, first + size) of unknowns; rhs/out:
 * nu interleaved complex128; work: 2 maxsize^2 + 2 maxsize doubles.
 * Returns 0, or -1 when a cluster's matrix is not numerically positive definite or an unknown's
 * diagonal is negligible (no prediction error sees it), the cases arfill._solve_clusters sends to the
 * careful path. The factor L is stored column-major (column j contiguous from row j), so every loop of
 * the factorisation and the solves runs down contiguous memory. */
MULTIVERSION static int
solve_one(const double *table, int p, const int64_t *tu, const int64_t *bstart, const int64_t *bstop,
          ptrdiff_t nclusters, const int64_t *first, const int64_t *size, const double *rhs, double *out,
          double *work, ptrdiff_t maxsize)
{
    double *ar = work, *ai = work + maxsize * maxsize, *yr = ai + maxsize * maxsize, *yi = yr + maxsize;
    double dmax = 1e-300, vr, vi;
    for (int pass = 0; pass < 2; pass++)
        for (ptrdiff_t c = 0; c < nclusters; c++)
            for (ptrdiff_t u = first[c]; u < first[c] + size[c]; u++) {
                double d = entry(table, p, tu[u], tu[u], bstart[u], bstop[u], &vr, &vi) ? vr : 0.0;
                if (pass == 0)
                    dmax = d > dmax ? d : dmax;
                else if (!(d > 1e-12 * dmax))
                    return -1;
            }
    for (ptrdiff_t c = 0; c < nclusters; c++) {
        ptrdiff_t m = size[c], base = first[c];
        const int64_t *t = tu + base;
        /* lower triangle, column-major: A[i + j m] (row i >= column j) = M_ji = conj(M_ij) */
        for (ptrdiff_t j = 0; j < m; j++) {
            double *cr = ar + j * m, *ci = ai + j * m;
            for (ptrdiff_t i = j; i < m; i++) {
                if (entry(table, p, t[j], t[i], bstart[base], bstop[base], &vr, &vi)) {
                    cr[i] = vr;
                    ci[i] = -vi;
                } else {
                    cr[i] = ci[i] = 0.0;
                }
            }
        }
        /* Cholesky M = L L^H, right-looking in panels of 4 columns: factor the panel (scale column j,
         * subtract conj(L[k][j]) L[k:, j] from the panel's later columns), then subtract the panel's
         * rank-4 product from every later column in one contiguous pass per column */
        for (ptrdiff_t jb = 0; jb < m; jb += 4) {
            ptrdiff_t je = jb + 4 < m ? jb + 4 : m;
            for (ptrdiff_t j = jb; j < je; j++) {
                double *cr = ar + j * m, *ci = ai + j * m;
                double djj = cr[j];
                if (!(djj > 0))
                    return -1;
                djj = sqrt(djj);
                double inv = 1.0 / djj;
                cr[j] = djj;
                ci[j] = 0.0;
#pragma omp simd
                for (ptrdiff_t i = j + 1; i < m; i++) {
                    cr[i] *= inv;
                    ci[i] *= inv;
                }
                for (ptrdiff_t k = j + 1; k < je; k++) {
                    double pr = cr[k], pi = -ci[k]; /* conj(L[k][j]) */
                    double *kr = ar + k * m, *ki = ai + k * m;
#pragma omp simd
                    for (ptrdiff_t i = k; i < m; i++) {
                        kr[i] -= pr * cr[i] - pi * ci[i];
                        ki[i] -= pr * ci[i] + pi * cr[i];
                    }
                }
            }
            if (je - jb == 4) {
                const double *c0r = ar + jb * m, *c0i = ai + jb * m, *c1r = c0r + m, *c1i = c0i + m;
                const double *c2r = c1r + m, *c2i = c1i + m, *c3r = c2r + m, *c3i = c2i + m;
                for (ptrdiff_t k = je; k < m; k++) {
                    double p0r = c0r[k], p0i = -c0i[k], p1r = c1r[k], p1i = -c1i[k];
                    double p2r = c2r[k], p2i = -c2i[k], p3r = c3r[k], p3i = -c3i[k];
                    double *kr = ar + k * m, *ki = ai + k * m;
#pragma omp simd
                    for (ptrdiff_t i = k; i < m; i++) {
                        kr[i] -= (p0r * c0r[i] - p0i * c0i[i]) + (p1r * c1r[i] - p1i * c1i[i]) +
                                 (p2r * c2r[i] - p2i * c2i[i]) + (p3r * c3r[i] - p3i * c3i[i]);
                        ki[i] -= (p0r * c0i[i] + p0i * c0r[i]) + (p1r * c1i[i] + p1i * c1r[i]) +
                                 (p2r * c2i[i] + p2i * c2r[i]) + (p3r * c3i[i] + p3i * c3r[i]);
                    }
                }
            } else {
                for (ptrdiff_t j = jb; j < je; j++) {
                    const double *cr = ar + j * m, *ci = ai + j * m;
                    for (ptrdiff_t k = je; k < m; k++) {
                        double pr = cr[k], pi = -ci[k];
                        double *kr = ar + k * m, *ki = ai + k * m;
#pragma omp simd
                        for (ptrdiff_t i = k; i < m; i++) {
                            kr[i] -= pr * cr[i] - pi * ci[i];
                            ki[i] -= pr * ci[i] + pi * cr[i];
                        }
                    }
                }
            }
        }
        for (ptrdiff_t i = 0; i < m; i++) {
            yr[i] = rhs[2 * (base + i)];
            yi[i] = rhs[2 * (base + i) + 1];
        }
        for (ptrdiff_t j = 0; j < m; j++) { /* L y = rhs, by columns */
            const double *cr = ar + j * m, *ci = ai + j * m;
            double qr = yr[j] / cr[j], qi = yi[j] / cr[j];
            yr[j] = qr;
            yi[j] = qi;
#pragma omp simd
            for (ptrdiff_t i = j + 1; i < m; i++) {
                yr[i] -= cr[i] * qr - ci[i] * qi;
                yi[i] -= cr[i] * qi + ci[i] * qr;
            }
        }
        for (ptrdiff_t i = m - 1; i >= 0; i--) { /* L^H u = y: u_i = (y_i - sum_k>i conj(L[k][i]) u_k) / L[i][i] */
            const double *cr = ar + i * m, *ci = ai + i * m;
            double sr = 0, si = 0;
#pragma omp simd reduction(+ : sr, si)
            for (ptrdiff_t k = i + 1; k < m; k++) {
                sr += cr[k] * yr[k] + ci[k] * yi[k];
                si += cr[k] * yi[k] - ci[k] * yr[k];
            }
            yr[i] = (yr[i] - sr) / cr[i];
            yi[i] = (yi[i] - si) / cr[i];
        }
        for (ptrdiff_t i = 0; i < m; i++) {
            out[2 * (base + i)] = yr[i];
            out[2 * (base + i) + 1] = yi[i];
        }
    }
    return 0;
}

static PyObject *
py_burg(PyObject *self, PyObject *args)
{
    PyObject *obj[6];
    Py_ssize_t nser, n, nseg;
    int order;
    if (!PyArg_ParseTuple(args, "OOOOOOnnni", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5], &nser, &n, &nseg,
                          &order))
        return NULL;
    if (nser < 0 || n < 2 || nseg < 0 || order < 1 || order >= n) {
        PyErr_SetString(PyExc_ValueError, "burg: bad sizes");
        return NULL;
    }
    const ArraySpec spec[6] = {{"x (complex64)", 8, nser * n, 0, 1},          {"good (bool)", 1, n, 0, 1},
                               {"starts (int64)", 8, nseg, 0, 1},              {"stops (int64)", 8, nseg, 0, 1},
                               {"kappas (complex128)", 16, nser * order, 1, 1}, {"energy (float64)", 8, nser, 1, 1}};
    Py_buffer buf[6];
    if (get_all(obj, buf, spec, 6) < 0)
        return NULL;
    PyObject *result = NULL;
    const int64_t *a0 = buf[2].buf, *a1 = buf[3].buf;
    for (Py_ssize_t q = 0; q < nseg; q++)
        if (a0[q] < 0 || a1[q] > n || a0[q] >= a1[q] || (q > 0 && a0[q] <= a1[q - 1])) {
            PyErr_SetString(PyExc_ValueError, "burg: segments must be sorted, disjoint and inside the series");
            goto done;
        }
    float *work = malloc(sizeof(float) * 4 * (size_t)n);
    ptrdiff_t *zbuf = malloc(sizeof(ptrdiff_t) * (2 * (size_t)nseg + 1));
    if (!work || !zbuf) {
        free(work);
        free(zbuf);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nser; i++)
        burg_one((const float *)buf[0].buf + 2 * i * n, buf[1].buf, n, a0, a1, nseg, order,
                 (double *)buf[4].buf + 2 * i * order, (double *)buf[5].buf + i, work, zbuf);
    Py_END_ALLOW_THREADS
    free(zbuf);
    free(work);
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(buf, 6);
    return result;
}

static PyObject *
py_rhs(PyObject *self, PyObject *args)
{
    PyObject *obj[5];
    Py_ssize_t nser, n, nu;
    int p, single;
    if (!PyArg_ParseTuple(args, "OOOOOnnnip", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &nser, &n, &nu, &p, &single))
        return NULL;
    if (nser < 0 || n < 1 || nu < 0 || p < 1) {
        PyErr_SetString(PyExc_ValueError, "rhs: bad sizes");
        return NULL;
    }
    const ArraySpec spec[5] = {{single ? "d (complex64)" : "d (complex128)", single ? 8 : 16, nser * n, 0, 1},
                               {"a (complex128)", 16, nser * (p + 1), 0, 1},
                               {"tu (int64)", 8, nu, 0, 1},
                               {"valid (bool)", 1, n, 0, 1},
                               {"out (complex128)", 16, nser * nu, 1, 1}};
    Py_buffer buf[5];
    if (get_all(obj, buf, spec, 5) < 0)
        return NULL;
    PyObject *result = NULL;
    const int64_t *tu = buf[2].buf;
    for (Py_ssize_t i = 0; i < nu; i++)
        if (tu[i] < 0 || tu[i] >= n || (i > 0 && tu[i] <= tu[i - 1])) {
            PyErr_SetString(PyExc_ValueError, "rhs: unknown times must be increasing and inside the series");
            goto done;
        }
    double *work = malloc(sizeof(double) * (6 * ((size_t)n + 2 * (size_t)p + 2) + 8 * ((size_t)p + 1)));
    if (!work) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nser; i++)
        rhs_one((const char *)buf[0].buf + (single ? 8 : 16) * i * n, single, (const double *)buf[1].buf + 2 * i * (p + 1),
                n, p, tu, nu, buf[3].buf, (double *)buf[4].buf + 2 * i * nu, work);
    Py_END_ALLOW_THREADS
    free(work);
    result = Py_None;
    Py_INCREF(result);
done:
    release_all(buf, 5);
    return result;
}

static PyObject *
py_solve_clusters(PyObject *self, PyObject *args)
{
    PyObject *obj[8];
    Py_ssize_t nser, nu, nclusters;
    int p;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnni", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5], &obj[6],
                          &obj[7], &nser, &nu, &nclusters, &p))
        return NULL;
    if (nser < 0 || nu < 0 || nclusters < 0 || p < 1) {
        PyErr_SetString(PyExc_ValueError, "solve_clusters: bad sizes");
        return NULL;
    }
    const ArraySpec spec[8] = {{"a (complex128)", 16, nser * (p + 1), 0, 1}, {"tu", 8, nu, 0, 1},
                               {"block_start", 8, nu, 0, 1},                  {"block_stop", 8, nu, 0, 1},
                               {"first", 8, nclusters, 0, 1},                 {"size", 8, nclusters, 0, 1},
                               {"rhs", 16, nser * nu, 0, 1},                  {"out", 16, nser * nu, 1, 1}};
    Py_buffer buf[8];
    if (get_all(obj, buf, spec, 8) < 0)
        return NULL;
    PyObject *result = NULL;
    int status = 0;
    const int64_t *tu = buf[1].buf, *bstart = buf[2].buf, *bstop = buf[3].buf;
    const int64_t *first = buf[4].buf, *size = buf[5].buf;
    ptrdiff_t maxsize = 1, next = 0;
    for (Py_ssize_t c = 0; c < nclusters; c++) { /* clusters tile the unknowns in order, one block each */
        if (size[c] < 1 || first[c] != next || first[c] + size[c] > nu) {
            PyErr_SetString(PyExc_ValueError, "solve_clusters: clusters must tile the unknowns in order");
            goto done;
        }
        for (int64_t u = first[c]; u < first[c] + size[c]; u++)
            if ((u > first[c] &&
                 (tu[u] <= tu[u - 1] || bstart[u] != bstart[first[c]] || bstop[u] != bstop[first[c]])) ||
                bstart[u] > tu[u] || bstop[u] <= tu[u]) {
                PyErr_SetString(PyExc_ValueError,
                                "solve_clusters: a cluster's unknowns must be increasing, in one block");
                goto done;
            }
        next = first[c] + size[c];
        maxsize = size[c] > maxsize ? size[c] : maxsize;
    }
    if (next != nu) {
        PyErr_SetString(PyExc_ValueError, "solve_clusters: clusters must tile the unknowns in order");
        goto done;
    }
    size_t tsize = 2 * ((size_t)p + 1) * ((size_t)p + 2);
    double *work = malloc(sizeof(double) * (2 * (size_t)maxsize * (size_t)maxsize + 2 * (size_t)maxsize + tsize));
    if (!work) {
        PyErr_NoMemory();
        goto done;
    }
    double *table = work + 2 * (size_t)maxsize * (size_t)maxsize + 2 * (size_t)maxsize;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nser && status == 0; i++) {
        pair_sum_table((const double *)buf[0].buf + 2 * i * (p + 1), p, table);
        status = solve_one(table, p, tu, bstart, bstop, nclusters,
                           first, size, (const double *)buf[6].buf + 2 * i * nu, (double *)buf[7].buf + 2 * i * nu,
                           work, maxsize);
    }
    Py_END_ALLOW_THREADS
    free(work);
    result = PyBool_FromLong(status == 0);
done:
    release_all(buf, 8);
    return result;
}

static PyMethodDef methods[] = {
    {"burg", py_burg, METH_VARARGS,
     "burg(x, good, starts, stops, kappas, energy, nseries, n, nsegments, order): multi-segment Burg "
     "reflection coefficients of complex64 series x (nseries, n) into kappas (nseries, order) complex128, "
     "and the energy sum |x|^2 over the good samples into energy (nseries) float64."},
    {"rhs", py_rhs, METH_VARARGS,
     "rhs(d, a, tu, valid, out, nseries, n, nunknowns, p, single): right-hand side of the gap-filling "
     "normal equations of d (complex128, or complex64 when single), in double precision, into out "
     "(nseries, nunknowns) complex128."},
    {"solve_clusters", py_solve_clusters, METH_VARARGS,
     "solve_clusters(a, tu, block_start, block_stop, first, size, rhs, out, nseries, nunknowns, "
     "nclusters, p) -> bool: Cholesky solves of every cluster's normal equations; False when one is not "
     "positive definite or an unknown's diagonal is negligible."},
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
