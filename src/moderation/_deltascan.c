/* The delta rescan's chunk scan, in C: which lines of a chunk of JSON Lines need a look.
 *
 * scan(chunk: bytes, tables: tuple) -> (n_lines, [(line_index, start, end), ...])
 *
 * A chunk is whole lines separated by '\n' (no newline after the last). A line needs a look
 * (it is listed, with its byte span) unless it is one of the two common record shapes, exactly:
 *
 *     {"id":STR|INT,"text":STR}
 *     {"id":STR|INT,"fields":{STR:STR(,STR:STR)*}}
 *
 * (STR: a JSON string with no escape and no control character, valid UTF-8; INT: -?(0|[1-9]\d{0,17}))
 * and none of its text values (the text, or each field's value) can hold a changed rule. That
 * test is a superset of the Python prefilter's (rescan_delta.FormPrefilter.search): each form of
 * a changed rule has an anchor character k; at every received character that spells it, the
 * form is walked to the right exactly as FormPrefilter._right walks it (each next character
 * spelled by the next kept character, only noise or repeats of the character just matched
 * between); the left part is left to the Python side, which parses each listed line and runs
 * the exact tests. One-character forms flag every occurrence.
 *
 * tables (all bytes, native-endian, built by rescan_delta._native_tables):
 *   0 bmp_index    uint16[65536]  entry of each BMP code point (0: none)
 *   1 astral_cps   uint32[m]      code points above U+FFFF that have an entry, ascending
 *   2 astral_index uint16[m]      their entries
 *   3 mask_a       uint64[n]      per entry: bit (form % 64) of each form it is the anchor of
 *   4 spells       uint64[n * w]  per entry: bit set of the form characters it spells
 *   5 flags        uint8[n]       1: spells a one-character form; 2: noise; 4: not noise
 *   6 alnum_bmp    uint8[8192]    bit per BMP code point: str.isalnum()
 *   7 forms        int32[...]     per form: k, length, then its characters' ids
 *   8 bit_start    int32[65]      forms of bit b: bit_list[bit_start[b]:bit_start[b + 1]]
 *   9 bit_list     int32[...]     offsets into forms
 * Noise, as in normalization: a character that is not alphanumeric, unless flags say otherwise;
 * a character that spells a form character is never noise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint16_t *bmp_index;
    const uint32_t *astral_cps;
    const uint16_t *astral_index;
    Py_ssize_t n_astral;
    const uint64_t *mask_a;
    const uint64_t *spells;
    Py_ssize_t words;
    const uint8_t *flags;
    Py_ssize_t n_entries;
    const uint8_t *alnum_bmp;
    const int32_t *forms;
    Py_ssize_t n_forms_data;
    const int32_t *bit_start;
    const int32_t *bit_list;
    Py_ssize_t n_bit_list;
    uint8_t has_entry[8192];  /* bit per BMP code point that anchors a form (fits in L1) */
} Tables;

/* Decode one UTF-8 sequence at p (< end), strictly as Python does; 0 length when invalid. */
static inline int utf8_next(const unsigned char *p, const unsigned char *end, uint32_t *cp) {
    unsigned char c = p[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        if (end - p < 2 || (p[1] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;   /* overlong */
        if (c == 0xED && p[1] > 0x9F) return 0;   /* surrogates */
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return 3;
    }
    if (c < 0xF5) {
        if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;   /* overlong */
        if (c == 0xF4 && p[1] > 0x8F) return 0;   /* above U+10FFFF */
        *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
              ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        return 4;
    }
    return 0;
}

static inline Py_ssize_t entry_of(const Tables *t, uint32_t cp) {
    if (cp < 0x10000) return t->bmp_index[cp];
    Py_ssize_t lo = 0, hi = t->n_astral;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (t->astral_cps[mid] < cp) lo = mid + 1; else hi = mid;
    }
    if (lo < t->n_astral && t->astral_cps[lo] == cp) return t->astral_index[lo];
    return 0;
}

static inline int alnum(const Tables *t, uint32_t cp) {
    return cp < 0x10000 ? (t->alnum_bmp[cp >> 3] >> (cp & 7)) & 1 : Py_UNICODE_ISALNUM(cp) != 0;
}

static inline int spells(const Tables *t, Py_ssize_t e, int32_t id) {
    return (int)((t->spells[e * t->words + (id >> 6)] >> (id & 63)) & 1);
}

static inline int is_class(const Tables *t, Py_ssize_t e) {
    const uint64_t *w = t->spells + e * t->words;
    for (Py_ssize_t i = 0; i < t->words; i++) if (w[i]) return 1;
    return 0;
}

/* Noise: a character the walk steps over (not a form character, and noise by normalization). */
static inline int noise(const Tables *t, Py_ssize_t e, uint32_t cp) {
    if (e) {
        uint8_t f = t->flags[e];
        if (f & 2) return 1;
        if (f & 4) return 0;
    }
    return !alnum(t, cp);
}

/* The walk of the form at forms[off] to the right of its anchor, over [p, end) (the rest of
 * the string; its closing quote or an escape ends it): 1 when the form's last character is
 * reached, as FormPrefilter._right decides. */
static int walk_right(const Tables *t, int32_t off, const unsigned char *p, const unsigned char *end) {
    int32_t k = t->forms[off], len = t->forms[off + 1];
    const int32_t *ids = t->forms + off + 2;
    if (k >= len - 1) return 1;
    while (p < end) {
        unsigned char c = *p;
        if (c == '"' || c == '\\' || c < 0x20) return 0;
        uint32_t cp;
        int n = utf8_next(p, end, &cp);
        if (n == 0) return 0;
        p += n;
        Py_ssize_t e = entry_of(t, cp);
        if (e && is_class(t, e)) {
            if (spells(t, e, ids[k + 1])) {
                if (++k >= len - 1) return 1;
            } else if (!spells(t, e, ids[k])) {
                return 0;  /* neither the next character nor a repeat */
            }
        } else if (!noise(t, e, cp)) {
            return 0;
        }
    }
    return 0;
}

/* A JSON string at *pp (which points at its opening quote); with scan != 0 its characters are
 * tested too. Returns 1 for a string of the simple kind, 0 otherwise; *hit is set on a find. */
static int json_string(const unsigned char **pp, const unsigned char *end, const Tables *t,
                       int scan, int *hit) {
    const unsigned char *p = *pp;
    if (p >= end || *p != '"') return 0;
    p++;
    if (!scan) {  /* validate only: the id and the field names */
        while (p < end) {
            unsigned char c = *p;
            if (c == '"') { *pp = p + 1; return 1; }
            if (c < 0x80) {
                if (c == '\\' || c < 0x20) return 0;
                p++;
                continue;
            }
            uint32_t cp;
            int n = utf8_next(p, end, &cp);
            if (n == 0) return 0;
            p += n;
        }
        return 0;
    }
    while (p < end) {
        unsigned char c = *p;
        uint32_t cp;
        if (c >= 0xE1 && c <= 0xEC && end - p >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
            /* the common case: a three-byte sequence with no overlong or surrogate form */
            cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            p += 3;
        } else if (c < 0x80) {
            if (c == '"') { *pp = p + 1; return 1; }
            if (c == '\\' || c < 0x20) return 0;
            cp = c;
            p++;
        } else {
            int n = utf8_next(p, end, &cp);
            if (n == 0) return 0;
            p += n;
        }
        if (*hit) continue;
        if (cp < 0x10000 && !((t->has_entry[cp >> 3] >> (cp & 7)) & 1)) continue;
        Py_ssize_t e = entry_of(t, cp);
        if (!e) continue;
        if (t->flags[e] & 1) { *hit = 1; continue; }
        uint64_t ma = t->mask_a[e];
        while (ma && !*hit) {
            int b = __builtin_ctzll(ma);
            ma &= ma - 1;
            for (int32_t i = t->bit_start[b]; i < t->bit_start[b + 1]; i++) {
                int32_t off = t->bit_list[i];
                int32_t k = t->forms[off];
                /* the anchor must spell this form's anchor character (bits are shared mod 64) */
                if (spells(t, e, t->forms[off + 2 + k]) && walk_right(t, off, p, end)) { *hit = 1; break; }
            }
        }
    }
    return 0;
}

static inline int lit(const unsigned char **pp, const unsigned char *end, const char *s, size_t n) {
    if ((size_t)(end - *pp) < n || memcmp(*pp, s, n) != 0) return 0;
    *pp += n;
    return 1;
}

/* 1: the line [p, end) is a simple record and nothing in its texts was found. */
static int line_passes(const unsigned char *p, const unsigned char *end, const Tables *t) {
    int hit = 0;
    if (!lit(&p, end, "{\"id\":", 6)) return 0;
    if (p < end && *p == '"') {
        if (!json_string(&p, end, t, 0, &hit)) return 0;
    } else {
        if (p < end && *p == '-') p++;
        if (p >= end) return 0;
        if (*p == '0') p++;
        else if (*p >= '1' && *p <= '9') {
            int digits = 0;
            while (p < end && *p >= '0' && *p <= '9') { p++; if (++digits > 18) return 0; }
        } else return 0;
    }
    if (lit(&p, end, ",\"text\":", 8)) {
        if (!json_string(&p, end, t, 1, &hit)) return 0;
    } else if (lit(&p, end, ",\"fields\":{", 11)) {
        for (;;) {
            if (!json_string(&p, end, t, 0, &hit)) return 0;
            if (!lit(&p, end, ":", 1)) return 0;
            if (!json_string(&p, end, t, 1, &hit)) return 0;
            if (hit) return 0;
            if (lit(&p, end, "}", 1)) break;
            if (!lit(&p, end, ",", 1)) return 0;
        }
    } else return 0;
    if (!lit(&p, end, "}", 1)) return 0;
    return p == end && !hit;
}

static int get_table(PyObject *tables, Py_ssize_t i, Py_buffer *view, Py_ssize_t itemsize, Py_ssize_t *count) {
    PyObject *o = PyTuple_GET_ITEM(tables, i);
    if (PyObject_GetBuffer(o, view, PyBUF_SIMPLE) < 0) return -1;
    if (view->len % itemsize != 0) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "table %zd: length %zd is not a multiple of %zd", i, view->len, itemsize);
        return -1;
    }
    *count = view->len / itemsize;
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer chunk;
    PyObject *tables;
    if (!PyArg_ParseTuple(args, "y*O!", &chunk, &PyTuple_Type, &tables)) return NULL;
    if (PyTuple_GET_SIZE(tables) != 10) {
        PyBuffer_Release(&chunk);
        PyErr_SetString(PyExc_ValueError, "tables: expected 10 buffers");
        return NULL;
    }
    Py_buffer v[10];
    static const Py_ssize_t sizes[10] = {2, 4, 2, 8, 8, 1, 1, 4, 4, 4};
    Py_ssize_t counts[10];
    int got = 0;
    PyObject *result = NULL, *todo = NULL;
    for (; got < 10; got++) {
        if (get_table(tables, got, &v[got], sizes[got], &counts[got]) < 0) goto done;
    }
    Py_ssize_t n = counts[3];
    if (counts[0] != 65536 || counts[1] != counts[2] || n < 1 || counts[5] != n || counts[4] % n != 0 ||
        counts[4] / n < 1 || counts[6] != 8192 || counts[8] != 65) {
        PyErr_SetString(PyExc_ValueError, "tables: inconsistent sizes");
        goto done;
    }
    static Tables t;  /* (static: the bitmap is large for the stack; the GIL guards it) */
    t = (Tables){
        (const uint16_t *)v[0].buf, (const uint32_t *)v[1].buf, (const uint16_t *)v[2].buf, counts[1],
        (const uint64_t *)v[3].buf, (const uint64_t *)v[4].buf, counts[4] / n, (const uint8_t *)v[5].buf, n,
        (const uint8_t *)v[6].buf, (const int32_t *)v[7].buf, counts[7], (const int32_t *)v[8].buf,
        (const int32_t *)v[9].buf, counts[9],
    };
    memset(t.has_entry, 0, sizeof t.has_entry);
    for (Py_ssize_t i = 0; i < 65536; i++) {
        if (t.bmp_index[i] >= n) { PyErr_SetString(PyExc_ValueError, "bmp_index out of range"); goto done; }
        /* Only anchors start a walk: characters that merely spell a later form character or
         * are noise are looked up inside walk_right, never here. */
        uint16_t e = t.bmp_index[i];
        if (e && (t.mask_a[e] || (t.flags[e] & 1))) t.has_entry[i >> 3] |= (uint8_t)(1 << (i & 7));
    }
    for (Py_ssize_t i = 0; i < t.n_astral; i++) {
        if (t.astral_index[i] >= n) { PyErr_SetString(PyExc_ValueError, "astral_index out of range"); goto done; }
    }
    for (int b = 0; b < 64; b++) {
        if (t.bit_start[b] < 0 || t.bit_start[b] > t.bit_start[b + 1] || t.bit_start[b + 1] > t.n_bit_list) {
            PyErr_SetString(PyExc_ValueError, "bit_start out of range"); goto done;
        }
    }
    for (Py_ssize_t i = 0; i < t.n_bit_list; i++) {
        int32_t off = t.bit_list[i];
        if (off < 0 || off + 2 > t.n_forms_data) { PyErr_SetString(PyExc_ValueError, "bit_list out of range"); goto done; }
        int32_t k = t.forms[off], len = t.forms[off + 1];
        if (len < 1 || k < 0 || k >= len || off + 2 + len > t.n_forms_data) {
            PyErr_SetString(PyExc_ValueError, "forms out of range"); goto done;
        }
        for (int32_t j = 0; j < len; j++) {
            int32_t id = t.forms[off + 2 + j];
            if (id < 0 || id >= 64 * t.words) { PyErr_SetString(PyExc_ValueError, "form character out of range"); goto done; }
        }
    }
    todo = PyList_New(0);
    if (!todo) goto done;
    const unsigned char *base = (const unsigned char *)chunk.buf;
    const unsigned char *end = base + chunk.len;
    const unsigned char *p = base;
    Py_ssize_t line = 0;
    for (;;) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *e = nl ? nl : end;
        if (!line_passes(p, e, &t)) {
            PyObject *item = Py_BuildValue("(nnn)", line, (Py_ssize_t)(p - base), (Py_ssize_t)(e - base));
            if (!item || PyList_Append(todo, item) < 0) { Py_XDECREF(item); goto done; }
            Py_DECREF(item);
        }
        line++;
        if (!nl) break;
        p = nl + 1;
    }
    result = Py_BuildValue("(nO)", line, todo);
done:
    Py_XDECREF(todo);
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    PyBuffer_Release(&chunk);
    return result;
}

/* alnum_bmp() -> bytes: one bit per BMP code point, str.isalnum() (table 6 of scan). */
static PyObject *alnum_bmp(PyObject *self, PyObject *noargs) {
    uint8_t bits[8192];
    memset(bits, 0, sizeof bits);
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        if (Py_UNICODE_ISALNUM(cp)) bits[cp >> 3] |= (uint8_t)(1 << (cp & 7));
    }
    return PyBytes_FromStringAndSize((const char *)bits, sizeof bits);
}

static PyMethodDef methods[] = {
    {"alnum_bmp", alnum_bmp, METH_NOARGS, "alnum_bmp() -> bytes: a bit per BMP code point, str.isalnum()"},
    {"scan", scan, METH_VARARGS, "scan(chunk, tables) -> (n_lines, [(line_index, start, end), ...])"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_deltascan", "The delta rescan's chunk scan.", -1, methods};

PyMODINIT_FUNC PyInit__deltascan(void) { return PyModule_Create(&module); }
