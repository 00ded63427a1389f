/* Argument bytes as the decoder's views print them: quoted for the text view (render.preview),
 * JSON strings for --json. The two escape by different rules, as their Python originals do. */
#include "_fastdecode.h"

static const char HEX[] = "0123456789abcdef";

/* render.preview: quoted, control bytes escaped as unicode_escape does, a quote escaped. */
char *escape_preview(char *w, const uint8_t *p, size_t n, long limit)
{
    size_t shown = limit >= 0 && n > (size_t)limit ? (size_t)limit : n;
    *w++ = '\'';
    for (size_t i = 0; i < shown; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '\\': *w++ = '\\'; break;
        case '\'': *w++ = '\''; break;
        case '\t': *w++ = 't'; break;
        case '\n': *w++ = 'n'; break;
        case '\r': *w++ = 'r'; break;
        default: *w++ = 'x', *w++ = HEX[c >> 4], *w++ = HEX[c & 15];
        }
    }
    *w++ = '\'';
    if (shown < n)
        w = put(w, "...", 3);
    return w;
}

/* Length of the well-formed UTF-8 sequence at p (Python's strict rules), 0 if none; *cp gets
 * its code point. */
static size_t utf8_at(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, *cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, *cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, *cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (i > 1 && (p[i] & 0xC0) != 0x80)
            return 0;
        *cp = *cp << 6 | (p[i] & 0x3F);
    }
    return len;
}

static char *u_escape(char *w, uint32_t u)
{
    w = put(w, "\\u", 2);
    for (int s = 12; s >= 0; s -= 4)
        *w++ = HEX[u >> s & 15];
    return w;
}

/* json's encode_basestring_ascii of bytes.decode("utf-8", "backslashreplace"). */
char *escape_json(char *w, const uint8_t *p, size_t n)
{
    *w++ = '"';
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            if (c >= 0x20 && c <= 0x7e && c != '\\' && c != '"') {
                *w++ = (char)c;
                continue;
            }
            *w++ = '\\';
            switch (c) {
            case '\\': *w++ = '\\'; break;
            case '"': *w++ = '"'; break;
            case '\b': *w++ = 'b'; break;
            case '\f': *w++ = 'f'; break;
            case '\n': *w++ = 'n'; break;
            case '\r': *w++ = 'r'; break;
            case '\t': *w++ = 't'; break;
            default: w = u_escape(w - 1, c);
            }
            continue;
        }
        uint32_t cp;
        size_t len = utf8_at(p + i, n - i, &cp);
        if (len == 0) { /* backslashreplace's "\xNN", its backslash escaped for JSON */
            w = put(w, "\\\\x", 3);
            *w++ = HEX[c >> 4], *w++ = HEX[c & 15];
            i++;
        } else if (cp >= 0x10000) {
            cp -= 0x10000;
            w = u_escape(u_escape(w, 0xD800 | cp >> 10), 0xDC00 | (cp & 0x3FF));
            i += len;
        } else {
            w = u_escape(w, cp);
            i += len;
        }
    }
    *w++ = '"';
    return w;
}
