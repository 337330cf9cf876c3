/* The OpenAPI 3.1 document of the HTTP API: api/openapi.json, built into the binary (CMake
 * generates openapi_doc.c from the file, checking that it is JSON), so the api needs no path to
 * it at run time. Served by GET /openapi.json. */
#ifndef CR_API_OPENAPI_DOC_H
#define CR_API_OPENAPI_DOC_H

#include <stddef.h>

extern const unsigned char openapi_doc[]; /* the file's bytes (UTF-8), NUL-terminated */
extern const size_t openapi_doc_len;      /* without the NUL */

#endif
