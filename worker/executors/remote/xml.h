/* A small XML reader for the EC2 Query API's answers: a tree of elements with their text.
 * Attributes are read past and dropped (EC2 puts nothing in them), namespace prefixes are kept
 * off element names; the declaration, comments, processing instructions and CDATA are handled,
 * a DOCTYPE is refused (no entity definitions, so no entity expansion attack), the five
 * predefined entities and character references are decoded. Bounded: depth and element count.
 *
 *   xml_parse(text, len, &root, err, errlen)   0 with the document element (caller frees with
 *                                              xml_free), or -1 with a message
 *   xml_child(n, name)        the first child element called name, or NULL (n may be NULL)
 *   xml_next(n, name)         the next sibling called name, or NULL
 *   xml_find(n, "a/b/c")      a descendant by path, or NULL
 *   xml_text(n)               its own character data ("" for NULL or none); borrowed */
#ifndef CR_REMOTE_XML_H
#define CR_REMOTE_XML_H

#include <stddef.h>

#define XML_MAX_DEPTH 64
#define XML_MAX_NODES 200000

typedef struct xml_node {
    char *name; /* owned; the local name */
    char *text; /* owned; character data directly inside it, entities decoded */
    size_t text_len;
    struct xml_node *child; /* owned; first child element */
    struct xml_node *next;  /* owned; next sibling */
} xml_node;

int xml_parse(const char *text, size_t len, xml_node **root, char *err, size_t errlen);
void xml_free(xml_node *n);
const xml_node *xml_child(const xml_node *n, const char *name);
const xml_node *xml_next(const xml_node *n, const char *name);
const xml_node *xml_find(const xml_node *n, const char *path);
const char *xml_text(const xml_node *n);

#endif
