"""Every language of images/languages.json for real, through tests/tools/sandbox_cli and the oci
executor (its default runtime, builtin; OCI_RUNTIME=runc for another): hello world, stdin,
runtime and compile errors, test cases, time and memory limits, extra files, aliases, the
language's environment, Java class names, threads and goroutines, and the versions the images
report. After every case nothing is left behind. Needs root (and the runtime chosen); builds the
images with images/build.sh (incremental) before the tests."""

import json
import os
import shutil

import pytest

from support import CLI, IMAGES_DIR, RUNTIME, Sandbox, build_images, languages

# Nothing here is skipped: without root or the runtime these tests fail and say why.
assert os.geteuid() == 0, "the oci sandbox needs root"
assert RUNTIME == "builtin" or shutil.which(RUNTIME), \
    f"{RUNTIME} is not installed (deploy/install-deps.sh installs it)"

LANGS = ["python", "python-ml", "javascript", "java", "c", "cpp", "rust", "go"]
COMPILED = ["java", "c", "cpp", "rust", "go"]

HELLO = {
    "python": 'print("hello, world")',
    "python-ml": 'print("hello, world")',
    "javascript": 'console.log("hello, world")',
    "java": 'public class Main {\n  public static void main(String[] a) {\n'
            '    System.out.println("hello, world");\n  }\n}\n',
    "c": '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello, world\\n"; }\n',
    "rust": 'fn main() { println!("hello, world"); }\n',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello, world") }\n',
}

# Reads two integers from stdin, prints their sum.
SUM = {
    "python": "a, b = map(int, input().split())\nprint(a + b)",
    "python-ml": "import numpy as np\nprint(int(np.array(input().split(), dtype=int).sum()))",
    "javascript": 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/)'
                  '.map(Number);\nconsole.log(a + b);',
    "java": "import java.util.*;\npublic class Main {\n  public static void main(String[] x) {\n"
            "    Scanner s = new Scanner(System.in);\n"
            "    System.out.println(s.nextLong() + s.nextLong());\n  }\n}\n",
    "c": '#include <stdio.h>\nint main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2)'
         ' return 1; printf("%ld\\n", a + b); return 0; }\n',
    "cpp": "#include <iostream>\nint main() { long a, b; std::cin >> a >> b;"
           " std::cout << a + b << std::endl; }\n",
    "rust": "use std::io::Read;\nfn main() { let mut s = String::new();"
            " std::io::stdin().read_to_string(&mut s).unwrap();\n"
            "  let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n"
            '  println!("{}", v[0] + v[1]); }\n',
    "go": 'package main\nimport "fmt"\nfunc main() { var a, b int64; fmt.Scan(&a, &b);'
          " fmt.Println(a + b) }\n",
}

# (code, exit code, signal, text the error output holds)
CRASH = {
    "python": ('print("before")\nraise ValueError("boom")', 1, None, "ValueError: boom"),
    "python-ml": ('import numpy\nprint("before")\nraise ValueError("boom")', 1, None,
                  "ValueError: boom"),
    "javascript": ('console.log("before");\nthrow new Error("boom");', 1, None, "Error: boom"),
    "java": ('public class Main {\n  public static void main(String[] a) {\n'
             '    System.out.println("before");\n    throw new IllegalStateException("boom");\n'
             "  }\n}\n", 1, None, "IllegalStateException: boom"),
    "c": ('#include <stdio.h>\nint main(void) { puts("before"); fflush(stdout);'
          ' fprintf(stderr, "boom\\n"); return 3; }\n', 3, None, "boom"),
    "cpp": ('#include <iostream>\n#include <stdexcept>\nint main() {'
            ' std::cout << "before" << std::endl; throw std::runtime_error("boom"); }\n',
            128 + 6, "SIGABRT", "boom"),
    "rust": ('fn main() { println!("before"); panic!("boom"); }\n', 101, None, "boom"),
    "go": ('package main\nimport "fmt"\nfunc main() { fmt.Println("before"); panic("boom") }\n',
           2, None, "panic: boom"),
}

COMPILE_ERROR = {
    "java": "public class Main { public static void main(String[] a) { int x = ; } }",
    "c": "int main(void) { return undefined_name; }",
    "cpp": "int main() { std::vector<int> v; }",
    "rust": 'fn main() { let x: i32 = "text"; }',
    "go": "package main\nfunc main() { x := 1 }\n",
}

LOOP = {
    "python": "while True: pass",
    "python-ml": "while True: pass",
    "javascript": "for (;;) {}",
    "java": "public class Main { public static void main(String[] a) { long i = 0;"
            " while (true) i++; } }",
    "c": "int main(void) { volatile long i = 0; for (;;) i++; }",
    "cpp": "int main() { volatile long i = 0; for (;;) i++; }",
    "rust": "fn main() { let mut i: u64 = 0; loop { unsafe {"
            " std::ptr::write_volatile(&mut i, i.wrapping_add(1)); } } }",
    "go": "package main\nfunc main() { i := 0; for { i++ } }\n",
}

# Allocates and touches memory until it is stopped.
MEMORY_HOG = {
    "python": 'a = []\nwhile True: a.append(b"x" * (1 << 20))',
    "python-ml": "import numpy as np\na = []\nwhile True: a.append(np.ones(1 << 17))",
    "javascript": "const a = [];\nfor (;;) a.push(new Array(100000).fill(1.5));",
    "java": "import java.util.*;\npublic class Main { public static void main(String[] x) {"
            " List<long[]> l = new ArrayList<>(); while (true) { long[] b = new long[1 << 17];"
            " Arrays.fill(b, 1); l.add(b); } } }",
    "c": "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) {"
         " char *p = malloc(1 << 20); if (p) memset(p, 1, 1 << 20); } }\n",
    "cpp": "#include <vector>\nint main() { std::vector<std::vector<char>> v;"
           " for (;;) v.emplace_back(1 << 20, 1); }\n",
    "rust": "fn main() { let mut v = Vec::new(); loop { v.push(vec![1u8; 1 << 20]); } }\n",
    "go": "package main\nfunc main() { var s [][]byte\n for { b := make([]byte, 1<<20);"
          " for i := range b { b[i] = 1 }; s = append(s, b) } }\n",
}

# An extra file beside the main source: (main code, extra file name, extra file content).
FILES = {
    "python": ("from util import greet\nprint(greet('x'))", "util.py",
               "def greet(s):\n    return 'hi ' + s\n"),
    "python-ml": ("from util import greet\nprint(greet('x'))", "util.py",
                  "import numpy\ndef greet(s):\n    return 'hi ' + s\n"),
    "javascript": ("const { greet } = require('./util.js');\nconsole.log(greet('x'));",
                   "util.js", "module.exports = { greet: (s) => 'hi ' + s };\n"),
    "java": ("public class Main { public static void main(String[] a) {"
             ' System.out.println(Helper.greet("x")); } }', "Helper.java",
             'class Helper { static String greet(String s) { return "hi " + s; } }\n'),
    "c": ('#include <stdio.h>\n#include "util.h"\nint main(void) { puts(greet()); return 0; }\n',
          "util.h", 'static inline const char *greet(void) { return "hi x"; }\n'),
    "cpp": ('#include <iostream>\n#include "util.hpp"\nint main() {'
            ' std::cout << greet("x") << "\\n"; }\n', "util.hpp",
            '#include <string>\ninline std::string greet(const std::string &s)'
            ' { return "hi " + s; }\n'),
    "rust": ('mod util;\nfn main() { println!("{}", util::greet("x")); }\n', "util.rs",
             'pub fn greet(s: &str) -> String { format!("hi {}", s) }\n'),
    "go": ('package main\nimport "fmt"\nfunc main() { fmt.Println(greet("x")) }\n', "util.go",
           'package main\nfunc greet(s string) string { return "hi " + s }\n'),
}

# Prints the process environment, one NAME=value a line.
PRINT_ENV = {
    "python-ml": "import os\nfor k, v in os.environ.items(): print(f'{k}={v}')",
    "go": 'package main\nimport ("fmt"; "os")\nfunc main() {'
          " for _, e := range os.Environ() { fmt.Println(e) } }\n",
}


@pytest.fixture(scope="session", autouse=True)
def images():
    if not CLI.exists():
        pytest.fail(f"{CLI} not built")
    build_images()  # every image; a no-op when they are up to date


@pytest.fixture
def sandbox(tmp_path):
    made = []

    def make(language, **kw):
        s = Sandbox(tmp_path / f"s{len(made)}", language, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
def test_hello_world(sandbox, lang):
    r = sandbox(lang).run(HELLO[lang])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hello, world\n"
    assert r["error"] == "" and r["exit_code"] == 0 and r["signal"] is None
    assert (r["compile_output"] is not None) == (lang in COMPILED)
    assert r["wall_ms"] > 0 and r["memory_kb"] > 0


@pytest.mark.parametrize("lang", LANGS)
def test_stdin(sandbox, lang):
    r = sandbox(lang).run(SUM[lang], stdin="40 2\n")
    assert r["verdict"] == "ok", r
    assert r["output"] == "42\n"


@pytest.mark.parametrize("lang", LANGS)
def test_runtime_error(sandbox, lang):
    code, exit_code, sig, text = CRASH[lang]
    r = sandbox(lang).run(code)
    assert r["verdict"] == "runtime_error", r
    assert r["exit_code"] == exit_code and r["signal"] == sig
    assert r["output"] == "before\n"
    assert text in r["error"]


@pytest.mark.parametrize("lang", COMPILED)
def test_compile_error(sandbox, lang):
    r = sandbox(lang).run(COMPILE_ERROR[lang], stdin="never read")
    assert r["verdict"] == "compile_error", r
    assert r["compile_output"].strip() != ""
    assert "main" in r["compile_output"].lower()  # the message names the source file
    assert r["exit_code"] != 0
    assert r["output"] == "" and r["error"] == ""  # the run step was skipped


@pytest.mark.parametrize("lang", LANGS)
def test_tests_accepted_and_wrong_answer(sandbox, lang):
    tests = [{"stdin": "1 2\n", "expected_output": "3\n"},
             {"stdin": "2 2\n", "expected_output": "5\n"}]
    r = sandbox(lang).run(SUM[lang], tests=tests)
    assert [t["verdict"] for t in r["tests"]] == ["accepted", "wrong_answer"], r
    assert [t["output"] for t in r["tests"]] == ["3\n", "4\n"]
    assert r["summary"] == {"passed": 1, "total": 2}
    assert r["verdict"] == "wrong_answer" and r["output"] == "4\n"


@pytest.mark.parametrize("lang", LANGS)
def test_time_limit(sandbox, lang):
    r = sandbox(lang).run(LOOP[lang], timeout=1)
    assert r["verdict"] == "time_limit", r
    assert r["signal"] == "SIGKILL"
    assert 1000 <= r["wall_ms"] <= 2500


@pytest.mark.parametrize("lang", LANGS)
def test_memory_limit(sandbox, lang):
    r = sandbox(lang).run(MEMORY_HOG[lang])
    assert r["verdict"] == "memory_limit", {k: r[k] for k in r if k != "error"}
    assert r["signal"] == "SIGKILL"
    limit_mb = languages()[lang]["limits"]["run"]["memory_mb"]
    assert r["memory_kb"] >= limit_mb * 1024 * 9 // 10


@pytest.mark.parametrize("lang", LANGS)
def test_extra_files(sandbox, lang):
    code, name, content = FILES[lang]
    r = sandbox(lang).run(code, files=[{"name": name, "content": content}])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hi x\n"


@pytest.mark.parametrize("alias,lang", [("py", "python"), ("js", "javascript"),
                                        ("node", "javascript"), ("c++", "cpp"),
                                        ("golang", "go"), ("PY", "python")])
def test_alias(sandbox, alias, lang):
    r = sandbox(alias).run(HELLO[lang])
    assert r["verdict"] == "ok", r
    assert r["output"] == "hello, world\n"


@pytest.mark.parametrize("lang", sorted(PRINT_ENV))
def test_language_env(sandbox, lang):
    env = languages()[lang]["env"]
    assert env
    r = sandbox(lang).run(PRINT_ENV[lang])
    seen = dict(line.split("=", 1) for line in r["output"].splitlines())
    for name, value in env.items():
        assert seen.get(name) == value, (name, seen)
    assert seen["PATH"].startswith("/usr/local/sbin:")  # the defaults stay
    assert list(seen).count("HOME") == 1


def test_go_cache_and_openblas_threads(sandbox):
    r = sandbox("go").run('package main\nimport ("fmt"; "os")\nfunc main() {'
                          ' fmt.Println(os.Getenv("GOCACHE")) }\n')
    assert r["output"] == "/tmp/go-cache\n"
    r = sandbox("python-ml").run(
        "import numpy, threadpoolctl\n"
        "print({i['internal_api']: i['num_threads'] for i in threadpoolctl.threadpool_info()})")
    assert r["verdict"] == "ok", r
    assert r["output"].strip() == "{'openblas': 1}"


JAVA_SOLUTION = """import java.util.*;
// public class Main is not what this file declares; "public class Wrong" is a string.
/* public class Wrong2 {} */
class Helper { static final String S = "public class Wrong {"; static char c = '{'; }
public final class Solution {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.println(in.nextInt() * 2 + " " + String.join(",", args) + Helper.S.length());
    }
}
"""


def test_java_public_class_solution(sandbox):
    r = sandbox("java").run(JAVA_SOLUTION, stdin="21", args=["a", "Main", "Main.java"])
    assert r["verdict"] == "ok", r
    assert r["output"] == "42 a,Main,Main.java20\n"  # the program's own args are not renamed
    tests = [{"stdin": "1", "expected_output": "2 20"}, {"stdin": "2", "expected_output": "5 20"}]
    r = sandbox("java").run(JAVA_SOLUTION, tests=tests)
    assert r["summary"] == {"passed": 1, "total": 2}


def test_java_public_class_compile_error_names_the_class(sandbox):
    r = sandbox("java").run("public class Solution { void f() { int x = ; } }")
    assert r["verdict"] == "compile_error"
    assert "Solution.java" in r["compile_output"]


def test_java_non_public_main(sandbox):
    r = sandbox("java").run('class Main { public static void main(String[] a) {'
                            ' System.out.println("ok"); } }')
    assert r["verdict"] == "ok", r
    assert r["output"] == "ok\n"


def test_java_no_main_class_is_a_clear_error(sandbox):
    r = sandbox("java").run('class Other { public static void main(String[] a) {} }')
    assert r["verdict"] == "runtime_error"
    assert "Main" in r["error"]


def test_java_twenty_threads(sandbox):
    code = """public class Main {
    public static void main(String[] args) throws Exception {
        Thread[] ts = new Thread[20];
        final long[] sum = new long[1];
        for (int i = 0; i < ts.length; i++) {
            final int k = i;
            ts[i] = new Thread(() -> {
                try { Thread.sleep(300); } catch (InterruptedException e) { }
                synchronized (sum) { sum[0] += k; }
            });
            ts[i].start();
        }
        for (Thread t : ts) t.join();
        System.out.println("sum " + sum[0] + " heap<=limit "
            + (Runtime.getRuntime().maxMemory() <= 384L << 20));
    }
}
"""
    r = sandbox("java").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "sum 190 heap<=limit true\n"


@pytest.mark.parametrize("blocking", [False, True], ids=["busy", "blocking-syscalls"])
def test_go_many_goroutines(sandbox, blocking):
    work = ("ts := syscall.Timespec{Nsec: 200000000}; syscall.Nanosleep(&ts, nil)" if blocking
            else "for j := 0; j < 100000; j++ { s += j % (k + 1) }")
    code = f"""package main
import ("fmt"; "runtime"; "sync"; "syscall")
var _ = syscall.Getpid
func main() {{
    runtime.GOMAXPROCS(4)
    var wg sync.WaitGroup
    var mu sync.Mutex
    total := 0
    for i := 0; i < 100; i++ {{
        wg.Add(1)
        go func(k int) {{
            defer wg.Done()
            s := 0
            {work}
            mu.Lock(); total += 1 + s*0; mu.Unlock()
        }}(i)
    }}
    wg.Wait()
    fmt.Println("done", total)
}}
"""
    r = sandbox("go").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "done 100\n"


def test_python_ml_fits_a_model(sandbox):
    code = """import numpy as np, pandas as pd, scipy.optimize
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
X, y = make_classification(n_samples=300, n_features=6, random_state=0)
df = pd.DataFrame(X).assign(y=y)
lr = LogisticRegression().fit(df.drop(columns="y"), df.y)
rf = RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=-1).fit(X, y)
opt = scipy.optimize.minimize(lambda v: (v[0] - 3) ** 2, [0.0])
print(lr.score(X, y) > 0.8, rf.score(X, y) > 0.9, round(float(opt.x[0]), 3))
"""
    r = sandbox("python-ml").run(code)
    assert r["verdict"] == "ok", r
    assert r["output"] == "True True 3.0\n"


@pytest.mark.parametrize("lang", LANGS)
def test_version_matches_the_binary(sandbox, tmp_path, lang):
    """The version-<id> file build.sh wrote (what GET /languages reports) is what the binary in
    the image says, run in the sandbox; and the declared version is a prefix of it."""
    entry = languages()[lang]
    recorded = (IMAGES_DIR / entry["image"] / f"version-{lang}").read_text().strip()
    assert recorded.startswith(entry["version"])
    table = dict(languages())
    table[lang] = dict(entry, compile=None, run=entry["version_command"])
    lf = tmp_path / "languages.json"
    lf.write_text(json.dumps({"languages": list(table.values())}))
    r = sandbox(lang, languages_file=lf).run("\n")
    assert r["verdict"] == "ok", r
    assert r["output"].splitlines()[0].strip() == recorded
