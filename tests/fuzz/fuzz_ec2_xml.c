/* Fuzz target: the XML reader of the remote executor's EC2 answers
 * (worker/executors/remote/xml.c). Any input either parses into a tree whose every element has
 * a name and NUL-terminated text of the length it claims, within the depth and element bounds,
 * or is refused with a message; the lookups the EC2 code makes walk it without fault. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/executors/remote/xml.h"

static size_t walk(const xml_node *n, int depth)
{
    size_t count = 0;
    for (; n; n = n->next) {
        if (depth >= XML_MAX_DEPTH || !n->name || !n->name[0] || !n->text ||
            n->text[n->text_len] != '\0' || strchr(n->name, ':'))
            abort();
        count += 1 + walk(n->child, depth + 1);
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xml_node *root = NULL;
    char err[256] = "";
    if (xml_parse((const char *)data, size, &root, err, sizeof err) < 0) {
        if (root || !err[0])
            abort();
        return 0;
    }
    if (!root || root->next || walk(root, 0) > XML_MAX_NODES)
        abort();
    for (const xml_node *r = xml_find(root, "reservationSet/item"); r; r = xml_next(r, "item"))
        for (const xml_node *i = xml_find(r, "instancesSet/item"); i; i = xml_next(i, "item"))
            if (!xml_text(xml_child(i, "instanceId")) ||
                !xml_text(xml_find(i, "instanceState/name")))
                abort();
    (void)xml_text(xml_find(root, "Errors/Error/Code"));
    xml_free(root);
    return 0;
}
