/* vigile.detect._lines: the C version of _lines.py (same results; see there).
 *
 * schedule_poll(buffer) -> bool: whether a line holds both marks of a schedule poll
 * written as producers write it ('"action":"list"', '"resource":"appointment"'),
 * anywhere, no backslash and at most one '"patient_ids"' (a mark inside another field
 * only costs the poll's shortcut, never a result).
 *
 * plain_ids(buffer) -> int: the number of patient ids in a JSON array of plain
 * non-empty strings (printable ASCII, no quote, no backslash, JSON whitespace
 * allowed around the elements), or -1 for anything else. A result >= 0 means the
 * array decodes as AccessEvent.patient_ids (list[str], each non-empty) to that many
 * strings; -1 says nothing, and the caller decodes the array itself.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

static const char LIST[] = "\"action\":\"list\"";
static const char APPOINTMENT[] = "\"resource\":\"appointment\"";
static const char IDS[] = "\"patient_ids\"";

static int is_poll(const char *p, Py_ssize_t n)
{
    const char *ids;
    if (memmem(p, n, LIST, sizeof LIST - 1) == NULL ||
        memmem(p, n, APPOINTMENT, sizeof APPOINTMENT - 1) == NULL || memchr(p, '\\', n) != NULL)
        return 0;
    /* no escape, so a key is spelt as it is: a second "patient_ids" could be a second
     * key, whose first value a full decode checks and a raw one would skip */
    ids = memmem(p, n, IDS, sizeof IDS - 1);
    if (ids == NULL)
        return 1;
    ids += sizeof IDS - 1;
    return memmem(ids, n - (ids - p), IDS, sizeof IDS - 1) == NULL;
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

static PyMethodDef methods[] = {
    {"schedule_poll", schedule_poll, METH_O,
     "schedule_poll(buffer) -> bool: the line holds '\"action\":\"list\"' and "
     "'\"resource\":\"appointment\"'."},
    {"plain_ids", plain_ids, METH_O,
     "plain_ids(buffer) -> int: the ids of a JSON array of plain non-empty strings, or -1."},
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
