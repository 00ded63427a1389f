/* One decoded packet as a Frame, built straight from the received bytes; and the reverse, a
 * packet's bytes from its parts in one allocation.
 *
 * The decoder's Python path slices the payload out of the buffer, splits it (a list), turns the
 * list into a tuple and copies a 3-tuple into the Frame: five objects and two copies of the
 * data besides the arguments themselves. This makes the arguments from the buffer and the Frame
 * directly. Same result as frames.split_args plus tuple.__new__(Frame, ...); where the payload
 * has fewer NULs than the packet type needs it returns None, and the caller's Python path
 * raises the error with its message. parse() runs the decoder's loop itself over every whole
 * binary packet of a received chunk, leaving only the unusual to the Python loop. Optional: the
 * decoder works the same without it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* cls((magic, ptype, args)) from the payload buf[start:end]; None (a new reference) where the
 * payload has too few NULs for count arguments; NULL with an exception set on failure. */
static PyObject *build_frame(PyTypeObject *cls, PyObject *magic, PyObject *ptype, Py_ssize_t count,
                             const char *buf, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *parts = PyTuple_New(count);
    if (!parts)
        return NULL;
    Py_ssize_t pos = start;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t stop = end; /* the last argument is the rest of the payload */
        if (i < count - 1) {
            const char *nul = memchr(buf + pos, 0, (size_t)(end - pos));
            if (!nul) { /* too few arguments: the Python path says which */
                Py_DECREF(parts);
                Py_RETURN_NONE;
            }
            stop = nul - buf;
        }
        PyObject *arg = PyBytes_FromStringAndSize(buf + pos, stop - pos);
        if (!arg) {
            Py_DECREF(parts);
            return NULL;
        }
        PyTuple_SET_ITEM(parts, i, arg);
        pos = stop + 1;
    }
    PyObject *frame = cls->tp_alloc(cls, 3);
    if (!frame) {
        Py_DECREF(parts);
        return NULL;
    }
    Py_INCREF(magic);
    Py_INCREF(ptype);
    PyTuple_SET_ITEM(frame, 0, magic);
    PyTuple_SET_ITEM(frame, 1, ptype);
    PyTuple_SET_ITEM(frame, 2, parts);
    return frame;
}

static int is_frame_class(PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "cls must be a tuple subclass");
        return 0;
    }
    return 1;
}

/* frame(cls, magic, ptype, count, buf, start, end) -> cls((magic, ptype, args)) or None */
static PyObject *cframe_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "frame() takes 7 arguments");
        return NULL;
    }
    if (!is_frame_class(args[0]))
        return NULL;
    Py_ssize_t count = PyLong_AsSsize_t(args[3]);
    Py_ssize_t start = PyLong_AsSsize_t(args[5]);
    Py_ssize_t end = PyLong_AsSsize_t(args[6]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "frame(): buf must be bytes");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(args[4]);
    if (count < 0 || start < 0 || end < start || end > size) {
        PyErr_SetString(PyExc_ValueError, "frame(): bad count or span");
        return NULL;
    }
    return build_frame((PyTypeObject *)args[0], args[1], args[2], count,
                       PyBytes_AS_STRING(args[4]), start, end);
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static PyObject *parsed(Py_ssize_t pos, Py_ssize_t need)
{
    /* (Py_BuildValue parses its format on every call: 470 instructions here, a fifth of the
     * whole loop's per-read cost.) */
    PyObject *pair = PyTuple_New(2);
    if (!pair)
        return NULL;
    PyObject *a = PyLong_FromSsize_t(pos), *b = a ? PyLong_FromSsize_t(need) : NULL;
    if (!b) {
        Py_XDECREF(a);
        Py_DECREF(pair);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, a);
    PyTuple_SET_ITEM(pair, 1, b);
    return pair;
}

/* parse(cls, req, res, types, counts, buf, pos, max_payload, out) -> (pos, need)
 *
 * The decoder's loop over whole binary packets: each becomes a Frame appended to out, as the
 * Python loop makes it (types[ptype] and counts[ptype] give its type and argument count). It
 * stops at the end of buf (need 0); at an incomplete packet whose header is valid or not yet
 * whole (need: the bytes that packet takes); and, with need 0 before the end, at anything it
 * leaves to the Python loop: a text line, a bad header or too few arguments, which that loop
 * parses or reports with its own messages. */
static PyObject *cframe_parse(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "parse() takes 9 arguments");
        return NULL;
    }
    PyObject *req = args[1], *res = args[2], *types = args[3], *counts = args[4];
    PyObject *out = args[8];
    if (!is_frame_class(args[0]))
        return NULL;
    if (!PyTuple_CheckExact(types) || !PyTuple_CheckExact(counts)
        || PyTuple_GET_SIZE(counts) != PyTuple_GET_SIZE(types) || !PyBytes_Check(args[5])
        || !PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "parse(): types and counts must be tuples of one "
                        "size, buf bytes and out a list");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    Py_ssize_t pos = PyLong_AsSsize_t(args[6]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    int overflow;
    long long max_payload = PyLong_AsLongLongAndOverflow(args[7], &overflow);
    if (max_payload == -1 && PyErr_Occurred())
        return NULL;
    if (overflow) /* beyond any 32-bit length either way, as the Python loop's compare says */
        max_payload = overflow > 0 ? LLONG_MAX : -1;
    const char *buf = PyBytes_AS_STRING(args[5]);
    const unsigned char *ubuf = (const unsigned char *)buf;
    Py_ssize_t size = PyBytes_GET_SIZE(args[5]);
    Py_ssize_t ntypes = PyTuple_GET_SIZE(types);
    if (pos < 0 || pos > size) {
        PyErr_SetString(PyExc_ValueError, "parse(): pos outside buf");
        return NULL;
    }
    while (pos < size) {
        if (buf[pos] != 0)
            break; /* a text line */
        if (size - pos < 12)
            return parsed(pos, 12);
        PyObject *magic;
        if (memcmp(buf + pos, "\0REQ", 4) == 0)
            magic = req;
        else if (memcmp(buf + pos, "\0RES", 4) == 0)
            magic = res;
        else
            break;
        uint32_t ptype = get_be32(ubuf + pos + 4);
        uint32_t length = get_be32(ubuf + pos + 8);
        if (ptype == 0 || (Py_ssize_t)ptype >= ntypes || (long long)length > max_payload)
            break;
        Py_ssize_t end = pos + 12 + (Py_ssize_t)length;
        if (end > size)
            return parsed(pos, 12 + (Py_ssize_t)length);
        Py_ssize_t count = PyLong_AsSsize_t(PyTuple_GET_ITEM(counts, ptype));
        if (count < 0) {
            if (PyErr_Occurred())
                return NULL;
            break;
        }
        PyObject *frame = build_frame(cls, magic, PyTuple_GET_ITEM(types, ptype), count, buf,
                                      pos + 12, end);
        if (!frame)
            return NULL;
        if (frame == Py_None) {
            Py_DECREF(frame);
            break;
        }
        int failed = PyList_Append(out, frame);
        Py_DECREF(frame);
        if (failed)
            return NULL;
        pos = end;
    }
    return parsed(pos, 0);
}

static void put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24), p[1] = (char)(v >> 16), p[2] = (char)(v >> 8), p[3] = (char)v;
}

/* pack(magic, ptype, args) -> the packet's bytes in one allocation, or None when the inputs are
 * anything but a 4-byte magic, a 32-bit type and a tuple or list of bytes: the Python path
 * (struct and bytes.join) then gives the result or the error. */
static PyObject *cframe_pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "pack() takes 3 arguments");
        return NULL;
    }
    if (!PyBytes_CheckExact(args[0]) || PyBytes_GET_SIZE(args[0]) != 4 || !PyLong_Check(args[1])
        || !(PyTuple_CheckExact(args[2]) || PyList_CheckExact(args[2])))
        Py_RETURN_NONE;
    unsigned long ptype = PyLong_AsUnsignedLong(args[1]);
    if (PyErr_Occurred() || ptype > 0xFFFFFFFFul) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *seq = args[2];
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t total = n > 0 ? n - 1 : 0; /* the NULs between arguments */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_CheckExact(items[i]))
            Py_RETURN_NONE;
        total += PyBytes_GET_SIZE(items[i]);
    }
    if (total > 0xFFFFFFFFll)
        Py_RETURN_NONE;
    PyObject *out = PyBytes_FromStringAndSize(NULL, 12 + total);
    if (!out)
        return NULL;
    char *w = PyBytes_AS_STRING(out);
    memcpy(w, PyBytes_AS_STRING(args[0]), 4);
    put_be32(w + 4, (uint32_t)ptype);
    put_be32(w + 8, (uint32_t)total);
    w += 12;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i)
            *w++ = 0;
        Py_ssize_t len = PyBytes_GET_SIZE(items[i]);
        memcpy(w, PyBytes_AS_STRING(items[i]), (size_t)len);
        w += len;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"frame", (PyCFunction)(void (*)(void))cframe_frame, METH_FASTCALL,
     "frame(cls, magic, ptype, count, buf, start, end) -> a Frame, or None if arguments are"
     " missing."},
    {"parse", (PyCFunction)(void (*)(void))cframe_parse, METH_FASTCALL,
     "parse(cls, req, res, types, counts, buf, pos, max_payload, out) -> (pos, need): whole"
     " binary packets from pos appended to out as Frames."},
    {"pack", (PyCFunction)(void (*)(void))cframe_pack, METH_FASTCALL,
     "pack(magic, ptype, args) -> the packet's bytes, or None to leave it to Python."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "geartool.protocol._cframe",
    "Frames from received bytes and packet bytes from their parts, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cframe(void)
{
    return PyModule_Create(&module);
}
