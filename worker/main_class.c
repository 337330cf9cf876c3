/* Finds the public top-level type of a Java source and the top-level type that declares main,
 * and adapts the language entry of one job to them (Solution.java, java app); see main_class.h. */
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

/* The scan's state: where it is in the source and what it found so far. */
typedef struct scan_state {
    int depth;            /* brace depth */
    bool pending_public;  /* depth 0: "public" read, its declaration not yet */
    bool public_seen;     /* a public top-level type was declared (the first one counts) */
    token decl;           /* depth 0: the type just declared, its body not yet open */
    token body;           /* depth >= 1: the top-level type whose body this is (TOK_END: none) */
    bool member_static;   /* depth 1: the member being read so far is static */
    token prev, prev2;    /* the two tokens before the current one */
    token first_main;     /* the first top-level type declaring main */
    token preferred_main; /* the type named as preferred, when it declares main */
    bool public_main;     /* the public type declares main */
} scan_state;

/* A top-level type declaration at depth 0 (after its keyword): read its name. */
static void declaration(scanner *sc, scan_state *st, main_class_info *info)
{
    token n = next_token(sc);
    st->decl = n;
    if (st->pending_public && !st->public_seen) {
        st->public_seen = true;
        if (valid_name(n)) {
            memcpy(info->public_name, n.text, n.len);
            info->public_name[n.len] = '\0';
        }
    }
    st->pending_public = false;
    st->prev2 = st->prev;
    st->prev = n;
}

/* At depth 1, "void main(" in a static member: the enclosing top-level type declares main. */
static void main_found(scan_state *st, const char *preferred, const main_class_info *info)
{
    token b = st->body;
    if (!valid_name(b))
        return;
    if (st->first_main.kind == TOK_END)
        st->first_main = b;
    if (preferred && is(b, preferred))
        st->preferred_main = b;
    if (info->public_name[0] && is(b, info->public_name))
        st->public_main = true;
}

static void copy_name(char *dst, token t)
{
    memcpy(dst, t.text, t.len);
    dst[t.len] = '\0';
}

void main_class_scan(const char *code, size_t len, const char *preferred, main_class_info *info)
{
    memset(info, 0, sizeof *info);
    scanner sc = {.s = code, .len = len};
    const token none = {.kind = TOK_END, .text = "", .len = 0};
    scan_state st = {.decl = none,
                     .body = none,
                     .prev = none,
                     .prev2 = none,
                     .first_main = none,
                     .preferred_main = none};
    token t = next_token(&sc);
    while (t.kind != TOK_END) {
        if (st.depth == 0) {
            bool annotation_type = false;
            if (is(t, "@")) {
                t = skip_annotation(&sc, &annotation_type); /* "interface" when it declares one */
                if (!annotation_type)
                    continue; /* the token after the annotation, read as any other */
            }
            if (is(t, "public")) {
                st.pending_public = true;
            } else if (is(t, ";")) {
                st.pending_public = false;
            } else if (is_type_keyword(t) && !is(st.prev, ".")) {
                declaration(&sc, &st, info);
                t = next_token(&sc);
                continue;
            } else if (is(t, "{")) {
                st.depth = 1;
                st.body = st.decl;
                st.decl = none;
                st.member_static = false;
            }
        } else if (is(t, "{") || is(t, "}") || is(t, ";")) {
            st.depth += is(t, "{") ? 1 : is(t, "}") ? -1 : 0;
            if (st.depth <= 1)
                st.member_static = false; /* a member of the top-level type ended or began */
            if (st.depth == 0)
                st.body = none;
        } else if (st.depth == 1 && is(t, "static")) {
            st.member_static = true;
        } else if (st.depth == 1 && is(t, "(") && is(st.prev, "main") && is(st.prev2, "void") &&
                   st.member_static) {
            main_found(&st, preferred, info);
        }
        st.prev2 = st.prev;
        st.prev = t;
        t = next_token(&sc);
    }
    if (st.public_main)
        memcpy(info->main_name, info->public_name, sizeof info->main_name);
    else if (st.preferred_main.kind != TOK_END)
        copy_name(info->main_name, st.preferred_main);
    else if (st.first_main.kind != TOK_END)
        copy_name(info->main_name, st.first_main);
}

int main_class_find(const char *code, size_t len, char *name, size_t namelen)
{
    main_class_info info;
    main_class_scan(code, len, NULL, &info);
    size_t n = strlen(info.public_name);
    if (n == 0 || n >= namelen)
        return -1;
    memcpy(name, info.public_name, n + 1);
    return 0;
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
    if (!lang->main_class)
        return NULL;
    main_class_info info;
    main_class_scan(req->code, req->code_len, lang->main_class, &info);
    const char *ext = strrchr(lang->source_file, '.');
    cleanup_free char *file = info.public_name[0]
                                  ? xasprintf("%s%s", info.public_name, ext ? ext : "")
                                  : xstrdup(lang->source_file);
    for (size_t i = 0; i < req->nfiles; i++)
        if (strcmp(req->files[i].name, file) == 0)
            return NULL; /* an extra file has that name: run as it is, javac says what is wrong */
    const char *run = info.main_name[0]     ? info.main_name
                      : info.public_name[0] ? info.public_name
                                            : lang->main_class;
    if (strcmp(file, lang->source_file) == 0 && strcmp(run, lang->main_class) == 0)
        return NULL;
    job_language *jl = xcalloc(1, sizeof *jl);
    jl->compile_argv = adapt_argv(lang->compile_argv, lang, file, run);
    jl->run_argv = adapt_argv(lang->run_argv, lang, file, run);
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
