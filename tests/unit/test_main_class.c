/* Unit tests for worker/main_class: finding the public top-level class of a Java source and the
 * top-level class that declares main, and the per-job language copy (file and argv renamed). */
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

/* The class main_class_scan would run for src ("" when none), preferring "Main". */
static const char *runs(const char *src)
{
    static main_class_info info;
    main_class_scan(src, strlen(src), "Main", &info);
    return info.main_name;
}

static void finds_main(void)
{
    test("main in a class that is not public");
    check_str(runs("final class app { public static void main(String[] a) {} }"), "app");
    check_str(runs("class A { static public void main(String... args) {} }"), "A");

    test("several top-level classes, one main");
    check_str(runs("import java.util.*;\nclass A { void f() {} }\nclass B { static int x; }\n"
                   "final class C { public static void main(String[] a) {} }\n"
                   "class D { static int g() { return 1; } }"),
              "C");

    test("the public class first, then the preferred name, then the first one");
    check_str(runs("class A { public static void main(String[] a) {} }\n"
                   "public class B { public static void main(String[] a) {} }"),
              "B");
    check_str(runs("class A { static void main(String[] a) {} }\n"
                   "class Main { static void main(String[] a) {} }"),
              "Main");
    main_class_info info;
    const char *two = "class A { static void main(String[] a) {} } class B { static void "
                      "main(String[] a) {} }";
    main_class_scan(two, strlen(two), NULL, &info);
    check_str(info.main_name, "A");
    check_str(info.public_name, "");

    test("a public class without main, another with it");
    const char *helper = "public class Helper { static int twice(int x) { return 2 * x; } }\n"
                         "class Run { public static void main(String[] a) {} }";
    main_class_scan(helper, strlen(helper), "Main", &info);
    check_str(info.public_name, "Helper");
    check_str(info.main_name, "Run");

    test("other type kinds, annotations and generics");
    check_str(runs("interface I { static void main(String[] a) {} }"), "I");
    check_str(runs("enum E { X, Y; public static void main(String[] a) {} }"), "E");
    check_str(runs("record R(int x) { public static void main(String[] a) {} }"), "R");
    check_str(runs("@Ann(v = {1, 2}) final class app {\n  @Deprecated\n"
                   "  public static void main(final String[] a) {} }"),
              "app");
    check_str(runs("class G<T extends Comparable<T>> { public static <U> void main(String[] a)"
                   " {} }"),
              "G");

    test("what is not a main of a top-level class");
    check_str(runs("class A { void main(String[] a) {} }"), ""); /* not static */
    check_str(runs("class A { static { } void main(String[] a) {} }"), "");
    check_str(runs("class A { static int main = 1; static void f() { main(null); } }"), "");
    check_str(runs("class Outer { static class Inner { public static void main(String[] a) {} } }"),
              "");
    check_str(runs("class A { String s = \"static void main(\"; // static void main(\n }\n"
                   "/* class B { static void main(String[] a) {} } */"),
              "");
    check_str(runs("class A { static void f() { new Object() { void g() {} }; } }"), "");
    check_str(runs("class Ünï { public static void main(String[] a) {} }"), "");
    check_str(runs(""), "");
    check_str(runs("class"), "");
    check_str(runs("class A { static void main("), "A");
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

    test("adapt: main in a class that is not public");
    req.code = "final class app { public static void main(String[] a) {} }";
    req.code_len = strlen(req.code);
    jl = main_class_adapt(&java, &req);
    check(jl != NULL);
    if (jl) {
        check_str(jl->lang.source_file, "Main.java");
        check_str(jl->lang.compile_argv[3], "Main.java");
        check_str(jl->lang.run_argv[3], "app");
    }
    main_class_free(jl);

    test("adapt: public class without main, another class with it");
    req.code = "public class Helper {}\nclass Main { public static void main(String[] a) {} }";
    req.code_len = strlen(req.code);
    jl = main_class_adapt(&java, &req);
    check(jl != NULL);
    if (jl) {
        check_str(jl->lang.source_file, "Helper.java");
        check_str(jl->lang.compile_argv[3], "Helper.java");
        check_str(jl->lang.run_argv[3], "Main");
    }
    main_class_free(jl);
    req.code = "class Main { public static void main(String[] a) {} } class B {}";
    req.code_len = strlen(req.code);
    check(main_class_adapt(&java, &req) == NULL);

    test("adapt: name taken by an extra file");
    job_file f = {.name = "Solution.java", .content = "", .len = 0};
    req.files = &f;
    req.nfiles = 1;
    check(main_class_adapt(&java, &req) == NULL);
}

int main(void)
{
    finds();
    finds_main();
    adapts();
    return check_done();
}
