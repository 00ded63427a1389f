/* The Python module of the decoder's compiled fast path; see _fastdecode.h for what it does. */
#include "_fastdecode.h"

static int take_str(PyObject *o, Str *s)
{
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(o, &n);
    if (!p)
        return -1;
    s->p = p, s->n = (size_t)n;
    return 0;
}

/* types[i] is None or (name, labels, data_at, head for RES, head for REQ). */
static int take_tables(Tables *t, PyObject *types)
{
    if (!PyTuple_Check(types) || PyTuple_GET_SIZE(types) != MAX_TYPES + 1) {
        PyErr_SetString(PyExc_ValueError, "types must be a tuple of 43 entries");
        return -1;
    }
    for (int i = 1; i <= MAX_TYPES; i++) {
        PyObject *e = PyTuple_GET_ITEM(types, i), *labels;
        TypeFmt *f = &t->types[i];
        if (e == Py_None)
            continue;
        PyObject *name, *res, *req;
        if (!PyArg_ParseTuple(e, "UO!iUU", &name, &PyTuple_Type, &labels, &f->data_at, &res, &req))
            return -1;
        Py_ssize_t nargs = PyTuple_GET_SIZE(labels);
        if (nargs > MAX_ARGS) {
            PyErr_SetString(PyExc_ValueError, "too many arguments in a packet type");
            return -1;
        }
        f->nargs = (int)nargs;
        for (Py_ssize_t k = 0; k < nargs; k++)
            if (take_str(PyTuple_GET_ITEM(labels, k), &f->label[k]) < 0)
                return -1;
        if (take_str(name, &f->name) < 0 || take_str(res, &f->head[0]) < 0
            || take_str(req, &f->head[1]) < 0)
            return -1;
        f->known = 1;
    }
    return 0;
}

/* Two passes: the first only checks that the whole capture is one the fast path can print;
 * the second prints it, in chunks, so nothing is printed for a capture left to Python and
 * the output is never held whole in memory. */
static PyObject *decode(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer data;
    PyObject *ports, *types, *view, *result = NULL;
    int json;
    long limit;
    if (!PyArg_ParseTuple(args, "y*O!O!plO", &data, &PyTuple_Type, &ports, &PyTuple_Type,
                          &types, &json, &limit, &view))
        return NULL;
    Tables *t = calloc(1, sizeof *t);
    Run *r = calloc(1, sizeof *r);
    int rc = NOMEM;
    if (!t || !r)
        goto done;
    rc = PYERR;
    t->json = json, t->limit = limit;
    if (take_tables(t, types) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ports); i++) {
        long p = PyLong_AsLong(PyTuple_GET_ITEM(ports, i));
        if (p < 0 || p > 65535) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "port out of range");
            goto done;
        }
        r->ports[p >> 3] |= (uint8_t)(1 << (p & 7));
    }
    r->t = t, r->view = view;
    r->nslots = 1024;
    rc = NOMEM;
    if (!(r->slots = calloc(r->nslots, sizeof *r->slots)))
        goto done;
    /* The GIL stays held: the view's methods are called back. */
    rc = read_capture(r, data.buf, (size_t)data.len);
    if (rc == OK) {
        streams_reset(r);
        r->emit = 1;
        rc = read_capture(r, data.buf, (size_t)data.len);
        if (rc == OK)
            rc = flush(r);
        if (rc == BAIL) { /* cannot be: the first pass saw the same bytes */
            PyErr_SetString(PyExc_RuntimeError, "the fast path gave up half-way");
            rc = PYERR;
        }
    }
done:
    if (rc == NOMEM)
        PyErr_NoMemory();
    else if (rc == BAIL)
        result = Py_NewRef(Py_None);
    else if (rc == OK)
        result = Py_NewRef(Py_True);
    if (r) {
        if (r->slots)
            streams_reset(r);
        free(r->slots);
        free(r->out.p);
    }
    free(r);
    free(t);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(capture, ports, types, json, limit, view)\n"
     " -> True | None\n\n"
     "Pass the lines `geartool decode` prints for a whole capture to view.write(bytes) and\n"
     "return True; or print nothing and return None when the capture needs the Python\n"
     "decoder (see the module's source for when)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastdecode", "The compiled fast path of geartool decode.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastdecode(void) { return PyModule_Create(&module); }
