/* vigile.detect._lines: the C version of _lines.py (same results; see there for what
 * each function promises and why the replay reader may rely on it).
 *
 * schedule_poll(line) -> bool: the line holds '"action":"list"' and
 *     '"resource":"appointment"'.
 * plain_ids(array) -> int: the number of ids of a JSON array of plain non-empty strings
 *     (printable ASCII, no quote, no backslash, JSON whitespace around the elements),
 *     or -1.
 * key_before(line, start) -> bool: line[:start] holds no backslash, and its first
 *     '"patient_ids"' is followed by JSON whitespace and one colon up to start.
 * raw_ids(line, raw) -> int: plain_ids(raw) when raw (a msgspec.Raw decoded from line)
 *     lies inside line and key_before(line, where it starts) holds, else -1. Only here:
 *     Python cannot tell where a Raw lies, and _lines.py's raw_ids always says -1.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static Py_ssize_t count_plain(const unsigned char *p, const unsigned char *end)
{
    Py_ssize_t n = 0;
    p = skip_ws(p, end);
    if (p == end || *p != '[')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return skip_ws(p + 1, end) == end ? 0 : -1;
    for (;;) {
        const unsigned char *start;
        if (p == end || *p != '"')
            return -1;
        start = ++p;
        while (p < end && *p >= 0x20 && *p <= 0x7e && *p != '"' && *p != '\\')
            p++;
        if (p == end || *p != '"' || p == start)
            return -1; /* an escape, a control or non-ASCII byte, an empty id, or no end */
        n++;
        p = skip_ws(p + 1, end);
        if (p == end)
            return -1;
        if (*p == ']')
            return skip_ws(p + 1, end) == end ? n : -1;
        if (*p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
}

/* The first place of needle (m bytes) in haystack, or NULL: 16 places at a time, those
 * whose bytes at u and v (0 <= u < v < m) match the needle's, then compared whole
 * (W. Mula's SIMD-friendly search: glibc's memmem takes about a cycle a byte here). */
static const char *find(const char *h, Py_ssize_t n, const char *needle, Py_ssize_t m,
                        Py_ssize_t u, Py_ssize_t v)
{
    Py_ssize_t i = 0;
    if (m > n)
        return NULL;
#if defined(__SSE2__)
    {
        const __m128i at_u = _mm_set1_epi8(needle[u]);
        const __m128i at_v = _mm_set1_epi8(needle[v]);
        for (; i + v + 16 <= n; i += 16) {
            const __m128i a = _mm_loadu_si128((const __m128i *)(h + i + u));
            const __m128i b = _mm_loadu_si128((const __m128i *)(h + i + v));
            unsigned mask = (unsigned)_mm_movemask_epi8(
                _mm_and_si128(_mm_cmpeq_epi8(a, at_u), _mm_cmpeq_epi8(b, at_v)));
            while (mask) {
                const int bit = __builtin_ctz(mask);
                if (i + bit + m <= n && memcmp(h + i + bit, needle, (size_t)m) == 0)
                    return h + i + bit;
                mask &= mask - 1;
            }
        }
    }
#endif
    for (; i + m <= n; i++)
        if (h[i] == needle[0] && memcmp(h + i, needle, (size_t)m) == 0)
            return h + i;
    return NULL;
}

static const char LIST[] = "\"action\":\"list\"";
static const char APPOINTMENT[] = "\"resource\":\"appointment\"";
static const char IDS[] = "\"patient_ids\"";

static int is_poll(const char *p, Py_ssize_t n)
{
    /* the colon and the value's first letter: 8 and 10 in LIST, 10 and 12 in APPOINTMENT */
    return find(p, n, LIST, sizeof LIST - 1, 8, 10) != NULL &&
           find(p, n, APPOINTMENT, sizeof APPOINTMENT - 1, 10, 12) != NULL;
}

static int is_key_before(const char *p, Py_ssize_t start)
{
    const char *key;
    const unsigned char *q, *end = (const unsigned char *)p + start;
    if (memchr(p, '\\', (size_t)start) != NULL)
        return 0;
    key = find(p, start, IDS, sizeof IDS - 1, 1, 8); /* 'p' and '_' */
    if (key == NULL)
        return 0;
    q = skip_ws((const unsigned char *)key + sizeof IDS - 1, end);
    if (q == end || *q != ':')
        return 0;
    return skip_ws(q + 1, end) == end;
}

static PyObject *schedule_poll(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    int found;
    (void)module;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    found = is_poll((const char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
}

static PyObject *plain_ids(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    Py_ssize_t n;
    (void)module;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    n = count_plain((const unsigned char *)view.buf, (const unsigned char *)view.buf + view.len);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}

static PyObject *key_before(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t start;
    int found;
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "key_before(line, start) takes two arguments");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    found = start >= 0 && start <= view.len && is_key_before((const char *)view.buf, start);
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
}

static PyObject *raw_ids(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer line, raw;
    Py_ssize_t n = -1;
    const char *lo, *at;
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "raw_ids(line, raw) takes two arguments");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &line, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &raw, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&line);
        return NULL;
    }
    lo = (const char *)line.buf;
    at = (const char *)raw.buf;
    /* the raw value is a view into the line (msgspec decodes a Raw without a copy); a
     * value held elsewhere (a Raw not from this line, the field's default) says -1 */
    if ((uintptr_t)at >= (uintptr_t)lo && raw.len <= line.len &&
        (uintptr_t)at - (uintptr_t)lo <= (uintptr_t)(line.len - raw.len) &&
        is_key_before(lo, (Py_ssize_t)((uintptr_t)at - (uintptr_t)lo)))
        n = count_plain((const unsigned char *)at, (const unsigned char *)at + raw.len);
    PyBuffer_Release(&raw);
    PyBuffer_Release(&line);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"schedule_poll", schedule_poll, METH_O,
     "schedule_poll(line) -> bool: the line holds both marks of a schedule poll."},
    {"plain_ids", plain_ids, METH_O,
     "plain_ids(array) -> int: the ids of a JSON array of plain non-empty strings, or -1."},
    {"key_before", (PyCFunction)(void (*)(void))key_before, METH_FASTCALL,
     "key_before(line, start) -> bool: no backslash before start, and the first "
     "'\"patient_ids\"' is the key of what starts there."},
    {"raw_ids", (PyCFunction)(void (*)(void))raw_ids, METH_FASTCALL,
     "raw_ids(line, raw) -> int: plain_ids(raw) where its key is the line's only one, or -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "vigile.detect._lines",
    .m_doc = "The C version of vigile.detect._lines (same results).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__lines(void) { return PyModule_Create(&module); }
