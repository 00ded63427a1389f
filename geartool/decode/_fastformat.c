/* The text and JSON lines of the decoder's compiled fast path: byte for byte what
 * output.Renderer.text and .json print for a binary packet (tests hold the two together). */
#include "_fastdecode.h"

#include <stdio.h>

int bytes_grow(Bytes *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap - b->len < more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return NOMEM;
    b->p = p, b->cap = cap;
    return OK;
}

int flush(Run *r)
{
    if (PyErr_CheckSignals() < 0) /* Ctrl-C while printing a big capture */
        return PYERR;
    if (!r->out.len)
        return OK;
    PyObject *chunk = PyBytes_FromStringAndSize(r->out.p, (Py_ssize_t)r->out.len);
    if (!chunk)
        return PYERR;
    r->out.len = 0;
    PyObject *res = PyObject_CallMethod(r->view, "write", "(O)", chunk);
    Py_DECREF(chunk);
    if (!res)
        return PYERR;
    Py_DECREF(res);
    return OK;
}

/* Copy a str a view method returned into dst (size bytes); PYERR if it is not a short str. */
static int take_text(PyObject *text, char *dst, size_t size, size_t *len)
{
    if (!text)
        return PYERR;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(text, &n);
    int rc = PYERR;
    if (p && (size_t)n < size) {
        memcpy(dst, p, (size_t)n + 1);
        if (len)
            *len = (size_t)n;
        rc = OK;
    } else if (p) {
        PyErr_SetString(PyExc_ValueError, "fast path: text too long");
    }
    Py_DECREF(text);
    return rc;
}

/* The stream's client and server as net.format_addr writes them (IPv6 is compressed there). */
static int stream_names(Run *r, Stream *s)
{
    if (s->names[0][0])
        return OK;
    const Endpoint *ends[2] = {&s->client, &s->server};
    for (int k = 0; k < 2; k++) {
        PyObject *text = PyObject_CallMethod(r->view, "address", "y#i",
                                             (const char *)ends[k]->addr,
                                             (Py_ssize_t)ends[k]->alen, (int)ends[k]->port);
        if (take_text(text, s->names[k], sizeof s->names[k], NULL) != OK)
            return PYERR;
    }
    return OK;
}

/* Before a direction's first line: its fixed part of every line ("#0   C>S " or the JSON
 * stream fields), and in the text view the stream's header line if it is the stream's first. */
static int first_use(Run *r, Half *h)
{
    if (h->where_len)
        return OK;
    Stream *s = &r->streams[h->stream];
    if (stream_names(r, s) != OK)
        return PYERR;
    PyObject *where = PyObject_CallMethod(r->view, "where", "iiss", h->stream, h->to_server,
                                          s->names[0], s->names[1]);
    if (take_text(where, h->where, sizeof h->where, &h->where_len) != OK)
        return PYERR;
    if (r->t->json || s->announced)
        return OK;
    s->announced = 1;
    PyObject *line = PyObject_CallMethod(r->view, "header", "issli", h->stream, s->names[0],
                                         s->names[1], s->first_frame, s->midstream);
    if (!line)
        return PYERR;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(line, &n);
    int rc = !p ? PYERR : bytes_put(&r->out, p, (size_t)n);
    if (rc == OK)
        rc = bytes_put(&r->out, "\n", 1);
    Py_DECREF(line);
    return rc;
}

/* Bytes the prefix of a line may take (see prefix()). */
static size_t prefix_room(const Run *r)
{
    return 256 + sizeof r->halves->where;
}

/* What starts every line: in text, frame number, relative time and direction; in JSON, the
 * frame and stream fields. */
static char *prefix(Run *r, Half *h, long frame, double ts, char *w)
{
    if (!r->t->json)
        w += sprintf(w, "%7ld %11.6f ", frame, ts - r->start);
    else
        w += sprintf(w, "{\"frame.number\":%ld,\"frame.time_epoch\":%.6f,"
                        "\"frame.time_relative\":%.6f", frame, ts, ts - r->start);
    return put(w, h->where, h->where_len);
}

/* A line whose body a view method made (admin lines, anomalies); ``body`` is a new reference. */
static int emit_body(Run *r, Half *h, long frame, double ts, PyObject *body)
{
    if (!body)
        return PYERR;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(body, &n);
    int rc = NOMEM;
    if (!p)
        rc = PYERR;
    else if (r->out.cap - r->out.len >= prefix_room(r) + (size_t)n + 1
             || bytes_grow(&r->out, prefix_room(r) + (size_t)n + 1) == OK) {
        char *w = prefix(r, h, frame, ts, r->out.p + r->out.len);
        w = put(w, p, (size_t)n);
        *w++ = '\n';
        r->out.len = (size_t)(w - r->out.p);
        rc = r->out.len >= FLUSH_AT ? flush(r) : OK;
    }
    Py_DECREF(body);
    return rc;
}

int emit_admin(Run *r, Half *h, long frame, double ts, const uint8_t *line, size_t len)
{
    if (first_use(r, h) != OK)
        return PYERR;
    return emit_body(r, h, frame, ts,
                     PyObject_CallMethod(r->view, "admin", "iiy#", h->stream, h->to_server,
                                         (const char *)line, (Py_ssize_t)len));
}

int emit_anomaly(Run *r, Half *h, long frame, double ts, int kind, uint64_t count,
                 const Bytes *bytes)
{
    if (!r->emit)
        return OK;
    if (first_use(r, h) != OK)
        return PYERR;
    PyObject *body = bytes ? PyObject_CallMethod(r->view, "anomaly", "iy#", kind, bytes->p,
                                                 (Py_ssize_t)bytes->len)
                           : PyObject_CallMethod(r->view, "anomaly", "iK", kind,
                                                 (unsigned long long)count);
    return emit_body(r, h, frame, ts, body);
}

int emit_frame(Run *r, Half *h, long frame, double ts, int req, int type, const uint8_t *payload,
               uint32_t size)
{
    const Tables *t = r->t;
    const TypeFmt *f = &t->types[type];
    const uint8_t *arg[MAX_ARGS];
    size_t alen[MAX_ARGS];
    int n = f->nargs;
    if (n == 1)
        arg[0] = payload, alen[0] = size;
    else if (n > 1) { /* all but the last argument end at a NUL; the last is the rest */
        const uint8_t *p = payload, *end = payload + size;
        for (int i = 0; i < n - 1; i++) {
            const uint8_t *z = memchr(p, 0, (size_t)(end - p));
            if (!z)
                return BAIL; /* too few arguments: the Python decoder reports it */
            arg[i] = p, alen[i] = (size_t)(z - p);
            p = z + 1;
        }
        arg[n - 1] = p, alen[n - 1] = (size_t)(end - p);
    }
    if (!r->emit)
        return OK;
    if (first_use(r, h) != OK)
        return PYERR;
    /* Room for the worst case, so the writers below need no checks: 6 output bytes per input
     * byte at most (a "\u00xx" escape), plus the fixed parts. */
    size_t need = prefix_room(r) + f->name.n + f->head[req].n;
    for (int i = 0; i < n; i++)
        need += f->label[i].n + 6 * alen[i] + 32;
    if (r->out.cap - r->out.len < need && bytes_grow(&r->out, need) != OK)
        return NOMEM;
    char *w = prefix(r, h, frame, ts, r->out.p + r->out.len);
    if (!t->json) {
        w = put(w, f->name.p, f->name.n);
        for (int i = 0; i < n; i++) {
            w = put(w, f->label[i].p, f->label[i].n);
            if (i == f->data_at)
                w += sprintf(w, "%zuB ", alen[i]);
            w = escape_preview(w, arg[i], alen[i], t->limit);
        }
    } else {
        w = put(w, f->head[req].p, f->head[req].n);
        w += sprintf(w, ",\"gearman.data_size\":%u", n ? size : 0);
        for (int i = 0; i < n; i++) {
            w = put(w, f->label[i].p, f->label[i].n);
            w = escape_json(w, arg[i], alen[i]);
        }
        *w++ = '}';
    }
    *w++ = '\n';
    r->out.len = (size_t)(w - r->out.p);
    return r->out.len >= FLUSH_AT ? flush(r) : OK;
}
