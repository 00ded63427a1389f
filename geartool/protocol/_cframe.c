/* One decoded packet as a Frame, built straight from the received bytes; and the reverse, a
 * packet's bytes from its parts in one allocation.
 *
 * The decoder's Python path slices the payload out of the buffer, splits it (a list), turns the
 * list into a tuple and copies a 3-tuple into the Frame: five objects and two copies of the
 * data besides the arguments themselves. This makes the arguments from the buffer and the Frame
 * directly. Same result as frames.split_args plus tuple.__new__(Frame, ...); where the payload
 * has fewer NULs than the packet type needs it returns None, and the caller's Python path
 * raises the error with its message. Optional: the decoder works the same without it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* frame(cls, magic, ptype, count, buf, start, end) -> cls((magic, ptype, args)) or None */
static PyObject *cframe_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "frame() takes 7 arguments");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    if (!PyType_Check(args[0]) || !PyType_IsSubtype(cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "frame(): cls must be a tuple subclass");
        return NULL;
    }
    Py_ssize_t count = PyLong_AsSsize_t(args[3]);
    Py_ssize_t start = PyLong_AsSsize_t(args[5]);
    Py_ssize_t end = PyLong_AsSsize_t(args[6]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "frame(): buf must be bytes");
        return NULL;
    }
    const char *buf = PyBytes_AS_STRING(args[4]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[4]);
    if (count < 0 || start < 0 || end < start || end > size) {
        PyErr_SetString(PyExc_ValueError, "frame(): bad count or span");
        return NULL;
    }
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
    Py_INCREF(args[1]);
    Py_INCREF(args[2]);
    PyTuple_SET_ITEM(frame, 0, args[1]);
    PyTuple_SET_ITEM(frame, 1, args[2]);
    PyTuple_SET_ITEM(frame, 2, parts);
    return frame;
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
