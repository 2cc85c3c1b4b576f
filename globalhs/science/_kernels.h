/* What the compiled kernels of globalhs share (_arfill_c.c, _peakbag_c.c): the instruction-set clones
 * of their hot loops (and INLINE for their helpers) and the way their Python wrappers take array arguments.
 *
 * Arrays arrive through the buffer protocol (no numpy headers).  A wrapper describes its array
 * arguments in a table of ArraySpec, takes them all with get_all (each checked for its byte size, the
 * written ones for writability; an argument that is not required is skipped and its buffer left NULL)
 * and gives them back with release_all on its one exit path, so that no error path can leak a buffer.
 */
#ifndef GLOBALHS_KERNELS_H
#define GLOBALHS_KERNELS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* one clone for AVX2+FMA machines, one portable; the loader picks at run time */
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#define ISA_NOTE "x86-64-v3 (AVX2/FMA) and baseline clones"
#else
#define MULTIVERSION
#define ISA_NOTE "compiler default ISA"
#endif

#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline)) /* inlined into each ISA clone of its caller */
#else
#define INLINE static inline
#endif

typedef struct {
    const char *name;      /* as the error message names it, e.g. "kappas (complex128)" */
    Py_ssize_t itemsize;   /* bytes per element */
    Py_ssize_t count;      /* elements expected */
    int writable;          /* an output */
    int required;          /* 0: not taken (its buffer stays NULL), e.g. an output this call does not need */
} ArraySpec;

static int
get_all(PyObject *const *obj, Py_buffer *buf, const ArraySpec *spec, int n)
{
    for (int k = 0; k < n; k++) {
        buf[k].buf = NULL;
        buf[k].obj = NULL;
    }
    for (int k = 0; k < n; k++) {
        if (!spec[k].required)
            continue;
        int flags = spec[k].writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS;
        if (PyObject_GetBuffer(obj[k], &buf[k], flags) < 0)
            goto fail;
        if (buf[k].len != spec[k].itemsize * spec[k].count) {
            PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", spec[k].name, buf[k].len,
                         spec[k].itemsize * spec[k].count);
            PyBuffer_Release(&buf[k]);
            goto fail;
        }
    }
    return 0;
fail:
    for (int k = 0; k < n; k++)
        if (buf[k].obj)
            PyBuffer_Release(&buf[k]);
    return -1;
}

static void
release_all(Py_buffer *buf, int n)
{
    for (int k = 0; k < n; k++)
        if (buf[k].obj)
            PyBuffer_Release(&buf[k]);
}

#endif
