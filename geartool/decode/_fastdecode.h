/* Shared by the two halves of the decoder's compiled fast path: _fastdecode.c (pcap, TCP and
 * Gearman framing) and _fastformat.c (the text and JSON lines). */
#ifndef GEARTOOL_FASTDECODE_H
#define GEARTOOL_FASTDECODE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* BAIL: leave this capture to the Python decoder; PYERR: a Python exception is set. */
enum { OK = 0, BAIL = 1, NOMEM = 2, PYERR = 3 };
#define MAX_TYPES 42
#define MAX_ARGS 8

typedef struct {
    char *p;
    size_t len, cap;
} Bytes;

typedef struct {
    const char *p;
    size_t n;
} Str;

/* What output.Renderer prints for one packet type, taken from it so that names, colours and
 * JSON keys exist in one place only. */
typedef struct {
    int known, nargs, data_at;
    Str name;             /* text: the (possibly coloured) packet name */
    Str label[MAX_ARGS];  /* text: " function=" ...; JSON: ',"gearman.func.name":' ... */
    Str head[2];          /* JSON: the magic/type/name fields, for RES and REQ */
} TypeFmt;

typedef struct {
    int json;
    long limit; /* preview length of arguments in the text view; -1 = whole (--full) */
    Str dim_on, dim_off;
    TypeFmt types[MAX_TYPES + 1];
} Tables;

typedef struct {
    uint32_t src, dst;
    uint16_t sport, dport;
    int stream, to_server, peer; /* peer: index of the other direction, or -1 */
    int has_seq, has_data, closed;
    uint32_t next_seq;
    Bytes pending; /* the start of a packet whose end is still to come */
    char where[160]; /* this direction's fixed part of each line, made on first use */
    size_t where_len;
} Half;

typedef struct {
    uint32_t client, server;
    uint16_t cport, sport;
    long first_frame;
    int announced;
} Stream;

typedef struct {
    const Tables *t;
    uint8_t ports[65536 / 8];
    Half *halves;
    size_t nhalves, halves_cap;
    uint32_t *slots; /* open addressing: half index + 1, 0 = empty */
    size_t nslots;
    Stream *streams;
    size_t nstreams, streams_cap;
    double start;
    Bytes out;
    PyObject *admin; /* formats an admin line: (stream, to_server, line) -> str */
    PyObject *write; /* takes each chunk of output bytes */
    int emit;        /* 0 on the first pass, which only checks the capture is ours */
} Run;

/* Output goes to the write callback in chunks of about this size. */
#define FLUSH_AT (1u << 20)
int flush(Run *r);

int bytes_grow(Bytes *b, size_t more);
static inline int bytes_put(Bytes *b, const char *s, size_t n)
{
    if (b->cap - b->len < n && bytes_grow(b, n) != OK)
        return NOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return OK;
}

/* One line for one binary packet, after its stream's header line if it is the first. */
int emit_frame(Run *r, Half *h, long frame, double ts, int req, int type, const uint8_t *payload,
               uint32_t size);

/* One line for one admin text line; the Python callback says what follows the prefix. */
int emit_admin(Run *r, Half *h, long frame, double ts, const uint8_t *line, size_t len);

#endif
