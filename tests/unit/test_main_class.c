/* Unit tests for worker/main_class: finding the public top-level class of a Java source, and
 * the per-job language copy (file name and argv renamed). */
#include <stdlib.h>

#include "tests/unit/check.h"
#include "worker/main_class.h"

/* The name main_class_find reports for src, or NULL when it finds none. */
static const char *found(const char *src)
{
    static char name[MAIN_CLASS_NAME_MAX + 1];
    return main_class_find(src, strlen(src), name, sizeof name) == 0 ? name : NULL;
}

static void finds(void)
{
    test("plain public class");
    check_str(found("public class Solution { public static void main(String[] a) {} }"),
              "Solution");
    check_str(found("import java.util.*;\n\npublic final class A$b_1 {}"), "A$b_1");
    check_str(found("public abstract strictfp class X {}"), "X");
    check_str(found("public class Main {}"), "Main");

    test("other type kinds and modifiers");
    check_str(found("public interface I { static void main(String[] a) {} }"), "I");
    check_str(found("public enum E { A }"), "E");
    check_str(found("public record R(int x) {}"), "R");
    check_str(found("public sealed class S permits T {}"), "S");
    check_str(found("public non-sealed class N extends S {}"), "N");
    check_str(found("@SuppressWarnings(\"x\") public @Deprecated final class Ann {}"), "Ann");
    check_str(found("public @a.b.C(v = {1, 2}) class Q {}"), "Q");
    check_str(found("public @interface Marker {}"), "Marker");

    test("comments and literals are skipped");
    check_str(found("// public class Wrong {}\n/* public class Wrong2 {} */\n"
                    "class Helper { String s = \"public class Wrong3 {\"; char c = '{'; }\n"
                    "public class Right {}"),
              "Right");
    check_str(found("class H { String t = \"\"\"\n  public class W { \\\"\"\" }\n\"\"\"; }\n"
                    "public class Right {}"),
              "Right");
    check_str(found("class H { String s = \"\\\"}\"; }\npublic class Right {}"), "Right");
    check_str(found("/** doc with } and { */ public class Right {}"), "Right");

    test("nested public classes are not top-level");
    check_str(found("class Main { public static class Inner {} public void f() {} }\n"
                    "public class Outer {}"),
              "Outer");
    check(found("class Main { public static class Inner {} }") == NULL);

    test("no public class");
    check(found("") == NULL);
    check(found("class Main { public static void main(String[] a) {} }") == NULL);
    check(found("// public class X {}") == NULL);
    check(found("public") == NULL);
    check(found("public class") == NULL);
    check(found("/* unterminated public class X {}") == NULL);
    check(found("\"unterminated public class X {}") == NULL);

    test("names that are not plain identifiers");
    check(found("public class Ünïcode {}") == NULL);
    check(found("public class 9x {}") == NULL);
    char big[512];
    snprintf(big, sizeof big, "public class %0*d {}", 300, 0);
    big[13] = 'A';
    check(found(big) == NULL);
}

static void adapts(void)
{
    char *compile[] = {"javac", "-d", ".", "Main.java", NULL};
    char *run[] = {"java", "-cp", ".", "Main", NULL};
    char *env[] = {NULL};
    language java = {.id = "java",
                     .image = "java",
                     .source_file = "Main.java",
                     .compile_argv = compile,
                     .run_argv = run,
                     .env = env,
                     .main_class = "Main"};
    job_request req = {.lang = &java};

    test("adapt: other name");
    req.code = "public class Solution {}";
    req.code_len = strlen(req.code);
    job_language *jl = main_class_adapt(&java, &req);
    check(jl != NULL);
    if (jl) {
        check_str(jl->lang.source_file, "Solution.java");
        check_str(jl->lang.compile_argv[3], "Solution.java");
        check_str(jl->lang.compile_argv[0], "javac");
        check(jl->lang.compile_argv[4] == NULL);
        check_str(jl->lang.run_argv[3], "Solution");
        check(jl->lang.run_argv[4] == NULL);
        check(jl->lang.env == env && jl->lang.image == java.image);
        check_str(java.source_file, "Main.java"); /* the table's entry is untouched */
        check_str(run[3], "Main");
    }
    main_class_free(jl);
    main_class_free(NULL);

    test("adapt: nothing to do");
    req.code = "public class Main {}";
    req.code_len = strlen(req.code);
    check(main_class_adapt(&java, &req) == NULL);
    req.code = "class Foo {}";
    req.code_len = strlen(req.code);
    check(main_class_adapt(&java, &req) == NULL);
    req.code = "public class Solution {}";
    req.code_len = strlen(req.code);
    language c = java;
    c.main_class = NULL;
    check(main_class_adapt(&c, &req) == NULL);

    test("adapt: name taken by an extra file");
    job_file f = {.name = "Solution.java", .content = "", .len = 0};
    req.files = &f;
    req.nfiles = 1;
    check(main_class_adapt(&java, &req) == NULL);
}

int main(void)
{
    finds();
    adapts();
    return check_done();
}
