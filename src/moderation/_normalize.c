/* The normalization pass of one text, in C: the same four views normalize.Normalizer.normalize
 * builds from str.translate and three regular expressions, in one walk over the code points.
 *
 * tables(fold: dict[int, str], canon: str) -> capsule
 *     fold: code point -> its folded character (one character each; the normalizer's table,
 *     look-alikes and lone surrogates included); canon: the homophone table as a str indexed
 *     by code point (code points past its end are left as they are).
 * normalize(text: str, tables) -> (folded, stripped, text, canon, repeats)
 *     folded    text with every code point folded, then Chinese numerals inside number runs
 *               turned into digits (NUMERAL_RUN_RE and _numeral_run in normalize.py)
 *     stripped  folded without noise: a character is noise when it is not alphanumeric
 *               (Py_UNICODE_ISALNUM, which is what \w means to the re module) or is '_'
 *     text      stripped with each run of one repeated Han character collapsed to one
 *     canon     text through the canon table
 *     repeats   whether a run was collapsed
 * layout(folded: str) -> (kept, run_pos, run_len, run_before), four lists of int
 *     the offset map of a folded string: where each character of stripped sits in folded
 *     (kept), and each run of one repeated Han character in stripped: its position in text,
 *     its length, and how many characters collapsing removed before it (the lists
 *     NormalizedText._shifted and NormalizedText._repeat_runs otherwise build with regexes).
 *   Where a view equals the one it is made from, the same object is returned (as re.sub does
 *   when it substitutes nothing), so `stripped is folded` says that nothing was noise.
 *
 * Number runs, as the regex [N](?:[\W_]*[N]){4,} finds them (N: ASCII digits and the
 * numerals): a chain of N characters with only noise between them, from its first N to its
 * last; at least five of them, of which at least three strict (a digit or a numeral that is
 * not weak). A chain that fails the test is left as it is.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define CAPSULE_NAME "moderation._normalize.tables"

/* Chinese numerals (normalize.NUMERALS) and their digits; weak ones count only in a run. */
static const struct { Py_UCS4 cp; char digit; char weak; } NUMERALS[] = {
    {0x96F6, '0', 0}, {0x3007, '0', 0}, {0x25CB, '0', 0}, {0x6D1E, '0', 1},           /* 零〇○洞 */
    {0x4E00, '1', 0}, {0x58F9, '1', 0}, {0x5E7A, '1', 0}, {0x4E48, '1', 1},           /* 一壹幺么 */
    {0x4E8C, '2', 0}, {0x4E24, '2', 1}, {0x8D30, '2', 0},                             /* 二两贰 */
    {0x4E09, '3', 0}, {0x53C1, '3', 0},                                               /* 三叁 */
    {0x56DB, '4', 0}, {0x8086, '4', 0},                                               /* 四肆 */
    {0x4E94, '5', 0}, {0x4F0D, '5', 0},                                               /* 五伍 */
    {0x516D, '6', 0}, {0x9646, '6', 0},                                               /* 六陆 */
    {0x4E03, '7', 0}, {0x67D2, '7', 0}, {0x62D0, '7', 1},                             /* 七柒拐 */
    {0x516B, '8', 0}, {0x634C, '8', 0},                                               /* 八捌 */
    {0x4E5D, '9', 0}, {0x7396, '9', 0}, {0x52FE, '9', 1},                             /* 九玖勾 */
};
#define N_NUMERALS (sizeof(NUMERALS) / sizeof(NUMERALS[0]))

/* Per BMP code point: bit 0 word (not noise), bit 1 Han (repeats collapse), bit 2 numeral. */
static uint8_t bmp_class[65536];
/* Numeral digit ('0'..'9') and weakness, by BMP code point; 0 where not a numeral. */
static char numeral_digit[65536];
static char numeral_weak[65536];

typedef struct {
    Py_UCS4 *fold;        /* fold[cp] for cp < n_fold */
    Py_ssize_t n_fold;
    Py_UCS4 *canon;       /* canon[cp] for cp < n_canon */
    Py_ssize_t n_canon;
} Tables;

static inline int is_word(Py_UCS4 c) {
    if (c < 65536) return bmp_class[c] & 1;
    return Py_UNICODE_ISALNUM(c) ? 1 : 0;
}

static inline int is_han(Py_UCS4 c) { return c < 65536 && (bmp_class[c] & 2); }

static inline int is_num(Py_UCS4 c) { return c < 65536 && (bmp_class[c] & 4); }

static void init_classes(void) {
    for (Py_UCS4 c = 0; c < 65536; c++) {
        uint8_t k = 0;
        if (c != '_' && !(c >= 0xD800 && c <= 0xDFFF) && Py_UNICODE_ISALNUM(c)) k |= 1;
        if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF))
            k |= 2;
        if (c >= '0' && c <= '9') {
            k |= 4;
            numeral_digit[c] = (char)c;
        }
        bmp_class[c] = k;
    }
    for (size_t i = 0; i < N_NUMERALS; i++) {
        Py_UCS4 c = NUMERALS[i].cp;
        bmp_class[c] |= 4;
        numeral_digit[c] = NUMERALS[i].digit;
        numeral_weak[c] = NUMERALS[i].weak;
    }
}

static void tables_free(PyObject *capsule) {
    Tables *t = (Tables *)PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (t) {
        PyMem_Free(t->fold);
        PyMem_Free(t->canon);
        PyMem_Free(t);
    }
}

static PyObject *py_tables(PyObject *self, PyObject *args) {
    PyObject *fold, *canon;
    if (!PyArg_ParseTuple(args, "O!U", &PyDict_Type, &fold, &canon)) return NULL;
    Py_ssize_t pos = 0, n_fold = 0;
    PyObject *k, *v;
    while (PyDict_Next(fold, &pos, &k, &v)) {
        long cp = PyLong_Check(k) ? PyLong_AsLong(k) : -1;
        if (cp < 0 || cp > 0x10FFFF || !PyUnicode_Check(v) || PyUnicode_GET_LENGTH(v) != 1) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "fold: want code point -> one character");
            return NULL;
        }
        if (cp + 1 > n_fold) n_fold = cp + 1;
    }
    Tables *t = PyMem_Calloc(1, sizeof(Tables));
    if (!t) return PyErr_NoMemory();
    t->n_fold = n_fold;
    t->fold = PyMem_Malloc(sizeof(Py_UCS4) * (n_fold ? n_fold : 1));
    t->n_canon = PyUnicode_GET_LENGTH(canon);
    t->canon = PyMem_Malloc(sizeof(Py_UCS4) * (t->n_canon ? t->n_canon : 1));
    if (!t->fold || !t->canon) {
        PyMem_Free(t->fold);
        PyMem_Free(t->canon);
        PyMem_Free(t);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n_fold; i++) t->fold[i] = (Py_UCS4)i;
    pos = 0;
    while (PyDict_Next(fold, &pos, &k, &v)) t->fold[PyLong_AsLong(k)] = PyUnicode_READ_CHAR(v, 0);
    int ck = PyUnicode_KIND(canon);
    const void *cd = PyUnicode_DATA(canon);
    for (Py_ssize_t i = 0; i < t->n_canon; i++) t->canon[i] = PyUnicode_READ(ck, cd, i);
    PyObject *cap = PyCapsule_New(t, CAPSULE_NAME, tables_free);
    if (!cap) {
        PyMem_Free(t->fold);
        PyMem_Free(t->canon);
        PyMem_Free(t);
    }
    return cap;
}

/* Turn the numerals of the number runs in buf[0:n] into digits; 1 if anything changed. */
static int number_runs(Py_UCS4 *buf, Py_ssize_t n) {
    int changed = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        if (!is_num(buf[i])) {
            i++;
            continue;
        }
        Py_ssize_t first = i, last = i, count = 1, strict = 0, j;
        int has_numeral = 0;
        if (!numeral_weak[buf[i]]) strict++;
        if (buf[i] > '9') has_numeral = 1;
        for (j = i + 1; j < n; j++) {
            Py_UCS4 c = buf[j];
            if (is_num(c)) {
                last = j;
                count++;
                if (!numeral_weak[c]) strict++;
                if (c > '9') has_numeral = 1;
            } else if (is_word(c)) {
                break;
            }
        }
        if (count >= 5 && strict >= 3 && has_numeral) {
            for (Py_ssize_t p = first; p <= last; p++) {
                Py_UCS4 c = buf[p];
                if (c > '9' && is_num(c)) buf[p] = (Py_UCS4)numeral_digit[c];
            }
            changed = 1;
        }
        i = last + 1;
    }
    return changed;
}

static PyObject *py_normalize(PyObject *self, PyObject *args) {
    PyObject *text, *cap;
    if (!PyArg_ParseTuple(args, "UO", &text, &cap)) return NULL;
    Tables *t = (Tables *)PyCapsule_GetPointer(cap, CAPSULE_NAME);
    if (!t) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);

    Py_UCS4 small[4 * 512];
    Py_UCS4 *mem = small;
    if (n > 512) {
        mem = PyMem_Malloc(sizeof(Py_UCS4) * 4 * (size_t)n);
        if (!mem) return PyErr_NoMemory();
    }
    Py_UCS4 *folded = mem, *stripped = mem + n, *collapsed = mem + 2 * n, *canon = mem + 3 * n;

    int fold_changed = 0;
    const Py_UCS4 *ft = t->fold;
    Py_ssize_t nf = t->n_fold;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        Py_UCS4 f = c < (Py_UCS4)nf ? ft[c] : c;
        folded[i] = f;
        fold_changed |= (f != c);
    }
    fold_changed |= number_runs(folded, n);

    Py_ssize_t ns = 0, nc = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = folded[i];
        if (!is_word(c)) continue;
        if (!(ns && c == stripped[ns - 1] && is_han(c))) collapsed[nc++] = c;
        stripped[ns++] = c;
    }
    int canon_changed = 0;
    const Py_UCS4 *ct = t->canon;
    Py_ssize_t ncn = t->n_canon;
    for (Py_ssize_t i = 0; i < nc; i++) {
        Py_UCS4 c = collapsed[i];
        Py_UCS4 m = c < (Py_UCS4)ncn ? ct[c] : c;
        canon[i] = m;
        canon_changed |= (m != c);
    }

    PyObject *o_folded = NULL, *o_stripped = NULL, *o_text = NULL, *o_canon = NULL, *out = NULL;
    if (fold_changed) {
        o_folded = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, folded, n);
    } else {
        o_folded = text;
        Py_INCREF(o_folded);
    }
    if (!o_folded) goto done;
    if (ns == n) {
        o_stripped = o_folded;
        Py_INCREF(o_stripped);
    } else {
        o_stripped = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, stripped, ns);
        if (!o_stripped) goto done;
    }
    if (nc == ns) {
        o_text = o_stripped;
        Py_INCREF(o_text);
    } else {
        o_text = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, collapsed, nc);
        if (!o_text) goto done;
    }
    if (canon_changed) {
        o_canon = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, canon, nc);
        if (!o_canon) goto done;
    } else {
        o_canon = o_text;
        Py_INCREF(o_canon);
    }
    out = PyTuple_Pack(5, o_folded, o_stripped, o_text, o_canon, nc != ns ? Py_True : Py_False);
done:
    Py_XDECREF(o_folded);
    Py_XDECREF(o_stripped);
    Py_XDECREF(o_text);
    Py_XDECREF(o_canon);
    if (mem != small) PyMem_Free(mem);
    return out;
}

static int append_int(PyObject *list, Py_ssize_t v) {
    PyObject *o = PyLong_FromSsize_t(v);
    if (!o) return -1;
    int r = PyList_Append(list, o);
    Py_DECREF(o);
    return r;
}

static PyObject *py_layout(PyObject *self, PyObject *args) {
    PyObject *folded;
    if (!PyArg_ParseTuple(args, "U", &folded)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(folded);
    int kind = PyUnicode_KIND(folded);
    const void *data = PyUnicode_DATA(folded);
    PyObject *kept = PyList_New(0), *tpos = PyList_New(0), *lens = PyList_New(0), *before = PyList_New(0);
    if (!kept || !tpos || !lens || !before) goto fail;
    Py_ssize_t ns = 0, removed = 0, run_start = -1, run_len = 0;
    Py_UCS4 prev = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        Py_UCS4 c = 0;
        int word = 0;
        if (i < n) {
            c = PyUnicode_READ(kind, data, i);
            word = is_word(c);
            if (!word) continue;
        }
        /* A word character (or the end): close the run of prev when c does not continue it. */
        if (i < n && ns && c == prev && is_han(c)) {
            if (run_len == 1) run_start = ns - 1;
            run_len++;
        } else {
            if (run_len > 1) {
                if (append_int(tpos, run_start - removed) || append_int(lens, run_len) || append_int(before, removed))
                    goto fail;
                removed += run_len - 1;
            }
            run_len = 1;
        }
        if (i == n) break;
        if (append_int(kept, i)) goto fail;
        prev = c;
        ns++;
    }
    PyObject *out = PyTuple_Pack(4, kept, tpos, lens, before);
    Py_DECREF(kept);
    Py_DECREF(tpos);
    Py_DECREF(lens);
    Py_DECREF(before);
    return out;
fail:
    Py_XDECREF(kept);
    Py_XDECREF(tpos);
    Py_XDECREF(lens);
    Py_XDECREF(before);
    return NULL;
}

static PyMethodDef methods[] = {
    {"layout", py_layout, METH_VARARGS, "layout(folded) -> (kept, run_pos, run_len, run_before): the offset map"},
    {"tables", py_tables, METH_VARARGS, "tables(fold: dict[int, str], canon: str) -> the tables normalize() reads"},
    {"normalize", py_normalize, METH_VARARGS,
     "normalize(text, tables) -> (folded, stripped, text, canon, repeats): see normalize.Normalizer.normalize"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_normalize", NULL, -1, methods};

PyMODINIT_FUNC PyInit__normalize(void) {
    init_classes();
    return PyModule_Create(&module);
}
