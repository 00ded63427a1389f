/* recv() and send() on the server's non-blocking sockets without releasing the GIL, and a
 * cheaper epoll_wait() for the server's pass over its ready sockets (poll, below).
 *
 * os.read and os.write release the GIL around every call. The server's sockets never block,
 * so that buys nothing, and dropping and taking the GIL back costs about 150 ns per call
 * (measured on loopback: a write and a read of 40 bytes took 7.10 us with os.read/os.write,
 * 6.85 with read() and write() holding the GIL, 6.80 with recv() and send(), which skip the
 * file layer). Reads of up to 64 KB go through one static buffer, so a 40-byte read makes a
 * 40-byte bytes object instead of a 64 KB one that is then shrunk. The GIL is held
 * throughout, which is also what makes the static buffer safe. Same signatures, return values
 * and exceptions as os.read and os.write, but for sockets only (anything else: ENOTSOCK);
 * never use them on a blocking one. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static char buffer[65536];

static int take_fd(PyObject *arg, int *fd)
{
    long value = PyLong_AsLong(arg); /* (the public API: _PyLong_AsInt is gone in 3.13) */
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (value > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "fd is greater than maximum");
        return -1;
    }
    if (value < 0) {
        errno = EBADF;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    *fd = (int)value;
    return 0;
}

/* read(fd, n) -> bytes: at most n bytes; b"" once the peer has shut down its side. */
static PyObject *fastio_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "read(fd, n) takes 2 arguments");
        return NULL;
    }
    if (take_fd(args[0], &fd) < 0)
        return NULL;
    Py_ssize_t want = PyLong_AsSsize_t(args[1]);
    if (want == -1 && PyErr_Occurred())
        return NULL;
    if (want < 0) {
        errno = EINVAL;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if ((size_t)want > sizeof buffer) { /* larger than the buffer: as os.read does it */
        PyObject *out = PyBytes_FromStringAndSize(NULL, want);
        if (!out)
            return NULL;
        for (;;) {
            ssize_t n = recv(fd, PyBytes_AS_STRING(out), (size_t)want, 0);
            if (n >= 0) {
                if (n != want && _PyBytes_Resize(&out, n) < 0)
                    return NULL;
                return out;
            }
            if (errno != EINTR || PyErr_CheckSignals() < 0) {
                Py_DECREF(out);
                return errno == EINTR ? NULL : PyErr_SetFromErrno(PyExc_OSError);
            }
        }
    }
    for (;;) {
        ssize_t n = recv(fd, buffer, (size_t)want, 0);
        if (n >= 0)
            return PyBytes_FromStringAndSize(buffer, n);
        if (errno != EINTR)
            return PyErr_SetFromErrno(PyExc_OSError);
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
}

/* write(fd, data) -> int: how many bytes the kernel took; data is any buffer. */
static PyObject *fastio_write(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    Py_buffer view;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "write(fd, data) takes 2 arguments");
        return NULL;
    }
    if (take_fd(args[0], &fd) < 0 || PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = NULL;
    for (;;) {
        ssize_t n = send(fd, view.buf, (size_t)view.len, 0);
        if (n >= 0) {
            result = PyLong_FromSsize_t(n);
            break;
        }
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            break;
        }
        if (PyErr_CheckSignals() < 0)
            break;
    }
    PyBuffer_Release(&view);
    return result;
}

/* poll(epfd, maxevents) -> [fd, events, fd, events, ...]: the ready descriptors of an epoll
 * set, without waiting. select.epoll.poll builds a (fd, events) tuple per descriptor through
 * Py_BuildValue, which parses its format string each time; a flat list of small ints (cached
 * by CPython, so nothing is allocated for them) is a quarter of its cost per ready socket. */
static PyObject *fastio_poll(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static struct epoll_event events[1024];
    int epfd;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "poll(epfd, maxevents) takes 2 arguments");
        return NULL;
    }
    if (take_fd(args[0], &epfd) < 0)
        return NULL;
    long most = PyLong_AsLong(args[1]);
    if (most == -1 && PyErr_Occurred())
        return NULL;
    if (most <= 0 || most > (long)(sizeof events / sizeof events[0])) {
        PyErr_SetString(PyExc_ValueError, "poll(): maxevents must be 1..1024");
        return NULL;
    }
    int n;
    for (;;) {
        n = epoll_wait(epfd, events, (int)most, 0);
        if (n >= 0)
            break;
        if (errno != EINTR)
            return PyErr_SetFromErrno(PyExc_OSError);
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    PyObject *out = PyList_New(2 * (Py_ssize_t)n);
    if (!out)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *fd = PyLong_FromLong((long)events[i].data.fd);
        PyObject *ev = fd ? PyLong_FromUnsignedLong(events[i].events) : NULL;
        if (!ev) {
            Py_XDECREF(fd);
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, 2 * i, fd);
        PyList_SET_ITEM(out, 2 * i + 1, ev);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"read", (PyCFunction)(void (*)(void))fastio_read, METH_FASTCALL,
     "read(fd, n) -> bytes, like os.read, for non-blocking sockets."},
    {"write", (PyCFunction)(void (*)(void))fastio_write, METH_FASTCALL,
     "write(fd, data) -> int, like os.write, for non-blocking sockets."},
    {"poll", (PyCFunction)(void (*)(void))fastio_poll, METH_FASTCALL,
     "poll(epfd, maxevents) -> [fd, events, ...] of the ready descriptors, without waiting."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "geartool.server._fastio",
    "recv() and send() for non-blocking sockets, holding the GIL; epoll_wait() without waiting.",
    -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastio(void)
{
    return PyModule_Create(&module);
}
