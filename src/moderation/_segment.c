/* jieba's maximum-probability cut of one block, in C: segment.Dictionary.token_edges without
 * the interpreter's cost per dictionary look-up (about a fifth of the time on a 30-character
 * block).
 *
 * token_edges(block: str, freq: dict[str, int], log_total: float) -> (starts: set, ends: set)
 *
 * The same steps as the Python method, in the same floating-point operations, so the two give
 * the same edges: from the end of the block backwards, the best path from each position is the
 * dictionary word starting there (prefixes of words are in freq with count 0) that maximizes
 * log(count) - log_total + best[end], ties to the longer word; a position no word starts at is
 * the character alone with count 1. Consecutive single ASCII letters or digits on the path are
 * one token.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static inline int ascii_alnum(Py_UCS4 c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int add_index(PyObject *set, Py_ssize_t v) {
    PyObject *o = PyLong_FromSsize_t(v);
    if (!o) return -1;
    int r = PySet_Add(set, o);
    Py_DECREF(o);
    return r;
}

static PyObject *py_token_edges(PyObject *self, PyObject *args) {
    PyObject *block, *freq;
    double log_total;
    if (!PyArg_ParseTuple(args, "UO!d", &block, &PyDict_Type, &freq, &log_total)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(block);
    double *prob = PyMem_Malloc(sizeof(double) * (size_t)(n + 1));
    Py_ssize_t *last = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    PyObject *starts = NULL, *ends = NULL, *out = NULL;
    if (!prob || !last) {
        PyErr_NoMemory();
        goto done;
    }
    prob[n] = 0.0;
    last[n] = 0;
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        int have = 0;
        double best_p = 0.0;
        Py_ssize_t best_i = 0;
        for (Py_ssize_t i = k; i < n; i++) {
            PyObject *frag = PyUnicode_Substring(block, k, i + 1);
            if (!frag) goto done;
            PyObject *v = PyDict_GetItemWithError(freq, frag);
            Py_DECREF(frag);
            if (!v) {
                if (PyErr_Occurred()) goto done;
                break;
            }
            double f = PyLong_Check(v) ? PyLong_AsDouble(v) : PyFloat_AsDouble(v);
            if (f == -1.0 && PyErr_Occurred()) goto done;
            if (f != 0.0) {
                double p = log(f) - log_total + prob[i + 1];
                if (!have || p > best_p || (p == best_p && i > best_i)) {
                    have = 1;
                    best_p = p;
                    best_i = i;
                }
            }
        }
        if (!have) {
            best_p = -log_total + prob[k + 1];
            best_i = k;
        }
        prob[k] = best_p;
        last[k] = best_i;
    }
    starts = PySet_New(NULL);
    ends = PySet_New(NULL);
    if (!starts || !ends) goto done;
    int kind = PyUnicode_KIND(block);
    const void *data = PyUnicode_DATA(block);
    Py_ssize_t x = 0, run_start = -1;
    while (x < n) {
        Py_ssize_t y = last[x] + 1;
        if (y - x == 1 && ascii_alnum(PyUnicode_READ(kind, data, x))) {
            if (run_start < 0) run_start = x;
        } else {
            if (run_start >= 0) {
                if (add_index(starts, run_start) || add_index(ends, x)) goto done;
                run_start = -1;
            }
            if (add_index(starts, x) || add_index(ends, y)) goto done;
        }
        x = y;
    }
    if (run_start >= 0 && (add_index(starts, run_start) || add_index(ends, n))) goto done;
    out = PyTuple_Pack(2, starts, ends);
done:
    Py_XDECREF(starts);
    Py_XDECREF(ends);
    PyMem_Free(prob);
    PyMem_Free(last);
    return out;
}

static PyMethodDef methods[] = {
    {"token_edges", py_token_edges, METH_VARARGS,
     "token_edges(block, freq, log_total) -> (starts, ends): see segment.Dictionary.token_edges"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_segment", NULL, -1, methods};

PyMODINIT_FUNC PyInit__segment(void) { return PyModule_Create(&module); }
