/* Finds the public top-level class of a Java source and adapts the language entry of one job
 * to it (Solution.java, java Solution); see main_class.h. */
#include "main_class.h"

#include <stdbool.h>
#include <string.h>

#include "common/util.h"

/* Tokens of a Java source, as far as finding top-level declarations needs them. */
typedef enum tok_kind {
    TOK_END,   /* end of the source */
    TOK_WORD,  /* identifier, keyword or number: [A-Za-z0-9_$] and any non-ASCII byte */
    TOK_PUNCT, /* one other character ({, }, (, ), @, ., ...) */
} tok_kind;

typedef struct scanner {
    const char *s; /* borrowed source */
    size_t len;
    size_t pos; /* next byte to read */
} scanner;

typedef struct token {
    tok_kind kind;
    const char *text; /* into the source */
    size_t len;
} token;

static bool word_char(unsigned char ch)
{
    return ch >= 0x80 || ch == '_' || ch == '$' || (ch >= '0' && ch <= '9') ||
           ((ch | 32) >= 'a' && (ch | 32) <= 'z');
}

static bool at(const scanner *sc, const char *lit)
{
    size_t n = strlen(lit);
    return sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, lit, n) == 0;
}

/* Skip a quoted literal opened at sc->pos by quote: up to the closing quote (backslash escapes
 * honoured), or to the end of the line when it is unterminated. */
static void skip_quoted(scanner *sc, char quote)
{
    sc->pos++;
    while (sc->pos < sc->len) {
        char ch = sc->s[sc->pos++];
        if (ch == '\\' && sc->pos < sc->len)
            sc->pos++;
        else if (ch == quote || ch == '\n')
            return;
    }
}

/* Skip a text block (""" ... """) opened at sc->pos. */
static void skip_text_block(scanner *sc)
{
    sc->pos += 3;
    while (sc->pos < sc->len) {
        if (sc->s[sc->pos] == '\\' && sc->pos + 1 < sc->len) {
            sc->pos += 2;
        } else if (at(sc, "\"\"\"")) {
            sc->pos += 3;
            return;
        } else {
            sc->pos++;
        }
    }
}

/* Skip whitespace, comments and literals; false at the end of the source. */
static bool skip_noise(scanner *sc)
{
    while (sc->pos < sc->len) {
        char ch = sc->s[sc->pos];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f') {
            sc->pos++;
        } else if (at(sc, "//")) {
            const char *nl = memchr(sc->s + sc->pos, '\n', sc->len - sc->pos);
            sc->pos = nl ? (size_t)(nl - sc->s) + 1 : sc->len;
        } else if (at(sc, "/*")) {
            sc->pos += 2;
            while (sc->pos < sc->len && !at(sc, "*/"))
                sc->pos++;
            sc->pos = sc->pos < sc->len ? sc->pos + 2 : sc->len;
        } else if (at(sc, "\"\"\"")) {
            skip_text_block(sc);
        } else if (ch == '"' || ch == '\'') {
            skip_quoted(sc, ch);
        } else {
            return true;
        }
    }
    return false;
}

static token next_token(scanner *sc)
{
    if (!skip_noise(sc))
        return (token){.kind = TOK_END, .text = "", .len = 0};
    size_t start = sc->pos;
    if (at(sc, "non-sealed")) { /* the one hyphenated keyword */
        sc->pos += strlen("non-sealed");
        return (token){.kind = TOK_WORD, .text = sc->s + start, .len = sc->pos - start};
    }
    if (!word_char((unsigned char)sc->s[sc->pos])) {
        sc->pos++;
        return (token){.kind = TOK_PUNCT, .text = sc->s + start, .len = 1};
    }
    while (sc->pos < sc->len && word_char((unsigned char)sc->s[sc->pos]))
        sc->pos++;
    return (token){.kind = TOK_WORD, .text = sc->s + start, .len = sc->pos - start};
}

static bool is(token t, const char *text)
{
    return t.len == strlen(text) && memcmp(t.text, text, t.len) == 0;
}

static bool is_modifier(token t)
{
    static const char *const mods[] = {"final",  "abstract", "strictfp",
                                       "static", "sealed",   "non-sealed"};
    for (size_t i = 0; i < sizeof mods / sizeof *mods; i++)
        if (is(t, mods[i]))
            return true;
    return false;
}

static bool is_type_keyword(token t)
{
    return is(t, "class") || is(t, "interface") || is(t, "enum") || is(t, "record");
}

/* After '@': skip the annotation's (qualified) name and its arguments; returns the token that
 * follows. Sets *type when it was "@interface" (an annotation type declaration). */
static token skip_annotation(scanner *sc, bool *type)
{
    token t = next_token(sc);
    *type = is(t, "interface");
    if (*type)
        return t;
    while (t.kind == TOK_WORD) {
        t = next_token(sc);
        if (!is(t, "."))
            break;
        t = next_token(sc);
    }
    if (is(t, "(")) {
        int parens = 1;
        while (parens > 0 && (t = next_token(sc)).kind != TOK_END)
            parens += is(t, "(") ? 1 : is(t, ")") ? -1 : 0;
        t = next_token(sc);
    }
    return t;
}

/* A plain ASCII Java identifier that fits a file name. */
static bool valid_name(token t)
{
    if (t.kind != TOK_WORD || t.len == 0 || t.len > MAIN_CLASS_NAME_MAX ||
        (t.text[0] >= '0' && t.text[0] <= '9'))
        return false;
    for (size_t i = 0; i < t.len; i++)
        if ((unsigned char)t.text[i] >= 0x80)
            return false;
    return !is(t, "non-sealed");
}

/* Just after a top-level "public": the declared type's name token, or a TOK_END token when what
 * follows is not a type declaration. Leaves sc after what it read. */
static token declared_type(scanner *sc)
{
    token t = next_token(sc);
    for (;;) {
        bool annotation_type = false;
        if (is(t, "@"))
            t = skip_annotation(sc, &annotation_type);
        else if (is_modifier(t))
            t = next_token(sc);
        else
            break;
        if (annotation_type)
            break;
    }
    if (!is_type_keyword(t))
        return (token){.kind = TOK_END};
    return next_token(sc);
}

int main_class_find(const char *code, size_t len, char *name, size_t namelen)
{
    scanner sc = {.s = code, .len = len};
    int depth = 0;
    for (token t = next_token(&sc); t.kind != TOK_END; t = next_token(&sc)) {
        if (is(t, "{")) {
            depth++;
        } else if (is(t, "}")) {
            depth -= depth > 0;
        } else if (depth == 0 && is(t, "public")) {
            token n = declared_type(&sc);
            if (n.kind == TOK_END)
                continue;
            if (!valid_name(n) || n.len >= namelen)
                return -1;
            memcpy(name, n.text, n.len);
            name[n.len] = '\0';
            return 0;
        }
    }
    return -1;
}

/* A copy of argv with source_file and main_class tokens renamed; NULL for NULL. */
static char **adapt_argv(char *const *argv, const language *lang, const char *file,
                         const char *name)
{
    if (!argv)
        return NULL;
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(strcmp(argv[i], lang->source_file) == 0  ? file
                       : strcmp(argv[i], lang->main_class) == 0 ? name
                                                                : argv[i]);
    return v;
}

static void free_argv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

job_language *main_class_adapt(const language *lang, const job_request *req)
{
    char name[MAIN_CLASS_NAME_MAX + 1];
    if (!lang->main_class || main_class_find(req->code, req->code_len, name, sizeof name) < 0 ||
        strcmp(name, lang->main_class) == 0)
        return NULL;
    const char *ext = strrchr(lang->source_file, '.');
    cleanup_free char *file = xasprintf("%s%s", name, ext ? ext : "");
    if (strcmp(file, lang->source_file) == 0)
        return NULL;
    for (size_t i = 0; i < req->nfiles; i++)
        if (strcmp(req->files[i].name, file) == 0)
            return NULL; /* an extra file has that name: run as it is, javac says what is wrong */
    job_language *jl = xcalloc(1, sizeof *jl);
    jl->compile_argv = adapt_argv(lang->compile_argv, lang, file, name);
    jl->run_argv = adapt_argv(lang->run_argv, lang, file, name);
    jl->source_file = steal_pointer(&file);
    jl->lang = *lang;
    jl->lang.source_file = jl->source_file;
    jl->lang.compile_argv = jl->compile_argv;
    jl->lang.run_argv = jl->run_argv;
    return jl;
}

void main_class_free(job_language *jl)
{
    if (!jl)
        return;
    free(jl->source_file);
    free_argv(jl->compile_argv);
    free_argv(jl->run_argv);
    free(jl);
}
