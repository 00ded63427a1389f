/* One decoded packet as a Frame, built straight from the received bytes.
 *
 * The decoder's Python path slices the payload out of the buffer, splits it (a list), turns the
 * list into a tuple and copies a 3-tuple into the Frame: five objects and two copies of the
 * data besides the arguments themselves. This makes the arguments from the buffer and the Frame
 * directly. Same result as frames.split_args plus tuple.__new__(Frame, ...); where the payload
 * has fewer NULs than the packet type needs it returns None, and the caller's Python path
 * raises the error with its message. Optional: the decoder works the same without it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static PyMethodDef methods[] = {
    {"frame", (PyCFunction)(void (*)(void))cframe_frame, METH_FASTCALL,
     "frame(cls, magic, ptype, count, buf, start, end) -> a Frame, or None if arguments are"
     " missing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "geartool.protocol._cframe",
    "The decoder's Frame built straight from the received bytes.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cframe(void)
{
    return PyModule_Create(&module);
}
