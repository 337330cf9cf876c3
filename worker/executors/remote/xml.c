/* A small XML reader for the EC2 Query API (see xml.h): one pass, an explicit stack of open
 * elements, text gathered per element. */
#include "xml.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

typedef struct parser {
    const char *start, *s, *end;
    xml_node *stack[XML_MAX_DEPTH]; /* open elements; stack[0] the document element */
    xml_node *last[XML_MAX_DEPTH];  /* the last child of each open element */
    int depth;
    size_t nodes;
    xml_node *root;
    char *err;
    size_t errlen;
} parser;

void xml_free(xml_node *n)
{
    while (n) {
        xml_node *next = n->next;
        xml_free(n->child); /* depth is bounded by XML_MAX_DEPTH */
        free(n->name);
        free(n->text);
        free(n);
        n = next;
    }
}

static int fail(parser *p, const char *what)
{
    return set_error(p->err, p->errlen, "XML: %s at byte %zu", what, (size_t)(p->s - p->start));
}

static bool starts(const parser *p, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(p->end - p->s) >= n && memcmp(p->s, lit, n) == 0;
}

/* Skip past the next occurrence of lit; -1 when there is none. */
static int skip_past(parser *p, const char *lit)
{
    size_t n = strlen(lit);
    for (const char *q = p->s; (size_t)(p->end - q) >= n; q++)
        if (memcmp(q, lit, n) == 0) {
            p->s = q + n;
            return 0;
        }
    return -1;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':' || (unsigned char)c >= 0x80;
}

/* Append UTF-8 for code point cp. */
static int put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Add raw character data [a, b) to the open element, decoding entities when decode. */
static int add_text(parser *p, const char *a, const char *b, bool decode)
{
    if (p->depth == 0) { /* outside the document element: only blanks may be there */
        for (const char *q = a; q < b; q++)
            if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
                return fail(p, "text outside the document element");
        return 0;
    }
    xml_node *n = p->stack[p->depth - 1];
    n->text = xrealloc(n->text, n->text_len + (size_t)(b - a) + 1);
    char *out = n->text + n->text_len;
    for (const char *q = a; q < b;) {
        if (!decode || *q != '&') {
            *out++ = *q++;
            continue;
        }
        const char *semi = memchr(q, ';', (size_t)(b - q));
        if (!semi || semi - q > 12)
            return fail(p, "bad entity");
        size_t k = (size_t)(semi - q - 1);
        const char *e = q + 1;
        if (k == 2 && memcmp(e, "lt", 2) == 0)
            *out++ = '<';
        else if (k == 2 && memcmp(e, "gt", 2) == 0)
            *out++ = '>';
        else if (k == 3 && memcmp(e, "amp", 3) == 0)
            *out++ = '&';
        else if (k == 4 && memcmp(e, "quot", 4) == 0)
            *out++ = '"';
        else if (k == 4 && memcmp(e, "apos", 4) == 0)
            *out++ = '\'';
        else if (k >= 2 && e[0] == '#') {
            bool hex = e[1] == 'x';
            char digits[12];
            size_t nd = k - 1 - hex;
            if (nd == 0 || nd >= sizeof digits)
                return fail(p, "bad character reference");
            memcpy(digits, e + 1 + hex, nd);
            digits[nd] = '\0';
            char *endp;
            unsigned long cp = strtoul(digits, &endp, hex ? 16 : 10);
            if (*endp || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return fail(p, "bad character reference");
            out += put_utf8(out, cp); /* at most 4 bytes for at least 4 read ("&#N;") */
        } else {
            return fail(p, "unknown entity");
        }
        q = semi + 1;
    }
    n->text_len = (size_t)(out - n->text);
    n->text[n->text_len] = '\0';
    return 0;
}

static int open_element(parser *p, const char *name, size_t len)
{
    if (p->depth == XML_MAX_DEPTH)
        return fail(p, "too deep");
    if (++p->nodes > XML_MAX_NODES)
        return fail(p, "too many elements");
    if (p->depth == 0 && p->root)
        return fail(p, "a second document element");
    const char *colon = memchr(name, ':', len); /* drop a namespace prefix */
    if (colon) {
        len -= (size_t)(colon + 1 - name);
        name = colon + 1;
    }
    if (len == 0 || memchr(name, ':', len)) /* "a:" or "a:b:c": no QName */
        return fail(p, "a bad element name");
    xml_node *n = xcalloc(1, sizeof *n);
    n->name = xstrndup(name, len);
    n->text = xstrdup("");
    if (p->depth == 0) {
        p->root = n;
    } else {
        xml_node *parent = p->stack[p->depth - 1];
        if (p->last[p->depth - 1])
            p->last[p->depth - 1]->next = n;
        else
            parent->child = n;
        p->last[p->depth - 1] = n;
    }
    p->stack[p->depth] = n;
    p->last[p->depth] = NULL;
    p->depth++;
    return 0;
}

/* At '<' of a start tag: the element opened (and closed, when it ends "/>"). */
static int start_tag(parser *p)
{
    const char *name = ++p->s;
    while (p->s < p->end && name_char(*p->s))
        p->s++;
    if (p->s == name)
        return fail(p, "a tag without a name");
    size_t len = (size_t)(p->s - name);
    char quote = 0;
    for (; p->s < p->end; p->s++) { /* attributes: read past, quotes respected */
        char c = *p->s;
        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '>' || c == '<') {
            break;
        }
    }
    if (p->s >= p->end || *p->s != '>')
        return fail(p, "an unterminated tag");
    bool empty = p->s[-1] == '/';
    p->s++;
    if (open_element(p, name, len) < 0)
        return -1;
    if (empty)
        p->depth--;
    return 0;
}

static int end_tag(parser *p)
{
    p->s += 2;
    const char *name = p->s;
    while (p->s < p->end && name_char(*p->s))
        p->s++;
    size_t len = (size_t)(p->s - name);
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n'))
        p->s++;
    if (p->s >= p->end || *p->s != '>')
        return fail(p, "an unterminated end tag");
    p->s++;
    if (p->depth == 0)
        return fail(p, "an end tag with nothing open");
    const char *colon = memchr(name, ':', len);
    if (colon) {
        len -= (size_t)(colon + 1 - name);
        name = colon + 1;
    }
    const xml_node *n = p->stack[p->depth - 1];
    if (strlen(n->name) != len || memcmp(n->name, name, len) != 0)
        return fail(p, "an end tag that does not match");
    p->depth--;
    return 0;
}

int xml_parse(const char *text, size_t len, xml_node **root, char *err, size_t errlen)
{
    *root = NULL;
    parser p = {.start = text, .s = text, .end = text + len, .err = err, .errlen = errlen};
    int rc = 0;
    while (rc == 0 && p.s < p.end) {
        if (*p.s != '<') {
            const char *lt = memchr(p.s, '<', (size_t)(p.end - p.s));
            const char *stop = lt ? lt : p.end;
            rc = add_text(&p, p.s, stop, true);
            p.s = stop;
        } else if (starts(&p, "<?")) {
            rc = skip_past(&p, "?>") < 0 ? fail(&p, "an unterminated declaration") : 0;
        } else if (starts(&p, "<!--")) {
            rc = skip_past(&p, "-->") < 0 ? fail(&p, "an unterminated comment") : 0;
        } else if (starts(&p, "<![CDATA[")) {
            const char *a = p.s + 9;
            p.s = a;
            if (skip_past(&p, "]]>") < 0)
                rc = fail(&p, "an unterminated CDATA section");
            else
                rc = add_text(&p, a, p.s - 3, false);
        } else if (starts(&p, "<!")) {
            rc = fail(&p, "a DOCTYPE or declaration (refused)");
        } else if (starts(&p, "</")) {
            rc = end_tag(&p);
        } else {
            rc = start_tag(&p);
        }
    }
    if (rc == 0 && (p.depth != 0 || !p.root))
        rc = set_error(err, errlen, "XML: %s", p.root ? "unclosed elements" : "no element");
    if (rc < 0) {
        xml_free(p.root);
        return -1;
    }
    *root = p.root;
    return 0;
}

const xml_node *xml_child(const xml_node *n, const char *name)
{
    for (const xml_node *c = n ? n->child : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const xml_node *xml_next(const xml_node *n, const char *name)
{
    for (const xml_node *c = n ? n->next : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const xml_node *xml_find(const xml_node *n, const char *path)
{
    char part[128];
    while (n && *path) {
        size_t k = strcspn(path, "/");
        if (k >= sizeof part)
            return NULL;
        memcpy(part, path, k);
        part[k] = '\0';
        n = xml_child(n, part);
        path += k + (path[k] == '/');
    }
    return n;
}

const char *xml_text(const xml_node *n)
{
    return n && n->text ? n->text : "";
}
